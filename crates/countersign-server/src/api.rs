//! The JSON API. Reads go straight to the store; writes go through the writer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::attestation::{Envelope, Statement, Verdict};
use countersign_core::evaluate::{Decision, GateVerdict};
use countersign_core::lifecycle::Attempt;
use countersign_store::{AssignmentRow, ChangeFilter, ChangeRow, OverrideRow, StatementRow, Store, StoreError};
use serde::Deserialize;

use crate::auth::{Caller, authenticate};
use crate::contract::{
    Assignment, AttestationList, AwayBody, AwayState, ChangeEntry, ChangeList, ChangeView, CompleteReviewBody,
    ErrorBody, ErrorDetail, Health, LastDeployment, Me, Override, OverrideBody, OverrideResult, OverrideReviewResult,
    PendingReviews, PickResult, Queue, QueueEntry, RegisterBody, ReviewBody, ReviewResult, ServerKey, StatementView,
};
use crate::logic::request_of;
use crate::metrics_names as names;
use crate::writer::{Op, Outcome, Presigned};
use crate::{AnalysisFailure, AppState, ChangeRequest, PREPARED_CACHE, Prepared, now_millis};

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024;

/// Largest registration body: it may carry infrastructure plans.
const MAX_REGISTRATION_BODY: usize = 64 * 1024 * 1024;

pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/api/openapi.json", get(crate::openapi::serve))
        .route("/api/server-key", get(server_key::<S>))
        .route("/api/me", get(me::<S>))
        .route(
            "/api/changes",
            post(register::<S>)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_REGISTRATION_BODY))
                .get(list_changes::<S>),
        )
        .route("/api/changes/{id}", get(show_change::<S>))
        .route("/api/changes/{id}/deploy", post(deploy::<S>))
        .route("/api/approvals", post(review::<S>))
        .route("/api/overrides", post(override_change::<S>).get(pending_reviews::<S>))
        .route("/api/overrides/{id}/review", post(complete_review::<S>))
        .route("/api/attestations", get(attestations::<S>))
        .route("/api/deployments/last", get(last_deployment::<S>))
        .route("/api/queue", get(queue::<S>))
        .route("/api/assignments/{id}/pick", post(pick::<S>))
        .route("/api/away", axum::routing::put(set_away::<S>).delete(clear_away::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
        .merge(crate::web::routes::<S>())
        .route(
            "/webhooks/github",
            post(crate::github::webhook::<S>).layer(axum::extract::DefaultBodyLimit::max(crate::github::MAX_DELIVERY)),
        )
        .fallback(|| async {
            ApiError::not_found("no such route: see GET /api/openapi.json, or / for the web interface")
        })
        .with_state(state)
}

/// Gives axum's own refusals (an unknown route, a path id that is not a number, a bad query, a
/// body over the limit) the same JSON shape as every other error.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        status if status.is_server_error() => "internal",
        _ => "bad-request",
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_BODY).await.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let message = match text {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut answer = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// An error answer: `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the change itself cannot be read or judged (so asking again will not help).
    pub fn is_bad_change(&self) -> bool {
        matches!(self.code, "bad-change" | "cannot-evaluate")
    }

    pub fn unauthenticated(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn unavailable(message: &str) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn store(error: StoreError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", format!("nothing was recorded: {error}"))
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<AnalysisFailure> for ApiError {
    fn from(failure: AnalysisFailure) -> ApiError {
        match failure {
            AnalysisFailure::BadRequest(message) => ApiError::new(StatusCode::BAD_REQUEST, "bad-change", message),
            AnalysisFailure::Unjudgeable(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot-evaluate", message)
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// A JSON body, with serde's message (field, line, column) on a mistake.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("the request body is not valid: {error}")))
}

async fn healthz<S: Store>(State(state): State<Arc<AppState<S>>>) -> ApiResult {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Health { status: "ok".to_owned() }).into_response()),
        Err(error) => Err(ApiError::store(error)),
    }
}

async fn metrics<S: Store>(State(state): State<Arc<AppState<S>>>) -> ApiResult {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::unavailable("metrics are recorded by another server instance in this process"));
    };
    let depths = state.store.queue_depths().await.map_err(ApiError::store)?;
    {
        let mut seen = state.reviewers_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for person in seen.iter() {
            if !depths.iter().any(|(other, _)| other == person) {
                metrics::gauge!(names::QUEUE_DEPTH, "reviewer" => person.clone()).set(0.0);
            }
        }
        for (person, depth) in &depths {
            metrics::gauge!(names::QUEUE_DEPTH, "reviewer" => person.clone()).set(*depth as f64);
            seen.insert(person.clone());
        }
    }
    let now = now_millis();
    let pending = state.store.pending_reviews().await.map_err(ApiError::store)?;
    let overdue = state.store.overdue_reviews(now).await.map_err(ApiError::store)?;
    metrics::gauge!(names::PENDING_REVIEWS).set(pending.len() as f64);
    metrics::gauge!(names::OVERDUE_REVIEWS).set(overdue as f64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response())
}

async fn server_key<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    Json(ServerKey {
        public_key: state.public_key.clone(),
        policy_toml: format!("[server]\nkeys = [\"{}\"]", state.public_key),
    })
    .into_response()
}

async fn me<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&state, &headers, None).await?;
    Ok(Json(Me { person: caller.person, token: caller.token_id }).into_response())
}

/// The analysis of a change, from the cache or freshly read.
pub(crate) async fn prepared_for<S: Store>(
    state: &AppState<S>,
    request: ChangeRequest,
    fetch: bool,
) -> Result<Arc<Prepared>, ApiError> {
    if !fetch {
        let cache = state.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(prepared) = cache.get(&request) {
            return Ok(Arc::clone(prepared));
        }
    }
    let analyser = Arc::clone(&state.analyser);
    let prepared = tokio::task::spawn_blocking(move || analyser.prepare(&request, fetch))
        .await
        .map_err(|error| ApiError::unavailable(&format!("the analysis stopped: {error}")))??;
    let prepared = Arc::new(prepared);
    let mut cache = state.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if cache.len() >= PREPARED_CACHE {
        cache.clear();
    }
    cache.insert(prepared.request.clone(), Arc::clone(&prepared));
    Ok(prepared)
}

/// Submits a write that evaluates a change, preparing the change's analysis again whenever the
/// writer finds that the change moved meanwhile.
pub(crate) async fn submit_prepared<S: Store>(
    state: &AppState<S>,
    mut prepared: Option<Arc<Prepared>>,
    make: impl Fn(Option<Arc<Prepared>>) -> Op,
) -> Result<Outcome, ApiError> {
    for _ in 0..4 {
        match state.writer.submit(make(prepared.clone())).await? {
            Outcome::Stale(request) => prepared = Some(prepared_for(state, request, false).await?),
            outcome => return Ok(outcome),
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "moving", "the change kept moving while this request was applied; retry"))
}

/// Changes as this node last wrote them, by repository, environment and fingerprint: a hint
/// that spares approvals a read; the writer checks it against the database.
pub type Recent = HashMap<(String, String, String), ChangeRow>;

pub(crate) fn remember<S: Store>(state: &AppState<S>, row: &ChangeRow) {
    let mut recent = state.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if recent.len() >= PREPARED_CACHE * 4 {
        recent.clear();
    }
    recent.insert((row.repository.clone(), row.environment.clone(), row.fingerprint.clone()), row.clone());
}

fn recalled<S: Store>(
    state: &AppState<S>,
    repository: &str,
    environment: &str,
    fingerprint: &str,
) -> Option<ChangeRow> {
    let recent = state.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    recent.get(&(repository.to_owned(), environment.to_owned(), fingerprint.to_owned())).cloned()
}

/// The cached analysis for a stored change, if there is one; saves the writer a round trip.
pub(crate) fn cached<S: Store>(state: &AppState<S>, row: Option<&ChangeRow>) -> Option<Arc<Prepared>> {
    let request = request_of(row?);
    state.prepared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&request).cloned()
}

fn refused_or<T>(outcome: Outcome, ok: impl FnOnce(Outcome) -> Result<T, ApiError>) -> Result<T, ApiError> {
    match outcome {
        Outcome::Refused(refusal) => Err(ApiError::new(StatusCode::FORBIDDEN, refusal.code, refusal.message)),
        Outcome::NotFound(message) => Err(ApiError::not_found(message)),
        outcome => ok(outcome),
    }
}

/// The change a write left behind, in full.
async fn change_answer<S: Store>(state: &AppState<S>, outcome: Outcome) -> ApiResult {
    let row = refused_or(outcome, |outcome| match outcome {
        Outcome::Change(row) => Ok(row),
        _ => Err(unexpected()),
    })?;
    remember(state, &row);
    Ok(Json(change_view(state, &row).await?).into_response())
}

fn unexpected() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the writer answered something unexpected")
}

/// Refuses a comment or reason that would make a statement larger than every reader accepts:
/// what the server writes, `check --server` and `deploy` must both be able to read.
fn fits_a_statement<S: Store>(
    state: &AppState<S>,
    verdict: Verdict,
    person: &str,
    comment: &str,
    plans: &[String],
) -> Result<(), ApiError> {
    let placeholder = "0".repeat(40);
    let probe =
        Statement::new(verdict, person, &format!("sha256:{}", "0".repeat(64)), "production", &placeholder, 0, comment)
            .with_plans(plans.to_vec());
    match probe.sign(&state.key) {
        Ok(_) => Ok(()),
        Err(error) => Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", error.to_string())),
    }
}

fn check_name(what: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && !value.starts_with('-')
        && value.chars().all(|c| !c.is_control() && c != '\0');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("`{what}` must be 1–200 printable characters, not starting with `-`")))
    }
}

async fn register<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Change)).await?;
    let body: RegisterBody = parse_body(&body)?;
    for (what, value) in [
        ("repository", &body.repository),
        ("base", &body.base),
        ("head", &body.head),
        ("environment", &body.environment),
    ] {
        check_name(what, value)?;
    }
    let request = ChangeRequest {
        repository: body.repository,
        base: body.base,
        head: body.head,
        environment: body.environment,
        requester: body.requester,
        purpose: body.purpose,
        plans: body.plans,
        context: None,
    };
    let prepared = prepared_for(&state, request, true).await?;
    let outcome = state.writer.submit(Op::Register { caller: caller.person, name: body.name, prepared }).await?;
    change_answer(&state, outcome).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    repository: Option<String>,
    environment: Option<String>,
    verdict: Option<GateVerdict>,
    #[serde(default)]
    open: bool,
    limit: Option<i64>,
}

async fn list_changes<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> ApiResult {
    authenticate(&state, &headers, None).await?;
    let filter = ChangeFilter {
        repository: query.repository,
        environment: query.environment,
        verdict: query.verdict,
        open_only: query.open,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let rows = state.store.changes(&filter).await.map_err(ApiError::store)?;
    Ok(Json(ChangeList { changes: rows.iter().map(change_entry).collect() }).into_response())
}

async fn show_change<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    authenticate(&state, &headers, None).await?;
    let row = state
        .store
        .change(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no change {id}")))?;
    Ok(Json(change_view(&state, &row).await?).into_response())
}

async fn deploy<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Deployment)).await?;
    let row = state.store.change(id).await.map_err(ApiError::store)?;
    let hint = cached(&state, row.as_ref());
    let outcome =
        submit_prepared(&state, hint, |prepared| Op::Deploy { caller: caller.person.clone(), change_id: id, prepared })
            .await?;
    change_answer(&state, outcome).await
}

async fn review<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Approval)).await?;
    let body: ReviewBody = parse_body(&body)?;
    let verdict = body.verdict.verdict();
    fits_a_statement(&state, verdict, &caller.person, &body.comment, &body.plans)?;
    let row = match recalled(&state, &body.repository, &body.environment, &body.fingerprint) {
        Some(row) => Some(row),
        None => state
            .store
            .find_change(&body.repository, &body.environment, &body.fingerprint)
            .await
            .map_err(ApiError::store)?,
    };
    let hint = cached(&state, row.as_ref());
    let presigned = match &row {
        Some(row) if hint.is_some() => {
            let at = now_millis();
            let signed =
                crate::logic::sign(&state.key, verdict, &caller.person, row, (&body.comment, &body.plans, &[]), at)
                    .map_err(ApiError::store)?;
            Some(Presigned {
                change_id: row.id,
                head: row.head.clone(),
                at,
                statement: signed.statement,
                signature: signed.signature,
            })
        }
        _ => None,
    };
    let outcome = submit_prepared(&state, hint, |prepared| Op::Review {
        caller: caller.person.clone(),
        repository: body.repository.clone(),
        environment: body.environment.clone(),
        fingerprint: body.fingerprint.clone(),
        verdict,
        comment: body.comment.clone(),
        plans: body.plans.clone(),
        // Only the web interface sees which files a reviewer opened; an API client cannot say.
        opened: Vec::new(),
        change_id: None,
        prepared,
        presigned: presigned.clone(),
    })
    .await?;
    refused_or(outcome, |outcome| match outcome {
        Outcome::Recorded { statement, change, duplicate } => {
            remember(&state, &change);
            let status = if duplicate { StatusCode::OK } else { StatusCode::CREATED };
            let body = ReviewResult { statement: statement_view(&statement), duplicate, change: change_entry(&change) };
            Ok((status, Json(body)).into_response())
        }
        _ => Err(unexpected()),
    })
}

async fn override_change<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Override)).await?;
    let body: OverrideBody = parse_body(&body)?;
    fits_a_statement(&state, Verdict::Override, &caller.person, &body.reason, &[])?;
    let row = state
        .store
        .find_change(&body.repository, &body.environment, &body.fingerprint)
        .await
        .map_err(ApiError::store)?;
    let hint = cached(&state, row.as_ref());
    let outcome = submit_prepared(&state, hint, |prepared| Op::Override {
        caller: caller.person.clone(),
        repository: body.repository.clone(),
        environment: body.environment.clone(),
        fingerprint: body.fingerprint.clone(),
        reason: body.reason.clone(),
        prepared,
    })
    .await?;
    refused_or(outcome, |outcome| match outcome {
        Outcome::Overridden { override_row, change } => {
            let body =
                OverrideResult { override_: override_view(&override_row, now_millis()), change: change_entry(&change) };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        _ => Err(unexpected()),
    })
}

async fn pending_reviews<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    authenticate(&state, &headers, None).await?;
    let now = now_millis();
    let rows = state.store.pending_reviews().await.map_err(ApiError::store)?;
    let overdue = rows.iter().filter(|row| row.due_at < now).count();
    let reviews = rows.iter().map(|row| override_view(row, now)).collect();
    Ok(Json(PendingReviews { pending: rows.len(), overdue, reviews }).into_response())
}

async fn complete_review<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::OverrideReview)).await?;
    let body: CompleteReviewBody = if body.is_empty() { CompleteReviewBody::default() } else { parse_body(&body)? };
    let outcome = submit_prepared(&state, None, |prepared| Op::CompleteReview {
        caller: caller.person.clone(),
        override_id: id,
        comment: body.comment.clone(),
        prepared,
    })
    .await?;
    refused_or(outcome, |outcome| match outcome {
        Outcome::Reviewed(row) => {
            Ok(Json(OverrideReviewResult { override_: override_view(&row, now_millis()) }).into_response())
        }
        _ => Err(unexpected()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentQuery {
    repository: String,
    #[serde(default = "crate::contract::production")]
    environment: String,
}

/// What runs in an environment is public like the deployment ref: a check needs it as its base.
async fn last_deployment<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(query): Query<DeploymentQuery>,
) -> ApiResult {
    let row = state.store.last_deployed(&query.repository, &query.environment).await.map_err(ApiError::store)?;
    let row = row.ok_or_else(|| {
        ApiError::not_found(format!(
            "no deployment of {} to {} was allowed by this server yet",
            query.repository, query.environment
        ))
    })?;
    Ok(Json(LastDeployment {
        repository: row.repository,
        environment: row.environment,
        change: row.id,
        head: row.head,
        base: row.base,
        fingerprint: row.fingerprint,
        verdict: row.verdict,
        requester: row.requester,
        deployed_at: row.deployed_at.unwrap_or(row.updated_at),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationQuery {
    /// Only this repository's changes; without it, every repository's (statements are public).
    #[serde(default)]
    repository: Option<String>,
    fingerprint: String,
    #[serde(default = "crate::contract::production")]
    environment: String,
}

/// Signed statements are public like the git attestation ref: anyone may fetch and verify them.
async fn attestations<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(query): Query<AttestationQuery>,
) -> ApiResult {
    let rows = state
        .store
        .statements_for(query.repository.as_deref(), &query.fingerprint, &query.environment)
        .await
        .map_err(ApiError::store)?;
    let attestations = rows
        .iter()
        .map(|row| Envelope { statement: row.statement.clone(), signature: row.signature.clone() })
        .collect();
    Ok(Json(AttestationList { fingerprint: query.fingerprint, environment: query.environment, attestations })
        .into_response())
}

async fn queue<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller: Caller = authenticate(&state, &headers, None).await?;
    let now = now_millis();
    let mut reviews = Vec::new();
    for assignment in state.store.queue(&caller.person).await.map_err(ApiError::store)? {
        let change = state.store.change(assignment.change_id).await.map_err(ApiError::store)?;
        reviews.push(QueueEntry {
            id: assignment.id,
            rule: assignment.rule,
            person: assignment.person,
            state: assignment.state,
            assigned_at: assignment.assigned_at,
            picked_up_at: assignment.picked_up_at,
            escalated_from: assignment.escalated_from,
            waiting_seconds: (now - assignment.assigned_at).max(0) / 1000,
            change: change.as_ref().map(change_entry),
        });
    }
    let pending = state.store.pending_reviews().await.map_err(ApiError::store)?;
    let after_the_fact =
        pending.iter().filter(|row| row.person != caller.person).map(|row| override_view(row, now)).collect();
    Ok(Json(Queue { person: caller.person, reviews, after_the_fact }).into_response())
}

async fn pick<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::ReviewPick)).await?;
    let outcome = state.writer.submit(Op::Pick { caller: caller.person, assignment_id: id }).await?;
    refused_or(outcome, |_| Ok(Json(PickResult { picked: id }).into_response()))
}

async fn set_away<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Away)).await?;
    let body: AwayBody = if body.is_empty() { AwayBody::default() } else { parse_body(&body)? };
    let person = caller.person.clone();
    state.writer.submit(Op::Away { caller: caller.person, away: true, until: body.until, note: body.note }).await?;
    Ok(Json(AwayState { person, away: true, until: body.until }).into_response())
}

async fn clear_away<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&state, &headers, Some(Attempt::Away)).await?;
    let person = caller.person.clone();
    state.writer.submit(Op::Away { caller: caller.person, away: false, until: None, note: String::new() }).await?;
    Ok(Json(AwayState { person, away: false, until: None }).into_response())
}

fn change_entry(row: &ChangeRow) -> ChangeEntry {
    ChangeEntry {
        id: row.id,
        repository: row.repository.clone(),
        environment: row.environment.clone(),
        fingerprint: row.fingerprint.clone(),
        name: row.name.clone(),
        base: row.base.clone(),
        head: row.head.clone(),
        requester: row.requester.clone(),
        state: row.state,
        verdict: row.verdict,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn change_view<S: Store>(state: &AppState<S>, row: &ChangeRow) -> Result<ChangeView, ApiError> {
    let now = now_millis();
    let assignments = state.store.assignments(row.id).await.map_err(ApiError::store)?;
    let overrides = state.store.overrides_of(row.id).await.map_err(ApiError::store)?;
    let decision: Decision = serde_json::from_str(&row.decision).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the stored decision of change {} is unreadable: {error}", row.id),
        )
    })?;
    Ok(ChangeView {
        change: change_entry(row),
        decision,
        assignments: assignments.iter().map(assignment_view).collect(),
        overrides: overrides.iter().map(|row| override_view(row, now)).collect(),
    })
}

fn assignment_view(row: &AssignmentRow) -> Assignment {
    Assignment {
        id: row.id,
        change: row.change_id,
        rule: row.rule.clone(),
        person: row.person.clone(),
        state: row.state,
        assigned_at: row.assigned_at,
        picked_up_at: row.picked_up_at,
        escalated_from: row.escalated_from,
    }
}

fn override_view(row: &OverrideRow, now: i64) -> Override {
    Override {
        id: row.id,
        change: row.change_id,
        person: row.person.clone(),
        reason: row.reason.clone(),
        created_at: row.created_at,
        review_due_at: row.due_at,
        reviewed_by: row.reviewed_by.clone(),
        reviewed_at: row.reviewed_at,
        review_comment: row.review_comment.clone(),
        overdue: row.reviewed_at.is_none() && row.due_at < now,
        late: row.reviewed_at.is_some_and(|at| at > row.due_at),
    }
}

fn statement_view(row: &StatementRow) -> StatementView {
    StatementView {
        id: row.id,
        person: row.person.clone(),
        verdict: row.verdict,
        comment: row.comment.clone(),
        created_at: row.created_at,
        attestation: Envelope { statement: row.statement.clone(), signature: row.signature.clone() },
    }
}
