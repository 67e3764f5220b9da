//! What was deployed where: the record `countersign deploy` keeps, from which `check` takes the
//! base of the next deployment.

use serde::{Deserialize, Serialize};

use crate::evaluate::GateVerdict;

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
