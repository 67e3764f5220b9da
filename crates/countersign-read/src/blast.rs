//! Feeds the analysers: reads the plan files, the changed migrations and manifests, and the
//! responsible authors' recent history, and puts what they find into the change.

use std::collections::BTreeSet;
use std::path::PathBuf;

use countersign_blast::kubernetes::{self, ManifestFile};
use countersign_blast::migration::{self, MigrationSettings};
use countersign_blast::{AnalysisError, Findings, plan};
use countersign_core::config::Config;
use countersign_core::directory::Member;
use countersign_core::evaluate;
use countersign_core::finding::{Finding, Severity};
use countersign_core::model::ChangeInput;
use countersign_git::{ObjectId, Repo};

use crate::ReadError;

/// Commits looked at for the authors' experience before the history counts as incomplete.
const MAX_HISTORY_COMMITS: usize = 200_000;

/// Fills `change.blast` and, unless it is there, `change.history`. Plan files that cannot be read are errors: the gate
/// does not decide on a plan it could not read.
pub fn analyse(
    repo: &Repo,
    config: &Config,
    change: &mut ChangeInput,
    (plans, uploaded_plans): (&[PathBuf], &[(String, String)]),
    deadline: Option<std::time::Instant>,
    findings: &mut Vec<Finding>,
) -> Result<(), ReadError> {
    let mut found = Findings::default();
    let mut errors: Vec<AnalysisError> = Vec::new();
    let files = plans.iter().map(|path| (path.display().to_string(), read_text(path, plan::MAX_PLAN_BYTES)));
    let uploaded = uploaded_plans.iter().map(|(name, text)| {
        let within = text.len() <= plan::MAX_PLAN_BYTES;
        (
            name.clone(),
            if within { Ok(text.clone()) } else { Err(format!("more than {} MiB", plan::MAX_PLAN_BYTES >> 20)) },
        )
    });
    for (name, read) in files.chain(uploaded) {
        match read {
            Ok(text) => {
                change.plans.push(countersign_core::model::PlanDigest { file: name.clone(), digest: digest_of(&text) });
                match plan::read_plan(&name, &text) {
                    Ok(report) => found.extend(report.findings),
                    Err(error) => errors.push(error),
                }
            }
            Err(message) => errors.push(AnalysisError::new(&name, None, message, "pass a file the pipeline wrote")),
        }
    }
    if !errors.is_empty() {
        return Err(ReadError::Analysis(errors));
    }
    let base = ObjectId::from_hex(change.base.as_bytes()).ok();
    let head = repo.resolve(&change.head)?;
    found.extend(changed_files(repo, config, change, base, head, deadline)?);
    for note in found.notes.drain(..) {
        findings.push(Finding::new(Severity::Warning, "not-analysed", note));
    }
    change.blast.destructive.append(&mut found.destructive);
    change.blast.hazards.append(&mut found.hazards);
    // A history already read is kept: the merged changes of a range share the range's.
    if change.history.is_none() {
        change.history = Some(recent_history(repo, config, change, base, deadline)?);
    }
    if change.recent_fixes.is_none() && config.policy.reads_recent_fixes() {
        change.recent_fixes = Some(recent_fixes(repo, config, change, base, deadline)?);
    }
    Ok(())
}

/// Commits looked at for the recent fixes of the changed files before the count is a lower bound.
const MAX_FIX_HISTORY_COMMITS: usize = 50_000;

/// The fix and revert commits of the `recent_fixes_days` before the base that touched the changed
/// files.
fn recent_fixes(
    repo: &Repo,
    config: &Config,
    change: &ChangeInput,
    base: Option<ObjectId>,
    deadline: Option<std::time::Instant>,
) -> Result<countersign_core::model::RecentFixes, ReadError> {
    let Some(base) = base else { return Ok(countersign_core::model::RecentFixes { count: 0, complete: true }) };
    let days = config.policy.risk.recent_fixes_days;
    // The window ends at the base, which the target branch vouches for: the head's dates are
    // whatever its committer wrote, and a backdated head would see no recent fix at all.
    let now = repo.commit_time(base)?;
    let since = now - i64::from(days) * 86_400;
    // Only fixes need their files diffed. Past the deadline the walk stops and the gate says so.
    let out_of_time = || deadline.is_some_and(|deadline| std::time::Instant::now() > deadline);
    let history = repo.recent_history(
        base,
        since,
        |commit| countersign_core::risk::fixes_or_reverts(&commit.message),
        |_| out_of_time(),
        MAX_FIX_HISTORY_COMMITS,
    )?;
    if out_of_time() {
        return Err(
            countersign_git::Error::OutOfTime { what: "reading the recent fixes of the files".to_owned() }.into()
        );
    }
    let mut fixes = countersign_core::risk::FixHistory::default();
    for commit in history.commits.iter().rev() {
        fixes.add(commit);
    }
    let count = fixes.count(change.files.iter().map(|file| file.path.as_str()), now + 1, days);
    Ok(countersign_core::model::RecentFixes { count, complete: history.complete })
}

fn digest_of(text: &str) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(text.as_bytes())))
}

/// The digests of plan files a reviewer saw, as an approval names them.
pub fn plan_digests(paths: &[PathBuf]) -> Result<Vec<countersign_core::model::PlanDigest>, ReadError> {
    paths
        .iter()
        .map(|path| {
            let text = read_text(path, plan::MAX_PLAN_BYTES)
                .map_err(|message| ReadError::input(format!("{}: {message}", path.display())))?;
            Ok(countersign_core::model::PlanDigest { file: path.display().to_string(), digest: digest_of(&text) })
        })
        .collect()
}

fn read_text(path: &std::path::Path, limit: usize) -> Result<String, String> {
    crate::bounded::read_text(path, limit as u64, "").map_err(|error| error.to_string())
}

/// Lints the migrations the change adds or edits and compares the manifests before and after it.
pub fn changed_files(
    repo: &Repo,
    config: &Config,
    change: &ChangeInput,
    base: Option<ObjectId>,
    head: ObjectId,
    deadline: Option<std::time::Instant>,
) -> Result<Findings, ReadError> {
    let settings = &config.policy.destructive;
    let mut found = Findings::default();
    let migration_settings = MigrationSettings { postgres_version: settings.postgres_version.clone() };
    let mut manifests: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for file in &change.files {
        out_of_time(deadline, "reading the changed migrations and manifests")?;
        let path = file.path.as_str();
        if !file.deleted_file && settings.migrations.matches(path) && !settings.migrations_exclude.matches(path) {
            // A migration added as a link to SQL elsewhere in the repository runs that SQL.
            match repo.read_file_following_links(head, path) {
                Ok(Some(sql)) => found.extend(migration::lint(path, &sql, &migration_settings)),
                Ok(None) => {}
                // A migration nobody could read may drop anything; fail closed.
                Err(error) => found.destructive.push(unread(
                    countersign_core::model::OperationSource::Migration,
                    path,
                    "unread migration",
                    format!("{error}; a migration countersign cannot read counts as destructive"),
                )),
            }
        }
        if settings.manifests.matches(path) {
            let before = match base {
                Some(base) => repo.read_file_at(base, path),
                None => Ok(None),
            };
            match (before, repo.read_file_at(head, path)) {
                (Ok(before), Ok(after)) => manifests.push((file.path.clone(), before, after)),
                // A manifest nobody could read may delete any object; fail closed.
                (Err(error), _) | (_, Err(error)) => found.destructive.push(unread(
                    countersign_core::model::OperationSource::Kubernetes,
                    path,
                    "unread manifest",
                    format!("{error}; a manifest countersign cannot read counts as destructive"),
                )),
            }
        }
    }
    let files: Vec<ManifestFile<'_>> = manifests
        .iter()
        .map(|(path, before, after)| ManifestFile { path, before: before.as_deref(), after: after.as_deref() })
        .collect();
    found.extend(kubernetes::deleted_objects(&files, &settings.kinds));
    Ok(found)
}

fn out_of_time(deadline: Option<std::time::Instant>, what: &str) -> Result<(), ReadError> {
    match deadline {
        Some(deadline) if std::time::Instant::now() > deadline => {
            Err(countersign_git::Error::OutOfTime { what: what.to_owned() }.into())
        }
        _ => Ok(()),
    }
}

/// A whole file the analysers could not read, as an operation that blocks like a destructive one.
fn unread(
    source: countersign_core::model::OperationSource,
    path: &str,
    action: &str,
    reason: String,
) -> countersign_core::model::Operation {
    countersign_core::model::Operation {
        source,
        file: path.to_owned(),
        line: None,
        target: "(whole file)".to_owned(),
        action: action.to_owned(),
        reason: Some(reason),
    }
}

/// The responsible authors' commits in the risk window before the change.
fn recent_history(
    repo: &Repo,
    config: &Config,
    change: &ChangeInput,
    base: Option<ObjectId>,
    deadline: Option<std::time::Instant>,
) -> Result<countersign_core::model::RecentHistory, ReadError> {
    let responsible = evaluate::responsible(config, change);
    let authors: BTreeSet<String> = evaluate::Responsible::judged_for_experience(&responsible)
        .filter(|entry| entry.known)
        .map(|entry| entry.id.clone())
        .collect();
    let Some(base) = base.filter(|_| !authors.is_empty()) else {
        return Ok(countersign_core::model::RecentHistory { commits: Vec::new(), complete: true });
    };
    let days = i64::from(config.policy.risk.experience_days);
    // From the base, not the head: a head backdated by its committer would open the window onto
    // every old commit and make anyone look experienced.
    let since = repo.commit_time(base)? - days * 86_400;
    let author_of = |identity: &countersign_core::model::Identity| match config.directory.by_identity(identity) {
        Some(Member::Person(person)) if authors.contains(&person.id) => Some(person.id.clone()),
        _ => None,
    };
    // The level only needs `experience_min_commits` per author; stop once every author has them,
    // so an active author's history costs a few commits, not the whole window.
    let directories: BTreeSet<&str> =
        countersign_core::risk::directories_of(change.files.iter().map(|file| file.path.as_str()))
            .into_iter()
            .collect();
    let minimum = config.policy.risk.experience_min_commits.max(1);
    let mut found: std::collections::BTreeMap<String, u32> = authors.iter().map(|id| (id.clone(), 0)).collect();
    let mut out_of_time_at = None;
    let enough = |commit: &countersign_core::model::Commit| {
        if deadline.is_some_and(|deadline| std::time::Instant::now() > deadline) {
            out_of_time_at = Some(());
            return true;
        }
        let touches =
            commit.files.iter().any(|file| directories.contains(countersign_core::risk::directory_of(&file.path)));
        if let (true, Some(id)) = (touches, author_of(&commit.author)) {
            *found.entry(id).or_default() += 1;
        }
        found.values().all(|count| *count >= minimum)
    };
    let history =
        repo.recent_history(base, since, |commit| author_of(&commit.author).is_some(), enough, MAX_HISTORY_COMMITS)?;
    if out_of_time_at.is_some() {
        return Err(countersign_git::Error::OutOfTime { what: "reading the authors' recent history".to_owned() }.into());
    }
    Ok(history)
}
