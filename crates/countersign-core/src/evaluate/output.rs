//! What a decision says: the public JSON contract of `check` and the server.

use serde::{Deserialize, Serialize};

use crate::detect::Signal;
use crate::finding::Finding;
use crate::model::{ConfigOrigin, Operation, PlanDigest, Rollback};
use crate::risk::Risk;
use crate::rollout::Rollout;

named! {
    /// The gate's answer.
    GateVerdict {
        Allowed = "allowed",
        Blocked = "blocked",
        /// Blocked by its rules but let through by break-glass; an after-the-fact review is due.
        Overridden = "overridden",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceRef {
    pub name: String,
    pub tier: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeSummary {
    pub repo: String,
    pub base: String,
    pub head: String,
    pub fingerprint: String,
    pub environment: String,
    pub commits: usize,
    pub files: usize,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub services: Vec<ServiceRef>,
    /// Where the configuration that judged the change was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<ConfigOrigin>,
    /// Present when the head drops commits of the base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// The plans the decision depends on; approvals must name their digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanDigest>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CommitReport {
    pub id: String,
    pub ai_assisted: bool,
    pub signals: Vec<Signal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Responsible {
    pub id: String,
    pub level: String,
    pub known: bool,
    /// How the person is tied to the change.
    pub roles: Vec<Role>,
}

/// How a responsible human is tied to a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Author,
    Committer,
    CoAuthor,
    Requester,
    /// Runs an agent of the directory that wrote or committed part of the change.
    Operator,
    /// Nobody: the change has no human at all, and stands for an unknown one.
    None,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Author => "author",
            Role::Committer => "committer",
            Role::CoAuthor => "co-author",
            Role::Requester => "requester",
            Role::Operator => "operator",
            Role::None => "none",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApprovalRef {
    pub person: String,
    /// Seconds since the epoch.
    pub time: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Where the signed statement was found: a path in the attestation ref, a file, a server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The files the reviewer opened in the web interface before approving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opened: Vec<String>,
    /// Present when the statement is about an earlier version of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_version: Option<EarlierVersion>,
}

/// The version of a change a statement was made for, when it is not the current one.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EarlierVersion {
    /// The head commit that was reviewed.
    pub head: String,
    pub fingerprint: String,
    /// What changed since that version (filled by the read stage when it can read both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_since: Vec<Interdiff>,
}

/// How one file differs between the reviewed version and the current one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interdiff {
    pub path: String,
    /// Its hunks as `git diff` prints them; empty for a file not diffed as text.
    pub patch: String,
    /// The patch was cut short.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OwnerGroup {
    /// The CODEOWNERS owners or the service whose owners form this group.
    pub owners: String,
    /// The touched paths that gave this group.
    pub paths: Vec<String>,
    pub covered_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleOutcome {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub applies: bool,
    pub satisfied: bool,
    pub why: Vec<String>,
    pub approvals: Vec<String>,
    pub missing: u32,
    pub eligible: Vec<String>,
    pub suggested: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_groups: Vec<OwnerGroup>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub verdict: GateVerdict,
    pub change: ChangeSummary,
    pub ai_assisted: bool,
    pub commits: Vec<CommitReport>,
    /// Signals of the change as a whole: its branch name and its pull request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change_signals: Vec<Signal>,
    pub responsible: Vec<Responsible>,
    pub risk: Risk,
    /// Operations that delete or replace something that exists, each with where it was found.
    pub destructive: Vec<Operation>,
    /// Operations that endanger availability without destroying, e.g. a locking migration.
    pub hazards: Vec<Operation>,
    /// How a change of this risk should be rolled out.
    pub rollout: Rollout,
    /// Which of the added lines AI-assisted commits wrote; absent when they were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<super::attribution::Attribution>,
    pub rules: Vec<RuleOutcome>,
    /// Rejections that block the change until their authors approve.
    pub rejections: Vec<ApprovalRef>,
    /// Every approval that counts for this change, whatever rule it satisfies.
    pub approvals: Vec<ApprovalRef>,
    /// Approvals of earlier versions by people who have not approved this one: who to ask for a
    /// re-review, with what changed since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_approvals: Vec<ApprovalRef>,
    /// Break-glass overrides of this change; the comment is the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ApprovalRef>,
    /// The fewest reviewers who, approving, would satisfy every unmet rule (greedy), best first.
    pub suggested_reviewers: Vec<String>,
    pub findings: Vec<Finding>,
    /// The merged changes a deployment range holds, each with its own verdict; empty when the
    /// change is one (a branch, a single commit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<super::batch::MergedChange>,
}

impl Responsible {
    /// Whether the person wrote code of the change, as author or co-author.
    pub fn wrote_code(&self) -> bool {
        self.roles.iter().any(|role| matches!(role, Role::Author | Role::CoAuthor))
    }

    /// Whose experience the risk is judged on: the humans who wrote the code; when agents wrote
    /// all of it, every human who answers for it (a change cannot lower its risk by having an
    /// agent author it).
    pub fn judged_for_experience(responsible: &[Responsible]) -> impl Iterator<Item = &Responsible> {
        let any_writer = responsible.iter().any(Responsible::wrote_code);
        responsible.iter().filter(move |entry| !any_writer || entry.wrote_code())
    }
}

impl Decision {
    /// Whether the change may be deployed now: allowed, or overridden by break-glass.
    pub fn allowed(&self) -> bool {
        self.verdict != GateVerdict::Blocked
    }
}

/// Who owns a path, as `countersign owners` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathOwners {
    pub path: String,
    /// The CODEOWNERS file that was read; absent when the repository has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codeowners_file: Option<String>,
    /// The CODEOWNERS line that decided, if any matched.
    pub codeowners: Option<CodeOwnersMatch>,
    pub services: Vec<ServiceRef>,
    /// The owners of each service of the path, as services.toml names them.
    pub service_owners: Vec<ServiceOwners>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceOwners {
    pub service: String,
    /// Teams and people as services.toml writes them.
    pub owners: Vec<String>,
    /// The directory people they stand for (none without people.toml).
    pub people: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeOwnersMatch {
    pub file: String,
    pub line: usize,
    pub pattern: String,
    /// The owners as written; none means explicitly unowned.
    pub owners: Vec<String>,
    /// The directory people they stand for.
    pub people: Vec<String>,
}
