//! What was deployed where: the record `countersign deploy` keeps, from which `check` takes the
//! base of the next deployment, and `check`'s answer when there is nothing new to deploy.

use serde::{Deserialize, Serialize};

use crate::evaluate::{Decision, GateVerdict};
use crate::finding::{Finding, Severity};
use crate::present::{at, short};

/// One deployment of an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub environment: String,
    /// The commit that was deployed.
    pub commit: String,
    /// The commit that ran before it, when one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Seconds since the epoch.
    pub time: i64,
    /// Who asked for the deployment, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The gate's verdict on it: allowed, or overridden by break-glass.
    pub verdict: GateVerdict,
    /// The fingerprint of the deployed range.
    pub fingerprint: String,
}

impl Deployment {
    /// The record of deploying what `decision` allowed, at `time` (seconds since the epoch).
    pub fn of(decision: &Decision, time: i64, requester: Option<String>) -> Deployment {
        Deployment {
            environment: decision.change.environment.clone(),
            commit: decision.change.head.clone(),
            previous: decision.change.configuration.as_ref().map(|origin| origin.commit.clone()),
            time,
            requester,
            verdict: decision.verdict,
            fingerprint: decision.change.fingerprint.clone(),
        }
    }

    /// Says that this deployment, recorded by the approval service `server` or else in the
    /// repository's deployments ref, is the base of the change judged.
    pub fn as_base(&self, server: Option<&str>) -> Finding {
        let recorded = match server {
            Some(server) => format!("by the approval service {server}"),
            None => format!("in {}", deployments_ref(&self.environment)),
        };
        Finding::new(
            Severity::Info,
            "base-from-deployments",
            format!(
                "base is the last deployment of {} recorded {recorded}: {} at {}",
                self.environment,
                short(&self.commit),
                at(self.time)
            ),
        )
    }
}

/// `check`'s answer when the head is what the environment runs: allowed, and nothing to deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NothingToDeploy {
    pub verdict: GateVerdict,
    pub nothing_to_deploy: bool,
    pub environment: String,
    pub head: String,
    /// The recorded deployment of that commit, when the base came from the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed: Option<Deployment>,
}

impl NothingToDeploy {
    /// `head` is what `environment` runs; `deployed` is its record, when the base came from one.
    pub fn new(environment: String, head: String, deployed: Option<Deployment>) -> NothingToDeploy {
        NothingToDeploy { verdict: GateVerdict::Allowed, nothing_to_deploy: true, environment, head, deployed }
    }
}

/// The ref that records an environment's deployments in the gated repository.
pub fn deployments_ref(environment: &str) -> String {
    format!("refs/countersign/deployments/{environment}")
}
