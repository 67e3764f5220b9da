//! `countersign deploy`: records what was deployed, once the gate allows it, so that the next
//! `check` of the environment starts from there.

use clap::Args;
use countersign_core::deployment::Deployment;
use countersign_core::model::Identity;

use crate::commands::check::{self, CheckArgs, Gated};
use crate::commands::service::{self, ServerArgs};
use crate::failure::{self, input};
use crate::{EXIT_ALLOWED, EXIT_BLOCKED, Format};

#[derive(Args, Clone, Debug)]
pub struct DeployArgs {
    /// With the approval service: the change id `register` printed. The service gives the
    /// final verdict and records it in its audit log; nothing is written to git.
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

pub fn run(args: &DeployArgs) -> u8 {
    if let (Some(change), Some(server)) = (args.change, &args.gate.server) {
        let server = ServerArgs { server: server.clone(), token: args.token.clone() };
        return service::deploy(&server, change, args.gate.format);
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
    let record = Deployment {
        environment: decision.change.environment.clone(),
        commit: decision.change.head.clone(),
        previous: decision.change.configuration.as_ref().map(|origin| origin.commit.clone()),
        time: check::now(),
        requester: args.gate.requester.clone(),
        verdict: decision.verdict,
        fingerprint: decision.change.fingerprint.clone(),
    };
    let who = args.gate.requester.as_deref().unwrap_or("countersign");
    let signer = Identity::new(who, format!("{who}@countersign.invalid"));
    match countersign_read::record_deployment(&args.gate.change.repo, &record, &signer) {
        Ok(stored) => {
            if args.gate.format == Format::Text {
                outln!(
                    "recorded: {} deployed to {} in {stored}",
                    crate::render::short(&record.commit),
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
