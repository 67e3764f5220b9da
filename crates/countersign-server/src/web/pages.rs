//! The pages: askama templates and the views they show, built from stored rows and decisions.

use std::collections::BTreeSet;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use countersign_core::audit::{ChainVerifier, Checkpoint, Entry};
use countersign_core::evaluate::{ApprovalRef, Decision, GateVerdict, Interdiff, Role};
use countersign_core::lifecycle::ChangeState;
use countersign_store::{AssignmentRow, ChangeRow, OverrideRow, Store, StoreError};

use crate::api::ApiError;
use crate::{AppState, Prepared};

/// What every page's header needs.
pub struct Nav {
    pub person: Option<String>,
    pub csrf: String,
    /// Which section is current, for `aria-current`.
    pub here: &'static str,
}

impl Nav {
    pub fn anonymous() -> Nav {
        Nav { person: None, csrf: String::new(), here: "" }
    }
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// No live session: go and sign in.
    SignIn,
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    Unavailable(String),
    Internal(String),
}

impl PageError {
    pub fn store(error: StoreError) -> PageError {
        PageError::Unavailable(format!("nothing was recorded: {error}"))
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> PageError {
        PageError::Unavailable(error.message().to_owned())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    title: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn => return Redirect::to("/sign-in").into_response(),
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Not accepted", message),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Refused", message),
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            PageError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable", message),
            PageError::Internal(message) => (StatusCode::INTERNAL_SERVER_ERROR, "Server error", message),
        };
        let page = ErrorPage { nav: Nav::anonymous(), title, message };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => (status, error.to_string()).into_response(),
        }
    }
}

/// `2026-11-30 18:22 UTC`.
pub fn when(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|at| at.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| millis.to_string())
}

/// `3 d 4 h`, `2 h 10 min`, `5 min`.
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3_600, seconds % 3_600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

fn short(id: &str) -> String {
    id.chars().take(10).collect()
}

fn verdict_class(verdict: GateVerdict) -> &'static str {
    match verdict {
        GateVerdict::Allowed => "allowed",
        GateVerdict::Blocked => "blocked",
        GateVerdict::Overridden => "overridden",
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn {
    pub nav: Nav,
    pub csrf: String,
    pub problem: Option<String>,
}

pub struct Service {
    pub name: String,
    pub tier: u32,
}

/// One review waiting in a person's queue.
pub struct QueueItem {
    pub change_id: i64,
    pub repository: String,
    pub environment: String,
    pub rules: Vec<String>,
    pub services: Vec<Service>,
    pub ai_assisted: bool,
    pub ai_share: Option<String>,
    pub author: String,
    pub risk: String,
    pub verdict: String,
    pub waiting: String,
    pub escalated: bool,
    pub others: Vec<String>,
    /// Most urgent first: the most critical tier, then the highest risk, then the longest wait.
    pub urgency: (u32, std::cmp::Reverse<usize>, i64),
}

impl QueueItem {
    pub fn of(assignment: &AssignmentRow, row: &ChangeRow, decision: &Decision, me: &str, now: i64) -> QueueItem {
        let risk_rank =
            countersign_core::risk::RiskLevel::ALL.iter().position(|level| *level == decision.risk.level).unwrap_or(0);
        let tier = decision.change.services.iter().map(|service| service.tier).min().unwrap_or(u32::MAX);
        let others: BTreeSet<String> = decision
            .rules
            .iter()
            .filter(|rule| rule.name == assignment.rule)
            .flat_map(|rule| rule.eligible.iter().cloned())
            .filter(|person| person != me)
            .collect();
        QueueItem {
            change_id: row.id,
            repository: row.repository.clone(),
            environment: row.environment.clone(),
            rules: vec![assignment.rule.clone()],
            services: decision
                .change
                .services
                .iter()
                .map(|service| Service { name: service.name.clone(), tier: service.tier })
                .collect(),
            ai_assisted: decision.ai_assisted,
            ai_share: decision
                .attribution
                .as_ref()
                .filter(|attribution| attribution.added_lines > 0)
                .map(|attribution| format!("{}%", attribution.ai_percent)),
            author: authors(decision),
            risk: decision.risk.level.to_string(),
            verdict: decision.verdict.as_str().to_owned(),
            waiting: duration((now - assignment.assigned_at) / 1000),
            escalated: assignment.escalated_from.is_some(),
            others: others.into_iter().collect(),
            urgency: (tier, std::cmp::Reverse(risk_rank), assignment.assigned_at),
        }
    }
}

impl QueueItem {
    /// Folds another assignment of the same change into this entry: the oldest wait counts.
    pub fn merge(&mut self, other: QueueItem) {
        self.rules.extend(other.rules);
        for person in other.others {
            if !self.others.contains(&person) {
                self.others.push(person);
            }
        }
        if other.urgency.2 < self.urgency.2 {
            self.urgency = other.urgency;
            self.waiting = other.waiting;
        }
        self.escalated |= other.escalated;
    }
}

/// `dave (mid)`, the authors and their levels.
fn authors(decision: &Decision) -> String {
    let authors: Vec<String> = decision
        .responsible
        .iter()
        .filter(|person| person.roles.contains(&Role::Author))
        .map(|person| format!("{} ({})", person.id, person.level))
        .collect();
    if authors.is_empty() { "unknown".to_owned() } else { authors.join(", ") }
}

pub struct AfterTheFact {
    pub change_id: i64,
    pub person: String,
    pub reason: String,
    pub due: String,
    pub overdue: bool,
}

impl AfterTheFact {
    pub fn of(row: &OverrideRow, now: i64) -> AfterTheFact {
        AfterTheFact {
            change_id: row.change_id,
            person: row.person.clone(),
            reason: row.reason.clone(),
            due: when(row.due_at),
            overdue: row.due_at < now,
        }
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct Queue {
    pub nav: Nav,
    pub items: Vec<QueueItem>,
    pub after_the_fact: Vec<AfterTheFact>,
}

pub struct RuleView {
    pub name: String,
    pub description: String,
    pub state: &'static str,
    pub class: &'static str,
    pub why: Vec<String>,
    pub missing: u32,
    pub eligible: String,
}

pub struct SignalView {
    pub kind: &'static str,
    pub strength: &'static str,
    pub tool: String,
    pub text: String,
}

pub struct CommitView {
    pub id: String,
    pub ai_assisted: bool,
    pub signals: Vec<SignalView>,
}

pub struct FileRow {
    pub path: String,
    pub url: String,
    pub opened: bool,
    pub ai_lines: u64,
    pub added_lines: u64,
}

pub struct OperationView {
    pub file: String,
    pub line: String,
    pub target: String,
    pub action: String,
    pub reason: String,
}

pub struct StatementView {
    pub person: String,
    pub when: String,
    pub comment: String,
    pub opened: String,
}

impl StatementView {
    fn of(statement: &ApprovalRef, files: usize) -> StatementView {
        StatementView {
            person: statement.person.clone(),
            when: when(statement.time * 1000),
            comment: statement.comment.clone(),
            opened: if statement.opened.is_empty() {
                "opened no file here".to_owned()
            } else {
                format!("opened {} of {files} files", statement.opened.len())
            },
        }
    }
}

pub struct EarlierView {
    pub person: String,
    pub head: String,
    pub files: Vec<Interdiff>,
}

pub struct AssignmentView {
    pub person: String,
    pub rule: String,
    pub state: String,
    pub since: String,
}

/// A change's page.
#[derive(Template)]
#[template(path = "change.html")]
pub struct ChangePage {
    pub nav: Nav,
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub base: String,
    pub head: String,
    pub requester: String,
    pub state: String,
    pub open: bool,
    pub verdict: String,
    pub verdict_class: &'static str,
    pub ai_assisted: bool,
    pub change_signals: Vec<SignalView>,
    pub rules: Vec<RuleView>,
    pub commits: Vec<CommitView>,
    pub ai_summary: Option<String>,
    pub files: Vec<FileRow>,
    pub opened_count: usize,
    pub first_unopened: Option<String>,
    pub evidence_problem: Option<String>,
    pub risk: String,
    pub risk_reasons: Vec<String>,
    pub rollout: Vec<String>,
    pub destructive: Vec<OperationView>,
    pub hazards: Vec<OperationView>,
    pub approvals: Vec<StatementView>,
    pub rejections: Vec<StatementView>,
    pub earlier: Vec<EarlierView>,
    pub overrides: Vec<StatementView>,
    pub assignments: Vec<AssignmentView>,
    pub suggested: Vec<String>,
    /// Why the viewer may not approve or reject, if they may not.
    pub review_refused: Option<String>,
    pub may_break_glass: bool,
    pub informed_required: bool,
    pub csrf: String,
}

fn operations(operations: &[countersign_core::model::Operation]) -> Vec<OperationView> {
    operations
        .iter()
        .map(|operation| OperationView {
            file: operation.file.clone(),
            line: operation.line.map(|line| line.to_string()).unwrap_or_default(),
            target: operation.target.clone(),
            action: operation.action.clone(),
            reason: operation.reason.clone().unwrap_or_default(),
        })
        .collect()
}

fn signals(signals: &[countersign_core::detect::Signal]) -> Vec<SignalView> {
    signals
        .iter()
        .map(|signal| SignalView {
            kind: signal.kind.as_str(),
            strength: signal.strength.as_str(),
            tool: signal.tool.clone().unwrap_or_default(),
            text: signal.text.clone(),
        })
        .collect()
}

pub fn file_url(id: i64, path: &str) -> String {
    let mut url = format!("/changes/{id}/file?path=");
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

impl ChangePage {
    pub fn of(
        nav: Nav,
        row: &ChangeRow,
        decision: &Decision,
        opened: &[String],
        evidence: Result<&Prepared, &str>,
        (assignments, overrides, now): (&[AssignmentRow], &[OverrideRow], i64),
    ) -> ChangePage {
        let me = nav.person.clone().unwrap_or_default();
        let csrf = nav.csrf.clone();
        let opened: BTreeSet<&str> = opened.iter().map(String::as_str).collect();
        let ai_by_file = |path: &str| {
            decision
                .attribution
                .as_ref()
                .and_then(|attribution| attribution.files.iter().find(|file| file.path == path))
                .map_or((0, 0), |file| (file.ai_lines, file.added_lines))
        };
        let (files, review_refused, may_break_glass, evidence_problem) = match evidence {
            Ok(prepared) => {
                let files: Vec<FileRow> = prepared
                    .analysis
                    .paths()
                    .iter()
                    .map(|path| {
                        let (ai_lines, added_lines) = ai_by_file(path);
                        FileRow {
                            path: path.clone(),
                            url: file_url(row.id, path),
                            opened: opened.contains(path.as_str()),
                            ai_lines,
                            added_lines,
                        }
                    })
                    .collect();
                let refused =
                    countersign_core::evaluate::review_refused(&prepared.config, &prepared.analysis.responsible, &me)
                        .map(|refusal| refusal.to_string());
                let glass = countersign_core::evaluate::override_refused(
                    &prepared.config,
                    prepared.config.directory.person_index(&me).unwrap_or(usize::MAX),
                    "a reason",
                )
                .is_none()
                    && prepared.config.directory.person_index(&me).is_some();
                (files, refused, glass, None)
            }
            Err(problem) => (
                Vec::new(),
                Some("the change cannot be read now, so it cannot be reviewed here".to_owned()),
                false,
                Some(problem.to_owned()),
            ),
        };
        let informed_required =
            evidence.is_ok_and(|prepared| prepared.config.policy.rules.iter().any(|rule| rule.requires.informed));
        let rules = decision
            .rules
            .iter()
            .map(|rule| RuleView {
                name: rule.name.clone(),
                description: rule.description.clone().unwrap_or_default(),
                state: match (rule.applies, rule.satisfied) {
                    (false, _) => "does not apply",
                    (true, true) => "met",
                    (true, false) => "unmet",
                },
                class: match (rule.applies, rule.satisfied) {
                    (false, _) => "inapplicable",
                    (true, true) => "met",
                    (true, false) => "unmet",
                },
                why: rule.why.clone(),
                missing: rule.missing,
                eligible: rule.eligible.join(", "),
            })
            .collect();
        let commits = decision
            .commits
            .iter()
            .map(|commit| CommitView {
                id: short(&commit.id),
                ai_assisted: commit.ai_assisted,
                signals: signals(&commit.signals),
            })
            .collect();
        let total = files.len();
        let opened_count = files.iter().filter(|file| file.opened).count();
        let first_unopened = files.iter().find(|file| !file.opened).map(|file| file.url.clone());
        let statements = |list: &[ApprovalRef]| list.iter().map(|s| StatementView::of(s, total)).collect();
        let rollout = &decision.rollout;
        let mut advice = vec![format!("strategy: {}", rollout.strategy)];
        if rollout.one_box_first {
            advice.push("deploy to one host first and let it bake".to_owned());
        }
        advice.extend(rollout.stages.iter().map(|stage| match stage.bake_minutes {
            0 => format!("then {}% of traffic", stage.percent),
            minutes => format!("{}% of traffic, watched for {minutes} min", stage.percent),
        }));
        if rollout.business_hours_only {
            advice.push("deploy during business hours only".to_owned());
        }
        if rollout.automatic_rollback {
            advice.push("roll back automatically on failing health checks".to_owned());
        }
        ChangePage {
            nav,
            id: row.id,
            repository: row.repository.clone(),
            environment: row.environment.clone(),
            base: short(&row.base),
            head: short(&row.head),
            requester: row.requester.clone().unwrap_or_else(|| "—".to_owned()),
            state: row.state.as_str().to_owned(),
            open: row.state == ChangeState::Open,
            verdict: decision.verdict.as_str().to_owned(),
            verdict_class: verdict_class(decision.verdict),
            ai_assisted: decision.ai_assisted,
            change_signals: signals(&decision.change_signals),
            rules,
            commits,
            ai_summary: decision.attribution.as_ref().map(|attribution| {
                format!(
                    "AI-written: {} of {} added lines ({}%)",
                    attribution.ai_lines, attribution.added_lines, attribution.ai_percent
                )
            }),
            files,
            opened_count,
            first_unopened,
            evidence_problem,
            risk: decision.risk.level.to_string(),
            risk_reasons: decision.risk.reasons.clone(),
            rollout: advice,
            destructive: operations(&decision.destructive),
            hazards: operations(&decision.hazards),
            approvals: statements(&decision.approvals),
            rejections: statements(&decision.rejections),
            earlier: decision
                .earlier_approvals
                .iter()
                .filter_map(|statement| {
                    let earlier = statement.earlier_version.as_ref()?;
                    Some(EarlierView {
                        person: statement.person.clone(),
                        head: short(&earlier.head),
                        files: earlier.changed_since.clone(),
                    })
                })
                .collect(),
            overrides: overrides
                .iter()
                .map(|row| StatementView {
                    person: row.person.clone(),
                    when: when(row.created_at),
                    comment: row.reason.clone(),
                    opened: match (&row.reviewed_by, row.due_at < now) {
                        (Some(by), _) => format!("reviewed after the fact by {by}"),
                        (None, true) => format!("after-the-fact review OVERDUE since {}", when(row.due_at)),
                        (None, false) => format!("after-the-fact review due by {}", when(row.due_at)),
                    },
                })
                .collect(),
            assignments: assignments
                .iter()
                .map(|assignment| AssignmentView {
                    person: assignment.person.clone(),
                    rule: assignment.rule.clone(),
                    state: assignment.state.as_str().to_owned(),
                    since: when(assignment.assigned_at),
                })
                .collect(),
            suggested: decision.suggested_reviewers.clone(),
            review_refused,
            may_break_glass: may_break_glass && decision.verdict == GateVerdict::Blocked,
            informed_required,
            csrf,
        }
    }
}

/// One line of a file's diff as shown.
pub struct DiffLine {
    /// `hunk`, `context`, `added`, `removed` or `note`.
    pub kind: &'static str,
    pub old: String,
    pub new: String,
    pub text: String,
    /// For an AI-written added line: the tools and the commit.
    pub ai: Option<String>,
    /// A destructive operation or hazard found at this line.
    pub operation: Option<String>,
}

#[derive(Template)]
#[template(path = "file.html")]
pub struct FilePage {
    pub nav: Nav,
    pub id: i64,
    pub path: String,
    pub position: usize,
    pub total: usize,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub lines: Vec<DiffLine>,
    pub ai_lines: usize,
    pub added_lines: usize,
    pub truncated: bool,
    pub no_text: bool,
}

impl FilePage {
    pub fn of(
        nav: Nav,
        row: &ChangeRow,
        decision: &Decision,
        paths: &[String],
        position: usize,
        patch: Option<&Interdiff>,
    ) -> FilePage {
        let path = &paths[position];
        let ranges = decision
            .attribution
            .as_ref()
            .and_then(|attribution| attribution.files.iter().find(|file| file.path == *path))
            .map(|file| file.ai_ranges.clone())
            .unwrap_or_default();
        let operations: Vec<&countersign_core::model::Operation> =
            decision.destructive.iter().chain(&decision.hazards).filter(|operation| operation.file == *path).collect();
        let mut lines = Vec::new();
        let (mut old, mut new) = (0u32, 0u32);
        let text = patch.map_or("", |patch| patch.patch.as_str());
        for line in text.lines() {
            if let Some(header) = line.strip_prefix("@@ ") {
                let numbers: Vec<u32> = header
                    .split_whitespace()
                    .take(2)
                    .filter_map(|part| part[1..].split(',').next()?.parse().ok())
                    .collect();
                if let [from, to] = numbers[..] {
                    (old, new) = (from, to);
                }
                lines.push(DiffLine {
                    kind: "hunk",
                    old: String::new(),
                    new: String::new(),
                    text: line.to_owned(),
                    ai: None,
                    operation: None,
                });
                continue;
            }
            let (kind, rest) = match line.as_bytes().first() {
                Some(b'+') => ("added", &line[1..]),
                Some(b'-') => ("removed", &line[1..]),
                Some(b' ') => ("context", &line[1..]),
                _ => ("note", line),
            };
            let (old_number, new_number) = match kind {
                "added" => (None, Some(new)),
                "removed" => (Some(old), None),
                "context" => (Some(old), Some(new)),
                _ => (None, None),
            };
            let ai = new_number.filter(|_| kind == "added").and_then(|number| {
                ranges.iter().find(|range| range.start <= number && number <= range.end).map(|range| {
                    let tools = if range.tools.is_empty() { "AI".to_owned() } else { range.tools.join(", ") };
                    format!("{tools} in {}", short(&range.commit))
                })
            });
            let operation = new_number.and_then(|number| {
                operations
                    .iter()
                    .find(|operation| operation.line == Some(number))
                    .map(|operation| format!("{} {}", operation.action, operation.target))
            });
            lines.push(DiffLine {
                kind,
                old: old_number.map(|n| n.to_string()).unwrap_or_default(),
                new: new_number.map(|n| n.to_string()).unwrap_or_default(),
                text: rest.to_owned(),
                ai,
                operation,
            });
            match kind {
                "added" => new += 1,
                "removed" => old += 1,
                "context" => {
                    old += 1;
                    new += 1;
                }
                _ => {}
            }
        }
        FilePage {
            nav,
            id: row.id,
            path: path.clone(),
            position: position + 1,
            total: paths.len(),
            previous: position.checked_sub(1).map(|before| file_url(row.id, &paths[before])),
            next: paths.get(position + 1).map(|after| file_url(row.id, after)),
            ai_lines: lines.iter().filter(|line| line.ai.is_some()).count(),
            added_lines: lines.iter().filter(|line| line.kind == "added").count(),
            lines,
            truncated: patch.is_some_and(|patch| patch.truncated),
            no_text: patch.is_none_or(|patch| patch.patch.is_empty()),
        }
    }
}

pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub subject_change: Option<String>,
    pub detail: String,
}

impl AuditRow {
    pub fn of(entry: &Entry) -> AuditRow {
        AuditRow {
            seq: entry.seq,
            at: when(entry.at),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            subject: entry.subject.clone(),
            subject_change: entry.subject.strip_prefix("change/").map(str::to_owned),
            detail: entry.detail.clone(),
        }
    }
}

/// The audit chain, verified whole, and the latest signed checkpoint against it.
#[derive(Clone)]
pub struct ChainStatus {
    pub verified: bool,
    pub length: u64,
    pub head: String,
    pub problem: Option<String>,
    pub checkpoint: Option<String>,
    pub checkpoint_ok: bool,
}

/// How long a verification of the whole chain is shown again while the log did not grow: reading
/// the whole log at every view would let any signed-in person load the database at will.
const CHAIN_REUSE: std::time::Duration = std::time::Duration::from_secs(30);

impl ChainStatus {
    pub async fn check<S: Store>(state: &AppState<S>) -> Result<ChainStatus, PageError> {
        let head = state.store.audit_head().await.map_err(PageError::store)?.map_or(0, |entry| entry.seq);
        {
            let cache = state.chain_status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, seq, status)) = cache.as_ref()
                && *seq == head
                && at.elapsed() < CHAIN_REUSE
            {
                return Ok(status.clone());
            }
        }
        let status = ChainStatus::verify(state).await?;
        *state.chain_status.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), head, status.clone()));
        Ok(status)
    }

    async fn verify<S: Store>(state: &AppState<S>) -> Result<ChainStatus, PageError> {
        let latest = latest_checkpoint(state);
        let mut verifier = ChainVerifier::default();
        let mut after = 0;
        let mut checkpoint_hash = None;
        loop {
            let page = state.store.audit_page(after, 5_000).await.map_err(PageError::store)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                if latest.as_ref().is_some_and(|checkpoint| checkpoint.seq == entry.seq) {
                    checkpoint_hash = Some(entry.hash.clone());
                }
                if let Err(broken) = verifier.push(entry) {
                    return Ok(ChainStatus {
                        verified: false,
                        length: u64::try_from(broken.seq).unwrap_or(0),
                        head: String::new(),
                        problem: Some(broken.to_string()),
                        checkpoint: None,
                        checkpoint_ok: false,
                    });
                }
            }
        }
        let (length, head) = verifier.finish();
        let public = state.key.public_key();
        let (checkpoint, checkpoint_ok) = match latest {
            None => (None, true),
            Some(checkpoint) => {
                let signed = checkpoint.verifies(public);
                let matches = checkpoint_hash.as_deref() == Some(checkpoint.hash.as_str());
                let text = format!(
                    "entry {} at {}: {}",
                    checkpoint.seq,
                    when(checkpoint.at),
                    match (signed, matches) {
                        (true, true) => "signature valid, matches the log",
                        (false, _) => "SIGNATURE INVALID",
                        (true, false) => "DOES NOT MATCH THE LOG (rewritten or cut off)",
                    }
                );
                (Some(text), signed && matches)
            }
        };
        Ok(ChainStatus { verified: true, length, head: short(&head), problem: None, checkpoint, checkpoint_ok })
    }
}

/// The last line of the server's checkpoint file, when there is one.
fn latest_checkpoint<S: Store>(state: &AppState<S>) -> Option<Checkpoint> {
    let path = state.settings.checkpoints.as_ref()?;
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().rev().find(|line| !line.trim().is_empty()).and_then(|line| serde_json::from_str(line).ok())
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub nav: Nav,
    pub change: String,
    pub person: String,
    pub action: String,
    pub actions: Vec<&'static str>,
    pub entries: Vec<AuditRow>,
    pub next_before: Option<i64>,
    pub chain: ChainStatus,
}
