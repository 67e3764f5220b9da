//! The reviewers' web interface: server-rendered pages over the same writer and rules as the
//! JSON API, working without JavaScript.
//!
//! A person signs in with their API token and gets a session cookie (HttpOnly, SameSite=Strict,
//! Secure behind TLS, expiring, ended by sign-out or by revoking the token). Every form carries
//! the session's CSRF token and is refused across sites; a refused form is audited like any
//! refused write. The server never relies on a page hiding a button: the writer refuses what the
//! rules refuse, whatever was posted.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use countersign_core::attestation::Verdict;
use countersign_core::evaluate::Decision;
use countersign_core::lifecycle::{Attempt, AuditAction};
use countersign_store::{ChangeRow, SessionRow, Store, token_hash};
use rand_core::RngCore;
use serde::Deserialize;

use crate::writer::{Op, Outcome};
use crate::{AppState, Prepared, now_millis};

mod charts;
mod dashboard;
mod pages;

pub use pages::ChainStatus;
use pages::{Nav, PageError};

/// The session cookie.
const SESSION_COOKIE: &str = "countersign_session";
/// The sign-in form's own CSRF cookie (there is no session yet).
const SIGN_IN_COOKIE: &str = "countersign_sign_in";
/// Largest accepted form.
const MAX_FORM: usize = 16 * 1024;

pub fn routes<S: Store>() -> Router<Arc<AppState<S>>> {
    Router::new()
        .route("/", get(home::<S>))
        .route("/static/app.css", get(stylesheet))
        .route("/sign-in", get(sign_in_page::<S>).post(sign_in::<S>))
        .route("/sign-out", post(sign_out::<S>))
        .route("/queue", get(queue::<S>))
        .route("/changes/{id}", get(change::<S>))
        .route("/changes/{id}/file", get(file::<S>))
        .route("/changes/{id}/review", post(review::<S>))
        .route("/changes/{id}/override", post(override_change::<S>))
        .route("/dashboard", get(dashboard::<S>))
        .route("/audit", get(audit::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::map_response(security_headers))
}

/// No script, no frames, no foreign origins; forms post only here.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=300")],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// Who is looking, from a live session.
#[derive(Clone)]
struct Viewer {
    person: String,
    csrf: String,
    hash: String,
}

impl Viewer {
    fn nav(&self, here: &'static str) -> Nav {
        Nav { person: Some(self.person.clone()), csrf: self.csrf.clone(), here }
    }
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The signed-in person, or a redirect to the sign-in page.
async fn viewer<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<Viewer, PageError> {
    let secret = cookie(headers, SESSION_COOKIE).ok_or(PageError::SignIn)?;
    let hash = token_hash(secret);
    let row = state.store.session(&hash).await.map_err(PageError::store)?;
    let now = now_millis();
    match row {
        Some(row) if row.ended_at.is_none() && row.token_revoked_at.is_none() && row.expires_at > now => {
            Ok(Viewer { person: row.person, csrf: row.csrf, hash })
        }
        _ => Err(PageError::SignIn),
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// Compares secrets in time independent of where they differ.
fn same_secret(one: &str, other: &str) -> bool {
    one.len() == other.len() && one.bytes().zip(other.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Whether the browser says the form came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin.split("://").nth(1).unwrap_or("");
            origin == "null" || origin_host != host.to_str().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether a page request is the reader's own top-level navigation, as far as the browser says.
fn opened_by_the_reader(headers: &HeaderMap) -> bool {
    let dest = headers.get("sec-fetch-dest").and_then(|value| value.to_str().ok());
    !cross_site(headers) && dest.is_none_or(|dest| dest == "document")
}

/// Refuses a form without the session's CSRF token or from another site, and audits the refusal.
async fn check_form<S: Store>(
    state: &AppState<S>,
    viewer: &Viewer,
    headers: &HeaderMap,
    csrf: &str,
    attempt: Attempt,
    subject: &str,
) -> Result<(), PageError> {
    let reason = if cross_site(headers) {
        "cross-site"
    } else if !same_secret(csrf, &viewer.csrf) {
        "csrf"
    } else {
        return Ok(());
    };
    let detail = serde_json::json!({
        "reason": reason,
        "attempted": attempt,
        "subject": subject,
        "message": "a form was posted without this session's CSRF token or from another site",
    });
    let refusal =
        Op::Refuse { actor: viewer.person.clone(), action: attempt.refused(), subject: subject.to_owned(), detail };
    state.writer.submit(refusal).await?;
    metrics::counter!(crate::metrics_names::REFUSED, "reason" => reason).increment(1);
    Err(PageError::Forbidden(
        "This form was refused: it did not carry this page's security token, or it came from another site. \
         Reload the page and try again."
            .to_owned(),
    ))
}

fn render<T: Template>(page: &T) -> Result<Response, PageError> {
    let html = page.render().map_err(|error| PageError::Internal(format!("cannot render the page: {error}")))?;
    Ok(Html(html).into_response())
}

fn set_cookie(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn home<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> Response {
    match viewer(&state, &headers).await {
        Ok(_) => Redirect::to("/queue").into_response(),
        Err(_) => Redirect::to("/sign-in").into_response(),
    }
}

async fn sign_in_page<S: Store>(State(state): State<Arc<AppState<S>>>) -> Result<Response, PageError> {
    sign_in_form(&state, StatusCode::OK, None)
}

fn sign_in_form<S: Store>(
    state: &AppState<S>,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, PageError> {
    let csrf = random_hex(16);
    let page = pages::SignIn { nav: Nav::anonymous(), csrf: csrf.clone(), problem };
    let mut response = render(&page)?;
    *response.status_mut() = status;
    let secure = if state.settings.secure_cookies { "; Secure" } else { "" };
    set_cookie(
        &mut response,
        format!("{SIGN_IN_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/sign-in; Max-Age=900{secure}"),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

async fn sign_in<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    if cross_site(&headers) || expected.is_empty() || !same_secret(expected, &form.csrf) {
        return sign_in_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired or came from another site; try again.".to_owned()),
        );
    }
    let mut bearer = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", form.token.trim()));
    let Ok(value) = value else {
        return sign_in_form(&state, StatusCode::UNAUTHORIZED, Some("That is not a countersign token.".to_owned()));
    };
    bearer.insert(header::AUTHORIZATION, value);
    let caller = match crate::auth::authenticate(&state, &bearer, Some(Attempt::SignIn)).await {
        Ok(caller) => caller,
        Err(error) => return sign_in_form(&state, StatusCode::UNAUTHORIZED, Some(error.message().to_owned())),
    };
    let secret = random_hex(32);
    let now = now_millis();
    let ttl = i64::try_from(state.settings.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let session = SessionRow {
        hash: token_hash(&secret),
        person: caller.person,
        token_id: caller.token_id,
        csrf: random_hex(16),
        created_at: now,
        expires_at: now.saturating_add(ttl),
        ended_at: None,
        token_revoked_at: None,
    };
    state.writer.submit(Op::SignIn { session }).await?;
    let mut response = Redirect::to("/queue").into_response();
    let secure = if state.settings.secure_cookies { "; Secure" } else { "" };
    let max_age = state.settings.session_ttl.as_secs();
    set_cookie(
        &mut response,
        format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"),
    );
    set_cookie(&mut response, format!("{SIGN_IN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/sign-in; Max-Age=0"));
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    check_form(&state, &viewer, &headers, &form.csrf, Attempt::SignIn, &format!("person/{}", viewer.person)).await?;
    state.writer.submit(Op::SignOut { person: viewer.person.clone(), hash: viewer.hash.clone() }).await?;
    let mut response = Redirect::to("/sign-in").into_response();
    set_cookie(&mut response, format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
    Ok(response)
}

async fn queue<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    let now = now_millis();
    let mut items = Vec::new();
    for assignment in state.store.queue(&viewer.person).await.map_err(PageError::store)? {
        let Some(row) = state.store.change(assignment.change_id).await.map_err(PageError::store)? else { continue };
        let decision = stored_decision(&row)?;
        let item = pages::QueueItem::of(&assignment, &row, &decision, &viewer.person, now);
        // One entry per change, naming every rule it waits on the viewer for.
        match items.iter_mut().find(|other: &&mut pages::QueueItem| other.change_id == item.change_id) {
            Some(other) => other.merge(item),
            None => items.push(item),
        }
    }
    items.sort_by_key(|item| item.urgency);
    let pending = state.store.pending_reviews().await.map_err(PageError::store)?;
    let after_the_fact =
        pending.iter().filter(|row| row.person != viewer.person).map(|row| pages::AfterTheFact::of(row, now)).collect();
    render(&pages::Queue { nav: viewer.nav("queue"), items, after_the_fact })
}

fn stored_decision(row: &ChangeRow) -> Result<Decision, PageError> {
    serde_json::from_str(&row.decision).map_err(|error| {
        PageError::Internal(format!("the stored decision of change {} is unreadable: {error}", row.id))
    })
}

async fn change_row<S: Store>(state: &AppState<S>, id: i64) -> Result<ChangeRow, PageError> {
    state
        .store
        .change(id)
        .await
        .map_err(PageError::store)?
        .ok_or_else(|| PageError::NotFound(format!("no change {id}")))
}

/// The analysis of a stored change, or why it cannot be shown.
async fn evidence<S: Store>(state: &AppState<S>, row: &ChangeRow) -> Result<Arc<Prepared>, String> {
    crate::api::prepared_for(state, crate::logic::request_of(row), false)
        .await
        .map_err(|error| format!("the change cannot be read from the server's clone: {}", error.message()))
}

/// The diff of an analysed change, file by file, cached per repository, base and head.
async fn diff_of<S: Store>(state: &AppState<S>, prepared: &Prepared) -> Result<crate::Diff, String> {
    let key = (prepared.request.repository.clone(), prepared.request.base.clone(), prepared.request.head.clone());
    let cached = state.diffs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
    if let Some(diff) = cached {
        return Ok(diff);
    }
    let analyser = Arc::clone(&state.analyser);
    let request = prepared.request.clone();
    let paths = prepared.analysis.paths().to_vec();
    let diff = tokio::task::spawn_blocking(move || analyser.diff(&request, &paths))
        .await
        .map_err(|error| format!("reading the diff stopped: {error}"))?
        .map_err(|failure| format!("the diff cannot be read: {failure:?}"))?;
    let diff = Arc::new(diff);
    let mut diffs = state.diffs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if diffs.len() >= 256 {
        diffs.clear();
    }
    diffs.insert(key, Arc::clone(&diff));
    Ok(diff)
}

async fn change<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    let row = change_row(&state, id).await?;
    let decision = stored_decision(&row)?;
    let opened = state.store.file_views(&viewer.person, id).await.map_err(PageError::store)?;
    let assignments = state.store.assignments(id).await.map_err(PageError::store)?;
    let overrides = state.store.overrides_of(id).await.map_err(PageError::store)?;
    let evidence = evidence(&state, &row).await;
    let earlier = match &evidence {
        Ok(prepared) => approved_earlier(&state, &row, prepared).await?,
        Err(_) => None,
    };
    let mut page = pages::ChangePage::of(
        viewer.nav("change"),
        &row,
        &decision,
        &opened,
        evidence.as_ref().map(AsRef::as_ref).map_err(String::as_str),
        (&assignments, &overrides, now_millis()),
    );
    page.earlier.extend(earlier);
    render(&page)
}

/// The latest earlier version of the change (registered under the same name) that someone
/// approved, and what changed since: a re-review takes a minute.
async fn approved_earlier<S: Store>(
    state: &AppState<S>,
    row: &ChangeRow,
    prepared: &Arc<Prepared>,
) -> Result<Option<pages::EarlierView>, PageError> {
    let Some(name) = &row.name else { return Ok(None) };
    let named =
        state.store.named_changes(&row.repository, &row.environment, name, 20).await.map_err(PageError::store)?;
    for earlier in named.iter().filter(|other| other.id < row.id && other.fingerprint != row.fingerprint) {
        let statements = state
            .store
            .statements_for(Some(&row.repository), &earlier.fingerprint, &row.environment)
            .await
            .map_err(PageError::store)?;
        let approvers: std::collections::BTreeSet<&str> = statements
            .iter()
            .filter(|statement| statement.verdict == Verdict::Approve)
            .map(|statement| statement.person.as_str())
            .collect();
        if approvers.is_empty() {
            continue;
        }
        let analyser = Arc::clone(&state.analyser);
        let request = prepared.request.clone();
        let then = earlier.head.clone();
        let paths = prepared.analysis.paths().to_vec();
        let files = tokio::task::spawn_blocking(move || analyser.changed_since(&request, &then, &paths))
            .await
            .map_err(|error| PageError::Internal(format!("reading what changed stopped: {error}")))?
            .map_err(|failure| PageError::Unavailable(format!("what changed cannot be read: {failure:?}")))?;
        return Ok(Some(pages::EarlierView {
            person: approvers.into_iter().collect::<Vec<_>>().join(", "),
            head: earlier.head.chars().take(10).collect(),
            files,
        }));
    }
    Ok(None)
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

async fn file<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(query): Query<FileQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    let row = change_row(&state, id).await?;
    let decision = stored_decision(&row)?;
    let prepared = evidence(&state, &row).await.map_err(PageError::Unavailable)?;
    let diff = diff_of(&state, &prepared).await.map_err(PageError::Unavailable)?;
    let paths = prepared.analysis.paths();
    let Some(position) = paths.iter().position(|path| *path == query.path) else {
        return Err(PageError::NotFound(format!("change {id} does not change {}", query.path)));
    };
    // Serving the diff to the reader's own navigation is what "opened" means: recorded before
    // the page goes out. A request another site caused (an image, a frame, a script's fetch on a
    // sibling subdomain) shows the page but records nothing.
    if opened_by_the_reader(&headers) {
        let open = Op::OpenFile { person: viewer.person.clone(), change_id: id, path: query.path.clone() };
        state.writer.submit(open).await?;
    }
    let patch = diff.iter().find(|file| file.path == query.path);
    let page = pages::FilePage::of(viewer.nav("change"), &row, &decision, paths, position, patch);
    render(&page)
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    comment: String,
}

async fn review<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    let attempt = if form.verdict == "reject" { Attempt::Rejection } else { Attempt::Approval };
    check_form(&state, &viewer, &headers, &form.csrf, attempt, &format!("change/{id}")).await?;
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        other => return Err(PageError::BadRequest(format!("`{other}` is not a verdict: approve or reject"))),
    };
    let row = change_row(&state, id).await?;
    let decision = stored_decision(&row)?;
    let opened = state.store.file_views(&viewer.person, id).await.map_err(PageError::store)?;
    let plans: Vec<String> = decision.change.plans.iter().map(|plan| plan.digest.clone()).collect();
    let hint = crate::api::cached(&state, Some(&row));
    let outcome = crate::api::submit_prepared(&state, hint, |prepared| Op::Review {
        caller: viewer.person.clone(),
        repository: row.repository.clone(),
        environment: row.environment.clone(),
        fingerprint: row.fingerprint.clone(),
        verdict,
        comment: form.comment.clone(),
        plans: plans.clone(),
        opened: opened.clone(),
        change_id: Some(row.id),
        prepared,
        presigned: None,
    })
    .await?;
    after_write(outcome, id)
}

/// Back to the change page, or the refusal.
fn after_write(outcome: Outcome, id: i64) -> Result<Response, PageError> {
    match outcome {
        Outcome::Refused(refusal) => Err(PageError::Forbidden(refusal.message)),
        Outcome::NotFound(message) => Err(PageError::NotFound(message)),
        _ => Ok(Redirect::to(&format!("/changes/{id}")).into_response()),
    }
}

#[derive(Deserialize)]
struct OverrideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn override_change<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<OverrideForm>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    check_form(&state, &viewer, &headers, &form.csrf, Attempt::Override, &format!("change/{id}")).await?;
    let reason = form.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(PageError::BadRequest("Breaking the glass needs a reason; go back and give one.".to_owned()));
    }
    let row = change_row(&state, id).await?;
    let hint = crate::api::cached(&state, Some(&row));
    let outcome = crate::api::submit_prepared(&state, hint, |prepared| Op::Override {
        caller: viewer.person.clone(),
        repository: row.repository.clone(),
        environment: row.environment.clone(),
        fingerprint: row.fingerprint.clone(),
        reason: reason.clone(),
        prepared,
    })
    .await?;
    after_write(outcome, id)
}

async fn dashboard<S: Store>(State(state): State<Arc<AppState<S>>>, headers: HeaderMap) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    let page = dashboard::build(&state, viewer.nav("dashboard")).await?;
    render(&page)
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    before: Option<i64>,
}

async fn audit<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let viewer = viewer(&state, &headers).await?;
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|value| !value.is_empty())
    }
    let change = given(&query.change);
    let subject = match change {
        Some(change) if change.parse::<i64>().is_ok() => Some(format!("change/{change}")),
        Some(other) => Some(other.to_owned()),
        None => None,
    };
    let filter = countersign_store::AuditFilter {
        subject,
        actor: given(&query.person).map(str::to_owned),
        action: given(&query.action).map(str::to_owned),
        before_seq: query.before,
        limit: 100,
    };
    let entries = state.store.audit_search(&filter).await.map_err(PageError::store)?;
    let chain = pages::ChainStatus::check(&state).await?;
    let actions = AuditAction::ALL.iter().map(|action| action.as_str()).collect();
    let page = pages::AuditPage {
        nav: viewer.nav("audit"),
        change: change.unwrap_or("").to_owned(),
        person: given(&query.person).unwrap_or("").to_owned(),
        action: given(&query.action).unwrap_or("").to_owned(),
        actions,
        next_before: (entries.len() as i64 == filter.limit).then(|| entries.last().map(|entry| entry.seq)).flatten(),
        entries: entries.iter().map(pages::AuditRow::of).collect(),
        chain,
    };
    render(&page)
}
