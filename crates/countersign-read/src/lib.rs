//! The read stage: turns an explicit specification of a change into the core's inputs. It opens
//! the repository, reads the configuration at the base (or from a folder), reads the commits and
//! the tree diff, feeds the blast-radius analysers and reads the authors' recent history. It also
//! keeps what was decided: signed reviews ([`signing`]) and the deployment ledger.
//!
//! It never looks at the process environment: whatever a CI system knows about the change (the
//! branches, the pull request) comes in as an [`Ambient`] that the caller fills, the binary from
//! its flags and environment, the server from the request.

mod attestations;
mod blast;
pub mod bounded;
mod config;
mod pull_request;
mod range;
mod replay;
pub mod signing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use countersign_core::config::Config;
use countersign_core::deployment::Deployment;
use countersign_core::detect;
use countersign_core::diagnostic::ConfigError;
use countersign_core::evaluate::{self, Decision};
use countersign_core::finding::{Finding, Severity};
use countersign_core::model::{ChangeInput, ConfigOrigin, PullRequest, Rollback};
use countersign_git::{ChangeContext, ObjectId, Repo};

pub use attestations::{AttestationSource, Attestations, RemoteStatements, record, write_atomically};
pub use blast::{analyse, changed_files, plan_digests};
pub use config::{PresentFiles, config_files_at, config_files_in_dir, load_config, present_files_at};
pub use pull_request::{
    AmbientFlags, MAX_PR_BODY_BYTES, ambient_from_ci, pull_request_body, pull_request_from_github_event,
};
pub use replay::{Progress, ReplaySpec, calibrate, replay, replay_observed, write_chart};

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
/// (seconds since the epoch): `countersign check` end to end. A deployment range of several
/// merged changes is decided change by change ([`countersign_core::evaluate::combine`]).
pub fn decide(
    spec: &ChangeSpec,
    ambient: Ambient,
    sources: &[AttestationSource],
    remote: &dyn RemoteStatements,
    now: i64,
) -> Result<Decision, ReadError> {
    let purpose = spec.purpose.or(ambient.purpose).unwrap_or(Purpose::Deploy);
    let prepared = prepare(spec, ambient)?;
    let attestations = Attestations::read(&prepared.repo, &prepared.config, sources, remote)?;
    let judge = Judge { repo: &prepared.repo, config: &prepared.config, attestations: &attestations, purpose, now };
    let mut decision = judge.decide(&prepared.change)?;
    if purpose == Purpose::Deploy && prepared.change.rollback.is_none() && prepared.change.commits.len() > 1 {
        decision = judge.by_merged_change(&prepared, spec, decision)?;
    }
    let notes = attestations.notes.iter().filter(|note| !decision.allowed() || note.severity != Severity::Info);
    let before: Vec<Finding> = prepared.findings.into_iter().chain(notes.cloned()).collect();
    decision.findings.splice(0..0, before);
    Ok(decision)
}

/// Decides changes of one repository against one configuration and one set of attestations.
struct Judge<'a> {
    repo: &'a Repo,
    config: &'a Config,
    attestations: &'a Attestations<'a>,
    purpose: Purpose,
    now: i64,
}

/// Files and lines of each file's interdiff shown for an earlier version.
const MAX_INTERDIFF_FILES: usize = 50;
const MAX_INTERDIFF_LINES: usize = 200;

impl Judge<'_> {
    /// One change: its own attestations, and those of its earlier versions (statements about a
    /// head among its commits, or for a pull request about its branch since it started).
    fn decide(&self, change: &ChangeInput) -> Result<Decision, ReadError> {
        let fingerprint = change.fingerprint();
        let mut found = self.attestations.about(&fingerprint, &change.environment)?;
        let commits: std::collections::HashSet<&str> = change.commits.iter().map(|commit| commit.id.as_str()).collect();
        let started = change.commits.iter().map(|commit| commit.time).min();
        let branch = change.source_branch.as_deref().filter(|_| self.purpose == Purpose::PullRequest);
        found.extend(self.attestations.earlier_versions(&fingerprint, &change.environment, |statement| {
            commits.contains(statement.head.as_str())
                || (branch == Some(statement.branch.as_str())
                    && started.is_some_and(|started| statement.time >= started))
        }));
        let mut decision = evaluate::evaluate(self.config, change, &found, self.now);
        self.show_what_changed_since(change, &mut decision)?;
        let unreviewed = !found.iter().any(|attestation| !attestation.earlier_version && attestation.problem.is_none());
        if unreviewed
            && decision.earlier_approvals.is_empty()
            && !decision.allowed()
            && let Some((compared, differing, _)) =
                self.attestations.closest_approved(self.config, &change.tree_changes, &change.environment)
        {
            decision.findings.push(Finding::new(
                Severity::Warning,
                "unapproved-content",
                format!(
                    "nobody approved this content; it differs from the version {} approved ({}) in {}",
                    compared.people.join(", "),
                    &compared.fingerprint[..compared.fingerprint.len().min(19)],
                    differing.join(", ")
                ),
            ));
        }
        Ok(decision)
    }

    /// For each statement about an earlier version whose head is still here: the files and
    /// hunks that changed since, so that a re-review takes a minute.
    fn show_what_changed_since(&self, change: &ChangeInput, decision: &mut Decision) -> Result<(), ReadError> {
        let (Ok(head), Ok(base)) =
            (ObjectId::from_hex(change.head.as_bytes()), ObjectId::from_hex(change.base.as_bytes()))
        else {
            return Ok(());
        };
        let ours: std::collections::BTreeSet<String> = change.files.iter().map(|file| file.path.clone()).collect();
        let mut done: std::collections::HashMap<String, Vec<evaluate::Interdiff>> = std::collections::HashMap::new();
        for statement in decision.earlier_approvals.iter_mut().chain(decision.rejections.iter_mut()) {
            let Some(earlier) = statement.earlier_version.as_mut() else { continue };
            if let Some(known) = done.get(&earlier.head) {
                earlier.changed_since = known.clone();
                continue;
            }
            let Some(then) =
                ObjectId::from_hex(earlier.head.as_bytes()).ok().filter(|_| self.repo.has_commit(&earlier.head))
            else {
                continue;
            };
            let mut interdiff = self.repo.changed_since(then, base, head, ours.clone(), MAX_INTERDIFF_LINES)?;
            interdiff.truncate(MAX_INTERDIFF_FILES);
            done.insert(earlier.head.clone(), interdiff.clone());
            earlier.changed_since = interdiff;
        }
        Ok(())
    }

    /// The range cut into merged changes, each read, analysed and decided on its own, then one
    /// verdict over all.
    fn by_merged_change(&self, prepared: &Prepared, spec: &ChangeSpec, whole: Decision) -> Result<Decision, ReadError> {
        let environment = &prepared.change.environment;
        let out_of_time = || match spec.deadline {
            Some(deadline) if std::time::Instant::now() > deadline => {
                Err(countersign_git::Error::OutOfTime { what: "cutting the range into merged changes".to_owned() }
                    .into())
            }
            _ => Ok(()),
        };
        // Cheapest first: commits without a merge, none of which any statement could be about
        // (no statement shares a path with it), are one change.
        fn paths(commit: &countersign_core::model::Commit) -> std::collections::BTreeSet<&str> {
            commit.files.iter().map(|file| file.path.as_str()).collect()
        }
        let any_merge = prepared.change.commits.iter().any(countersign_core::model::Commit::is_merge);
        if !any_merge
            && !prepared
                .change
                .commits
                .iter()
                .any(|commit| self.attestations.could_concern(&paths(commit), environment))
        {
            return Ok(whole);
        }
        let reviewed = |fingerprint: &str| self.attestations.any_about(fingerprint, environment);
        let cuts = range::cut(self.repo, prepared.base, prepared.head, &reviewed, &out_of_time)?;
        if let [only] = &cuts[..]
            && only.base == Some(prepared.base)
            && only.head == prepared.head
        {
            return Ok(whole);
        }
        // Cheap first: a range of single commits none of which any statement could be about (no
        // statement shares a path with it) stays one change without reading each commit again.
        let merged =
            |kind: evaluate::MergedKind| kind != evaluate::MergedKind::Commit && kind != evaluate::MergedKind::Commits;
        let paths_of = |id: &ObjectId| -> std::collections::BTreeSet<&str> {
            let id = id.to_string();
            prepared
                .change
                .commits
                .iter()
                .filter(|commit| commit.id == id)
                .flat_map(|commit| commit.files.iter().map(|file| file.path.as_str()))
                .collect()
        };
        let worth_cutting = cuts.iter().any(|cut| {
            cut.kind != evaluate::MergedKind::Commit
                || cut.line.iter().any(|id| self.attestations.could_concern(&paths_of(id), environment))
        });
        if !worth_cutting {
            return Ok(whole);
        }
        let mut read = Vec::with_capacity(cuts.len());
        for cut in cuts {
            out_of_time()?;
            let change = read_cut(prepared, spec, &cut)?;
            let reviewed = self.attestations.any_about(&change.fingerprint(), environment)?;
            let closest = if reviewed {
                None
            } else {
                self.attestations.closest_approved(self.config, &change.tree_changes, environment)
            };
            read.push((cut, change, reviewed, closest));
        }
        // Commits of one branch deployed as they are, none of them a reviewed change (or one
        // changed since its review), are one change.
        let separate = read.iter().any(|(cut, _, reviewed, closest)| {
            *reviewed || merged(cut.kind) || closest.as_ref().is_some_and(|(.., covers)| *covers)
        });
        if !separate {
            return Ok(whole);
        }
        let mut parts = Vec::with_capacity(read.len());
        for (cut, mut change, reviewed, closest) in read {
            let findings = analyse_cut(prepared, spec, &mut change)?;
            let mut decision = self.decide(&change)?;
            decision.findings.splice(0..0, findings);
            let (new_content, compared_with) = match (cut.new_content.is_empty(), closest) {
                (false, _) => (cut.new_content, None),
                (true, Some((compared, differing, _))) => (differing, Some(compared)),
                (true, None) => (Vec::new(), None),
            };
            let facts = evaluate::MergedChangeFacts {
                kind: cut.kind,
                title: cut.title,
                commits: cut.line.iter().map(ToString::to_string).collect(),
                new_content,
                compared_with,
                reviewed,
            };
            parts.push((facts, decision));
        }
        Ok(evaluate::combine(whole, parts))
    }
}

/// One merged change of a range, read as a change of its own: `cut.base..cut.head`, for the
/// range's environment and requester, judged by the range's configuration.
fn read_cut(prepared: &Prepared, spec: &ChangeSpec, cut: &range::Cut) -> Result<ChangeInput, ReadError> {
    let context = ChangeContext {
        deadline: spec.deadline,
        environment: prepared.change.environment.clone(),
        requester: spec.requester.clone(),
        source_branch: None,
        target_branch: prepared.change.target_branch.clone(),
        pull_request: None,
    };
    let mut change = prepared.repo.read_change_exact(cut.base, cut.head, context)?;
    change.config_origin = prepared.change.config_origin.clone();
    Ok(change)
}

/// A merged change's blast radius. The authors' experience is read once, before the range: a
/// merged change's own predecessors in the range do not add to it, which can only raise its risk.
fn analyse_cut(prepared: &Prepared, spec: &ChangeSpec, change: &mut ChangeInput) -> Result<Vec<Finding>, ReadError> {
    change.history = prepared.change.history.clone();
    let mut findings = Vec::new();
    analyse(&prepared.repo, &prepared.config, change, (&[], &[]), spec.deadline, &mut findings)?;
    Ok(findings)
}

/// Merged changes at most cut from one range for the approval service; a longer range is judged
/// as one change.
pub const MAX_MERGED_CHANGES: usize = 200;

/// The merged changes of a prepared deployment range, each read and analysed, for a caller that
/// weighs statements itself (the approval service, from its database). Commits in a row are not
/// grouped into a reviewed series here: without statements at hand each is its own change. Empty
/// when the range is one change, a rollback, or longer than [`MAX_MERGED_CHANGES`].
pub fn merged_changes(
    prepared: &Prepared,
    spec: &ChangeSpec,
) -> Result<Vec<(evaluate::MergedChangeFacts, ChangeInput)>, ReadError> {
    if prepared.change.rollback.is_some() || prepared.change.commits.len() < 2 {
        return Ok(Vec::new());
    }
    let out_of_time = || match spec.deadline {
        Some(deadline) if std::time::Instant::now() > deadline => {
            Err(countersign_git::Error::OutOfTime { what: "cutting the range into merged changes".to_owned() }.into())
        }
        _ => Ok(()),
    };
    let cuts = range::cut(&prepared.repo, prepared.base, prepared.head, &|_| Ok(false), &out_of_time)?;
    if cuts.len() < 2 || cuts.len() > MAX_MERGED_CHANGES {
        return Ok(Vec::new());
    }
    let mut parts = Vec::with_capacity(cuts.len());
    for cut in cuts {
        out_of_time()?;
        let mut change = read_cut(prepared, spec, &cut)?;
        analyse_cut(prepared, spec, &mut change)?;
        let facts = evaluate::MergedChangeFacts {
            kind: cut.kind,
            title: cut.title,
            commits: cut.line.iter().map(ToString::to_string).collect(),
            new_content: cut.new_content,
            compared_with: None,
            reviewed: false,
        };
        parts.push((facts, change));
    }
    Ok(parts)
}

/// The whole read stage: configuration at the base, the change, its blast radius and the
/// authors' recent history.
pub fn prepare(spec: &ChangeSpec, ambient: Ambient) -> Result<Prepared, ReadError> {
    let gate = Gate::open(spec)?;
    let mut change = gate.read_change(spec, ambient)?;
    let head = gate.repo.resolve(&spec.head)?;
    let Gate { repo, base, config, mut findings, .. } = gate;
    if change.commits.is_empty() && head != base {
        let behind = repo.count_missing(base, head, MAX_COUNTED_DROPS)?;
        findings.push(Finding::new(
            Severity::Warning,
            "head-behind-base",
            format!(
                "--head {} has no commit that --base {} lacks and is {} behind it: were --base and --head swapped? \
                 --base is what runs now, --head what is to run",
                spec.head,
                spec.base,
                evaluate::plural(behind as usize, "commit")
            ),
        ));
    }
    analyse(&repo, &config, &mut change, (&spec.plans, &spec.uploaded_plans), spec.deadline, &mut findings)?;
    Ok(Prepared { repo, base, head, config, change, findings })
}

/// The last deployment recorded for `environment` in the repository, if any.
pub fn last_deployment(repo: &Path, environment: &str) -> Result<Option<Deployment>, ReadError> {
    let repo = Repo::open(repo)?;
    let Some((text, tip)) = repo.last_deployment(environment)? else { return Ok(None) };
    let record: Deployment = serde_json::from_str(&text).map_err(|error| {
        ReadError::input(format!(
            "{} (commit {tip}) holds a deployment record countersign cannot read: {error}",
            countersign_git::deployments_ref(environment)
        ))
    })?;
    if record.environment != environment {
        return Err(ReadError::input(format!(
            "{} records a deployment to `{}`, not `{environment}`; it was moved by hand: restore it",
            countersign_git::deployments_ref(environment),
            record.environment
        )));
    }
    // The base of the next check must be the commit recorded, never a name a record could
    // smuggle in (`HEAD`, a branch) that would make the head its own base.
    if ObjectId::from_hex(record.commit.as_bytes()).is_err() {
        return Err(ReadError::input(format!(
            "{} (commit {tip}) records `{}`, which is not a commit id; it was not written by `countersign deploy`: \
             restore the ref, or pass --base",
            countersign_git::deployments_ref(environment),
            record.commit
        )));
    }
    Ok(Some(record))
}

/// The last deployment recorded for `environment`, as the base of the next check; without one,
/// an error that says how to start and how to record and fetch deployments.
pub fn deployed_base(repo: &Path, environment: &str) -> Result<Deployment, ReadError> {
    last_deployment(repo, environment)?.ok_or_else(|| {
        ReadError::input(format!(
            "no --base given, and no deployment of {environment} is recorded in {reference}; pass --base with the \
             commit {environment} runs now (the first time), record each deployment with `countersign deploy --env \
             {environment}`, and fetch the record with `git fetch origin '+refs/countersign/*:refs/countersign/*'`",
            reference = countersign_git::deployments_ref(environment)
        ))
    })
}

/// Records a deployment in the repository's deployment ref; returns where it went.
pub fn record_deployment(
    repo: &Path,
    record: &Deployment,
    signer: &countersign_core::model::Identity,
) -> Result<String, ReadError> {
    let repo = Repo::open(repo)?;
    let text = serde_json::to_string_pretty(record).map_err(|error| ReadError::input(error.to_string()))?;
    Ok(repo.record_deployment(&record.environment, &text, signer, record.time)?)
}

/// Whether `id` is a person or an agent of the people.toml at `people`.
pub fn known_id(id: &str, people: &std::path::Path) -> Result<(), String> {
    let text = crate::bounded::read_text(people, crate::bounded::MAX_CONFIG_BYTES, "").map_err(|error| {
        format!("cannot check that `{id}` is in people.toml ({error}); pass --people with the people.toml of your repositories")
    })?;
    let source = countersign_core::diagnostic::SourceFile::new(people.display().to_string(), text);
    let directory = countersign_core::directory::Directory::parse(&source).map_err(|errors| {
        format!("{} has {} mistake(s); `countersign policy check` shows them", people.display(), errors.len())
    })?;
    directory.known_id(id, &people.display().to_string()).map_err(|unknown| unknown.to_string())
}

/// The configuration for a scan, which can do without one (levels are then unknown and only the
/// built-in markers count): `None` with the reason when it is missing.
pub fn optional_config(
    repo: &Repo,
    tip: ObjectId,
    config_dir: Option<&Path>,
) -> Result<(Option<Config>, Option<String>), ReadError> {
    match config_files_at(repo, tip, config_dir) {
        Ok(files) => Ok((Some(load_config(&files)?.0), None)),
        Err(ReadError::MissingConfig(message)) => Ok((None, Some(message))),
        Err(other) => Err(other),
    }
}

/// The AI signals of every authorship note (git-ai, Agent Trace), by commit id: read once, up
/// front, because most commits have none. An unreadable note adds nothing (notes only ever add
/// evidence).
pub fn note_signals(repo: &Repo) -> Result<HashMap<String, Vec<detect::Signal>>, ReadError> {
    let mut notes: HashMap<String, Vec<detect::Signal>> = HashMap::new();
    for format in [countersign_core::notes::NoteFormat::GitAi, countersign_core::notes::NoteFormat::AgentTrace] {
        repo.for_each_note(format.reference(), None, &mut |commit, text| {
            let parsed = text.ok().and_then(|text| format.parse(&text).ok());
            if let Some(signal) = parsed.as_ref().and_then(|note| detect::scan_note(note, format.reference())) {
                notes.entry(commit).or_default().push(signal);
            }
        })?;
    }
    Ok(notes)
}
