//! Replaying a history through one or two policies as if every change the branch received had
//! been gated: the read side of `countersign simulate`.

use std::path::PathBuf;

use countersign_core::config::Config;
use countersign_core::evaluate::{self, CheckedAttestations};
use countersign_core::model::{ChangeInput, RecentHistory};
use countersign_core::simulate::{ExperienceIndex, ReplayReport, Simulation};
use countersign_git::{ChangeContext, ObjectId, Repo};

use crate::{ReadError, config_files_at, config_files_in_dir, load_config};

/// Changes read ahead of the replay, in parallel; bounds memory on long histories.
const CHUNK: usize = 1024;

/// What to replay and how reviewers work.
#[derive(Clone, Debug)]
pub struct ReplaySpec {
    pub repo: PathBuf,
    /// `A..B`, or one revision for its whole first-parent history.
    pub range: String,
    /// The policy's folder; `.countersign/` at the range's tip when absent.
    pub config: Option<PathBuf>,
    /// A second policy's folder, replayed side by side.
    pub compare: Option<PathBuf>,
    pub reviews_per_day: f64,
    pub senior_level: String,
    pub environment: String,
    /// How far back a fix's removed lines are traced (SZZ).
    pub fix_window_days: u32,
}

struct Replay<'a> {
    config: &'a Config,
    simulation: Simulation<'a>,
    experience: ExperienceIndex,
    no_attestations: CheckedAttestations,
}

/// Replays the range; `progress` hears how many changes there are, then each chunk read.
pub fn replay(spec: &ReplaySpec, progress: &mut dyn FnMut(Progress)) -> Result<ReplayReport, ReadError> {
    if !(spec.reviews_per_day > 0.0 && spec.reviews_per_day.is_finite()) {
        return Err(ReadError::input("--reviewers-per-day must be a positive number of reviews per reviewer per day"));
    }
    let repo = Repo::open(&spec.repo)?;
    let (tips, hidden) = repo.resolve_range(&spec.range)?;
    let tip = tips[0];
    let mut configs: Vec<(String, Config)> = Vec::new();
    configs.push(match &spec.config {
        Some(dir) => (dir.display().to_string(), load_config(&config_files_in_dir(dir)?)?.0),
        None => {
            (format!(".countersign@{}", &tip.to_string()[..10]), load_config(&config_files_at(&repo, tip, None)?)?.0)
        }
    });
    if let Some(dir) = &spec.compare {
        configs.push((dir.display().to_string(), load_config(&config_files_in_dir(dir)?)?.0));
    }
    let mut replays = Vec::new();
    for (name, config) in &configs {
        let Some(senior) = config.directory.level_index(&spec.senior_level) else {
            return Err(ReadError::input(format!(
                "--senior-level `{}` is not a level of {name}/people.toml (levels: {})",
                spec.senior_level,
                config.directory.levels().join(", ")
            )));
        };
        replays.push(Replay {
            config,
            simulation: Simulation::new(config, name.clone(), senior, spec.reviews_per_day),
            experience: ExperienceIndex::new(config),
            no_attestations: evaluate::check_attestations(config, "", &[]),
        });
    }

    let mut chain = repo.first_parent_chain(&tips, &hidden)?;
    chain.reverse();
    progress(Progress::Total(chain.len()));
    if let Some(start) = hidden.first() {
        let days = replays.iter().map(|replay| replay.config.policy.risk.experience_days).max().unwrap_or(0);
        for commit in history_before(&repo, *start, days)?.commits {
            for replay in &mut replays {
                replay.experience.add(replay.config, &commit);
            }
        }
    }
    let target_branch = repo.branch_name(spec.range.split_once("..").map_or(&spec.range, |(_, to)| to));
    let context = ChangeContext {
        environment: spec.environment.clone(),
        target_branch: target_branch.or_else(|| Some("main".to_owned())),
        ..ChangeContext::default()
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut workers: Vec<Repo> = (0..threads).map(|_| repo.clone()).collect();
    let primary_config = replays[0].config;
    let (mut first, mut last) = (None, None);
    // Reverts come after what they undo: read them all, then label the changes at the end.
    let mut fixes = countersign_core::simulate::LaterFixes::default();
    let mut fix_commits: Vec<String> = Vec::new();
    for ids in chain.chunks(CHUNK) {
        for (change, time) in read_merged_changes(&mut workers, primary_config, ids, &context)? {
            first.get_or_insert(time);
            last = Some(time);
            for commit in &change.commits {
                fixes.observe(commit);
                if countersign_core::simulate::looks_like_fix(commit) && fix_commits.len() < MAX_TRACED_FIXES {
                    fix_commits.push(commit.id.clone());
                }
            }
            decide_everywhere(&mut replays, change, time);
        }
        progress(Progress::Read(ids.len()));
    }
    // Each fix's removed lines, blamed at its parent within the window, name what it repaired.
    for fix in &fix_commits {
        let id =
            ObjectId::from_hex(fix.as_bytes()).map_err(|_| ReadError::input(format!("`{fix}` is not a commit id")))?;
        for introduced in repo.fixed_lines(id, spec.fix_window_days)? {
            fixes.traced(&introduced.commit, fix);
        }
    }
    let date = |time: Option<i64>| {
        time.and_then(|time| jiff::Timestamp::from_second(time).ok()).map(|at| at.strftime("%Y-%m-%d").to_string())
    };
    Ok(ReplayReport {
        range: spec.range.clone(),
        environment: spec.environment.clone(),
        changes: chain.len(),
        first: date(first),
        last: date(last),
        reviews_per_reviewer_per_day: spec.reviews_per_day,
        senior_level: spec.senior_level.clone(),
        policies: replays.into_iter().map(|replay| replay.simulation.finish(&fixes)).collect(),
    })
}

/// The most fix commits traced back in one replay.
const MAX_TRACED_FIXES: usize = 50_000;

/// How far a replay got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The number of changes to replay.
    Total(usize),
    /// This many more were read and decided.
    Read(usize),
}

/// Decides one change under every policy, then remembers its commits as experience.
fn decide_everywhere(replays: &mut [Replay<'_>], mut change: ChangeInput, time: i64) {
    for replay in replays.iter_mut() {
        change.history = Some(replay.experience.history_for(replay.config, &change, time));
        let analysis = evaluate::analyze(replay.config, &change);
        let decision = evaluate::decide(replay.config, &analysis, &replay.no_attestations, time);
        replay.simulation.record(&decision, time, &change.commits);
        for commit in change.commits.iter().rev() {
            replay.experience.add(replay.config, commit);
        }
    }
}

/// Reads the change each first-parent commit of `ids` brought, with its blast radius and commit
/// time, on one thread per worker repository; in the order of `ids`.
fn read_merged_changes(
    workers: &mut [Repo],
    config: &Config,
    ids: &[ObjectId],
    context: &ChangeContext,
) -> Result<Vec<(ChangeInput, i64)>, ReadError> {
    let per_worker = ids.len().div_ceil(workers.len().max(1));
    let results: Vec<Result<Vec<(ChangeInput, i64)>, ReadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .zip(ids.chunks(per_worker.max(1)))
            .map(|(repo, ids)| {
                scope.spawn(move || {
                    ids.iter()
                        .map(|id| {
                            let mut change = repo.read_merged_change(*id, context.clone())?;
                            let base = ObjectId::from_hex(change.base.as_bytes()).ok();
                            let found = crate::blast::changed_files(repo, config, &change, base, *id, None)?;
                            change.blast.destructive = found.destructive;
                            change.blast.hazards = found.hazards;
                            Ok((change, repo.commit_time(*id)?))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(ReadError::input("a reader thread panicked"))))
            .collect()
    });
    let mut changes = Vec::with_capacity(ids.len());
    for result in results {
        changes.extend(result?);
    }
    Ok(changes)
}

/// Every commit of the `days` before `start`, oldest first: the experience a replay starts with.
fn history_before(repo: &Repo, start: ObjectId, days: u32) -> Result<RecentHistory, ReadError> {
    let since = repo.commit_time(start)? - i64::from(days) * 86_400;
    let mut history = repo.recent_history(start, since, |_| true, |_| false, 200_000)?;
    history.commits.sort_by_key(|commit| commit.time);
    Ok(history)
}
