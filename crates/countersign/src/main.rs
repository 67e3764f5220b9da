//! countersign: a deployment gate for AI-assisted code changes. This crate is glue: it parses
//! arguments and the environment, calls the read stage, the core and the server crate, and
//! prints their texts (or JSON) with the contract's exit codes. One module per command under
//! `commands/`.

/// Writes to stdout like `println!`, but a closed pipe (`countersign … | head`) ends the output
/// quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` with the same treatment of a closed pipe as `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `errln!` that does not panic when stderr is a closed pipe (`countersign … 2>&1 | head`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod commands;
mod failure;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use countersign_core::attestation::Verdict;
use countersign_core::deployment::Deployment;
use countersign_read::{ChangeSpec, ConfigSource, Purpose};

/// A progress bar on stderr, drawn with `template`, when stderr is a terminal.
pub fn progress_bar(template: &str) -> Option<indicatif::ProgressBar> {
    let style =
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| indicatif::ProgressBar::new(0).with_style(style))
}

/// Exit codes of every command: yes/allowed, blocked, bad input.
pub const EXIT_ALLOWED: u8 = 0;
pub const EXIT_BLOCKED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(name = "countersign", version, about = "A deployment gate for AI-assisted code changes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The change a command is about: one repository, two revisions, one environment.
#[derive(Args, Clone, Debug)]
pub struct ChangeArgs {
    /// The repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision deployed today (the target branch); configuration is read here. Default:
    /// the last deployment of --env that `countersign deploy` recorded.
    #[arg(long)]
    pub base: Option<String>,
    /// The revision to deploy (default: HEAD).
    #[arg(long)]
    pub head: Option<String>,
    /// The environment the change goes to.
    #[arg(long = "env", default_value = "production", value_parser = environment_name)]
    pub environment: String,
    /// Read people.toml, services.toml and policy.toml from this folder instead of
    /// `.countersign/` at the base revision.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Also read attestations from the files of this folder (repeatable); the attestation ref
    /// and --server are read too.
    #[arg(long)]
    pub attestations: Vec<PathBuf>,
}

impl ChangeArgs {
    /// The head revision as given, or HEAD.
    pub fn head(&self) -> &str {
        self.head.as_deref().unwrap_or("HEAD")
    }

    /// The base revision as given, or the last recorded deployment of the environment (which
    /// is then said in a finding); exit 2 without either.
    pub fn base(&self) -> Result<(String, Option<Deployment>), failure::Failure> {
        if let Some(base) = &self.base {
            return Ok((base.clone(), None));
        }
        let last = countersign_read::deployed_base(&self.repo, &self.environment)?;
        Ok((last.commit.clone(), Some(last)))
    }

    /// What the read stage is asked to read, from `base`.
    pub fn spec(
        &self,
        base: String,
        requester: Option<String>,
        plans: Vec<PathBuf>,
        purpose: Option<Purpose>,
    ) -> ChangeSpec {
        ChangeSpec {
            repo: self.repo.clone(),
            base,
            head: self.head().to_owned(),
            environment: self.environment.clone(),
            config: self.config.clone().map_or(ConfigSource::AtBase, ConfigSource::Dir),
            requester,
            plans,
            uploaded_plans: Vec::new(),
            purpose,
            deadline: None,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Decide whether a change may be deployed (exit 0 allowed, 1 blocked, 2 bad input).
    Check(commands::check::CheckArgs),
    /// Sign an approval of a change with your SSH key.
    Approve(commands::review::ReviewArgs),
    /// Sign a rejection of a change with your SSH key; it blocks until you approve.
    Reject(commands::review::ReviewArgs),
    /// Scan a history for AI-assisted commits.
    Scan(commands::scan::ScanArgs),
    /// Show the owners and services of paths, with the CODEOWNERS line that decided.
    Owners(commands::owners::OwnersArgs),
    /// Replay a history through a policy as if every change had been gated: what each rule
    /// would have caught, the review load on seniors and the queue delay.
    Simulate(commands::simulate::SimulateArgs),
    /// Calibrate the risk model on the repository's own history.
    Risk {
        #[command(subcommand)]
        command: commands::simulate::RiskCommand,
    },
    /// Work with the policy.
    Policy {
        #[command(subcommand)]
        command: commands::policy::PolicyCommand,
    },
    /// Run the approval service: JSON API, reviewer routing, signed approvals, audit log.
    Serve(commands::serve::ServeArgs),
    /// Register a change with the approval service and print its decision (exit 0/1).
    Register(commands::service::RegisterArgs),
    /// Record a deployment of --head to --env after the gate allows it (the base of the next
    /// `check`); with --change, ask the approval service for the final verdict instead.
    Deploy(commands::deploy::DeployArgs),
    /// Break-glass: let a blocked change through; a second person must review it afterwards.
    Override(commands::service::OverrideArgs),
    /// The mandatory after-the-fact review of a break-glass override.
    ReviewOverride(commands::service::ReviewOverrideArgs),
    /// The reviews routed to you, and overrides awaiting their review.
    Queue(commands::service::QueueArgs),
    /// Mark yourself away (no reviews routed to you) or back.
    Away(commands::service::AwayArgs),
    /// Manage the approval service's API tokens.
    Token {
        #[command(subcommand)]
        command: commands::serve::TokenCommand,
    },
    /// Verify or export the approval service's audit log.
    Audit {
        #[command(subcommand)]
        command: commands::serve::AuditCommand,
    },
    /// Work with the directory of people: propose one from a GitHub organisation.
    Directory {
        #[command(subcommand)]
        command: commands::directory::DirectoryCommand,
    },
    /// Build a sample repository and walk through a blocked and an approved deployment.
    Demo {
        /// Keep the sample repository here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

/// A duration like 30s, 15m or 4h.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed: jiff::SignedDuration =
        text.parse().map_err(|error| format!("`{text}` is not a duration like 30s, 15m or 4h: {error}"))?;
    std::time::Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

pub fn environment_name(value: &str) -> Result<String, String> {
    if countersign_core::directory::is_simple_name(value) {
        Ok(value.to_owned())
    } else {
        Err("use letters, digits, `.`, `_` and `-`, e.g. production".to_owned())
    }
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    install_error_renderer();
    // Parsers of hostile input run here: they are guarded against deep nesting, and a roomy
    // stack (reserved, not committed) is the second line of defence. A panic is a bug, and the
    // gate fails closed on it.
    let worker = std::thread::Builder::new().stack_size(256 * 1024 * 1024).spawn(move || run(command));
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => ExitCode::from(code),
        _ => {
            errln!("countersign: internal error; the gate fails closed");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Errors drawn for a terminal there; elsewhere (CI logs, pipes, tests) plain ASCII on unwrapped
/// lines, the same on every machine, so that a message can be searched for whole.
fn install_error_renderer() {
    use std::io::IsTerminal as _;
    let terminal = std::io::stderr().is_terminal();
    // Only fails when a renderer is already installed, which leaves that one in place.
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(miette::MietteHandlerOpts::new().unicode(terminal).color(terminal).wrap_lines(terminal).build())
    }));
}

/// Runs a command line as if typed (without the program name); the demo walks through these.
pub fn run_line(line: &[&str]) -> u8 {
    match Cli::try_parse_from(std::iter::once("countersign").chain(line.iter().copied())) {
        Ok(cli) => run(cli.command),
        Err(error) => {
            errln!("{error}");
            EXIT_BAD_INPUT
        }
    }
}

fn run(command: Command) -> u8 {
    match command {
        Command::Check(args) => commands::check::run(&args),
        Command::Approve(args) => commands::review::run(&args, Verdict::Approve),
        Command::Reject(args) => commands::review::run(&args, Verdict::Reject),
        Command::Scan(args) => commands::scan::run(&args),
        Command::Owners(args) => commands::owners::run(&args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Risk { command } => commands::simulate::risk(&command),
        Command::Policy { command } => commands::policy::run(&command),
        Command::Serve(args) => commands::serve::serve(&args),
        Command::Register(args) => commands::service::register(&args),
        Command::Deploy(args) => commands::deploy::run(&args),
        Command::Override(args) => commands::service::override_change(&args),
        Command::ReviewOverride(args) => commands::service::review_override(&args),
        Command::Queue(args) => commands::service::queue(&args),
        Command::Away(args) => commands::service::away(&args),
        Command::Token { command } => commands::serve::token(&command),
        Command::Audit { command } => commands::serve::audit(&command),
        Command::Directory { command } => commands::directory::run(&command),
        Command::Demo { keep } => commands::demo::run(keep.as_deref()),
    }
}
