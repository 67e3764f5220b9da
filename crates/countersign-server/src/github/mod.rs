//! The GitHub App: webhooks in, check runs and deployment protection answers out.
//!
//! `POST /webhooks/github` checks `X-Hub-Signature-256` over the exact body before reading
//! anything else, then queues the delivery in the database under its `X-GitHub-Delivery` id (a
//! replay is the same row, never processed twice) and answers at once. A worker processes the
//! queue with the same writer and rules as the API: a pull request is registered and gets a
//! check run per environment; a review by a person of the directory becomes their approval or
//! rejection of exactly the reviewed commit (a bot's, an agent's or Copilot's never counts); a
//! deployment protection rule is answered `approved` once the range is allowed, `rejected` when
//! a rejection stands, and otherwise kept until a later approval allows it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_core::attestation::Verdict;
use countersign_core::evaluate::{Decision, GateVerdict};
use countersign_core::lifecycle::{Attempt, ChangeState};
use countersign_core::present::markdown;
use countersign_store::{ChangeRow, CheckRunRow, GateRow, GithubEventRow, Store, StoreError, WriteTx};
use hmac::Mac;
use serde_json::json;

use crate::contract::RegisterPurpose;
use crate::writer::{Op, Outcome};
use crate::{AppState, ChangeRequest, PullContext, now_millis};

pub mod api;
mod events;
pub mod setup;

pub use api::{ApiFailure, CheckRun, Client, Credentials, GitHubApi};

/// The largest delivery accepted; GitHub caps its payloads at 25 MB.
pub const MAX_DELIVERY: usize = 25 * 1024 * 1024;

/// Attempts at processing a delivery before it is given up.
const MAX_ATTEMPTS: i64 = 10;

/// How long a claimed delivery is kept from other nodes while it is processed.
const LEASE: i64 = 300_000;

/// What the App needs.
#[derive(Clone)]
pub struct GithubSettings {
    /// The webhook secret: deliveries are accepted only with its HMAC.
    pub webhook_secret: Vec<u8>,
    /// Where check runs and protection rule answers go; `None` records deliveries and decides,
    /// but posts nothing.
    pub api: Option<Arc<dyn GitHubApi>>,
    /// The environments a pull request is checked for, one check run each.
    pub environments: Vec<String>,
}

impl std::fmt::Debug for GithubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubSettings")
            .field("webhook_secret", &"<redacted>")
            .field("api", &self.api.is_some())
            .field("environments", &self.environments)
            .finish()
    }
}

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time.
pub fn signature_valid(secret: &[u8], body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_digest) = signature.and_then(|value| value.trim().strip_prefix("sha256=")) else { return false };
    let Ok(expected) = hex::decode(hex_digest) else { return false };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `POST /webhooks/github`.
pub async fn webhook<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(github) = &state.settings.github else {
        return answer(StatusCode::NOT_FOUND, "not-found", "this server has no GitHub webhook secret configured");
    };
    if !signature_valid(&github.webhook_secret, &body, header(&headers, "x-hub-signature-256")) {
        metrics::counter!(crate::metrics_names::REFUSED, "reason" => "webhook-signature").increment(1);
        return answer(StatusCode::UNAUTHORIZED, "bad-signature", "X-Hub-Signature-256 does not match the body");
    }
    let name_ok = |value: &str| {
        !value.is_empty() && value.len() <= 100 && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let (Some(event), Some(delivery)) = (header(&headers, "x-github-event"), header(&headers, "x-github-delivery"))
    else {
        return answer(StatusCode::BAD_REQUEST, "bad-request", "X-GitHub-Event and X-GitHub-Delivery are required");
    };
    if !name_ok(event) || !name_ok(delivery) {
        return answer(StatusCode::BAD_REQUEST, "bad-request", "X-GitHub-Event or X-GitHub-Delivery is malformed");
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return answer(StatusCode::BAD_REQUEST, "bad-request", "the delivery is not UTF-8 JSON");
    };
    let queued = async {
        let mut tx = state.store.begin().await?;
        let new = tx.insert_github_event(delivery, event, text, now_millis()).await?;
        tx.commit().await?;
        Ok::<bool, StoreError>(new)
    }
    .await;
    match queued {
        Ok(true) => {
            state.github_wakeup.notify_one();
            (StatusCode::ACCEPTED, axum::Json(json!({"queued": delivery}))).into_response()
        }
        Ok(false) => (StatusCode::OK, axum::Json(json!({"duplicate": delivery}))).into_response(),
        Err(error) => answer(StatusCode::SERVICE_UNAVAILABLE, "storage", &format!("nothing was recorded: {error}")),
    }
}

/// Why processing a delivery stopped.
#[derive(Debug)]
enum Failure {
    /// Try again later (at this time, when GitHub said).
    Retry(String, Option<i64>),
    /// It will never work: recorded and given up.
    Permanent(String),
    /// The change named cannot be read or judged: GitHub is told so (a failing check run, a
    /// rejected deployment), then the delivery is given up.
    Unjudgeable(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Retry(error.to_string(), None)
    }
}

impl From<crate::api::ApiError> for Failure {
    fn from(error: crate::api::ApiError) -> Failure {
        Failure::Retry(error.message().to_owned(), None)
    }
}

impl From<ApiFailure> for Failure {
    fn from(failure: ApiFailure) -> Failure {
        if failure.permanent {
            Failure::Permanent(failure.message)
        } else {
            Failure::Retry(failure.message, failure.retry_at)
        }
    }
}

/// Processes queued deliveries while the server runs, woken by each new one. Deliveries name
/// commits by id, so a change already read is taken from memory, and the analyser fetches only
/// when its clone lacks a commit (`prepared_for` with `fetch` off).
pub fn spawn_worker<S: Store>(state: Arc<AppState<S>>) {
    if state.settings.github.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = state.github_wakeup.notified() => {}
            }
            if let Err(error) = work(&state).await {
                crate::writer::tracing_warn(&format!("GitHub deliveries: {error}"));
            }
        }
    });
}

/// What must be processed in order: one pull request, merge queue or repository's pushes.
/// Different ones are processed side by side, so their writes share the writer's batches.
fn ordering_key(event: &GithubEventRow) -> String {
    let body: serde_json::Value = serde_json::from_str(&event.body).unwrap_or_default();
    let repository = body["repository"]["full_name"].as_str().unwrap_or("");
    let within = body["pull_request"]["number"]
        .as_u64()
        .map(|number| number.to_string())
        .or_else(|| body["merge_group"]["head_ref"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{repository}#{within}")
}

async fn work<S: Store>(state: &Arc<AppState<S>>) -> Result<(), StoreError> {
    let now = now_millis();
    let mut tx = state.store.begin().await?;
    let due = tx.claim_github_events(now, now + LEASE, 64).await?;
    tx.commit().await?;
    if due.is_empty() {
        return Ok(());
    }
    let mut groups: Vec<(String, Vec<GithubEventRow>)> = Vec::new();
    for event in due {
        let key = ordering_key(&event);
        match groups.iter_mut().find(|(other, _)| *other == key) {
            Some((_, events)) => events.push(event),
            None => groups.push((key, vec![event])),
        }
    }
    let outcomes = futures_util::future::join_all(groups.into_iter().map(|(_, events)| async move {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let outcome = process(state, &event).await;
            outcomes.push((event, outcome));
        }
        outcomes
    }))
    .await;
    let at = now_millis();
    let mut tx = state.store.begin().await?;
    for (event, outcome) in outcomes.into_iter().flatten() {
        let attempts = event.attempts + 1;
        match outcome {
            Ok(()) => tx.github_event_done(&event.delivery, attempts, at).await?,
            Err(Failure::Retry(error, retry_at)) if attempts < MAX_ATTEMPTS => {
                let backoff = 1_000i64 << (attempts - 1).clamp(0, 12);
                let next = retry_at.unwrap_or(at + backoff).max(at + 100);
                tx.github_event_failed(&event.delivery, attempts, Some(next), &error, at).await?;
            }
            Err(Failure::Retry(error, _) | Failure::Permanent(error) | Failure::Unjudgeable(error)) => {
                tx.github_event_failed(&event.delivery, attempts, None, &error, at).await?;
            }
        }
    }
    tx.commit().await?;
    // More may be due already.
    state.github_wakeup.notify_one();
    Ok(())
}

async fn process<S: Store>(state: &Arc<AppState<S>>, event: &GithubEventRow) -> Result<(), Failure> {
    let parse =
        |error: serde_json::Error| Failure::Permanent(format!("the {} delivery is unreadable: {error}", event.event));
    match event.event.as_str() {
        "pull_request" => pull_request(state, serde_json::from_str(&event.body).map_err(parse)?).await,
        "pull_request_review" => review(state, serde_json::from_str(&event.body).map_err(parse)?).await,
        "deployment_protection_rule" => protection_rule(state, serde_json::from_str(&event.body).map_err(parse)?).await,
        "merge_group" => merge_group(state, serde_json::from_str(&event.body).map_err(parse)?).await,
        "push" => push(state, serde_json::from_str(&event.body).map_err(parse)?).await,
        // Everything else (ping, installation, …) is recorded and needs nothing.
        _ => Ok(()),
    }
}

fn settings<S: Store>(state: &AppState<S>) -> Result<&GithubSettings, Failure> {
    state.settings.github.as_ref().ok_or_else(|| Failure::Permanent("GitHub is not configured".to_owned()))
}

/// The name a pull request's registrations share, so a new push supersedes the last.
fn pull_name(number: u64) -> String {
    format!("pr-{number}")
}

async fn pull_request<S: Store>(state: &Arc<AppState<S>>, event: events::PullRequestEvent) -> Result<(), Failure> {
    if !matches!(event.action.as_str(), "opened" | "synchronize" | "reopened" | "edited" | "ready_for_review") {
        return Ok(());
    }
    let github = settings(state)?;
    let pull = &event.pull_request;
    let context = PullContext {
        number: pull.number,
        author: Some(pull.user.login.clone()),
        source_branch: pull.head.name.clone(),
        target_branch: pull.base.name.clone(),
        body: format!("{}\n\n{}", pull.title, pull.body.as_deref().unwrap_or("")),
    };
    for environment in &github.environments {
        let request = ChangeRequest {
            repository: event.repository.name.clone(),
            base: pull.base.sha.clone(),
            head: pull.head.sha.clone(),
            environment: environment.clone(),
            requester: Some(format!("github:{}", pull.user.login)),
            purpose: RegisterPurpose::PullRequest,
            plans: Vec::new(),
            context: Some(context.clone()),
        };
        let installation = event.installation.as_ref().map(|i| i.id);
        let row = match register(state, request, pull_name(pull.number)).await {
            Err(Failure::Unjudgeable(reason)) => {
                let run = CheckRun {
                    name: format!("countersign / {environment}"),
                    head_sha: pull.head.sha.clone(),
                    conclusion: "failure",
                    title: "blocked: the change cannot be judged".to_owned(),
                    summary: markdown::text(&reason).chars().take(60_000).collect(),
                    details_url: state.settings.public_url.clone(),
                };
                post_unjudged(state, installation, &event.repository.full_name, run).await?;
                return Err(Failure::Unjudgeable(reason));
            }
            other => other?,
        };
        publish(state, &row, &event.repository.full_name, installation).await?;
    }
    Ok(())
}

/// Reads a change GitHub named (from the analysis cache when it was read before) and registers
/// it under `name`, which a later registration under the same name supersedes.
async fn register<S: Store>(
    state: &Arc<AppState<S>>,
    request: ChangeRequest,
    name: String,
) -> Result<ChangeRow, Failure> {
    let prepared = crate::api::prepared_for(state, request, false).await.map_err(|error| {
        if error.is_bad_change() { Failure::Unjudgeable(error.message().to_owned()) } else { Failure::from(error) }
    })?;
    let op = Op::Register { caller: "github".to_owned(), name: Some(name), prepared };
    match state.writer.submit(op).await? {
        Outcome::Change(row) => Ok(row),
        other => Err(Failure::Retry(format!("registration answered {}", outcome_name(&other)), None)),
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Refused(_) => "a refusal",
        Outcome::NotFound(_) => "not found",
        Outcome::Stale(_) => "a moved change",
        _ => "something unexpected",
    }
}

/// Posts a check run for a change that could not be registered.
async fn post_unjudged<S: Store>(
    state: &Arc<AppState<S>>,
    installation: Option<i64>,
    repository: &str,
    run: CheckRun,
) -> Result<(), Failure> {
    let Some(api) = settings(state)?.api.clone() else { return Ok(()) };
    let repository = repository.to_owned();
    tokio::task::spawn_blocking(move || api.create_check_run(installation, &repository, &run))
        .await
        .map_err(|error| Failure::Retry(format!("the GitHub call stopped: {error}"), None))??;
    Ok(())
}

/// Posts or updates the change's check run.
async fn publish<S: Store>(
    state: &Arc<AppState<S>>,
    row: &ChangeRow,
    repository: &str,
    installation: Option<i64>,
) -> Result<(), Failure> {
    let Some(api) = settings(state)?.api.clone() else { return Ok(()) };
    let decision: Decision = serde_json::from_str(&row.decision).map_err(|error| {
        Failure::Permanent(format!("the stored decision of change {} is unreadable: {error}", row.id))
    })?;
    let run = check_run(state, row, &decision);
    let existing = state.store.check_run(row.id).await?;
    let repository_owned = repository.to_owned();
    let id = tokio::task::spawn_blocking(move || match existing {
        Some(existing) => api
            .update_check_run(installation, &repository_owned, existing.check_run_id, &run)
            .map(|()| existing.check_run_id),
        None => api.create_check_run(installation, &repository_owned, &run),
    })
    .await
    .map_err(|error| Failure::Retry(format!("the GitHub call stopped: {error}"), None))??;
    let mut tx = state.store.begin().await?;
    tx.set_check_run(&CheckRunRow {
        change_id: row.id,
        repository: repository.to_owned(),
        check_run_id: id,
        installation,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The check run of a decision: the verdict, each unmet rule with its reasons, the AI evidence.
fn check_run<S: Store>(state: &AppState<S>, row: &ChangeRow, decision: &Decision) -> CheckRun {
    let mut summary = String::new();
    let unmet: Vec<_> = decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied).collect();
    for rule in &unmet {
        summary.push_str(&format!("- **{}**: {} approval(s) missing", markdown::text(&rule.name), rule.missing));
        if !rule.eligible.is_empty() {
            summary.push_str(&format!(" (could approve: {})", markdown::text(&rule.eligible.join(", "))));
        }
        summary.push('\n');
        for why in &rule.why {
            summary.push_str(&format!("  - {}\n", markdown::text(why)));
        }
    }
    for rejection in &decision.rejections {
        let (person, comment) = (markdown::text(&rejection.person), markdown::text(&rejection.comment));
        summary.push_str(&format!("- rejected by **{person}**: {comment}\n"));
    }
    let evidence =
        decision.commits.iter().any(|commit| !commit.signals.is_empty()) || !decision.change_signals.is_empty();
    if evidence {
        summary.push_str(if decision.ai_assisted {
            "\nAI evidence:\n"
        } else {
            "\nAI evidence, not enough to count as AI-assisted under this policy:\n"
        });
        for commit in &decision.commits {
            for signal in &commit.signals {
                summary.push_str(&format!(
                    "- {} {}: {}\n",
                    markdown::code(&commit.id[..commit.id.len().min(10)]),
                    signal.kind.as_str(),
                    markdown::code(&signal.text)
                ));
            }
        }
        for signal in &decision.change_signals {
            summary.push_str(&format!("- change {}: {}\n", signal.kind.as_str(), markdown::code(&signal.text)));
        }
        if let Some(attribution) = &decision.attribution {
            summary.push_str(&format!(
                "- AI-written: {} of {} added lines ({}%)\n",
                attribution.ai_lines, attribution.added_lines, attribution.ai_percent
            ));
        }
    }
    let summary: String = summary.chars().take(60_000).collect();
    let title = match decision.verdict {
        GateVerdict::Allowed => "allowed".to_owned(),
        GateVerdict::Overridden => "allowed by a break-glass override".to_owned(),
        GateVerdict::Blocked if !decision.rejections.is_empty() => "blocked: rejected".to_owned(),
        GateVerdict::Blocked => format!("blocked: {} rule(s) unmet", unmet.len()),
    };
    CheckRun {
        name: format!("countersign / {}", row.environment),
        head_sha: row.head.clone(),
        conclusion: match decision.verdict {
            GateVerdict::Blocked => "failure",
            _ => "success",
        },
        title,
        summary,
        details_url: crate::notify::change_url(&state.settings, row.id),
    }
}

async fn review<S: Store>(state: &Arc<AppState<S>>, event: events::ReviewEvent) -> Result<(), Failure> {
    // A dismissed review no longer counts: the reviewer's approval is withdrawn (a rejection
    // stands until its author approves, as everywhere).
    let verdict = match (event.action.as_str(), event.review.state.to_ascii_lowercase().as_str()) {
        ("dismissed", _) => Verdict::Withdraw,
        ("submitted", "approved") => Verdict::Approve,
        ("submitted", "changes_requested") => Verdict::Reject,
        _ => return Ok(()),
    };
    let github = settings(state)?;
    let reviewer = &event.review.user;
    let installation = event.installation.as_ref().map(|i| i.id);
    for environment in &github.environments {
        let named = state
            .store
            .named_changes(&event.repository.name, environment, &pull_name(event.pull_request.number), 50)
            .await?;
        let attempt = if verdict == Verdict::Approve { Attempt::Approval } else { Attempt::Rejection };
        let actor = format!("github:{}", reviewer.login);
        // A review binds the commit it was given on: the registration of exactly that head.
        let Some(row) = named.iter().find(|row| row.head == event.review.commit_id) else {
            let detail = json!({
                "reason": "unknown-commit",
                "review": event.review.id,
                "commit": event.review.commit_id,
                "message": "the review is of a commit countersign has not registered for this pull request",
            });
            refuse(state, &actor, attempt, &format!("pull/{}", event.pull_request.number), detail).await?;
            continue;
        };
        if row.state != ChangeState::Open && verdict != Verdict::Withdraw {
            let detail = json!({
                "reason": "older-commit",
                "review": event.review.id,
                "commit": event.review.commit_id,
                "message": "the review is of an older commit; newer content needs its own review",
            });
            refuse(state, &actor, attempt, &format!("change/{}", row.id), detail).await?;
            continue;
        }
        if reviewer.is_bot() {
            let detail = json!({
                "reason": "bot-review",
                "review": event.review.id,
                "login": reviewer.login,
                "message": "reviews by apps and agents (Copilot's included) never count",
            });
            refuse(state, &actor, attempt, &format!("change/{}", row.id), detail).await?;
            continue;
        }
        let prepared = crate::api::prepared_for(state, crate::logic::request_of(row), false).await?;
        let person = match prepared.config.directory.by_github(&reviewer.login) {
            Some(countersign_core::directory::Member::Person(person)) => person.id.clone(),
            _ => {
                let detail = json!({
                    "reason": "unknown-login",
                    "review": event.review.id,
                    "login": reviewer.login,
                    "message": "no person of people.toml has this GitHub login",
                });
                refuse(state, &actor, attempt, &format!("change/{}", row.id), detail).await?;
                continue;
            }
        };
        let comment: String = event.review.body.clone().unwrap_or_default().chars().take(2_000).collect();
        let hint = Some(Arc::clone(&prepared));
        let outcome = crate::api::submit_prepared(state, hint, |prepared| Op::Review {
            caller: person.clone(),
            repository: row.repository.clone(),
            environment: row.environment.clone(),
            fingerprint: row.fingerprint.clone(),
            verdict,
            comment: comment.clone(),
            plans: Vec::new(),
            opened: Vec::new(),
            change_id: Some(row.id),
            prepared,
            presigned: None,
        })
        .await?;
        let updated = match outcome {
            Outcome::Recorded { change, .. } => change,
            // The refusal is in the audit log already; the check run still shows the truth.
            _ => state.store.change(row.id).await?.unwrap_or_else(|| row.clone()),
        };
        publish(state, &updated, &event.repository.full_name, installation).await?;
    }
    reconsider_gates(state).await
}

async fn refuse<S: Store>(
    state: &AppState<S>,
    actor: &str,
    attempt: Attempt,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), Failure> {
    let op = Op::Refuse { actor: actor.to_owned(), action: attempt.refused(), subject: subject.to_owned(), detail };
    state.writer.submit(op).await?;
    Ok(())
}

async fn protection_rule<S: Store>(
    state: &Arc<AppState<S>>,
    event: events::ProtectionRuleEvent,
) -> Result<(), Failure> {
    if event.action != "requested" {
        return Ok(());
    }
    let installation = event.installation.as_ref().map(|i| i.id);
    let environment = event.environment.clone();
    let Some(sha) = event.deployment.as_ref().map(|deployment| deployment.sha.clone()).or(event.sha.clone()) else {
        let comment = "countersign: the request names no commit to deploy";
        return answer_gate(state, installation, &event.deployment_callback_url, &environment, false, comment).await;
    };
    let last = state.store.last_deployed(&event.repository.name, &environment).await?;
    let Some(base) = last.map(|row| row.head) else {
        let comment = format!(
            "countersign has no allowed deployment of {} to {environment} on record, so it cannot tell what this \
             deployment adds: record the first one with `countersign deploy --server`",
            event.repository.name
        );
        return answer_gate(state, installation, &event.deployment_callback_url, &environment, false, &comment).await;
    };
    let request = ChangeRequest {
        repository: event.repository.name.clone(),
        base,
        head: sha,
        environment: environment.clone(),
        requester: None,
        purpose: RegisterPurpose::Deploy,
        plans: Vec::new(),
        context: None,
    };
    let row = match register(state, request, format!("deploy-{environment}")).await {
        Err(Failure::Unjudgeable(reason)) => {
            let comment = format!("countersign cannot judge this deployment, so it is rejected: {reason}");
            answer_gate(state, installation, &event.deployment_callback_url, &environment, false, &comment).await?;
            return Err(Failure::Unjudgeable(reason));
        }
        other => other?,
    };
    let gate = GateRow {
        callback_url: event.deployment_callback_url.clone(),
        change_id: row.id,
        repository: event.repository.full_name.clone(),
        environment,
        installation,
        created_at: now_millis(),
        answered: None,
        answered_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_gate(&gate).await?;
    tx.commit().await?;
    settle(state, &gate).await
}

/// The merge queue's commit is gated like a deployment: the range from the queue's base, cut into
/// the merged changes it adds, each decided by the statements about its own content.
async fn merge_group<S: Store>(state: &Arc<AppState<S>>, event: events::MergeGroupEvent) -> Result<(), Failure> {
    if event.action != "checks_requested" {
        return Ok(());
    }
    let installation = event.installation.as_ref().map(|i| i.id);
    for environment in &settings(state)?.environments {
        let request = ChangeRequest {
            repository: event.repository.name.clone(),
            base: event.merge_group.base_sha.clone(),
            head: event.merge_group.head_sha.clone(),
            environment: environment.clone(),
            requester: None,
            purpose: RegisterPurpose::Deploy,
            plans: Vec::new(),
            context: None,
        };
        let row = register(state, request, format!("merge-queue-{}", event.merge_group.head_ref)).await?;
        publish(state, &row, &event.repository.full_name, installation).await?;
    }
    Ok(())
}

/// The bypass detector: what a push put on the default branch is judged as a range, and
/// recorded as a bypass when its verdict is not allowed (a direct push, an unreviewed merge, a
/// force-push that rewrote history).
async fn push<S: Store>(state: &Arc<AppState<S>>, event: events::PushEvent) -> Result<(), Failure> {
    let Some(default_branch) = &event.repository.default_branch else { return Ok(()) };
    let created_or_deleted = |sha: &str| sha.bytes().all(|byte| byte == b'0');
    if event.reference != format!("refs/heads/{default_branch}") || created_or_deleted(&event.after) {
        return Ok(());
    }
    if created_or_deleted(&event.before) {
        return Ok(());
    }
    for environment in &settings(state)?.environments {
        let request = ChangeRequest {
            repository: event.repository.name.clone(),
            base: event.before.clone(),
            head: event.after.clone(),
            environment: environment.clone(),
            requester: None,
            purpose: RegisterPurpose::Deploy,
            plans: Vec::new(),
            context: None,
        };
        let row = register(state, request, format!("push-{default_branch}")).await?;
        let decision: Decision = serde_json::from_str(&row.decision).map_err(|error| {
            Failure::Permanent(format!("the stored decision of change {} is unreadable: {error}", row.id))
        })?;
        if decision.verdict == GateVerdict::Allowed && !event.forced {
            continue;
        }
        let unmet: Vec<&str> = decision
            .rules
            .iter()
            .filter(|rule| rule.applies && !rule.satisfied)
            .map(|rule| rule.name.as_str())
            .collect();
        let detail = json!({
            "repository": event.repository.full_name,
            "branch": default_branch,
            "before": event.before,
            "after": event.after,
            "forced": event.forced,
            "pusher": event.pusher.as_ref().map(|pusher| pusher.name.clone()),
            "environment": environment,
            "verdict": decision.verdict,
            "unmet": unmet,
        });
        state.writer.submit(Op::Bypass { change_id: row.id, detail }).await?;
        metrics::counter!(crate::metrics_names::BYPASSES).increment(1);
    }
    Ok(())
}

/// Asks for the deploy verdict of a gate's change and answers GitHub when it is final: allowed
/// (or overridden) is `approved`, a standing rejection is `rejected`; missing approvals wait.
async fn settle<S: Store>(state: &Arc<AppState<S>>, gate: &GateRow) -> Result<(), Failure> {
    let outcome = crate::api::submit_prepared(state, None, |prepared| Op::Deploy {
        caller: "github".to_owned(),
        change_id: gate.change_id,
        prepared,
    })
    .await?;
    let Outcome::Change(row) = outcome else {
        return Err(Failure::Retry(format!("the deploy verdict answered {}", outcome_name(&outcome)), None));
    };
    let decision: Decision = serde_json::from_str(&row.decision).map_err(|error| {
        Failure::Permanent(format!("the stored decision of change {} is unreadable: {error}", row.id))
    })?;
    let unmet: Vec<String> = decision
        .rules
        .iter()
        .filter(|rule| rule.applies && !rule.satisfied)
        .map(|rule| format!("{} ({} missing)", rule.name, rule.missing))
        .collect();
    let link = crate::notify::change_url(&state.settings, row.id);
    match decision.verdict {
        GateVerdict::Allowed | GateVerdict::Overridden => {
            let comment = format!("countersign allowed this deployment: {link}");
            answer_gate(state, gate.installation, &gate.callback_url, &gate.environment, true, &comment).await
        }
        GateVerdict::Blocked if !decision.rejections.is_empty() => {
            let people: Vec<&str> = decision.rejections.iter().map(|rejection| rejection.person.as_str()).collect();
            let comment =
                format!("countersign: rejected by {}; unmet: {}. {link}", people.join(", "), unmet.join(", "));
            answer_gate(state, gate.installation, &gate.callback_url, &gate.environment, false, &comment).await
        }
        GateVerdict::Blocked => Ok(()),
    }
}

async fn answer_gate<S: Store>(
    state: &Arc<AppState<S>>,
    installation: Option<i64>,
    callback_url: &str,
    environment: &str,
    approved: bool,
    comment: &str,
) -> Result<(), Failure> {
    if let Some(api) = settings(state)?.api.clone() {
        let (url, environment_owned, comment) = (callback_url.to_owned(), environment.to_owned(), comment.to_owned());
        tokio::task::spawn_blocking(move || {
            api.answer_protection_rule(installation, &url, &environment_owned, approved, &comment)
        })
        .await
        .map_err(|error| Failure::Retry(format!("the GitHub call stopped: {error}"), None))??;
    }
    let mut tx = state.store.begin().await?;
    tx.answer_gate(callback_url, if approved { "approved" } else { "rejected" }, now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

/// After a review: every protection rule still waiting is asked again.
async fn reconsider_gates<S: Store>(state: &Arc<AppState<S>>) -> Result<(), Failure> {
    for gate in state.store.unanswered_gates(100).await? {
        settle(state, &gate).await?;
    }
    Ok(())
}
