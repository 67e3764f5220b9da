//! Clients of the approval service: register, deploy, approve/reject through the server,
//! override, review-override, queue and away.

use clap::Args;
use countersign_core::attestation::Verdict;
use countersign_core::evaluate::GateVerdict;
use countersign_server::contract::{
    AwayBody, AwayState, ChangeEntry, ChangeView, CompleteReviewBody, OverrideBody, OverrideResult,
    OverrideReviewResult, PlanUpload, Queue, RegisterBody, RegisterPurpose, ReviewBody, ReviewResult, ReviewVerdict,
};
use serde::Serialize;

use countersign_server::client::{Call, Client};

use crate::failure::{self, Failure, input};
use crate::{EXIT_ALLOWED, EXIT_BLOCKED, Format};

/// Comments and reasons longer than this would not fit the server's request limit (64 KiB);
/// said here rather than as a broken connection.
const MAX_COMMENT_BYTES: usize = 32 * 1024;

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
    if server.token.as_deref().is_none_or(str::is_empty) {
        return Err(input(
            "no API token: pass --token or set COUNTERSIGN_TOKEN (an administrator creates one with \
             `countersign token create --person YOUR_ID`)",
        ));
    }
    Client::new(&server.server, server.token.as_deref()).ask(path, call).map_err(input)
}

/// Prints an answer as JSON, or as the text `text` makes of it; the exit code comes from `exit`.
fn answer<T: Serialize>(
    format: Format,
    result: Result<T, Failure>,
    text: impl FnOnce(&T) -> String,
    exit: impl FnOnce(&T) -> u8,
) -> u8 {
    match result {
        Ok(answer) => {
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default()),
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

/// A time for people: RFC 3339 in UTC.
pub fn when(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis).map_or_else(|_| millis.to_string(), |at| at.to_string())
}

fn change_line(change: &ChangeEntry) -> String {
    format!(
        "change {} of {} for {}: {} ({})\n",
        change.id,
        change.repository,
        change.environment,
        change.verdict.as_str().to_uppercase(),
        change.fingerprint,
    )
}

fn decision_text(view: &ChangeView) -> String {
    let mut text = change_line(&view.change);
    for rule in view.decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied) {
        text.push_str(&format!("  unmet {}: {} more approval(s)\n", rule.name, rule.missing));
    }
    for assignment in view.assignments.iter().filter(|a| a.state == countersign_core::lifecycle::AssignmentState::Open)
    {
        text.push_str(&format!("  review routed to {} for {}\n", assignment.person, assignment.rule));
    }
    text
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
    let result = read_plans(&args.plans).and_then(|plans| {
        let body = RegisterBody {
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
            plans,
        };
        ask(&args.service.server, "/api/changes", Call::Post(&body))
    });
    answer(args.service.format, result, decision_text, |view: &ChangeView| exit_for_verdict(view.change.verdict))
}

/// `countersign deploy`: the final verdict before deploying, recorded in the audit log.
/// The repository's name on the server: given, or the name of the local clone's folder.
pub fn repository_name(flag: Option<&str>, repo: &std::path::Path) -> Result<String, Failure> {
    match flag {
        Some(name) => Ok(name.to_owned()),
        None => std::fs::canonicalize(repo)
            .ok()
            .and_then(|path| path.file_name().map(|name| name.to_string_lossy().trim_end_matches(".git").to_owned()))
            .ok_or_else(|| input("cannot tell the repository's name; pass --repository NAME")),
    }
}

/// What a deployment through the server needs: where, what, for whom.
pub struct ServerDeployment {
    pub repository: String,
    pub base: String,
    pub head: String,
    pub environment: String,
    pub requester: Option<String>,
    pub plans: Vec<std::path::PathBuf>,
}

/// Registers `base..head` for a deployment and asks for the final verdict: the server decides
/// with its own clone, audits the verdict and, when it allows, records the head as deployed.
pub fn deploy_through(server: &ServerArgs, deployment: &ServerDeployment, format: Format) -> u8 {
    let result = read_plans(&deployment.plans).and_then(|plans| {
        let body = RegisterBody {
            repository: deployment.repository.clone(),
            base: deployment.base.clone(),
            head: deployment.head.clone(),
            environment: deployment.environment.clone(),
            requester: deployment.requester.clone(),
            name: None,
            purpose: RegisterPurpose::Deploy,
            plans,
        };
        let registered: ChangeView = ask(server, "/api/changes", Call::Post(&body))?;
        ask(server, &format!("/api/changes/{}/deploy", registered.change.id), Call::Post(&()))
    });
    answer(format, result, decision_text, |view: &ChangeView| exit_for_verdict(view.change.verdict))
}

fn read_plans(paths: &[std::path::PathBuf]) -> Result<Vec<PlanUpload>, Failure> {
    paths
        .iter()
        .map(|path| {
            let content = std::fs::read_to_string(path)
                .map_err(|error| input(format!("cannot read plan {}: {error}", path.display())))?;
            Ok(PlanUpload { name: path.display().to_string(), content })
        })
        .collect()
}

/// Asks the server for the final verdict on a registered change; it records it in its audit log.
pub fn deploy(server: &ServerArgs, change: i64, format: Format) -> u8 {
    let path = format!("/api/changes/{change}/deploy");
    let result = ask(server, &path, Call::Post(&()));
    answer(format, result, decision_text, |view: &ChangeView| exit_for_verdict(view.change.verdict))
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
    if comment.len() > MAX_COMMENT_BYTES {
        let failure = input(format!(
            "the comment has {} bytes; the server signs statements of at most 64 KiB, so shorten it to under {MAX_COMMENT_BYTES}",
            comment.len()
        ));
        return failure::report(&failure, format);
    }
    let body = ReviewBody {
        repository: repository.to_owned(),
        fingerprint: fingerprint.to_owned(),
        environment: environment.to_owned(),
        verdict: if verdict == Verdict::Reject { ReviewVerdict::Reject } else { ReviewVerdict::Approve },
        comment: comment.to_owned(),
        plans,
    };
    let result = ask(server, "/api/approvals", Call::Post(&body));
    let text = |answer: &ReviewResult| {
        let verb = if verdict == Verdict::Approve { "approved" } else { "rejected" };
        let again = if answer.duplicate { " (already recorded)" } else { "" };
        format!(
            "{} {verb} {fingerprint} for {environment}{again}\n{}",
            answer.statement.person,
            change_line(&answer.change)
        )
    };
    answer(format, result, text, |_| EXIT_ALLOWED)
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
    if args.reason.len() > MAX_COMMENT_BYTES {
        let failure =
            input(format!("the reason has {} bytes; shorten it to under {MAX_COMMENT_BYTES}", args.reason.len()));
        return failure::report(&failure, args.service.format);
    }
    let body = OverrideBody {
        repository: args.repository.clone(),
        fingerprint: args.fingerprint.clone(),
        environment: args.environment.clone(),
        reason: args.reason.clone(),
    };
    let result = ask(&args.service.server, "/api/overrides", Call::Post(&body));
    let text = |answer: &OverrideResult| {
        format!(
            "{}override {} recorded; a second person must review it by {}\n",
            change_line(&answer.change),
            answer.override_.id,
            when(answer.override_.review_due_at)
        )
    };
    answer(args.service.format, result, text, |_| EXIT_ALLOWED)
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
    let text = |answer: &OverrideReviewResult| {
        let late = if answer.override_.late { " (late)" } else { "" };
        format!("override {} reviewed by {}{late}\n", args.id, answer.override_.reviewed_by.as_deref().unwrap_or("?"))
    };
    answer(args.service.format, result, text, |_| EXIT_ALLOWED)
}

/// `countersign queue`: the reviews routed to me, and overrides awaiting review.
#[derive(Args, Clone, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
}

pub fn queue(args: &QueueArgs) -> u8 {
    let result = ask(&args.service.server, "/api/queue", Call::<()>::Get(&[]));
    let text = |queue: &Queue| {
        let mut text = format!("{} review(s) for {}\n", queue.reviews.len(), queue.person);
        for review in &queue.reviews {
            let change = review.change.as_ref().map(change_line).unwrap_or_else(|| "change gone\n".to_owned());
            let repository = review.change.as_ref().map_or("?", |change| change.repository.as_str());
            text.push_str(&format!(
                "  #{} {repository} rule {}, waiting {} s: {change}",
                review.id, review.rule, review.waiting_seconds
            ));
        }
        for pending in &queue.after_the_fact {
            let overdue = if pending.overdue { " OVERDUE" } else { "" };
            text.push_str(&format!(
                "  override {} of change {} by {} awaits review by {}{overdue}: {}\n",
                pending.id,
                pending.change,
                pending.person,
                when(pending.review_due_at),
                pending.reason
            ));
        }
        text
    };
    answer(args.service.format, result, text, |_| EXIT_ALLOWED)
}

/// `countersign away`: stop (or resume) getting reviews routed to me.
#[derive(Args, Clone, Debug)]
pub struct AwayArgs {
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Until when: an RFC 3339 time (2026-12-01T09:00:00Z) or a date (2026-12-01, midnight UTC);
    /// default until `--back`.
    #[arg(long, value_parser = until)]
    pub until: Option<jiff::Timestamp>,
    #[arg(long, default_value = "")]
    pub note: String,
    /// I am back: route reviews to me again.
    #[arg(long, conflicts_with_all = ["until", "note"])]
    pub back: bool,
}

/// A time, or a date meaning its start in UTC.
fn until(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("`{text}` is neither a time like 2026-12-01T09:00:00Z nor a date like 2026-12-01"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|zoned| zoned.timestamp()).map_err(|error| error.to_string())
}

pub fn away(args: &AwayArgs) -> u8 {
    let result = if args.back {
        ask(&args.service.server, "/api/away", Call::<()>::Delete)
    } else {
        let body = AwayBody { until: args.until.map(|until| until.as_millisecond()), note: args.note.clone() };
        ask(&args.service.server, "/api/away", Call::Put(&body))
    };
    let text = |state: &AwayState| match (state.away, state.until) {
        (true, Some(until)) => format!("{} is away until {}\n", state.person, when(until)),
        (true, None) => format!("{} is away\n", state.person),
        (false, _) => format!("{} is back\n", state.person),
    };
    answer(args.service.format, result, text, |_| EXIT_ALLOWED)
}
