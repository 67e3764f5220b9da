//! `countersign deploy`: records what was deployed, once the gate allows it, so that the next
//! `check` of the environment starts from there.

use clap::Args;
use countersign_core::deployment::{Deployment, NothingToDeploy};
use countersign_core::model::Identity;
use countersign_server::client::{self, Registration};
use countersign_server::contract::RegisterPurpose;

use crate::commands::check::{self, CheckArgs, Gated};
use crate::commands::service::{self, ServerArgs};
use crate::failure::{self, input};
use crate::{EXIT_ALLOWED, EXIT_BLOCKED, Format};

#[derive(Args, Clone, Debug)]
pub struct DeployArgs {
    /// With the approval service: the change id `register` printed. Without it, `--server`
    /// registers --base..--head (base: the last deployment the service allowed) itself. The
    /// service gives the final verdict, audits it and, when it allows, records the head as
    /// deployed; nothing is written to git.
    #[arg(long, requires = "server")]
    pub change: Option<i64>,
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Push the deployment record to this remote afterwards (e.g. origin).
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
    #[command(flatten)]
    pub gate: CheckArgs,
}

/// Registers the deployment with the approval service and asks for its verdict.
fn through_server(args: &DeployArgs, server: &ServerArgs) -> u8 {
    let gate = &args.gate;
    let located = || -> Result<Registration, failure::Failure> {
        let repository = client::repository_name(gate.repository.as_deref(), &gate.change.repo).map_err(input)?;
        let base = match &gate.change.base {
            Some(base) => base.clone(),
            None => check::base_from_server(gate, &server.server)?.0,
        };
        // The server reads its own clone: name the commits, not local branch names.
        let repo = countersign_git::Repo::open(&gate.change.repo)?;
        let head = repo.resolve_named(gate.change.head())?.id.to_string();
        let base = repo.resolve_named(&base)?.id.to_string();
        Ok(Registration {
            repository,
            base,
            head,
            environment: gate.change.environment.clone(),
            requester: gate.requester.clone(),
            name: None,
            purpose: RegisterPurpose::Deploy,
            plans: gate.plans.clone(),
        })
    };
    match located() {
        Ok(deployment) if deployment.base == deployment.head => {
            let nothing = NothingToDeploy::new(deployment.environment, deployment.head, None);
            check::print_nothing(&nothing, gate.format);
            EXIT_ALLOWED
        }
        Ok(deployment) => service::deploy_through(server, &deployment, gate.format),
        Err(failure) => failure::report(&failure, gate.format),
    }
}

pub fn run(args: &DeployArgs) -> u8 {
    if let Some(server) = &args.gate.server {
        let server_args = ServerArgs { server: server.clone(), token: args.token.clone() };
        return match args.change {
            Some(change) => service::deploy(&server_args, change, args.gate.format),
            None => through_server(args, &server_args),
        };
    }
    let decision = match check::decide(&args.gate) {
        Ok(Gated::Decided(decision)) => decision,
        Ok(Gated::NothingToDeploy(nothing)) => {
            check::print_nothing(&nothing, args.gate.format);
            return EXIT_ALLOWED;
        }
        Err(failure) => return failure::report(&failure, args.gate.format),
    };
    check::print_decision(&decision, &args.gate);
    if !decision.allowed() {
        if args.gate.format == Format::Text {
            outln!("not recorded: the gate does not allow this deployment");
        }
        return EXIT_BLOCKED;
    }
    let record = Deployment::of(&decision, check::now(), args.gate.requester.clone());
    let who = args.gate.requester.as_deref().unwrap_or("countersign");
    let signer = Identity::new(who, format!("{who}@countersign.invalid"));
    match countersign_read::record_deployment(&args.gate.change.repo, &record, &signer) {
        Ok(stored) => {
            if args.gate.format == Format::Text {
                outln!(
                    "recorded: {} deployed to {} in {stored}",
                    countersign_core::present::short(&record.commit),
                    record.environment
                );
                outln!("share it with: git push origin {}", countersign_git::deployments_ref(&record.environment));
            }
            EXIT_ALLOWED
        }
        Err(error) => {
            failure::report(&input(format!("the deployment was allowed but not recorded: {error}")), args.gate.format)
        }
    }
}
