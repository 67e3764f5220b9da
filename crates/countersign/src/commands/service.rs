//! Clients of the approval service: register, deploy, approve/reject through the server,
//! override, review-override, queue and away.

use clap::Args;
use countersign_core::attestation::Verdict;
use countersign_core::evaluate::GateVerdict;
use countersign_server::client::{self, Call, Client, Registration};
use countersign_server::contract::{
    AwayBody, ChangeView, CompleteReviewBody, OverrideBody, RegisterPurpose, ReviewBody, ReviewVerdict,
};
use countersign_server::text;
use serde::Serialize;

use crate::failure::{self, Failure, input};
use crate::{EXIT_ALLOWED, EXIT_BLOCKED, Format};

/// Where the server is and who is calling.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The approval service, e.g. https://countersign.example.
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: String,
    /// Your API token (from `countersign token create`).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The server, the caller and the output format: what every client command takes.
#[derive(Args, Clone, Debug)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// One authenticated call to the server.
fn ask<B: Serialize, T: serde::de::DeserializeOwned>(
    server: &ServerArgs,
    path: &str,
    call: Call<'_, B>,
) -> Result<T, Failure> {
    Client::authenticated(&server.server, server.token.as_deref())
        .and_then(|client| client.ask(path, call))
        .map_err(input)
}

/// Prints an answer as JSON, or as the text `text` makes of it; the exit code comes from `exit`.
fn answer<T: Serialize>(
    format: Format,
    result: Result<T, Failure>,
    text: impl FnOnce(&T) -> String,
    exit: impl FnOnce(&T) -> u8,
) -> u8 {
    answer_as(format, result, |answer| serde_json::to_value(answer).unwrap_or_default(), text, exit)
}

/// [`answer`], with the JSON made by `json`.
pub fn answer_as<T>(
    format: Format,
    result: Result<T, Failure>,
    json: impl FnOnce(&T) -> serde_json::Value,
    text: impl FnOnce(&T) -> String,
    exit: impl FnOnce(&T) -> u8,
) -> u8 {
    match result {
        Ok(answer) => {
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&json(&answer)).unwrap_or_default()),
                Format::Text => out!("{}", text(&answer)),
            }
            exit(&answer)
        }
        Err(failure) => failure::report(&failure, format),
    }
}

fn exit_for_verdict(verdict: GateVerdict) -> u8 {
    if verdict == GateVerdict::Blocked { EXIT_BLOCKED } else { EXIT_ALLOWED }
}

/// `countersign register`: a pipeline asks the server to evaluate a change.
#[derive(Args, Clone, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The repository's directory name under the server's --repos.
    #[arg(long)]
    pub repository: String,
    #[arg(long)]
    pub base: String,
    #[arg(long)]
    pub head: String,
    #[arg(long = "env", default_value = "production")]
    pub environment: String,
    #[arg(long, env = "COUNTERSIGN_REQUESTER")]
    pub requester: Option<String>,
    /// A name for the change, e.g. its branch: a newer head supersedes the older ones you
    /// registered under it.
    #[arg(long)]
    pub name: Option<String>,
    /// What the registration is for (see `check --context`).
    #[arg(long = "context", value_enum, default_value = "deploy")]
    pub purpose: crate::commands::check::PurposeArg,
    /// An infrastructure plan the deployment applies, uploaded with the registration (repeatable).
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<std::path::PathBuf>,
}

pub fn register(args: &RegisterArgs) -> u8 {
    let registration = Registration {
        repository: args.repository.clone(),
        base: args.base.clone(),
        head: args.head.clone(),
        environment: args.environment.clone(),
        requester: args.requester.clone(),
        name: args.name.clone(),
        purpose: match args.purpose {
            crate::commands::check::PurposeArg::Deploy => RegisterPurpose::Deploy,
            crate::commands::check::PurposeArg::PullRequest => RegisterPurpose::PullRequest,
        },
        plans: args.plans.clone(),
    };
    let server = &args.service.server;
    let result = client::register(&server.server, server.token.as_deref(), &registration).map_err(input);
    answer(args.service.format, result, text::decision, |view: &ChangeView| exit_for_verdict(view.change.verdict))
}

/// Registers a deployment and prints the service's final verdict (exit 0/1).
pub fn deploy_through(server: &ServerArgs, deployment: &Registration, format: Format) -> u8 {
    let result = client::deploy(&server.server, server.token.as_deref(), deployment).map_err(input);
    answer(format, result, text::decision, |view: &ChangeView| exit_for_verdict(view.change.verdict))
}

/// Asks the server for the final verdict on a registered change; it records it in its audit log.
pub fn deploy(server: &ServerArgs, change: i64, format: Format) -> u8 {
    let path = format!("/api/changes/{change}/deploy");
    let result = ask(server, &path, Call::Post(&()));
    answer(format, result, text::decision, |view: &ChangeView| exit_for_verdict(view.change.verdict))
}

/// Approves or rejects through the server, which signs the statement with its key.
pub fn review(
    server: &ServerArgs,
    repository: &str,
    fingerprint: &str,
    environment: &str,
    verdict: Verdict,
    (comment, plans): (&str, Vec<String>),
    format: Format,
) -> u8 {
    let body = ReviewBody {
        repository: repository.to_owned(),
        fingerprint: fingerprint.to_owned(),
        environment: environment.to_owned(),
        verdict: if verdict == Verdict::Reject { ReviewVerdict::Reject } else { ReviewVerdict::Approve },
        comment: comment.to_owned(),
        plans,
    };
    let result = client::review(&server.server, server.token.as_deref(), &body).map_err(input);
    answer(format, result, |reviewed| text::review(reviewed, verdict, fingerprint, environment), |_| EXIT_ALLOWED)
}

/// `countersign override`: break-glass through the server.
#[derive(Args, Clone, Debug)]
pub struct OverrideArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    #[arg(long)]
    pub repository: String,
    #[arg(long)]
    pub fingerprint: String,
    #[arg(long = "env", default_value = "production")]
    pub environment: String,
    /// Why the change must go out now; kept with the override and shown to its reviewer.
    #[arg(long, default_value = "")]
    pub reason: String,
}

pub fn override_change(args: &OverrideArgs) -> u8 {
    let body = OverrideBody {
        repository: args.repository.clone(),
        fingerprint: args.fingerprint.clone(),
        environment: args.environment.clone(),
        reason: args.reason.clone(),
    };
    let server = &args.service.server;
    let result = client::override_change(&server.server, server.token.as_deref(), &body).map_err(input);
    answer(args.service.format, result, text::overridden, |_| EXIT_ALLOWED)
}

/// `countersign review-override`: the mandatory after-the-fact review of a break-glass.
#[derive(Args, Clone, Debug)]
pub struct ReviewOverrideArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The override's id.
    pub id: i64,
    #[arg(long, default_value = "")]
    pub comment: String,
}

pub fn review_override(args: &ReviewOverrideArgs) -> u8 {
    let path = format!("/api/overrides/{}/review", args.id);
    let body = CompleteReviewBody { comment: args.comment.clone() };
    let result = ask(&args.service.server, &path, Call::Post(&body));
    answer(args.service.format, result, |reviewed| text::override_reviewed(args.id, reviewed), |_| EXIT_ALLOWED)
}

/// `countersign queue`: the reviews routed to me, and overrides awaiting review.
#[derive(Args, Clone, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
}

pub fn queue(args: &QueueArgs) -> u8 {
    let result = ask(&args.service.server, "/api/queue", Call::<()>::Get(&[]));
    answer(args.service.format, result, text::queue, |_| EXIT_ALLOWED)
}

/// `countersign away`: stop (or resume) getting reviews routed to me.
#[derive(Args, Clone, Debug)]
pub struct AwayArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Until when: an RFC 3339 time (2026-12-01T09:00:00Z) or a date (2026-12-01, midnight UTC);
    /// default until `--back`.
    #[arg(long, value_parser = countersign_server::client::time_or_date)]
    pub until: Option<jiff::Timestamp>,
    #[arg(long, default_value = "")]
    pub note: String,
    /// I am back: route reviews to me again.
    #[arg(long, conflicts_with_all = ["until", "note"])]
    pub back: bool,
}

pub fn away(args: &AwayArgs) -> u8 {
    let result = if args.back {
        ask(&args.service.server, "/api/away", Call::<()>::Delete)
    } else {
        let body = AwayBody { until: args.until.map(|until| until.as_millisecond()), note: args.note.clone() };
        ask(&args.service.server, "/api/away", Call::Put(&body))
    };
    answer(args.service.format, result, text::away, |_| EXIT_ALLOWED)
}
