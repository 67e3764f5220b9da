//! Calibrating the risk model on a repository's own history: how strongly each factor relates to
//! the changes that later needed a fix, and a `[risk]` block whose `high` level covers a chosen
//! share of changes while holding as many later-fixed ones as it can.
//!
//! Deterministic and explainable on purpose: every factor is tried at thresholds taken from its own
//! distribution (quantiles), and the proposal picks thresholds greedily, each time the one whose
//! newly covered changes were most often later fixed, while the share allows. No model to trust:
//! each chosen threshold comes with the figures that chose it.

use serde::Serialize;

use crate::evaluate::Analysis;
use crate::risk::RiskSettings;

/// What calibration reads of one replayed change.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeFeatures {
    pub change: String,
    pub lines: f64,
    pub files: f64,
    pub directories: f64,
    pub services: f64,
    pub entropy_bits: f64,
    /// The least experienced responsible author's commits in the touched directories; unknown
    /// counts as none, as the gate counts it.
    pub least_experience: u32,
    pub ai_share: f64,
    pub recent_fixes: u32,
    pub untested: bool,
    pub tier0: bool,
    pub destructive: bool,
    pub ai_assisted: bool,
    /// Filled from the history's labels once the replay ends.
    pub later_fixed: bool,
}

impl ChangeFeatures {
    pub fn of(analysis: &Analysis) -> ChangeFeatures {
        let metrics = &analysis.risk.metrics;
        ChangeFeatures {
            change: analysis.change.head.clone(),
            lines: metrics.lines_changed as f64,
            files: metrics.files as f64,
            directories: metrics.directories as f64,
            services: metrics.services as f64,
            entropy_bits: metrics.entropy_bits,
            least_experience: metrics.experience.iter().map(|seen| seen.commits.unwrap_or(0)).min().unwrap_or(u32::MAX),
            ai_share: analysis.ai_share(),
            recent_fixes: analysis.recent_fixes().unwrap_or(0),
            untested: analysis.untested(),
            tier0: analysis.change.services.iter().any(|service| service.tier == 0),
            destructive: !analysis.destructive.is_empty(),
            ai_assisted: analysis.ai_assisted,
            later_fixed: false,
        }
    }
}

/// A factor calibration tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Factor {
    Lines,
    Files,
    Directories,
    Services,
    Entropy,
    /// Fewer commits than the threshold in the touched directories.
    Inexperience,
    AiShare,
    RecentFixes,
    Untested,
    Tier0,
}

impl Factor {
    const ALL: [Factor; 10] = [
        Factor::Tier0,
        Factor::Lines,
        Factor::Files,
        Factor::Directories,
        Factor::Services,
        Factor::Entropy,
        Factor::Inexperience,
        Factor::AiShare,
        Factor::RecentFixes,
        Factor::Untested,
    ];

    /// The factor's value for a change; higher is riskier (inexperience is negated).
    fn value(self, change: &ChangeFeatures) -> f64 {
        match self {
            Factor::Lines => change.lines,
            Factor::Files => change.files,
            Factor::Directories => change.directories,
            Factor::Services => change.services,
            Factor::Entropy => change.entropy_bits,
            Factor::Inexperience => -f64::from(change.least_experience),
            Factor::AiShare => change.ai_share,
            Factor::RecentFixes => f64::from(change.recent_fixes),
            Factor::Untested => f64::from(u8::from(change.untested)),
            Factor::Tier0 => f64::from(u8::from(change.tier0)),
        }
    }

    /// How a threshold reads.
    fn describe(self, threshold: f64) -> String {
        match self {
            Factor::Lines => format!("at least {threshold} lines changed"),
            Factor::Files => format!("at least {threshold} files changed"),
            Factor::Directories => format!("spread over at least {threshold} directories"),
            Factor::Services => format!("touches at least {threshold} services"),
            Factor::Entropy => format!("changed lines spread with entropy of at least {threshold} bits"),
            Factor::Inexperience if threshold >= 0.0 => "an author new to the touched directories".to_owned(),
            Factor::Inexperience => {
                format!("an author with fewer than {} commits in the touched directories", -threshold + 1.0)
            }
            Factor::AiShare => format!("AI wrote at least {:.0}% of the added lines", threshold * 100.0),
            Factor::RecentFixes => format!("at least {threshold} recent fixes touched the files"),
            Factor::Untested => "changes code and no test".to_owned(),
            Factor::Tier0 => "touches a tier-0 service".to_owned(),
        }
    }
}

/// One threshold of one factor, with what it would have flagged.
#[derive(Clone, Debug, Serialize)]
pub struct Cut {
    pub factor: Factor,
    pub threshold: f64,
    pub reads: String,
    /// Changes at or above the threshold, and how many of them were later fixed.
    pub flagged: u64,
    pub flagged_fixed: u64,
    /// Their later-fix rate over the history's (1 is no better than chance).
    pub lift: f64,
}

/// How one factor relates to later fixes.
#[derive(Clone, Debug, Serialize)]
pub struct FactorReport {
    pub factor: Factor,
    /// `strong` (lift of 1.5 or more at some threshold flagging at least 1% and 5 of the changes,
    /// at most 30%), `weak` (1.1), `none`.
    pub relation: &'static str,
    pub cuts: Vec<Cut>,
}

/// The calibration: relations, the proposed thresholds, and what they cover.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub changes: u64,
    pub later_fixed: u64,
    pub base_rate: f64,
    pub high_share: f64,
    pub critical_share: f64,
    pub factors: Vec<FactorReport>,
    /// The thresholds chosen for `critical`, then for `high`, in the order chosen, each with the
    /// changes it added.
    pub chosen_critical: Vec<Cut>,
    pub chosen: Vec<Cut>,
    /// Changes the proposal rates critical (destructive ones always), and the later-fixed among them.
    pub critical: u64,
    pub critical_fixed: u64,
    /// Changes it rates high or critical, and the later-fixed among them.
    pub high: u64,
    pub high_fixed: u64,
    /// The `[risk]` block to put in policy.toml.
    pub risk_toml: String,
}

/// What `countersign risk calibrate` reports: its JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct Calibrated {
    pub range: String,
    pub first: Option<String>,
    pub last: Option<String>,
    pub calibration: Calibration,
    /// The labels it was calibrated on, with their evidence.
    pub later_fixed: Vec<crate::simulate::LaterFixed>,
}

/// Quantiles a factor is cut at.
const QUANTILES: [f64; 10] = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.98, 0.99];

/// A threshold whose newly flagged changes are not this much likelier to be fixed than any
/// change is not worth a senior's time.
const MIN_LIFT: f64 = 1.2;

/// Calibrates on `changes` (labelled), proposing `critical` and `high` for at most these shares.
pub fn calibrate(changes: &[ChangeFeatures], shares: Shares, defaults: &RiskSettings) -> Calibration {
    let total = changes.len() as u64;
    let fixed_total = changes.iter().filter(|change| change.later_fixed).count() as u64;
    let base_rate = if total == 0 { 0.0 } else { fixed_total as f64 / total as f64 };
    let lift = |flagged: u64, fixed: u64| {
        if flagged == 0 || base_rate == 0.0 { 0.0 } else { round3(fixed as f64 / flagged as f64 / base_rate) }
    };
    let mut candidates: Vec<(Cut, Vec<bool>)> = Vec::new();
    let mut factors = Vec::new();
    for factor in Factor::ALL {
        let mut values: Vec<f64> = changes.iter().map(|change| factor.value(change)).collect();
        values.sort_by(f64::total_cmp);
        let mut thresholds: Vec<f64> = QUANTILES
            .iter()
            .filter_map(|q| values.get(((values.len() as f64 * q) as usize).min(values.len().saturating_sub(1))))
            .map(|value| readable(*value))
            .collect();
        // Sparse factors (few changes touch a tier-0 service or have recent fixes) are also cut
        // just above their least value, which quantiles can miss.
        let least = values.first().copied().unwrap_or(0.0);
        thresholds.extend(values.iter().find(|value| **value > least).map(|value| readable(*value)));
        thresholds.retain(|value| *value > least);
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        let mut cuts = Vec::new();
        for threshold in thresholds {
            let flags: Vec<bool> = changes.iter().map(|change| factor.value(change) >= threshold).collect();
            let flagged = flags.iter().filter(|flag| **flag).count() as u64;
            let flagged_fixed =
                changes.iter().zip(&flags).filter(|(change, flag)| **flag && change.later_fixed).count() as u64;
            let cut = Cut {
                factor,
                threshold,
                reads: factor.describe(threshold),
                flagged,
                flagged_fixed,
                lift: lift(flagged, flagged_fixed),
            };
            cuts.push(cut.clone());
            candidates.push((cut, flags));
        }
        let in_range =
            |cut: &&Cut| cut.flagged >= 5 && (0.01..=0.30).contains(&(cut.flagged as f64 / total.max(1) as f64));
        let best = cuts.iter().filter(in_range).map(|cut| cut.lift).fold(0.0, f64::max);
        let relation = if best >= 1.5 {
            "strong"
        } else if best >= 1.1 {
            "weak"
        } else {
            "none"
        };
        factors.push(FactorReport { factor, relation, cuts });
    }

    // Destructive changes are critical whatever the history says; critical thresholds are chosen
    // first, then high ones add to what they cover.
    let mut covered: Vec<bool> = changes.iter().map(|change| change.destructive).collect();
    let budget = |share: f64| (share * total as f64).floor() as u64;
    let critical_candidates: Vec<&(Cut, Vec<bool>)> =
        candidates.iter().filter(|(cut, _)| cut.factor != Factor::Inexperience).collect();
    let chosen_critical = choose(&critical_candidates, changes, &mut covered, budget(shares.critical), base_rate);
    let (critical, critical_fixed) = counted(&covered, changes);
    let all: Vec<&(Cut, Vec<bool>)> = candidates.iter().collect();
    let chosen = choose(&all, changes, &mut covered, budget(shares.high.max(shares.critical)), base_rate);
    let (high, high_fixed) = counted(&covered, changes);
    let risk_toml = risk_block(&chosen_critical, &chosen, defaults, (total, fixed_total), (high, high_fixed));
    Calibration {
        changes: total,
        later_fixed: fixed_total,
        base_rate: round3(base_rate),
        high_share: shares.high,
        critical_share: shares.critical,
        factors,
        chosen_critical,
        chosen,
        critical,
        critical_fixed,
        high,
        high_fixed,
        risk_toml,
    }
}

/// The shares of changes `critical` and `high` (with critical) should cover at most.
#[derive(Clone, Copy, Debug)]
pub struct Shares {
    pub critical: f64,
    pub high: f64,
}

/// How many changes are covered, and how many of those were later fixed.
fn counted(covered: &[bool], changes: &[ChangeFeatures]) -> (u64, u64) {
    let flagged = covered.iter().filter(|flag| **flag).count() as u64;
    let fixed = covered.iter().zip(changes).filter(|(flag, change)| **flag && change.later_fixed).count() as u64;
    (flagged, fixed)
}

/// Adds thresholds greedily, each time the one whose newly covered changes were most often later
/// fixed, while the covered changes stay within `budget` and that rate beats the history's by
/// [`MIN_LIFT`]. Each chosen cut carries what it added.
fn choose(
    candidates: &[&(Cut, Vec<bool>)],
    changes: &[ChangeFeatures],
    covered: &mut [bool],
    budget: u64,
    base_rate: f64,
) -> Vec<Cut> {
    let mut chosen = Vec::new();
    loop {
        let (already, _) = counted(covered, changes);
        let mut best: Option<(f64, u64, usize)> = None;
        for (index, (_, flags)) in candidates.iter().enumerate() {
            let (mut new, mut new_fixed) = (0u64, 0u64);
            for ((flag, seen), change) in flags.iter().zip(covered.iter()).zip(changes) {
                if *flag && !*seen {
                    new += 1;
                    new_fixed += u64::from(change.later_fixed);
                }
            }
            let rate = new_fixed as f64 / new.max(1) as f64;
            if new == 0 || already + new > budget || rate < base_rate * MIN_LIFT {
                continue;
            }
            if best.is_none_or(|(best_rate, best_fixed, _)| (rate, new_fixed) > (best_rate, best_fixed)) {
                best = Some((rate, new_fixed, index));
            }
        }
        let Some((_, _, index)) = best else { return chosen };
        let (cut, flags) = candidates[index];
        let (mut new, mut new_fixed) = (0, 0);
        for ((flag, seen), change) in flags.iter().zip(covered.iter_mut()).zip(changes) {
            if *flag && !*seen {
                *seen = true;
                new += 1;
                new_fixed += u64::from(change.later_fixed);
            }
        }
        let lift = if base_rate == 0.0 { 0.0 } else { round3(new_fixed as f64 / new as f64 / base_rate) };
        chosen.push(Cut { flagged: new, flagged_fixed: new_fixed, lift, ..cut.clone() });
    }
}

/// The lowest threshold chosen for a factor (a lower one flags every change a higher one does).
fn lowest(chosen: &[Cut], factor: Factor) -> Option<f64> {
    chosen.iter().filter(|cut| cut.factor == factor).map(|cut| cut.threshold).reduce(f64::min)
}

/// The `[risk]` block: chosen factors raise to `critical` or `high`, the others at most to `medium`.
fn risk_block(
    critical: &[Cut],
    high: &[Cut],
    defaults: &RiskSettings,
    (total, fixed): (u64, u64),
    (covered, covered_fixed): (u64, u64),
) -> String {
    let mut out = format!(
        "[risk]\n# Calibrated by `countersign risk calibrate`: high and critical cover {covered} of {total} changes \
         ({:.1}%)\n# and {covered_fixed} of the {fixed} later-fixed ones ({:.1}%).\n",
        crate::present::percent(covered, total),
        crate::present::percent(covered_fixed, fixed)
    );
    // A factor's `high` is its lowest high threshold, else its critical one.
    let levels = |factor| {
        let critical = lowest(critical, factor);
        (lowest(high, factor).or(critical), critical)
    };
    let level = |factor| match levels(factor) {
        (_, Some(_)) => "critical",
        (Some(_), None) => "high",
        (None, None) => "medium",
    };
    out += &format!("tiers = {{ 0 = \"{}\", 1 = \"medium\" }}\n", level(Factor::Tier0));
    out += "destructive = \"critical\"\nhazards = \"high\"\ngate_config = \"high\"\n";
    let numeric = [
        (Factor::Lines, "lines_changed", defaults.lines_changed.medium),
        (Factor::Files, "files_changed", defaults.files_changed.medium),
        (Factor::Directories, "directories", defaults.directories.medium),
        (Factor::Services, "services", defaults.services.medium),
        (Factor::Entropy, "entropy_bits", defaults.entropy_bits.medium),
        (Factor::AiShare, "ai_share", None),
        (Factor::RecentFixes, "recent_fixes", None),
    ];
    for (factor, key, medium) in numeric {
        let (high, critical) = levels(factor);
        let mut parts = Vec::new();
        if let Some(medium) = medium.filter(|medium| high.is_none_or(|high| *medium < high)) {
            parts.push(format!("medium = {}", number(medium)));
        }
        parts.extend(high.map(|high| format!("high = {}", number(high))));
        parts.extend(critical.map(|critical| format!("critical = {}", number(critical))));
        if parts.is_empty() && medium.is_none() {
            continue;
        }
        out += &format!("{key} = {{ {} }}\n", parts.join(", "));
        if factor == Factor::RecentFixes {
            out += &format!("recent_fixes_days = {}\n", defaults.recent_fixes_days);
        }
    }
    let (min_commits, inexperienced) = match lowest(high, Factor::Inexperience) {
        Some(threshold) => (number(-threshold + 1.0), "high"),
        None => (defaults.experience_min_commits.to_string(), "medium"),
    };
    out += &format!(
        "experience_days = {}\nexperience_min_commits = {min_commits}\ninexperienced = \"{inexperienced}\"\n",
        defaults.experience_days
    );
    if level(Factor::Untested) != "medium" {
        out += &format!("untested = \"{}\"\n", level(Factor::Untested));
    }
    out
}

/// A threshold a person can read: integers stay integers, shares get two decimals.
fn readable(value: f64) -> f64 {
    if value.abs() >= 10.0 { value.round() } else { (value * 100.0).round() / 100.0 }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value}") }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}
