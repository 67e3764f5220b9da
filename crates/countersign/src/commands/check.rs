//! `countersign check`: the gate.

use std::path::PathBuf;

use clap::Args;
use countersign_core::evaluate::Decision;
use countersign_read::{Ambient, AmbientFlags, AttestationSource, Purpose};

use crate::failure::{self, Failure};
use crate::{ChangeArgs, EXIT_ALLOWED, EXIT_BLOCKED, Format, render};

#[derive(Args, Clone, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub change: ChangeArgs,
    /// The person who requests the deployment (directory id, e-mail or GitHub login); they
    /// cannot approve.
    #[arg(long, env = "COUNTERSIGN_REQUESTER")]
    pub requester: Option<String>,
    #[command(flatten)]
    pub context: ContextArgs,
    /// An infrastructure plan the deployment applies: `terraform show -json` (or OpenTofu),
    /// `pulumi preview --json`, or a CloudFormation `describe-change-set`. Repeatable.
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<PathBuf>,
    /// How long reading and analysing the change may take; past it the gate fails closed
    /// (exit 2), e.g. 10m or 90s.
    #[arg(long, default_value = "10m", value_parser = crate::duration)]
    pub time_budget: std::time::Duration,
    /// Verify the approval service's signed attestations (against policy.toml's [server]
    /// keys) instead of the attestation ref.
    #[arg(long, env = "COUNTERSIGN_SERVER", conflicts_with = "attestations")]
    pub server: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// What the surroundings say about the change: flags first, then the CI system's environment.
#[derive(Args, Clone, Debug, Default)]
pub struct ContextArgs {
    /// The branch the change comes from (default: GITHUB_HEAD_REF or
    /// CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, else the head revision's branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// The branch the change goes to (default: GITHUB_BASE_REF or
    /// CI_MERGE_REQUEST_TARGET_BRANCH_NAME, else the base revision's branch).
    #[arg(long)]
    pub target_branch: Option<String>,
    /// A file with the pull request's description, scanned for AI markers (contextual
    /// evidence). In a GitHub Actions pull_request job it is read from GITHUB_EVENT_PATH.
    #[arg(long)]
    pub pr_body: Option<PathBuf>,
    /// The login that opened the pull request (e.g. `Copilot`, `google-labs-jules[bot]`).
    #[arg(long)]
    pub pr_author: Option<String>,
    /// What the check is for: `deploy` (the head is what will run, so a head that drops
    /// commits of the base is a rollback) or `pull-request` (what deploys is the merge, so a
    /// branch behind its target is normal). Default: `pull-request` in a GitHub `pull_request`
    /// job or a GitLab merge request pipeline, else `deploy`.
    #[arg(long = "context", value_enum)]
    pub purpose: Option<PurposeArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurposeArg {
    Deploy,
    PullRequest,
}

impl PurposeArg {
    pub fn purpose(self) -> Purpose {
        match self {
            PurposeArg::Deploy => Purpose::Deploy,
            PurposeArg::PullRequest => Purpose::PullRequest,
        }
    }
}

impl ContextArgs {
    /// The ambient context of the change: the one place countersign hands the process
    /// environment to the read stage.
    pub fn ambient(&self) -> Result<Ambient, Failure> {
        let flags = AmbientFlags {
            source_branch: self.branch.clone(),
            target_branch: self.target_branch.clone(),
            pr_body: self.pr_body.clone(),
            pr_author: self.pr_author.clone(),
        };
        countersign_read::ambient_from_ci(&flags, |name| std::env::var(name).ok())
    }
}

pub fn run(args: &CheckArgs) -> u8 {
    match decide(args) {
        Ok(decision) => {
            match args.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&decision).unwrap_or_default()),
                Format::Text => out!("{}", render::decision(&decision, &args.change)),
            }
            if decision.allowed() { EXIT_ALLOWED } else { EXIT_BLOCKED }
        }
        Err(failure) => failure::report(&failure, args.format),
    }
}

/// Reads the change and evaluates it with the attestations of the folder, the ref or the server.
pub fn decide(args: &CheckArgs) -> Result<Decision, Failure> {
    let sources = match (&args.change.attestations, &args.server) {
        (Some(dir), _) => vec![AttestationSource::Dir(dir.clone())],
        (None, Some(url)) => vec![AttestationSource::Server(url.clone())],
        (None, None) => vec![AttestationSource::Ref],
    };
    let purpose = args.context.purpose.map(PurposeArg::purpose);
    let mut spec = args.change.spec(args.requester.clone(), args.plans.clone(), purpose);
    spec.deadline = Some(std::time::Instant::now() + args.time_budget);
    countersign_read::decide(&spec, args.context.ambient()?, &sources, &countersign_server::client::Remote, now())
}

/// Seconds since the epoch, for judging the age of attestations.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
