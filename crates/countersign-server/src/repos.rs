//! The real [`Analyser`]: reads changes from the server's clones with the same read stage as
//! `countersign check`. Everything it knows about a change comes from the request, never from the
//! server process's environment.

use std::path::{Path, PathBuf};

use countersign_read::{Ambient, ChangeSpec, ConfigSource, Purpose, ReadError};

use crate::contract::RegisterPurpose;

use crate::{Analyser, AnalysisFailure, ChangeRequest, Prepared, PreparedPart};

/// One clone per repository under a folder (`git clone --mirror URL DIR/NAME`).
pub struct RepoAnalyser {
    repos: PathBuf,
    /// How long reading one change may take before it fails closed.
    budget: std::time::Duration,
    /// Two fetches into one clone at once fail on git's ref locks; one at a time.
    fetching: std::sync::Mutex<()>,
}

impl RepoAnalyser {
    pub fn new(repos: PathBuf, budget: std::time::Duration) -> RepoAnalyser {
        RepoAnalyser { repos, budget, fetching: std::sync::Mutex::new(()) }
    }

    fn clone_of(&self, name: &str) -> Result<PathBuf, AnalysisFailure> {
        if !countersign_core::directory::is_simple_name(name) {
            return Err(AnalysisFailure::BadRequest(format!(
                "`{name}` is not a repository name: use the clone's directory name under --repos"
            )));
        }
        let path = self.repos.join(name);
        if !path.is_dir() {
            return Err(AnalysisFailure::BadRequest(format!(
                "the server has no repository `{name}`: clone it with `git clone --mirror URL {}`",
                path.display()
            )));
        }
        Ok(path)
    }

    fn fetch(&self, path: &Path) -> Result<(), AnalysisFailure> {
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        countersign_git::fetch_all(path).map_err(|error| {
            AnalysisFailure::Unjudgeable(format!("{error}; the change cannot be judged on current data"))
        })
    }

    fn read(&self, path: &Path, request: &ChangeRequest) -> Result<Prepared, ReadError> {
        let spec = ChangeSpec {
            repo: path.to_path_buf(),
            base: request.base.clone(),
            head: request.head.clone(),
            environment: request.environment.clone(),
            config: ConfigSource::AtBase,
            requester: request.requester.clone(),
            plans: Vec::new(),
            uploaded_plans: request.plans.iter().map(|plan| (plan.name.clone(), plan.content.clone())).collect(),
            purpose: Some(match request.purpose {
                RegisterPurpose::Deploy => Purpose::Deploy,
                RegisterPurpose::PullRequest => Purpose::PullRequest,
            }),
            deadline: Some(std::time::Instant::now() + self.budget),
        };
        let ambient = match &request.context {
            Some(pull) => Ambient {
                source_branch: Some(pull.source_branch.clone()),
                target_branch: Some(pull.target_branch.clone()),
                pull_request: Some(countersign_core::model::PullRequest {
                    author: pull.author.clone(),
                    body: pull.body.clone(),
                }),
                purpose: None,
            },
            None => Ambient::default(),
        };
        let prepared = countersign_read::prepare(&spec, ambient)?;
        let analysis = countersign_core::evaluate::analyze(&prepared.config, &prepared.change);
        let parts = match request.purpose {
            RegisterPurpose::Deploy => countersign_read::merged_changes(&prepared, &spec)?
                .into_iter()
                .map(|(facts, change)| PreparedPart {
                    facts,
                    analysis: countersign_core::evaluate::analyze(&prepared.config, &change),
                })
                .collect(),
            RegisterPurpose::PullRequest => Vec::new(),
        };
        Ok(Prepared {
            parts,
            config: prepared.config,
            analysis,
            findings: prepared.findings,
            request: ChangeRequest {
                repository: request.repository.clone(),
                base: prepared.base.to_string(),
                head: prepared.head.to_string(),
                environment: request.environment.clone(),
                requester: request.requester.clone(),
                purpose: request.purpose,
                plans: request.plans.clone(),
                context: request.context.clone(),
            },
        })
    }
}

/// A git failure of an analysed change: it can no longer be judged from the clone.
fn failed(error: countersign_git::Error) -> AnalysisFailure {
    AnalysisFailure::Unjudgeable(error.to_string())
}

impl RepoAnalyser {
    /// The request's clone with its base and head resolved.
    fn open_at(
        &self,
        request: &ChangeRequest,
    ) -> Result<(countersign_git::Repo, countersign_git::ObjectId, countersign_git::ObjectId), AnalysisFailure> {
        let repo = countersign_git::Repo::open(&self.clone_of(&request.repository)?).map_err(failed)?;
        let base = repo.resolve(&request.base).map_err(failed)?;
        let head = repo.resolve(&request.head).map_err(failed)?;
        Ok((repo, base, head))
    }
}

fn describe(failure: &ReadError) -> AnalysisFailure {
    match failure {
        ReadError::Config(errors) => AnalysisFailure::Unjudgeable(format!(
            "the configuration at the base is invalid, so the gate fails closed: {}",
            errors
                .iter()
                .map(|error| {
                    let summary = error.summary();
                    format!("{}:{}:{}: {}", summary.file, summary.line, summary.column, summary.message)
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
        ReadError::Analysis(errors) => AnalysisFailure::Unjudgeable(format!(
            "the change could not be analysed, so the gate fails closed: {}",
            errors.iter().map(|error| format!("{}: {}", error.file, error.message)).collect::<Vec<_>>().join("; ")
        )),
        other => AnalysisFailure::BadRequest(other.to_string()),
    }
}

impl Analyser for RepoAnalyser {
    fn prepare(&self, request: &ChangeRequest, fetch: bool) -> Result<Prepared, AnalysisFailure> {
        let path = self.clone_of(&request.repository)?;
        if fetch {
            self.fetch(&path)?;
        }
        match self.read(&path, request) {
            Ok(prepared) => Ok(prepared),
            // Another node may have registered a head this clone has not fetched yet.
            Err(ReadError::Git(_)) if !fetch => {
                self.fetch(&path)?;
                self.read(&path, request).map_err(|failure| describe(&failure))
            }
            Err(failure) => Err(describe(&failure)),
        }
    }

    fn diff(
        &self,
        request: &ChangeRequest,
        paths: &[String],
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>, AnalysisFailure> {
        let (repo, base, head) = self.open_at(request)?;
        let fork = repo.merge_base(base, head).map_err(failed)?.unwrap_or(base);
        let paths = paths.iter().cloned().collect();
        repo.interdiff(fork, head, &paths, MAX_DIFF_LINES).map_err(failed)
    }

    fn changed_since(
        &self,
        request: &ChangeRequest,
        earlier_head: &str,
        paths: &[String],
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>, AnalysisFailure> {
        let (repo, base, head) = self.open_at(request)?;
        let then = repo.resolve(earlier_head).map_err(failed)?;
        let paths = paths.iter().cloned().collect();
        let mut changed = repo.changed_since(then, base, head, paths, MAX_DIFF_LINES).map_err(failed)?;
        changed.truncate(MAX_CHANGED_FILES);
        Ok(changed)
    }
}

/// The most lines of one file's diff the web interface shows.
const MAX_DIFF_LINES: usize = 5_000;

/// The most files an interdiff since an earlier version shows.
const MAX_CHANGED_FILES: usize = 200;
