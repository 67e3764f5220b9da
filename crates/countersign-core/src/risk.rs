//! Risk level of a change, computed deterministically from what it touches and how large it is.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

impl std::str::FromStr for RiskLevel {
    type Err = ();

    fn from_str(text: &str) -> Result<RiskLevel, ()> {
        match text {
            "low" => Ok(RiskLevel::Low),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            "critical" => Ok(RiskLevel::Critical),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Risk {
    pub level: RiskLevel,
    pub reasons: Vec<String>,
}

/// What the risk is computed from.
pub struct RiskInput<'a> {
    /// Touched services with their tiers.
    pub services: &'a [(String, u32)],
    pub touches_gate_config: bool,
    pub destructive: &'a [String],
    pub lines_changed: u64,
    pub files_changed: usize,
}

/// Each reason raises the level to at least its own; the level is the highest reason.
pub fn assess(input: &RiskInput<'_>) -> Risk {
    let mut reasons: Vec<(RiskLevel, String)> = Vec::new();
    for operation in input.destructive {
        reasons.push((RiskLevel::Critical, format!("destructive: {operation}")));
    }
    for (name, tier) in input.services {
        match tier {
            0 => reasons.push((RiskLevel::High, format!("touches tier-0 service {name}"))),
            1 => reasons.push((RiskLevel::Medium, format!("touches tier-1 service {name}"))),
            _ => {}
        }
    }
    if input.touches_gate_config {
        reasons.push((RiskLevel::High, "changes the gate's own configuration".to_owned()));
    }
    if input.lines_changed > 5000 || input.files_changed > 200 {
        reasons.push((
            RiskLevel::High,
            format!("very large: {} lines in {} files", input.lines_changed, input.files_changed),
        ));
    } else if input.lines_changed > 1000 || input.files_changed > 50 {
        reasons.push((
            RiskLevel::Medium,
            format!("large: {} lines in {} files", input.lines_changed, input.files_changed),
        ));
    }
    let level = reasons.iter().map(|(level, _)| *level).max().unwrap_or(RiskLevel::Low);
    reasons.sort_by_key(|reason| std::cmp::Reverse(reason.0));
    Risk { level, reasons: reasons.into_iter().map(|(_, reason)| reason).collect() }
}
