//! The server's contract: every request and response body of the JSON API, shared by the server
//! and the CLI client, and the source of the OpenAPI document's schemas. Times are milliseconds
//! since the Unix epoch.

use countersign_core::attestation::{Envelope, Verdict};
use countersign_core::deployment::Deployment;
use countersign_core::evaluate::{Decision, GateVerdict};
use countersign_core::lifecycle::{AssignmentState, ChangeState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) fn production() -> String {
    "production".to_owned()
}

/// `POST /api/changes`: a pipeline asks the server to evaluate a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// The clone's directory name under the server's `--repos`.
    pub repository: String,
    /// The revision deployed today; the configuration is read here.
    pub base: String,
    /// The revision to deploy.
    pub head: String,
    #[serde(default = "production")]
    pub environment: String,
    /// Who asks for the deployment; they cannot approve it.
    #[serde(default)]
    pub requester: Option<String>,
    /// The pipeline's name for the change, e.g. a branch: a newer head supersedes older ones
    /// registered under the same name by the same caller.
    #[serde(default)]
    pub name: Option<String>,
    /// What the registration is for; a deployment by default (see `countersign check --context`).
    #[serde(default)]
    pub purpose: RegisterPurpose,
    /// Infrastructure plans the deployment applies; approvals must name their digests.
    #[serde(default)]
    pub plans: Vec<PlanUpload>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterPurpose {
    /// The head is what will run: a head that drops commits of the base is a rollback.
    #[default]
    Deploy,
    /// A pull request before it merges: a branch behind its target is normal.
    PullRequest,
}

impl RegisterPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterPurpose::Deploy => "deploy",
            RegisterPurpose::PullRequest => "pull-request",
        }
    }
}

/// One plan file as uploaded: its name and its exact text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanUpload {
    pub name: String,
    pub content: String,
}

/// An approval or a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewVerdict {
    Approve,
    Reject,
}

impl ReviewVerdict {
    pub fn verdict(self) -> Verdict {
        match self {
            ReviewVerdict::Approve => Verdict::Approve,
            ReviewVerdict::Reject => Verdict::Reject,
        }
    }
}

/// `POST /api/approvals`: approve or reject a registered change, by its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    pub repository: String,
    pub fingerprint: String,
    #[serde(default = "production")]
    pub environment: String,
    pub verdict: ReviewVerdict,
    #[serde(default)]
    pub comment: String,
    /// Digests (`sha256:…`) of the plans the reviewer saw; an approval of a change that depends
    /// on plans counts only when it names each of them.
    #[serde(default)]
    pub plans: Vec<String>,
}

/// `POST /api/overrides`: break-glass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    pub repository: String,
    pub fingerprint: String,
    #[serde(default = "production")]
    pub environment: String,
    /// Why the change must go out now.
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/overrides/{id}/review`: the after-the-fact review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteReviewBody {
    #[serde(default)]
    pub comment: String,
}

/// `PUT /api/away`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwayBody {
    /// Until when; absent means until cleared.
    #[serde(default)]
    pub until: Option<i64>,
    #[serde(default)]
    pub note: String,
}

/// Every error: a stable machine-readable code and a message saying what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServerKey {
    /// The server's ed25519 public key in OpenSSH format.
    pub public_key: String,
    /// The `[server]` block to paste into policy.toml.
    pub policy_toml: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    pub person: String,
    pub token: String,
}

/// A registered change without its decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeEntry {
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub fingerprint: String,
    pub name: Option<String>,
    /// The base commit the change was registered against; its configuration decides.
    pub base: String,
    pub head: String,
    pub requester: Option<String>,
    pub state: ChangeState,
    pub verdict: GateVerdict,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A registered change with its latest decision, routed reviews and overrides.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ChangeView {
    #[serde(flatten)]
    pub change: ChangeEntry,
    pub decision: Decision,
    pub assignments: Vec<Assignment>,
    pub overrides: Vec<Override>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeList {
    pub changes: Vec<ChangeEntry>,
}

/// A review routed to a person for one unmet rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    pub id: i64,
    /// The change's id.
    pub change: i64,
    pub rule: String,
    pub person: String,
    pub state: AssignmentState,
    pub assigned_at: i64,
    pub picked_up_at: Option<i64>,
    /// The assignment this one took over from, when it was escalated.
    pub escalated_from: Option<i64>,
}

/// A break-glass override and its after-the-fact review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    pub id: i64,
    pub change: i64,
    pub person: String,
    pub reason: String,
    pub created_at: i64,
    pub review_due_at: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_comment: Option<String>,
    /// Not reviewed, and past due.
    pub overdue: bool,
    /// Reviewed after it was due.
    pub late: bool,
}

/// A statement the server signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatementView {
    pub id: i64,
    pub person: String,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: i64,
    pub attestation: Envelope,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewResult {
    pub statement: StatementView,
    /// The same verdict on the same head was already recorded; nothing new was written.
    pub duplicate: bool,
    pub change: ChangeEntry,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverrideResult {
    #[serde(rename = "override")]
    pub override_: Override,
    pub change: ChangeEntry,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OverrideReviewResult {
    #[serde(rename = "override")]
    pub override_: Override,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PendingReviews {
    pub pending: usize,
    pub overdue: usize,
    pub reviews: Vec<Override>,
}

/// The signed statements about a fingerprint: public, like the attestation ref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttestationList {
    pub fingerprint: String,
    pub environment: String,
    pub attestations: Vec<Envelope>,
}

/// What runs in an environment: the change whose deploy verdict allowed it last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LastDeployment {
    pub repository: String,
    pub environment: String,
    /// The change's id on this server.
    pub change: i64,
    /// The deployed commit: the base of the next check.
    pub head: String,
    /// The base it was deployed from.
    pub base: String,
    pub fingerprint: String,
    pub verdict: GateVerdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// When the deploy verdict allowed it (milliseconds since the epoch).
    pub deployed_at: i64,
}

/// The service's last deployment as the record `countersign deploy` keeps in git, so `check`
/// starts from either the same way.
impl From<LastDeployment> for Deployment {
    fn from(last: LastDeployment) -> Deployment {
        Deployment {
            environment: last.environment,
            commit: last.head,
            previous: Some(last.base),
            time: last.deployed_at / 1000,
            requester: last.requester,
            verdict: last.verdict,
            fingerprint: last.fingerprint,
        }
    }
}

/// One review waiting for the caller, with the change it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QueueEntry {
    /// The assignment's id.
    pub id: i64,
    pub rule: String,
    pub person: String,
    pub state: AssignmentState,
    pub assigned_at: i64,
    pub picked_up_at: Option<i64>,
    pub escalated_from: Option<i64>,
    pub waiting_seconds: i64,
    pub change: Option<ChangeEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Queue {
    pub person: String,
    pub reviews: Vec<QueueEntry>,
    /// Overrides by others whose after-the-fact review is still to do.
    pub after_the_fact: Vec<Override>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PickResult {
    pub picked: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AwayState {
    pub person: String,
    pub away: bool,
    #[serde(default)]
    pub until: Option<i64>,
}
