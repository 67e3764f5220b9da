//! Rollout advice: how a change of each risk level should reach production, so the deployment
//! pipeline can read it from the decision. Defaults follow reference/blast-radius.md §4.

use serde::{Deserialize, Serialize};

use crate::risk::RiskLevel;

/// One step of a progressive rollout: send this share of traffic, then watch it for a while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stage {
    pub percent: u32,
    /// How long to watch the alarms before the next stage; 0 for the last one.
    pub bake_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rollout {
    /// `rolling`, `canary`, `blue-green` or `manual`.
    pub strategy: String,
    pub stages: Vec<Stage>,
    /// Deploy to a single host first and bake there before any stage.
    pub one_box_first: bool,
    pub business_hours_only: bool,
    pub automatic_rollback: bool,
    /// A person confirms each stage (Flagger's `confirm-rollout`, Argo CD's `Prune=confirm`).
    pub manual_confirmation: bool,
    /// Deploy apart from any other change, so a rollback undoes only this one.
    pub alone: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub const STRATEGIES: [&str; 4] = ["rolling", "canary", "blue-green", "manual"];

fn stages(list: &[(u32, u32)]) -> Vec<Stage> {
    list.iter().map(|(percent, bake_minutes)| Stage { percent: *percent, bake_minutes: *bake_minutes }).collect()
}

/// The advice for a level when `policy.toml` has no `[rollout.<level>]`.
pub fn default_for(level: RiskLevel) -> Rollout {
    match level {
        RiskLevel::Low => Rollout {
            strategy: "canary".to_owned(),
            stages: stages(&[(10, 10), (100, 0)]),
            one_box_first: false,
            business_hours_only: false,
            automatic_rollback: true,
            manual_confirmation: false,
            alone: false,
            notes: Vec::new(),
        },
        RiskLevel::Medium => Rollout {
            strategy: "canary".to_owned(),
            stages: stages(&[(5, 30), (25, 30), (100, 0)]),
            one_box_first: false,
            business_hours_only: false,
            automatic_rollback: true,
            manual_confirmation: false,
            alone: false,
            notes: vec!["gate each stage on automated canary analysis".to_owned()],
        },
        RiskLevel::High => Rollout {
            strategy: "canary".to_owned(),
            stages: stages(&[(1, 60), (10, 60), (50, 60), (100, 0)]),
            one_box_first: true,
            business_hours_only: true,
            automatic_rollback: true,
            manual_confirmation: false,
            alone: true,
            notes: vec!["record the rollback plan before the first stage".to_owned()],
        },
        RiskLevel::Critical => Rollout {
            strategy: "manual".to_owned(),
            stages: stages(&[(1, 120), (10, 120), (100, 0)]),
            one_box_first: true,
            business_hours_only: true,
            automatic_rollback: true,
            manual_confirmation: true,
            alone: true,
            notes: vec![
                "take and verify a backup or snapshot of everything destroyed before applying".to_owned(),
                "apply destructive infrastructure changes apart from the code deploy, never by an agent".to_owned(),
            ],
        },
    }
}

/// One line a deployer can follow, e.g. `canary 1% (bake 60 min) → 100%; one box first`.
impl std::fmt::Display for Rollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|stage| {
                if stage.bake_minutes > 0 {
                    format!("{}% (bake {} min)", stage.percent, stage.bake_minutes)
                } else {
                    format!("{}%", stage.percent)
                }
            })
            .collect();
        write!(f, "{} {}", self.strategy, stages.join(" → "))?;
        let flags = [
            (self.one_box_first, "one box first"),
            (self.business_hours_only, "business hours only"),
            (self.manual_confirmation, "a person confirms each stage"),
            (self.alone, "deploy alone"),
            (!self.automatic_rollback, "no automatic rollback"),
        ];
        for text in
            flags.iter().filter(|(on, _)| *on).map(|(_, text)| *text).chain(self.notes.iter().map(String::as_str))
        {
            write!(f, "; {text}")?;
        }
        Ok(())
    }
}
