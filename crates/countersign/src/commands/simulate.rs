//! `countersign simulate` replays a history through one or two policies as if every change the
//! branch received had been gated, and reports what each policy would have cost and caught;
//! `countersign risk calibrate` replays it once to calibrate the risk factors on its later fixes.

use std::path::PathBuf;

use countersign_core::present;
use countersign_read::{Progress, ReplaySpec};

use crate::{Format, failure};

/// What to replay: shared by `simulate` and `risk calibrate`.
#[derive(clap::Args, Clone, Debug)]
pub struct ReplayArgs {
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// `A..B` (each commit of B's first-parent line after A), or one revision's whole history.
    #[arg(long)]
    pub range: String,
    /// Folder with the policy to replay (default: `.countersign/` at the range's tip).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long = "env", default_value = "production", value_parser = crate::environment_name)]
    pub environment: String,
    /// How far back a fix's removed lines are traced to the changes that wrote them.
    #[arg(long, value_name = "DAYS", default_value_t = 180)]
    pub fix_window_days: u32,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args, Clone, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// A second configuration folder, replayed side by side.
    #[arg(long, value_name = "OTHER_DIR")]
    pub compare: Option<PathBuf>,
    /// How many reviews each reviewer completes per day.
    #[arg(long = "reviewers-per-day", value_name = "N", default_value_t = 8.0)]
    pub reviews_per_day: f64,
    /// The lowest level that counts as senior for the load figures.
    #[arg(long, default_value = "senior")]
    pub senior_level: String,
    /// Write an SVG chart of weekly senior reviews and queue delay here.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum RiskCommand {
    /// Relate each risk factor to the changes of a history that later needed a fix (reverted, or
    /// whose lines a fix changed) and propose a `[risk]` block rating about --share of them high.
    Calibrate {
        #[command(flatten)]
        replay: ReplayArgs,
        /// The share of changes `high` and `critical` should cover at most.
        #[arg(long, default_value_t = 0.15)]
        share: f64,
        /// The share of changes `critical` should cover at most.
        #[arg(long, default_value_t = 0.03)]
        critical_share: f64,
    },
}

fn spec(args: &ReplayArgs) -> ReplaySpec {
    let (repo, range, config) = (args.repo.clone(), args.range.clone(), args.config.clone());
    ReplaySpec::new(repo, range, config, args.environment.clone(), args.fix_window_days)
}

/// Runs a replay with a progress bar on a terminal.
fn with_progress<T>(replay: impl FnOnce(&mut dyn FnMut(Progress)) -> T) -> T {
    let bar = crate::progress_bar("{bar:40} {pos}/{len} changes {per_sec} eta {eta}");
    let result = replay(&mut |step: Progress| match (&bar, step) {
        (Some(bar), Progress::Total(total)) => bar.set_length(total as u64),
        (Some(bar), Progress::Read(read)) => bar.inc(read as u64),
        (None, _) => {}
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

pub fn run(args: &SimulateArgs) -> u8 {
    let format = args.replay.format;
    let spec = ReplaySpec {
        compare: args.compare.clone(),
        reviews_per_day: args.reviews_per_day,
        senior_level: args.senior_level.clone(),
        ..spec(&args.replay)
    };
    let output = match with_progress(|progress| countersign_read::replay(&spec, progress)) {
        Ok(output) => output,
        Err(failure) => return failure::report(&failure, format),
    };
    if let Some(Err(failure)) = args.chart.as_ref().map(|path| countersign_read::write_chart(path, &output)) {
        return failure::report(&failure, format);
    }
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&output).unwrap_or_default()),
        Format::Text => {
            let chart = args.chart.as_ref().map(|path| path.display().to_string());
            out!("{}", present::simulation(&output, chart.as_deref()));
        }
    }
    crate::EXIT_ALLOWED
}

pub fn risk(command: &RiskCommand) -> u8 {
    let RiskCommand::Calibrate { replay, share, critical_share } = command;
    let shares = countersign_core::calibrate::Shares { critical: *critical_share, high: *share };
    let spec = spec(replay);
    match with_progress(|progress| countersign_read::calibrate(&spec, shares, progress)) {
        Ok(calibrated) => {
            match replay.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&calibrated).unwrap_or_default()),
                Format::Text => out!("{}", present::calibration(&calibrated)),
            }
            crate::EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, replay.format),
    }
}
