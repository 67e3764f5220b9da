//! Owned values the adapters hand to the core. Nothing here knows where they came from.

use serde::{Deserialize, Serialize};

/// A name and e-mail pair as git records it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Identity {
        Identity { name: name.into(), email: email.into() }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// One path a commit (or a whole change) touched, with its line counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub added: u32,
    pub deleted: u32,
    /// True when the path no longer exists after the change.
    pub deleted_file: bool,
}

/// One commit, as read from the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub parents: Vec<String>,
    pub author: Identity,
    pub committer: Identity,
    /// Author time, seconds since the epoch.
    pub time: i64,
    pub message: String,
    /// Changed paths against the first parent; empty when the adapter did not compute them.
    pub files: Vec<FileChange>,
}

impl Commit {
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// One entry of the tree diff from the merge-base to the head: the input of the fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TreeChange {
    /// The path's exact bytes, as git stores them: what the fingerprint hashes.
    pub path_bytes: Vec<u8>,
    /// The path as text (invalid UTF-8 replaced), for matching and messages.
    pub path: String,
    /// Blob id before the change; `None` when the path was added.
    pub old_id: Option<String>,
    /// Blob id after the change; `None` when the path was deleted.
    pub new_id: Option<String>,
    /// The git file mode after the change (before it, for deletions), in octal as git writes it.
    pub mode: String,
    /// `sha256:<hex>` of what changed at this path, independent of the blobs around it: modes
    /// and hunks with their context, without line numbers (see countersign-git's `patch`).
    pub digest: String,
}

/// The lines a change adds to one file, each with the commit of the change that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedLines {
    pub path: String,
    /// 1-based line numbers in the head's file, each with the commit that wrote it and the
    /// line's number in that commit's version of the file (`None` when no commit of the change
    /// wrote it, e.g. a line moved back into place).
    pub lines: Vec<(u32, Option<(String, u32)>)>,
}

/// An authorship record attached to a commit of the change as a git note, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitNote {
    pub commit: String,
    pub format: crate::notes::NoteFormat,
    /// The note's text, or why it could not be read.
    pub text: Result<String, String>,
}

/// What a code host says about the pull request of a change: contextual evidence only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// The login that opened it.
    pub author: Option<String>,
    pub body: String,
}

/// Everything the core needs to know about a change, read by an adapter.
#[derive(Clone, Debug)]
pub struct ChangeInput {
    pub repo: String,
    /// The merge-base of base and head.
    pub base: String,
    pub head: String,
    pub environment: String,
    /// The branch the change is deployed from, when known (`claude/…` is a contextual signal).
    pub source_branch: Option<String>,
    /// The branch the change goes to, when known.
    pub target_branch: Option<String>,
    /// The person who asks for the deployment, by directory id or e-mail.
    pub requester: Option<String>,
    /// The pull request the change comes from, when the pipeline knows it.
    pub pull_request: Option<PullRequest>,
    /// Commits of `merge-base..head`, newest first.
    pub commits: Vec<Commit>,
    /// The tree diff from merge-base to head, with line counts.
    pub files: Vec<FileChange>,
    pub tree_changes: Vec<TreeChange>,
    /// Destructive operations and hazards found in plan files, migrations and manifests.
    pub blast: BlastRadius,
    /// The responsible humans' recent commits; `None` when history was not read, which counts as
    /// no experience.
    pub history: Option<RecentHistory>,
    /// Set when the head drops commits of the base in a deployment: deploying it reverts them.
    pub rollback: Option<Rollback>,
    /// Infrastructure plans the decision depends on; an approval must name their digests.
    pub plans: Vec<PlanDigest>,
    /// Where the configuration that judges the change was read.
    pub config_origin: Option<ConfigOrigin>,
    /// The lines the change adds, each with the commit that wrote it; empty when not read.
    pub added_lines: Vec<AddedLines>,
    /// git-ai notes of the change's commits.
    pub notes: Vec<CommitNote>,
    /// Fix and revert commits of the base's recent history that touched the change's files;
    /// `None` when not read.
    pub recent_fixes: Option<RecentFixes>,
}

/// The fixes counted for a change's `recent_fixes` risk factor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentFixes {
    pub count: u32,
    /// False when the history was cut short (shallow clone, too many commits): the count is
    /// then only a lower bound.
    pub complete: bool,
}

impl ChangeInput {
    /// What reviewers approve: the fingerprint of the tree diff (see [`crate::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        crate::fingerprint::fingerprint(&self.tree_changes, &self.head)
    }
}

/// A head that is behind or beside its base.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rollback {
    /// The base revision's commit.
    pub base: String,
    /// How many commits of the base the head does not contain.
    pub dropped_commits: u64,
}

/// A plan file's name and the SHA-256 of its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanDigest {
    pub file: String,
    /// `sha256:<hex>`.
    pub digest: String,
}

/// Where configuration was read: a revision (with the ref it resolved through) or a folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfigOrigin {
    /// The revision as the caller named it, e.g. `origin/main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The full ref it resolved through, e.g. `refs/remotes/origin/main`; absent for a commit id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The commit the files were read at (CODEOWNERS always comes from here).
    pub commit: String,
    /// The folder people.toml, services.toml and policy.toml came from, with `--config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
}

/// Which analyser found an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationSource {
    Terraform,
    Pulumi,
    Cloudformation,
    Migration,
    Kubernetes,
}

impl std::fmt::Display for OperationSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OperationSource::Terraform => "terraform",
            OperationSource::Pulumi => "pulumi",
            OperationSource::Cloudformation => "cloudformation",
            OperationSource::Migration => "migration",
            OperationSource::Kubernetes => "kubernetes",
        })
    }
}

/// One operation of a change that destroys something, or puts it at risk, as an analyser read it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Operation {
    pub source: OperationSource,
    /// The plan file or the changed path it was read from.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What is affected: a resource address, a URN, a table, `Kind namespace/name`.
    pub target: String,
    /// What happens to it, e.g. `delete`, `replace (delete before create)`, `ban-drop-column`.
    pub action: String,
    /// Why, when the format says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({}", self.action, self.target, self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(")")?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}

/// What the analysers found in a change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlastRadius {
    /// Operations that delete or replace something that exists.
    pub destructive: Vec<Operation>,
    /// Operations that do not destroy but endanger availability, e.g. a migration that locks a table.
    pub hazards: Vec<Operation>,
}

/// Recent commits of the responsible humans, from which their experience in the touched paths is
/// counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentHistory {
    /// Commits before the change, within the risk window, by the responsible humans' e-mails; each
    /// with its changed paths.
    pub commits: Vec<Commit>,
    /// False when the history ended (shallow clone) or was cut before the window's start.
    pub complete: bool,
}
