//! `countersign simulate`: replays a history through one or two policies as if every change the
//! branch received had been gated, and reports what each policy would have cost.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use countersign_core::config::Config;
use countersign_core::evaluate::{self, CheckedAttestations};
use countersign_core::model::ChangeInput;
use countersign_core::simulate::{ExperienceIndex, PolicyReport, Simulation};
use countersign_git::{ChangeContext, ObjectId, Repo};
use serde::Serialize;

use crate::load::{self, Failure};
use crate::{Format, chart};

/// Changes read ahead of the replay, in parallel; bounds memory on long histories.
const CHUNK: usize = 1024;

#[derive(clap::Args, Clone, Debug)]
pub struct SimulateArgs {
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The changes to replay: `A..B` (each commit of B's first-parent line after A), or one
    /// revision for its whole first-parent history.
    #[arg(long)]
    pub range: String,
    /// Folder with the policy to replay (default: `.countersign/` at the range's tip).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A second configuration folder, replayed side by side.
    #[arg(long, value_name = "OTHER_DIR")]
    pub compare: Option<PathBuf>,
    /// How many reviews each reviewer completes per day.
    #[arg(long = "reviewers-per-day", value_name = "N", default_value_t = 8.0)]
    pub reviews_per_day: f64,
    /// The lowest level that counts as senior for the load figures.
    #[arg(long, default_value = "senior")]
    pub senior_level: String,
    #[arg(long = "env", default_value = "production", value_parser = crate::environment_name)]
    pub environment: String,
    /// Write an SVG chart of weekly senior reviews and queue delay here.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(Serialize)]
struct Output {
    range: String,
    environment: String,
    changes: usize,
    first: Option<String>,
    last: Option<String>,
    reviews_per_reviewer_per_day: f64,
    senior_level: String,
    policies: Vec<PolicyReport>,
}

struct Replay<'a> {
    config: &'a Config,
    simulation: Simulation<'a>,
    experience: ExperienceIndex,
    no_attestations: CheckedAttestations,
}

pub fn run(args: &SimulateArgs) -> u8 {
    match simulate(args) {
        Ok(output) => {
            if let Some(path) = &args.chart {
                let svg = chart::weekly(&output.policies);
                if let Err(error) = write_atomically(path, &svg) {
                    return Failure::input(format!("cannot write chart {}: {error}", path.display()))
                        .report(args.format);
                }
            }
            match args.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&output).unwrap_or_default()),
                Format::Text => out!("{}", text(&output, args.chart.as_deref())),
            }
            crate::EXIT_ALLOWED
        }
        Err(failure) => failure.report(args.format),
    }
}

fn simulate(args: &SimulateArgs) -> Result<Output, Failure> {
    if !(args.reviews_per_day > 0.0 && args.reviews_per_day.is_finite()) {
        return Err(Failure::input("--reviewers-per-day must be a positive number of reviews per reviewer per day"));
    }
    let repo = Repo::open(&args.repo)?;
    let (tips, hidden) = repo.resolve_range(&args.range)?;
    let tip = tips[0];
    let mut configs: Vec<(String, Config)> = Vec::new();
    let primary = match &args.config {
        Some(dir) => (dir.display().to_string(), load::load_config(&load::config_files_in_dir(dir)?)?.0),
        None => (
            format!(".countersign@{}", &tip.to_string()[..10]),
            load::load_config(&load::config_files_at(&repo, tip, None)?)?.0,
        ),
    };
    configs.push(primary);
    if let Some(dir) = &args.compare {
        configs.push((dir.display().to_string(), load::load_config(&load::config_files_in_dir(dir)?)?.0));
    }
    let mut replays = Vec::new();
    for (name, config) in &configs {
        let Some(senior) = config.directory.level_index(&args.senior_level) else {
            return Err(Failure::input(format!(
                "--senior-level `{}` is not a level of {name}/people.toml (levels: {})",
                args.senior_level,
                config.directory.levels().join(", ")
            )));
        };
        replays.push(Replay {
            config,
            simulation: Simulation::new(config, name.clone(), senior, args.reviews_per_day),
            experience: ExperienceIndex::new(config),
            no_attestations: evaluate::check_attestations(config, "", &[]),
        });
    }

    let mut chain = repo.first_parent_chain(&tips, &hidden)?;
    chain.reverse();
    seed_experience(&repo, &hidden, &mut replays)?;

    let target_branch = repo.branch_name(args.range.split_once("..").map_or(&args.range, |(_, to)| to));
    let context = ChangeContext {
        environment: args.environment.clone(),
        target_branch: target_branch.or_else(|| Some("main".to_owned())),
        ..ChangeContext::default()
    };
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(chain.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} changes {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut workers: Vec<Repo> = (0..threads).map(|_| repo.clone()).collect();
    let primary_config = replays[0].config;
    let mut first = None;
    let mut last = None;
    for ids in chain.chunks(CHUNK) {
        for (change, time) in read_chunk(&mut workers, primary_config, ids, &context)? {
            first.get_or_insert(time);
            last = Some(time);
            replay(&mut replays, change, time);
        }
        if let Some(bar) = &progress {
            bar.inc(ids.len() as u64);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let date = |time: Option<i64>| {
        time.and_then(|time| jiff::Timestamp::from_second(time).ok()).map(|at| at.strftime("%Y-%m-%d").to_string())
    };
    Ok(Output {
        range: args.range.clone(),
        environment: args.environment.clone(),
        changes: chain.len(),
        first: date(first),
        last: date(last),
        reviews_per_reviewer_per_day: args.reviews_per_day,
        senior_level: args.senior_level.clone(),
        policies: replays.into_iter().map(|replay| replay.simulation.finish()).collect(),
    })
}

/// Gives the replay the history before the range, so authors are not all newcomers at its start.
fn seed_experience(repo: &Repo, hidden: &[ObjectId], replays: &mut [Replay<'_>]) -> Result<(), Failure> {
    let Some(start) = hidden.first() else { return Ok(()) };
    let days = replays.iter().map(|replay| replay.config.policy.risk.experience_days).max().unwrap_or(0);
    let since = repo.commit_time(*start)? - i64::from(days) * 86_400;
    let mut history = repo.recent_history(*start, since, |_| true, |_| false, 200_000)?;
    history.commits.sort_by_key(|commit| commit.time);
    for replay in replays {
        for commit in &history.commits {
            replay.experience.add(replay.config, commit);
        }
    }
    Ok(())
}

/// Decides one change under every policy, then remembers its commits as experience.
fn replay(replays: &mut [Replay<'_>], mut change: ChangeInput, time: i64) {
    for replay in replays.iter_mut() {
        change.history = Some(replay.experience.history_for(replay.config, &change, time));
        let analysis = evaluate::analyze(replay.config, &change);
        let decision = evaluate::decide(replay.config, &analysis, &replay.no_attestations, time);
        replay.simulation.record(&decision, time);
        for commit in change.commits.iter().rev() {
            replay.experience.add(replay.config, commit);
        }
    }
}

/// Reads the changes of a chunk of first-parent commits on every worker, in order.
fn read_chunk(
    workers: &mut [Repo],
    config: &Config,
    ids: &[ObjectId],
    context: &ChangeContext,
) -> Result<Vec<(ChangeInput, i64)>, Failure> {
    let per_worker = ids.len().div_ceil(workers.len());
    let results: Vec<Result<Vec<(ChangeInput, i64)>, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter_mut()
            .zip(ids.chunks(per_worker.max(1)))
            .map(|(repo, ids)| {
                scope.spawn(move || {
                    ids.iter()
                        .map(|id| {
                            let mut change = repo.read_merged_change(*id, context.clone())?;
                            let base = ObjectId::from_hex(change.base.as_bytes()).ok();
                            let found = crate::blast::changed_files(repo, config, &change, base, *id)?;
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
            .map(|handle| handle.join().unwrap_or_else(|_| Err(Failure::input("a reader panicked"))))
            .collect()
    });
    let mut changes = Vec::with_capacity(ids.len());
    for result in results {
        changes.extend(result?);
    }
    Ok(changes)
}

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, contents.as_bytes())?;
    file.persist(path).map(|_| ()).map_err(|error| error.error)
}

/// The policies side by side, one row per measure.
fn text(output: &Output, chart: Option<&Path>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simulated {} changes of {} ({} to {}) for {}",
        output.changes,
        output.range,
        output.first.as_deref().unwrap_or("-"),
        output.last.as_deref().unwrap_or("-"),
        output.environment
    );
    let _ = writeln!(
        out,
        "each reviewer completes {} reviews a day; seniors are {} and above\n",
        output.reviews_per_reviewer_per_day, output.senior_level
    );
    let policies = &output.policies;
    let percent = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("policy".to_owned(), policies.iter().map(|policy| policy.name.clone()).collect()),
        ("changes".to_owned(), policies.iter().map(|policy| policy.changes.to_string()).collect()),
        (
            "AI-assisted".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{} ({:.0}%)", policy.ai_assisted, percent(policy.ai_assisted, policy.changes)))
                .collect(),
        ),
        (
            "need review".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{} ({:.0}%)", policy.need_review, percent(policy.need_review, policy.changes)))
                .collect(),
        ),
        (
            "need a senior".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{} ({:.0}%)", policy.need_senior, percent(policy.need_senior, policy.changes)))
                .collect(),
        ),
        ("no one could approve".to_owned(), policies.iter().map(|policy| policy.unapprovable.to_string()).collect()),
        (
            "risk low/med/high/crit".to_owned(),
            policies
                .iter()
                .map(|policy| policy.risk.iter().map(u64::to_string).collect::<Vec<_>>().join("/"))
                .collect(),
        ),
    ];
    let mut rule_names: Vec<&str> = Vec::new();
    for policy in policies {
        for rule in &policy.rules {
            if !rule_names.contains(&rule.name.as_str()) {
                rule_names.push(&rule.name);
            }
        }
    }
    for name in rule_names {
        rows.push((
            format!("  rule {name}"),
            policies
                .iter()
                .map(|policy| {
                    policy
                        .rules
                        .iter()
                        .find(|rule| rule.name == name)
                        .map_or("-".to_owned(), |rule| rule.caught.to_string())
                })
                .collect(),
        ));
    }
    rows.extend([
        ("reviews".to_owned(), policies.iter().map(|policy| policy.reviews.to_string()).collect()),
        (
            "senior reviews".to_owned(),
            policies.iter().map(|policy| format!("{} by {} seniors", policy.senior_reviews, policy.seniors)).collect(),
        ),
        (
            "per senior per week".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{:.2} (busiest {})", policy.senior_load_per_week, policy.busiest_senior_week))
                .collect(),
        ),
        (
            "queue delay p50/p90".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{} h / {} h", policy.delay.p50_hours, policy.delay.p90_hours))
                .collect(),
        ),
        (
            "queue delay mean/max".to_owned(),
            policies
                .iter()
                .map(|policy| format!("{} h / {} h", policy.delay.mean_hours, policy.delay.max_hours))
                .collect(),
        ),
    ]);
    let label_width = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let column_width =
        rows.iter().flat_map(|(_, cells)| cells.iter().map(|cell| cell.chars().count())).max().unwrap_or(0).max(12);
    for (label, cells) in &rows {
        let _ = write!(out, "{label:<label_width$}");
        for cell in cells {
            let _ = write!(out, "  {cell:>column_width$}");
        }
        let _ = writeln!(out);
    }
    for policy in policies {
        let busiest: Vec<String> = policy
            .reviewers
            .iter()
            .take(5)
            .map(|reviewer| format!("{} {}", reviewer.person, reviewer.reviews))
            .collect();
        if !busiest.is_empty() {
            let _ = writeln!(out, "\nbusiest reviewers under {}: {}", policy.name, busiest.join(", "));
        }
    }
    if let Some(path) = chart {
        let _ = writeln!(out, "\nchart: {}", path.display());
    }
    out
}
