//! The read stage: turns an explicit specification of a change into the core's inputs. It opens
//! the repository, reads the configuration at the base (or from a folder), reads the commits and
//! the tree diff, feeds the blast-radius analysers and reads the authors' recent history.
//!
//! It never looks at the process environment: whatever a CI system knows about the change (the
//! branches, the pull request) comes in as an [`Ambient`] that the caller fills, the binary from
//! its flags and environment, the server from the request.

mod attestations;
mod blast;
pub mod bounded;
mod config;
mod pull_request;
mod replay;

use std::path::{Path, PathBuf};

use countersign_core::config::Config;
use countersign_core::diagnostic::ConfigError;
use countersign_core::evaluate::{self, Decision};
use countersign_core::finding::{Finding, Severity};
use countersign_core::model::{ChangeInput, ConfigOrigin, PullRequest, Rollback};
use countersign_git::{ChangeContext, ObjectId, Repo};

pub use attestations::{AttestationSource, RemoteStatements, gather, record, write_atomically};
pub use blast::{analyse, changed_files, plan_digests};
pub use config::{config_files_at, config_files_in_dir, load_config};
pub use pull_request::{
    AmbientFlags, MAX_PR_BODY_BYTES, ambient_from_ci, pull_request_body, pull_request_from_github_event,
};
pub use replay::{Progress, ReplayReport, ReplaySpec, replay};

/// Everything that makes the read stage answer "bad input": the gate cannot decide (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("configuration is invalid")]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Git(#[from] countersign_git::Error),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Bounded(#[from] bounded::BoundedError),
    /// A configuration file the gate needs does not exist.
    #[error("{0}")]
    MissingConfig(String),
    #[error("{} file(s) could not be analysed", .0.len())]
    Analysis(Vec<countersign_blast::AnalysisError>),
}

impl ReadError {
    pub fn input(message: impl Into<String>) -> ReadError {
        ReadError::Input(message.into())
    }

    /// Each problem as `{file, line, column, message, help}` for JSON output; fields that do not
    /// apply are absent.
    pub fn summaries(&self) -> Vec<ErrorSummary> {
        match self {
            ReadError::Config(errors) => errors
                .iter()
                .map(|error| ErrorSummary {
                    file: Some(error.file.clone()),
                    line: Some(error.line),
                    column: Some(error.column),
                    message: error.message.clone(),
                    help: error.help.clone(),
                })
                .collect(),
            ReadError::Analysis(errors) => errors
                .iter()
                .map(|error| ErrorSummary {
                    file: Some(error.file.clone()),
                    line: error.location.map(|(line, _)| line as usize),
                    column: error.location.map(|(_, column)| column as usize),
                    message: error.message.clone(),
                    help: Some(error.help.clone()),
                })
                .collect(),
            other => vec![ErrorSummary { message: other.to_string(), ..ErrorSummary::default() }],
        }
    }
}

/// One problem of a failed read, for JSON output.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErrorSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// Where the gate's configuration comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConfigSource {
    /// `.countersign/` and CODEOWNERS at the base revision: a change cannot weaken its own gate.
    #[default]
    AtBase,
    /// people.toml, services.toml and policy.toml from this folder; CODEOWNERS still at the base.
    Dir(PathBuf),
}

/// Why a change is judged, which decides what its base means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// The head is what will run: a head that drops commits of the base is a rollback.
    Deploy,
    /// A pull request checked before it merges: what deploys is the merge, so a branch behind its
    /// target is normal and only `merge-base..head` is judged.
    PullRequest,
}

/// What to read: a change of one repository for one environment.
#[derive(Clone, Debug)]
pub struct ChangeSpec {
    pub repo: PathBuf,
    /// The revision deployed today; the configuration is read here.
    pub base: String,
    /// The revision to deploy.
    pub head: String,
    pub environment: String,
    pub config: ConfigSource,
    /// The person who asks for the deployment (directory id, e-mail or GitHub login).
    pub requester: Option<String>,
    /// Infrastructure plans the deployment applies.
    pub plans: Vec<PathBuf>,
    /// Plans handed over as text (name, content), e.g. uploaded to the approval service.
    pub uploaded_plans: Vec<(String, String)>,
    /// Given by the caller; otherwise what the CI event says ([`Ambient::purpose`]), otherwise a
    /// deployment.
    pub purpose: Option<Purpose>,
    /// Reading stops, failing closed, after this instant.
    pub deadline: Option<std::time::Instant>,
}

/// What the surroundings of a change say about it, beyond its revisions: contextual evidence
/// that only the caller can know. Empty by default; never read from the process environment here.
#[derive(Clone, Debug, Default)]
pub struct Ambient {
    /// The branch the change comes from (`claude/…` is a contextual AI signal).
    pub source_branch: Option<String>,
    /// The branch the change goes to.
    pub target_branch: Option<String>,
    pub pull_request: Option<PullRequest>,
    /// What the CI event says the check is for (a pull request event, say).
    pub purpose: Option<Purpose>,
}

/// The configuration of a change, read at its base: the first step of every command that judges.
pub struct Gate {
    pub repo: Repo,
    /// The base revision resolved: the configuration was read here.
    pub base: ObjectId,
    pub config: Config,
    /// Where the configuration came from, for the decision.
    pub origin: ConfigOrigin,
    /// Findings about the configuration (e.g. invalid CODEOWNERS lines).
    pub findings: Vec<Finding>,
}

impl Gate {
    /// Opens the repository, resolves the base (refusing an ambiguous name) and reads the
    /// configuration there.
    pub fn open(spec: &ChangeSpec) -> Result<Gate, ReadError> {
        let repo = Repo::open(&spec.repo)?;
        let resolved = repo.resolve_named(&spec.base)?;
        let base = resolved.id;
        let mut findings = Vec::new();
        let config_dir = match &spec.config {
            ConfigSource::AtBase => None,
            ConfigSource::Dir(dir) => {
                findings.extend(config_dir_outside_the_change(&repo, base, dir)?);
                Some(dir.as_path())
            }
        };
        let (config, config_findings) = load_config(&config_files_at(&repo, base, config_dir)?)?;
        findings.extend(config_findings);
        let origin = ConfigOrigin {
            revision: Some(spec.base.clone()),
            reference: resolved.reference,
            commit: base.to_string(),
            folder: config_dir.map(|dir| dir.display().to_string()),
        };
        Ok(Gate { repo, base, config, origin, findings })
    }

    /// Reads the commits and the tree diff of `merge-base(base, head)..head`, without analysis.
    /// For a deployment, a head that drops commits of the base is marked as a rollback.
    pub fn read_change(&self, spec: &ChangeSpec, ambient: Ambient) -> Result<ChangeInput, ReadError> {
        let purpose = spec.purpose.or(ambient.purpose).unwrap_or(Purpose::Deploy);
        let head = self.repo.resolve_named(&spec.head)?.id;
        let context = ChangeContext {
            deadline: spec.deadline,
            environment: spec.environment.clone(),
            requester: spec.requester.clone(),
            source_branch: ambient.source_branch.or_else(|| self.repo.branch_name(&spec.head)),
            target_branch: ambient.target_branch.or_else(|| self.repo.branch_name(&spec.base)),
            pull_request: ambient.pull_request,
        };
        let mut change = self.repo.read_change_of(self.base, head, &spec.base, &spec.head, context)?;
        change.config_origin = Some(self.origin.clone());
        if purpose == Purpose::Deploy && self.base.to_hex() != change.base {
            let dropped = self.repo.count_missing(self.base, head, MAX_COUNTED_DROPS)?;
            change.rollback = Some(Rollback { base: self.base.to_string(), dropped_commits: dropped });
        }
        Ok(change)
    }
}

/// Commits of the base a rollback drops, counted up to this many.
const MAX_COUNTED_DROPS: u64 = 10_000;

/// `--config DIR` inside the repository's work tree can be edited by the very change it judges:
/// accepted only when it matches `.countersign/` at the base, which is then said.
fn config_dir_outside_the_change(repo: &Repo, base: ObjectId, dir: &Path) -> Result<Vec<Finding>, ReadError> {
    let (Some(work_dir), Ok(dir_path)) = (repo.work_dir(), std::fs::canonicalize(dir)) else {
        return Ok(Vec::new());
    };
    let Ok(work_dir) = std::fs::canonicalize(work_dir) else { return Ok(Vec::new()) };
    if !dir_path.starts_with(&work_dir) {
        return Ok(Vec::new());
    }
    for name in ["people.toml", "services.toml", "policy.toml"] {
        let here = match bounded::read_text(&dir_path.join(name), bounded::MAX_CONFIG_BYTES, "") {
            Ok(text) => Some(text),
            Err(bounded::BoundedError::Missing(_)) => None,
            Err(error) => return Err(error.into()),
        };
        let at_base = repo.read_file_at(base, &format!(".countersign/{name}"))?;
        if here != at_base {
            return Err(ReadError::input(format!(
                "--config {} is inside the repository's work tree, where the change under review can edit it, and \
                 its {name} differs from .countersign/{name} at the base; keep the configuration in a folder \
                 outside the work tree, or leave out --config to read it at the base",
                dir.display()
            )));
        }
    }
    Ok(vec![Finding::new(
        Severity::Info,
        "config-in-work-tree",
        format!(
            "--config {} is inside the work tree; it matches .countersign/ at the base, so it was used",
            dir.display()
        ),
    )])
}

/// A change read with its configuration at the base and analysed: everything a decision needs
/// except the attestations.
pub struct Prepared {
    pub repo: Repo,
    pub base: ObjectId,
    pub head: ObjectId,
    pub config: Config,
    pub change: ChangeInput,
    /// Findings about the configuration and the analysers, shown before the decision's own.
    pub findings: Vec<Finding>,
}

/// Reads the change, gathers its attestations from every source and decides it at `now`
/// (seconds since the epoch): `countersign check` end to end.
pub fn decide(
    spec: &ChangeSpec,
    ambient: Ambient,
    sources: &[AttestationSource],
    remote: &dyn RemoteStatements,
    now: i64,
) -> Result<Decision, ReadError> {
    let prepared = prepare(spec, ambient)?;
    let fingerprint = prepared.change.fingerprint();
    let attestations = gather(&prepared.repo, &prepared.config, &fingerprint, &spec.environment, sources, remote)?;
    let mut decision = evaluate::evaluate(&prepared.config, &prepared.change, &attestations, now);
    decision.findings.splice(0..0, prepared.findings);
    Ok(decision)
}

/// The whole read stage: configuration at the base, the change, its blast radius and the
/// authors' recent history.
pub fn prepare(spec: &ChangeSpec, ambient: Ambient) -> Result<Prepared, ReadError> {
    let gate = Gate::open(spec)?;
    let mut change = gate.read_change(spec, ambient)?;
    let head = gate.repo.resolve(&spec.head)?;
    let Gate { repo, base, config, mut findings, .. } = gate;
    analyse(&repo, &config, &mut change, (&spec.plans, &spec.uploaded_plans), spec.deadline, &mut findings)?;
    Ok(Prepared { repo, base, head, config, change, findings })
}
