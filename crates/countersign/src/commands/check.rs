//! `countersign check`: the gate.

use std::path::PathBuf;

use clap::Args;
use countersign_core::deployment::{Deployment, NothingToDeploy};
use countersign_core::evaluate::Decision;
use countersign_core::present;
use countersign_read::{Ambient, AmbientFlags, AttestationSource, Purpose};
use countersign_server::client;

use crate::failure::{self, Failure};
use crate::{ChangeArgs, EXIT_ALLOWED, EXIT_BLOCKED, Format};

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
    /// Also read the approval service's signed attestations, verified against policy.toml's
    /// [server] keys; without --base, the base is the last deployment the service allowed.
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    /// The repository's name on the approval service (default: the name of --repo's folder).
    #[arg(long, requires = "server")]
    pub repository: Option<String>,
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
        Ok(Gated::Decided(decision)) => {
            print_decision(&decision, args);
            if decision.allowed() { EXIT_ALLOWED } else { EXIT_BLOCKED }
        }
        Ok(Gated::NothingToDeploy(nothing)) => {
            print_nothing(&nothing, args.format);
            EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, args.format),
    }
}

pub fn print_decision(decision: &Decision, args: &CheckArgs) {
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(decision).unwrap_or_default()),
        Format::Text => {
            let change = &args.change;
            let hint = present::ApproveHint {
                repo: change.repo.display().to_string(),
                base: change.base.clone().unwrap_or_else(|| decision.change.base.clone()),
                head: change.head().to_owned(),
            };
            out!("{}", present::decision(decision, &hint));
        }
    }
}

/// What the gate says about a deployment.
pub enum Gated {
    Decided(Box<Decision>),
    /// The head is what the environment runs.
    NothingToDeploy(NothingToDeploy),
}

pub fn print_nothing(nothing: &NothingToDeploy, format: Format) {
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(nothing).unwrap_or_default()),
        Format::Text => out!("{}", present::nothing_to_deploy(nothing)),
    }
}

/// Reads the change and evaluates it with the attestations of the ref, every folder and the
/// server together.
pub fn decide(args: &CheckArgs) -> Result<Gated, Failure> {
    let mut sources = vec![AttestationSource::Ref];
    sources.extend(args.change.attestations.iter().cloned().map(AttestationSource::Dir));
    if let Some(url) = &args.server {
        let repository =
            client::repository_name(args.repository.as_deref(), &args.change.repo).map_err(failure::input)?;
        sources.push(AttestationSource::Server { url: url.clone(), repository });
    }
    let purpose = args.context.purpose.map(PurposeArg::purpose);
    let (base, deployed) = match (&args.change.base, &args.server) {
        (None, Some(server)) => base_from_server(args, server)?,
        _ => args.change.base()?,
    };
    let repo = countersign_git::Repo::open(&args.change.repo)?;
    let head = repo.resolve_named(args.change.head())?.id;
    if purpose != Some(Purpose::PullRequest) && repo.resolve_named(&base)?.id == head {
        let nothing = NothingToDeploy::new(args.change.environment.clone(), head.to_string(), deployed);
        return Ok(Gated::NothingToDeploy(nothing));
    }
    let mut spec = args.change.spec(base, args.requester.clone(), args.plans.clone(), purpose);
    spec.deadline = Some(std::time::Instant::now() + args.time_budget);
    let mut decision = countersign_read::decide(&spec, args.context.ambient()?, &sources, &client::Remote, now())?;
    if let Some(last) = deployed {
        decision.findings.insert(0, last.as_base(args.server.as_deref()));
    }
    Ok(Gated::Decided(Box::new(decision)))
}

/// The head of the last deployment the approval service allowed for this repository and
/// environment; exit 2 when it has none.
pub fn base_from_server(args: &CheckArgs, server: &str) -> Result<(String, Option<Deployment>), Failure> {
    let repository = client::repository_name(args.repository.as_deref(), &args.change.repo).map_err(failure::input)?;
    let last = client::deployed_base(server, &repository, &args.change.environment).map_err(failure::input)?;
    Ok((last.commit.clone(), Some(last)))
}

/// Seconds since the epoch, for judging the age of attestations.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
