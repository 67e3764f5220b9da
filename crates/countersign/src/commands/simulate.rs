//! `countersign simulate`: replays a history through one or two policies as if every change the
//! branch received had been gated, and reports what each policy would have cost.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use countersign_core::simulate::PolicyReport;
use countersign_read::{Progress, ReplayReport, ReplaySpec};

use crate::Format;
use crate::failure::{self};

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

pub fn run(args: &SimulateArgs) -> u8 {
    let spec = ReplaySpec {
        repo: args.repo.clone(),
        range: args.range.clone(),
        config: args.config.clone(),
        compare: args.compare.clone(),
        reviews_per_day: args.reviews_per_day,
        senior_level: args.senior_level.clone(),
        environment: args.environment.clone(),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} changes {per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    });
    let mut progress = |step: Progress| match (&bar, step) {
        (Some(bar), Progress::Total(total)) => bar.set_length(total as u64),
        (Some(bar), Progress::Read(read)) => bar.inc(read as u64),
        (None, _) => {}
    };
    let result = countersign_read::replay(&spec, &mut progress);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(output) => {
            if let Some(path) = &args.chart {
                let svg = countersign_core::chart::weekly(&output.policies);
                let written = countersign_read::write_atomically(path, false, |out| {
                    out.write_all(svg.as_bytes()).map_err(|error| error.to_string())
                });
                if let Err(failure) = written {
                    return failure::report(&failure, args.format);
                }
            }
            match args.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&output).unwrap_or_default()),
                Format::Text => out!("{}", text(&output, args.chart.as_deref())),
            }
            crate::EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, args.format),
    }
}

/// The policies side by side, one row per measure.
fn text(output: &ReplayReport, chart: Option<&Path>) -> String {
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
    let share = |count: u64, policy: &PolicyReport| format!("{count} ({:.0}%)", percent(count, policy.changes));
    let row = |label: &str, cell: &dyn Fn(&PolicyReport) -> String| {
        (label.to_owned(), policies.iter().map(cell).collect::<Vec<String>>())
    };
    let mut rows = vec![
        row("policy", &|policy| policy.name.clone()),
        row("changes", &|policy| policy.changes.to_string()),
        row("AI-assisted", &|policy| share(policy.ai_assisted, policy)),
        row("need review", &|policy| share(policy.need_review, policy)),
        row("need a senior", &|policy| share(policy.need_senior, policy)),
        row("no one could approve", &|policy| policy.unapprovable.to_string()),
        row("risk low/med/high/crit", &|policy| policy.risk.iter().map(u64::to_string).collect::<Vec<_>>().join("/")),
    ];
    let mut rule_names: Vec<&str> = Vec::new();
    for rule in policies.iter().flat_map(|policy| &policy.rules) {
        if !rule_names.contains(&rule.name.as_str()) {
            rule_names.push(&rule.name);
        }
    }
    for name in rule_names {
        rows.push(row(&format!("  rule {name}"), &|policy| {
            policy.rules.iter().find(|rule| rule.name == name).map_or("-".to_owned(), |rule| rule.caught.to_string())
        }));
    }
    rows.extend([
        row("reviews", &|policy| policy.reviews.to_string()),
        row("senior reviews", &|policy| format!("{} by {} seniors", policy.senior_reviews, policy.seniors)),
        row("per senior per week", &|policy| {
            format!("{:.2} (busiest {})", policy.senior_load_per_week, policy.busiest_senior_week)
        }),
        row("queue delay p50/p90", &|policy| format!("{} h / {} h", policy.delay.p50_hours, policy.delay.p90_hours)),
        row("queue delay mean/max", &|policy| format!("{} h / {} h", policy.delay.mean_hours, policy.delay.max_hours)),
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
    let _ = writeln!(
        out,
        "\nqueue delay: how long a change that needs review waits for its last review, each reviewer doing {} a \
         day, oldest first",
        output.reviews_per_reviewer_per_day
    );
    for policy in policies {
        let holders: Vec<String> = policy
            .delay
            .waits_on
            .iter()
            .take(3)
            .map(|held| {
                format!("{} ({}) last on {} changes, {} h in all", held.person, held.level, held.changes, held.hours)
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}: over {} changes; waits mostly on {}",
            policy.name,
            policy.delay.over_changes,
            if holders.is_empty() { "nobody".to_owned() } else { holders.join("; ") }
        );
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
