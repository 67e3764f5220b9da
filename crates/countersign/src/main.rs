//! countersign: a deployment gate for AI-assisted code changes. This crate is glue: it parses
//! arguments, calls the git adapter and the core, and renders results.

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

mod blast;
mod chart;
mod client;
mod commands;
mod demo;
mod load;
mod render;
mod scan;
mod serve;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
    Jsonl,
    Csv,
}

#[derive(Args, Clone, Debug)]
pub struct ChangeArgs {
    /// The repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision deployed today (the target branch); configuration is read here.
    #[arg(long)]
    pub base: String,
    /// The revision to deploy.
    #[arg(long)]
    pub head: String,
    /// The environment the change goes to.
    #[arg(long = "env", default_value = "production", value_parser = environment_name)]
    pub environment: String,
    /// Read people.toml, services.toml and policy.toml from this folder instead of
    /// `.countersign/` at the base revision.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read and write attestations as files in this folder instead of the attestation ref.
    #[arg(long)]
    pub attestations: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Decide whether a change may be deployed (exit 0 allowed, 1 blocked, 2 bad input).
    Check {
        #[command(flatten)]
        change: ChangeArgs,
        /// The person who requests the deployment (directory id or e-mail); they cannot approve.
        #[arg(long, env = "COUNTERSIGN_REQUESTER")]
        requester: Option<String>,
        /// The branch the change comes from (default: the head revision's branch, or
        /// GITHUB_HEAD_REF / CI_MERGE_REQUEST_SOURCE_BRANCH_NAME).
        #[arg(long)]
        branch: Option<String>,
        /// The branch the change goes to (default: the base revision's branch, or GITHUB_BASE_REF).
        #[arg(long)]
        target_branch: Option<String>,
        /// A file with the pull request's description, scanned for AI markers (contextual
        /// evidence). In a GitHub Actions pull_request job it is read from GITHUB_EVENT_PATH.
        #[arg(long)]
        pr_body: Option<PathBuf>,
        /// The login that opened the pull request (e.g. `Copilot`, `google-labs-jules[bot]`).
        #[arg(long)]
        pr_author: Option<String>,
        /// An infrastructure plan the deployment applies: `terraform show -json` (or OpenTofu),
        /// `pulumi preview --json`, or a CloudFormation `describe-change-set`. Repeatable.
        #[arg(long = "plan", value_name = "FILE")]
        plans: Vec<PathBuf>,
        /// Verify the approval service's signed attestations (against policy.toml's [server]
        /// keys) instead of the attestation ref.
        #[arg(long, env = "COUNTERSIGN_SERVER", conflicts_with = "attestations")]
        server: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Sign an approval of a change with your SSH key.
    Approve(ReviewArgs),
    /// Sign a rejection of a change with your SSH key; it blocks until you approve.
    Reject(ReviewArgs),
    /// Scan a history for AI-assisted commits.
    Scan {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// `A..B`, or one revision for its whole history (default HEAD).
        #[arg(long)]
        range: Option<String>,
        /// Folder with people.toml and policy.toml (default: `.countersign/` at the range's tip).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: ScanFormat,
    },
    /// Show the owners and services of paths, with the CODEOWNERS line that decided.
    Owners {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long, default_value = "HEAD")]
        rev: String,
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Replay a history through a policy as if every change had been gated: what each rule
    /// would have caught, the review load on seniors and the queue delay.
    Simulate(simulate::SimulateArgs),
    /// Work with the policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Run the approval service: JSON API, reviewer routing, signed approvals, audit log.
    Serve(serve::ServeArgs),
    /// Register a change with the approval service and print its decision (exit 0/1).
    Register(client::RegisterArgs),
    /// Ask the approval service for the final verdict before deploying; recorded (exit 0/1).
    Deploy(client::DeployArgs),
    /// Break-glass: let a blocked change through; a second person must review it afterwards.
    Override(client::OverrideArgs),
    /// The mandatory after-the-fact review of a break-glass override.
    ReviewOverride(client::ReviewOverrideArgs),
    /// The reviews routed to you, and overrides awaiting their review.
    Queue(client::QueueArgs),
    /// Mark yourself away (no reviews routed to you) or back.
    Away(client::AwayArgs),
    /// Manage the approval service's API tokens.
    Token {
        #[command(subcommand)]
        command: serve::TokenCommand,
    },
    /// Verify or export the approval service's audit log.
    Audit {
        #[command(subcommand)]
        command: serve::AuditCommand,
    },
    /// Build a sample repository and walk through a blocked and an approved deployment.
    Demo {
        /// Keep the sample repository here instead of a temporary folder.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate people.toml, services.toml, policy.toml and CODEOWNERS.
    Check {
        /// The configuration folder (default `.countersign`).
        #[arg(long, default_value = ".countersign")]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Args, Clone, Debug)]
pub struct ReviewArgs {
    /// The repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision deployed today; configuration is read here.
    #[arg(long, required_unless_present = "fingerprint")]
    pub base: Option<String>,
    /// The revision to deploy.
    #[arg(long, required_unless_present = "fingerprint")]
    pub head: Option<String>,
    #[arg(long = "env", default_value = "production", value_parser = environment_name)]
    pub environment: String,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read and write attestations as files in this folder instead of the attestation ref.
    #[arg(long, conflicts_with = "server")]
    pub attestations: Option<PathBuf>,
    /// Your directory id (signing with your own key).
    #[arg(long = "as", required_unless_present = "server", conflicts_with = "server")]
    pub person: Option<String>,
    /// Your SSH private key (ed25519, unencrypted, or an OpenSSH key of another supported type).
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub key: Option<PathBuf>,
    /// Record the review with the approval service instead; it signs for you after checking
    /// your token.
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The repository's name on the server (default: the name of --repo's folder).
    #[arg(long, requires = "server")]
    pub repository: Option<String>,
    /// The change's fingerprint, as `check` or the server shows it (instead of --base/--head).
    #[arg(long, requires = "server")]
    pub fingerprint: Option<String>,
    #[arg(long, default_value = "")]
    pub comment: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

impl ReviewArgs {
    /// The change as `check` reads it; base and head are present unless a fingerprint was given.
    pub fn change(&self) -> ChangeArgs {
        ChangeArgs {
            repo: self.repo.clone(),
            base: self.base.clone().unwrap_or_default(),
            head: self.head.clone().unwrap_or_default(),
            environment: self.environment.clone(),
            config: self.config.clone(),
            attestations: self.attestations.clone(),
        }
    }
}

fn environment_name(value: &str) -> Result<String, String> {
    if countersign_core::directory::is_simple_name(value) {
        Ok(value.to_owned())
    } else {
        Err("use letters, digits, `.`, `_` and `-`, e.g. production".to_owned())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { change, requester, branch, target_branch, pr_body, pr_author, plans, server, format } => {
            let context = commands::CheckContext { requester, branch, target_branch, pr_body, pr_author, plans };
            commands::check(&change, context, server.as_deref(), format)
        }
        Command::Approve(args) => commands::review(&args, countersign_core::attestation::Verdict::Approve),
        Command::Reject(args) => commands::review(&args, countersign_core::attestation::Verdict::Reject),
        Command::Scan { repo, range, config, format } => scan::scan(&repo, range.as_deref(), config.as_deref(), format),
        Command::Owners { repo, rev, config, format, paths } => {
            commands::owners(&repo, &rev, config.as_deref(), format, &paths)
        }
        Command::Policy { command: PolicyCommand::Check { config, format } } => commands::policy_check(&config, format),
        Command::Simulate(args) => simulate::run(&args),
        Command::Demo { keep } => demo::run(keep.as_deref()),
        Command::Serve(args) => serve::serve(&args),
        Command::Register(args) => client::register(&args),
        Command::Deploy(args) => client::deploy(&args),
        Command::Override(args) => client::override_change(&args),
        Command::ReviewOverride(args) => client::review_override(&args),
        Command::Queue(args) => client::queue(&args),
        Command::Away(args) => client::away(&args),
        Command::Token { command } => serve::token(&command),
        Command::Audit { command } => serve::audit(&command),
    };
    ExitCode::from(code)
}
