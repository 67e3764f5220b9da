//! `countersign simulate`: replays a history through one or two policies as if every change the
//! branch received had been gated, and reports what each policy would have cost.

use std::io::IsTerminal;
use std::path::PathBuf;

use countersign_core::present;
use countersign_read::{Progress, ReplaySpec};

use crate::Format;
use crate::failure::{self};

#[derive(clap::Args, Clone, Debug)]
pub struct SimulateArgs {
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// `A..B` (each commit of B's first-parent line after A), or one revision's whole history.
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
    /// How far back a fix's removed lines are traced to the changes that wrote them.
    #[arg(long, value_name = "DAYS", default_value_t = 180)]
    pub fix_window_days: u32,
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
        fix_window_days: args.fix_window_days,
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
                Format::Text => {
                    let chart = args.chart.as_ref().map(|path| path.display().to_string());
                    out!("{}", present::simulation(&output, chart.as_deref()));
                }
            }
            crate::EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, args.format),
    }
}
