//! Replaying a history through one or two policies as if every change the branch received had
//! been gated: the read side of `countersign simulate`.

use std::path::PathBuf;

use countersign_core::calibrate::{self, Calibrated, ChangeFeatures, Shares};
use countersign_core::config::Config;
use countersign_core::evaluate::{self, CheckedAttestations};
use countersign_core::evaluate::{Analysis, Decision};
use countersign_core::model::{ChangeInput, RecentFixes, RecentHistory};
use countersign_core::risk::FixHistory;
use countersign_core::risk::RiskSettings;
use countersign_core::simulate::{ExperienceIndex, ReplayReport, Simulation};
use countersign_git::{ChangeContext, FirstParentIndex, Introduced, ObjectId, Repo};

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

impl ReplaySpec {
    /// A replay of `range` under its policy at `environment`, with eight reviews a day each and
    /// seniors from `senior` up.
    pub fn new(
        repo: PathBuf,
        range: String,
        config: Option<PathBuf>,
        environment: String,
        fix_window_days: u32,
    ) -> Self {
        let (compare, reviews_per_day, senior_level) = (None, 8.0, "senior".to_owned());
        ReplaySpec { repo, range, config, compare, reviews_per_day, senior_level, environment, fix_window_days }
    }
}

/// Commits in the touched directories a calibration tells apart: more changes no threshold.
const CALIBRATION_EXPERIENCE: u32 = 10;

/// Replays the range under its policy and calibrates the risk factors on its later fixes,
/// proposing `critical` and `high` for at most the given shares of the changes.
pub fn calibrate(
    spec: &ReplaySpec,
    shares: Shares,
    progress: &mut dyn FnMut(Progress),
) -> Result<Calibrated, ReadError> {
    for (flag, share) in [("--share", shares.high), ("--critical-share", shares.critical)] {
        if !(share > 0.0 && share < 1.0) {
            return Err(ReadError::input(format!("{flag} must be a share of the changes between 0 and 1, e.g. 0.15")));
        }
    }
    let spec = ReplaySpec { compare: None, ..spec.clone() };
    let mut features = Vec::new();
    let report = replay_tuned(
        &spec,
        progress,
        &mut |config| {
            let risk = &mut config.policy.risk;
            risk.experience_min_commits = risk.experience_min_commits.max(CALIBRATION_EXPERIENCE);
        },
        &mut |_, analysis, _| features.push(ChangeFeatures::of(analysis)),
    )?;
    let fixed: std::collections::HashSet<&str> =
        report.later_fixed.iter().map(|labelled| labelled.change.as_str()).collect();
    for change in &mut features {
        change.later_fixed = fixed.contains(change.change.as_str());
    }
    Ok(Calibrated {
        calibration: calibrate::calibrate(&features, shares, &RiskSettings::default()),
        range: report.range,
        first: report.first,
        last: report.last,
        later_fixed: report.later_fixed,
    })
}

struct Replay<'a> {
    config: &'a Config,
    simulation: Simulation<'a>,
    experience: ExperienceIndex,
    no_attestations: CheckedAttestations,
}

/// Replays the range; `progress` hears how many changes there are, then each chunk read.
pub fn replay(spec: &ReplaySpec, progress: &mut dyn FnMut(Progress)) -> Result<ReplayReport, ReadError> {
    replay_observed(spec, progress, &mut |_, _, _| {})
}

/// [`replay`], showing `observer` every change with the first policy's analysis and decision,
/// oldest first.
pub fn replay_observed(
    spec: &ReplaySpec,
    progress: &mut dyn FnMut(Progress),
    observer: &mut dyn FnMut(&ChangeInput, &Analysis, &Decision),
) -> Result<ReplayReport, ReadError> {
    replay_tuned(spec, progress, &mut |_| {}, observer)
}

/// [`replay_observed`], with the first policy's configuration tuned after it is read.
fn replay_tuned(
    spec: &ReplaySpec,
    progress: &mut dyn FnMut(Progress),
    tune: &mut dyn FnMut(&mut Config),
    observer: &mut dyn FnMut(&ChangeInput, &Analysis, &Decision),
) -> Result<ReplayReport, ReadError> {
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
    tune(&mut configs[0].1);
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

    let mut fix_history = FixHistory::default();
    let mut chain = repo.first_parent_chain(&tips, &hidden)?;
    chain.reverse();
    progress(Progress::Total(chain.len()));
    if let Some(start) = hidden.first() {
        let days = replays
            .iter()
            .map(|replay| replay.config.policy.risk.experience_days.max(replay.config.policy.risk.recent_fixes_days))
            .max()
            .unwrap_or(0);
        for commit in history_before(&repo, *start, days)?.commits {
            fix_history.add(&commit);
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
    // Reverts come after what they undo: read them all, then label the changes at the end. Every
    // fix is traced: with the index a fix costs a few blob reads and diffs, not a history walk.
    let mut fixes = countersign_core::simulate::LaterFixes::default();
    let mut index = FirstParentIndex::default();
    let mut fix_commits: Vec<(ObjectId, usize)> = Vec::new();
    for ids in chain.chunks(CHUNK) {
        for (mut change, time) in read_merged_changes(&mut workers, primary_config, ids, &context)? {
            first.get_or_insert(time);
            last = Some(time);
            let head = parse_commit_id(&change.head)?;
            let base = ObjectId::from_hex(change.base.as_bytes()).ok().filter(|base| change.base != empty_tree(base));
            let position = index.push(head, base, time, change.files.iter().map(|file| file.path.as_str()));
            for commit in &change.commits {
                fixes.observe(commit);
                if countersign_core::simulate::looks_like_fix(commit) {
                    fix_commits.push((parse_commit_id(&commit.id)?, position));
                }
            }
            decide_everywhere(&mut replays, &fix_history, &mut change, time, &mut *observer);
            for commit in change.commits.iter().rev() {
                fix_history.add(commit);
            }
        }
        progress(Progress::Read(ids.len()));
    }
    // Each fix's removed lines, blamed back within the window, name the changes it repaired.
    for (fix, found) in trace_fixes(&mut workers, &index, &fix_commits, spec.fix_window_days)? {
        for introduced in found {
            fixes.traced(&introduced.change, &fix.to_string(), &introduced.path, introduced.line);
        }
    }
    let later_fixed = replays.first().map(|replay| replay.simulation.later_fixed(&fixes)).unwrap_or_default();
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
        later_fixed,
    })
}

fn parse_commit_id(id: &str) -> Result<ObjectId, ReadError> {
    ObjectId::from_hex(id.as_bytes()).map_err(|_| ReadError::input(format!("`{id}` is not a commit id")))
}

fn empty_tree(like: &ObjectId) -> String {
    ObjectId::empty_tree(like.kind()).to_string()
}

/// Traces every fix on the worker repositories side by side; in the order of `fixes`.
fn trace_fixes(
    workers: &mut [Repo],
    index: &FirstParentIndex,
    fixes: &[(ObjectId, usize)],
    window_days: u32,
) -> Result<Vec<(ObjectId, Vec<Introduced>)>, ReadError> {
    on_workers(workers, fixes, |repo, (fix, position)| {
        Ok((*fix, repo.fixed_lines(index, *fix, *position, window_days)?))
    })
}

/// Runs `work` on each of `items`, split in order over the worker repositories, one thread each;
/// the results in the order of `items`, or the first error.
fn on_workers<I: Sync, T: Send>(
    workers: &mut [Repo],
    items: &[I],
    work: impl Fn(&mut Repo, &I) -> Result<T, ReadError> + Sync,
) -> Result<Vec<T>, ReadError> {
    let per_worker = items.len().div_ceil(workers.len().max(1)).max(1);
    let work = &work;
    let results: Vec<Result<Vec<T>, ReadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .zip(items.chunks(per_worker))
            .map(|(repo, items)| scope.spawn(move || items.iter().map(|item| work(repo, item)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(ReadError::input("a replay worker thread panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for result in results {
        out.extend(result?);
    }
    Ok(out)
}

/// How far a replay got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The number of changes to replay.
    Total(usize),
    /// This many more were read and decided.
    Read(usize),
}

/// Decides one change under every policy, then remembers its commits as experience. The
/// observer sees the first policy's analysis of each change.
fn decide_everywhere(
    replays: &mut [Replay<'_>],
    fix_history: &FixHistory,
    change: &mut ChangeInput,
    time: i64,
    observer: &mut dyn FnMut(&ChangeInput, &Analysis, &Decision),
) {
    for (position, replay) in replays.iter_mut().enumerate() {
        change.history = Some(replay.experience.history_for(replay.config, change, time));
        let days = replay.config.policy.risk.recent_fixes_days;
        let count = fix_history.count(change.files.iter().map(|file| file.path.as_str()), time, days);
        change.recent_fixes = Some(RecentFixes { count, complete: true });
        let analysis = evaluate::analyze(replay.config, change);
        let decision = evaluate::decide(replay.config, &analysis, &replay.no_attestations, time);
        if position == 0 {
            observer(change, &analysis, &decision);
        }
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
    on_workers(workers, ids, |repo, id| {
        let mut change = repo.read_merged_change(*id, context.clone())?;
        let base = ObjectId::from_hex(change.base.as_bytes()).ok();
        let found = crate::blast::changed_files(repo, config, &change, base, *id, None)?;
        change.blast.destructive = found.destructive;
        change.blast.hazards = found.hazards;
        Ok((change, repo.commit_time(*id)?))
    })
}

/// Every commit of the `days` before `start`, oldest first: the experience a replay starts with.
fn history_before(repo: &Repo, start: ObjectId, days: u32) -> Result<RecentHistory, ReadError> {
    let since = repo.commit_time(start)? - i64::from(days) * 86_400;
    let mut history = repo.recent_history(start, since, |_| true, |_| false, 200_000)?;
    history.commits.sort_by_key(|commit| commit.time);
    Ok(history)
}

/// Writes the simulation's SVG chart, all or nothing.
pub fn write_chart(path: &std::path::Path, report: &ReplayReport) -> Result<(), ReadError> {
    let svg = countersign_core::chart::weekly(&report.policies);
    crate::write_atomically(path, false, |out| out.write_all(svg.as_bytes()).map_err(|error| error.to_string()))
}
