//! The JSON API. Reads go straight to the store; writes go through the writer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use countersign_core::attestation::Verdict;
use countersign_store::{AssignmentRow, ChangeFilter, ChangeRow, OverrideRow, StatementRow, Store, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Caller, authenticate};
use crate::logic::request_of;
use crate::metrics_names as names;
use crate::writer::{Op, Outcome, Presigned};
use crate::{AnalysisFailure, AppState, ChangeRequest, PREPARED_CACHE, Prepared, now_millis};

const OPENAPI: &str = include_str!("../openapi.json");

/// Largest accepted request body.
const MAX_BODY: usize = 64 * 1024;

pub fn router<S: Store>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(metrics::<S>))
        .route("/api/openapi.json", get(openapi))
        .route("/api/server-key", get(server_key::<S>))
        .route("/api/me", get(me::<S>))
        .route("/api/changes", post(register::<S>).get(list_changes::<S>))
        .route("/api/changes/{id}", get(show_change::<S>))
        .route("/api/changes/{id}/deploy", post(deploy::<S>))
        .route("/api/approvals", post(review::<S>))
        .route("/api/overrides", post(override_change::<S>).get(pending_reviews::<S>))
        .route("/api/overrides/{id}/review", post(complete_review::<S>))
        .route("/api/attestations", get(attestations::<S>))
        .route("/api/queue", get(queue::<S>))
        .route("/api/assignments/{id}/pick", post(pick::<S>))
        .route("/api/away", axum::routing::put(set_away::<S>).delete(clear_away::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(json_errors))
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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
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
        let body = json!({"error": {"code": self.code, "message": self.message}});
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
        Ok(()) => Ok(Json(json!({"status": "ok"})).into_response()),
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

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn server_key<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    Json(json!({
        "public_key": state.public_key,
        "policy_toml": format!("[server]\nkeys = [\"{}\"]", state.public_key),
    }))
    .into_response()
}

async fn me<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&state, &headers, None).await?;
    Ok(Json(json!({"person": caller.person, "token": caller.token_id})).into_response())
}

/// The analysis of a change, from the cache or freshly read.
async fn prepared_for<S: Store>(
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
async fn submit_prepared<S: Store>(
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

fn remember<S: Store>(state: &AppState<S>, row: &ChangeRow) {
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
fn cached<S: Store>(state: &AppState<S>, row: Option<&ChangeRow>) -> Option<Arc<Prepared>> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    repository: String,
    base: String,
    head: String,
    #[serde(default = "production")]
    environment: String,
    requester: Option<String>,
    /// The pipeline's name for the change, e.g. a branch: a newer head supersedes older ones.
    name: Option<String>,
}

fn production() -> String {
    "production".to_owned()
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
    let caller = authenticate(&state, &headers, Some("change")).await?;
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
    verdict: Option<String>,
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
    let changes: Vec<Value> = rows.iter().map(change_summary).collect();
    Ok(Json(json!({"changes": changes})).into_response())
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
    let caller = authenticate(&state, &headers, Some("deployment")).await?;
    let row = state.store.change(id).await.map_err(ApiError::store)?;
    let hint = cached(&state, row.as_ref());
    let outcome =
        submit_prepared(&state, hint, |prepared| Op::Deploy { caller: caller.person.clone(), change_id: id, prepared })
            .await?;
    change_answer(&state, outcome).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    repository: String,
    fingerprint: String,
    #[serde(default = "production")]
    environment: String,
    verdict: ReviewVerdict,
    #[serde(default)]
    comment: String,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReviewVerdict {
    Approve,
    Reject,
}

async fn review<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("approval")).await?;
    let body: ReviewBody = parse_body(&body)?;
    let verdict = match body.verdict {
        ReviewVerdict::Approve => Verdict::Approve,
        ReviewVerdict::Reject => Verdict::Reject,
    };
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
            let signed = crate::logic::sign(&state.key, verdict, &caller.person, row, &body.comment, at)
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
        prepared,
        presigned: presigned.clone(),
    })
    .await?;
    refused_or(outcome, |outcome| match outcome {
        Outcome::Recorded { statement, change, duplicate } => {
            remember(&state, &change);
            let status = if duplicate { StatusCode::OK } else { StatusCode::CREATED };
            let body = json!({
                "statement": statement_view(&statement),
                "duplicate": duplicate,
                "change": change_summary(&change),
            });
            Ok((status, Json(body)).into_response())
        }
        _ => Err(unexpected()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    repository: String,
    fingerprint: String,
    #[serde(default = "production")]
    environment: String,
    #[serde(default)]
    reason: String,
}

async fn override_change<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("override")).await?;
    let body: OverrideBody = parse_body(&body)?;
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
                json!({"override": override_view(&override_row, now_millis()), "change": change_summary(&change)});
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
    let reviews: Vec<Value> = rows.iter().map(|row| override_view(row, now)).collect();
    Ok(Json(json!({"pending": rows.len(), "overdue": overdue, "reviews": reviews})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[serde(default)]
    comment: String,
}

async fn complete_review<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("override-review")).await?;
    let body: CompleteBody = if body.is_empty() { CompleteBody { comment: String::new() } } else { parse_body(&body)? };
    let outcome = submit_prepared(&state, None, |prepared| Op::CompleteReview {
        caller: caller.person.clone(),
        override_id: id,
        comment: body.comment.clone(),
        prepared,
    })
    .await?;
    refused_or(outcome, |outcome| match outcome {
        Outcome::Reviewed(row) => Ok(Json(json!({"override": override_view(&row, now_millis())})).into_response()),
        _ => Err(unexpected()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationQuery {
    fingerprint: String,
    #[serde(default = "production")]
    environment: String,
}

/// Signed statements are public like the git attestation ref: anyone may fetch and verify them.
async fn attestations<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(query): Query<AttestationQuery>,
) -> ApiResult {
    let rows = state.store.statements_for(&query.fingerprint, &query.environment).await.map_err(ApiError::store)?;
    let envelopes: Vec<Value> =
        rows.iter().map(|row| json!({"statement": row.statement, "signature": row.signature})).collect();
    Ok(Json(json!({"fingerprint": query.fingerprint, "environment": query.environment, "attestations": envelopes}))
        .into_response())
}

async fn queue<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller: Caller = authenticate(&state, &headers, None).await?;
    let now = now_millis();
    let mut reviews = Vec::new();
    for assignment in state.store.queue(&caller.person).await.map_err(ApiError::store)? {
        let change = state.store.change(assignment.change_id).await.map_err(ApiError::store)?;
        let mut view = assignment_view(&assignment);
        view["waiting_seconds"] = json!((now - assignment.assigned_at).max(0) / 1000);
        view["change"] = change.as_ref().map(change_summary).unwrap_or(Value::Null);
        reviews.push(view);
    }
    let pending = state.store.pending_reviews().await.map_err(ApiError::store)?;
    let after_the_fact: Vec<Value> =
        pending.iter().filter(|row| row.person != caller.person).map(|row| override_view(row, now)).collect();
    Ok(Json(json!({"person": caller.person, "reviews": reviews, "after_the_fact": after_the_fact})).into_response())
}

async fn pick<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("review-pick")).await?;
    let outcome = state.writer.submit(Op::Pick { caller: caller.person, assignment_id: id }).await?;
    refused_or(outcome, |_| Ok(Json(json!({"picked": id})).into_response()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AwayBody {
    /// Milliseconds since the epoch; absent means until cleared.
    until: Option<i64>,
    #[serde(default)]
    note: String,
}

async fn set_away<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("away")).await?;
    let body: AwayBody =
        if body.is_empty() { AwayBody { until: None, note: String::new() } } else { parse_body(&body)? };
    let person = caller.person.clone();
    state.writer.submit(Op::Away { caller: caller.person, away: true, until: body.until, note: body.note }).await?;
    Ok(Json(json!({"person": person, "away": true, "until": body.until})).into_response())
}

async fn clear_away<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&state, &headers, Some("away")).await?;
    let person = caller.person.clone();
    state.writer.submit(Op::Away { caller: caller.person, away: false, until: None, note: String::new() }).await?;
    Ok(Json(json!({"person": person, "away": false})).into_response())
}

fn change_summary(row: &ChangeRow) -> Value {
    json!({
        "id": row.id,
        "repository": row.repository,
        "environment": row.environment,
        "fingerprint": row.fingerprint,
        "name": row.name,
        "base": row.base,
        "head": row.head,
        "requester": row.requester,
        "state": row.state,
        "verdict": row.verdict,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

async fn change_view<S: Store>(state: &AppState<S>, row: &ChangeRow) -> Result<Value, ApiError> {
    let now = now_millis();
    let assignments = state.store.assignments(row.id).await.map_err(ApiError::store)?;
    let overrides = state.store.overrides_of(row.id).await.map_err(ApiError::store)?;
    let mut view = change_summary(row);
    view["decision"] = serde_json::from_str(&row.decision).unwrap_or(Value::Null);
    view["assignments"] = assignments.iter().map(assignment_view).collect();
    view["overrides"] = overrides.iter().map(|row| override_view(row, now)).collect();
    Ok(view)
}

fn assignment_view(row: &AssignmentRow) -> Value {
    json!({
        "id": row.id,
        "change": row.change_id,
        "rule": row.rule,
        "person": row.person,
        "state": row.state,
        "assigned_at": row.assigned_at,
        "picked_up_at": row.picked_up_at,
        "escalated_from": row.escalated_from,
    })
}

fn override_view(row: &OverrideRow, now: i64) -> Value {
    json!({
        "id": row.id,
        "change": row.change_id,
        "person": row.person,
        "reason": row.reason,
        "created_at": row.created_at,
        "review_due_at": row.due_at,
        "reviewed_by": row.reviewed_by,
        "reviewed_at": row.reviewed_at,
        "review_comment": row.review_comment,
        "overdue": row.reviewed_at.is_none() && row.due_at < now,
        "late": row.reviewed_at.is_some_and(|at| at > row.due_at),
    })
}

fn statement_view(row: &StatementRow) -> Value {
    json!({
        "id": row.id,
        "person": row.person,
        "verdict": row.verdict,
        "comment": row.comment,
        "created_at": row.created_at,
        "attestation": {"statement": row.statement, "signature": row.signature},
    })
}
