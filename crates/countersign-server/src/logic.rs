//! What each write does inside the writer's transaction. Every refusal and every decision lands
//! in the audit log in the same transaction as the write it belongs to.

use std::collections::BTreeSet;
use std::sync::Arc;

use countersign_core::attestation::{Envelope, Signer, Statement, Verdict};
use countersign_core::directory::Member;
use countersign_core::evaluate::{
    self, Analysis, CheckOutcome, CheckedAttestations, Decision, GateVerdict, MergedKind, Verified as VerifiedStatement,
};
use countersign_core::lifecycle::{AssignmentState, Attempt, AuditAction, ChangeState};
use countersign_core::routing::{self, Candidate};
use countersign_store::{AssignmentRow, ChangeRow, NewChange, NewStatement, StatementRow, StoreError, WriteTx};
use serde_json::json;
use ssh_key::PrivateKey;

use crate::contract::{PlanUpload, RegisterPurpose};
use crate::metrics_names as names;
use crate::writer::{Op, Outcome, Presigned, Refusal};
use crate::{ChangeRequest, Prepared, Settings};

pub struct Context<'a> {
    pub key: &'a PrivateKey,
    /// Statements whose signature this process verified or made.
    pub verified: &'a mut Verified,
    pub settings: &'a Settings,
    /// Milliseconds since the epoch, one instant for the whole transaction.
    pub now: i64,
    pub events: Vec<Event>,
}

/// Metrics to emit once the transaction committed.
pub enum Event {
    Decision(&'static str),
    Statement(&'static str),
    Override,
    Refused(&'static str),
    FirstReview(f64),
    Approved(f64),
    Escalated,
}

pub fn emit(events: Vec<Event>) {
    for event in events {
        match event {
            Event::Decision(verdict) => metrics::counter!(names::DECISIONS, "verdict" => verdict).increment(1),
            Event::Statement(verdict) => metrics::counter!(names::STATEMENTS, "verdict" => verdict).increment(1),
            Event::Override => metrics::counter!(names::OVERRIDES).increment(1),
            Event::Refused(reason) => metrics::counter!(names::REFUSED, "reason" => reason).increment(1),
            Event::FirstReview(seconds) => metrics::histogram!(names::TIME_TO_FIRST_REVIEW).record(seconds),
            Event::Approved(seconds) => metrics::histogram!(names::TIME_TO_APPROVAL).record(seconds),
            Event::Escalated => metrics::counter!(names::ESCALATIONS).increment(1),
        }
    }
}

pub async fn apply<T: WriteTx>(tx: &mut T, cx: &mut Context<'_>, op: &Op) -> Result<Outcome, StoreError> {
    match op {
        Op::Register { caller, name, prepared } => register(tx, cx, caller, name.as_deref(), prepared).await,
        Op::Review {
            caller,
            repository,
            environment,
            fingerprint,
            verdict,
            comment,
            plans,
            opened,
            change_id,
            prepared,
            presigned,
        } => {
            // The registration the reviewer looked at, when the request names it; else the one
            // the content was registered as.
            let found = match change_id {
                Some(id) => tx.change(*id).await?.filter(|row| {
                    row.repository == *repository && row.environment == *environment && row.fingerprint == *fingerprint
                }),
                None => tx.find_change(repository, environment, fingerprint).await?,
            };
            let Some(mut row) = found else {
                return unknown_change(tx, cx, caller, review_attempt(*verdict), repository, environment, fingerprint)
                    .await;
            };
            let Some(prepared) = matching(prepared.as_ref(), &row) else { return Ok(Outcome::Stale(request_of(&row))) };
            let presigned = presigned.as_ref().filter(|signed| signed.change_id == row.id && signed.head == row.head);
            review(tx, cx, caller, &mut row, prepared, (*verdict, comment, plans, opened), presigned).await
        }
        Op::Override { caller, repository, environment, fingerprint, reason, prepared } => {
            let Some(mut row) = tx.find_change(repository, environment, fingerprint).await? else {
                return unknown_change(tx, cx, caller, Attempt::Override, repository, environment, fingerprint).await;
            };
            let Some(prepared) = matching(prepared.as_ref(), &row) else { return Ok(Outcome::Stale(request_of(&row))) };
            override_change(tx, cx, caller, &mut row, prepared, reason).await
        }
        Op::CompleteReview { caller, override_id, comment, prepared } => {
            complete_review(tx, cx, caller, *override_id, comment, prepared.as_ref()).await
        }
        Op::Deploy { caller, change_id, prepared } => {
            let Some(mut row) = tx.change(*change_id).await? else {
                return Ok(Outcome::NotFound(format!("no change {change_id}")));
            };
            let Some(prepared) = matching(prepared.as_ref(), &row) else { return Ok(Outcome::Stale(request_of(&row))) };
            let decision = evaluate_change(tx, cx, caller, &mut row, prepared).await?;
            // An allowed deploy verdict is the last gate before the deployment: the change is
            // then what runs in its environment, and the base of the next check there.
            let recorded = decision.verdict != GateVerdict::Blocked && row.purpose == "deploy";
            if recorded {
                row.deployed_at = Some(cx.now);
                tx.update_change(&row).await?;
            }
            let detail = json!({
                "verdict": decision.verdict,
                "fingerprint": row.fingerprint,
                "head": row.head,
                "environment": row.environment,
                "recorded_as_deployed": recorded,
            });
            tx.audit(caller, AuditAction::DeploymentVerdict, &subject(row.id), &detail.to_string(), cx.now).await?;
            Ok(Outcome::Change(row))
        }
        Op::Pick { caller, assignment_id } => {
            let assignment = tx.assignment(*assignment_id).await?;
            match assignment {
                Some(assignment) if assignment.person == *caller && assignment.state == AssignmentState::Open => {
                    tx.pick_assignment(assignment.id, cx.now).await?;
                    let detail = json!({"assignment": assignment.id, "rule": assignment.rule});
                    tx.audit(
                        caller,
                        AuditAction::ReviewPicked,
                        &subject(assignment.change_id),
                        &detail.to_string(),
                        cx.now,
                    )
                    .await?;
                    Ok(Outcome::Done)
                }
                _ => Ok(Outcome::NotFound(format!("you have no open review {assignment_id}"))),
            }
        }
        Op::Away { caller, away, until, note } => {
            if *away {
                tx.set_away(caller, *until, note, cx.now).await?;
                let detail = json!({"until": until, "note": note});
                tx.audit(caller, AuditAction::PersonAway, &format!("person/{caller}"), &detail.to_string(), cx.now)
                    .await?;
            } else {
                tx.clear_away(caller).await?;
                tx.audit(caller, AuditAction::PersonBack, &format!("person/{caller}"), "{}", cx.now).await?;
            }
            Ok(Outcome::Done)
        }
        Op::Refuse { actor, action, subject, detail } => {
            tx.audit(actor, *action, subject, &detail.to_string(), cx.now).await?;
            Ok(Outcome::Done)
        }
        Op::Escalate => escalate(tx, cx).await,
        Op::SignIn { session } => {
            tx.insert_session(session).await?;
            let detail = json!({"token": session.token_id, "expires_at": session.expires_at});
            let subject = format!("person/{}", session.person);
            tx.audit(&session.person, AuditAction::SessionStarted, &subject, &detail.to_string(), cx.now).await?;
            Ok(Outcome::Done)
        }
        Op::SignOut { person, hash } => {
            if tx.end_session(hash, cx.now).await? {
                tx.audit(person, AuditAction::SessionEnded, &format!("person/{person}"), "{}", cx.now).await?;
            }
            Ok(Outcome::Done)
        }
        Op::Bypass { change_id, detail } => {
            tx.audit("github", AuditAction::BypassDetected, &subject(*change_id), &detail.to_string(), cx.now).await?;
            Ok(Outcome::Done)
        }
        Op::OpenFile { person, change_id, path } => {
            tx.record_file_view(person, *change_id, path, cx.now).await?;
            Ok(Outcome::Done)
        }
    }
}

fn subject(change_id: i64) -> String {
    format!("change/{change_id}")
}

pub fn request_of(row: &ChangeRow) -> ChangeRequest {
    ChangeRequest {
        repository: row.repository.clone(),
        base: row.base.clone(),
        head: row.head.clone(),
        environment: row.environment.clone(),
        requester: row.requester.clone(),
        purpose: if row.purpose == RegisterPurpose::PullRequest.as_str() {
            RegisterPurpose::PullRequest
        } else {
            RegisterPurpose::Deploy
        },
        // Written by this server from a typed list; a row that does not read back has plans
        // nobody can name, so an empty list here would drop them: keep the text as one plan.
        plans: serde_json::from_str(&row.plans).unwrap_or_else(|_| {
            vec![PlanUpload { name: "(unreadable stored plans)".to_owned(), content: row.plans.clone() }]
        }),
        // Written by this server; one that does not read back only loses contextual signals,
        // which can only add requirements, never remove one a commit gives.
        context: serde_json::from_str(&row.context).ok(),
    }
}

/// A request's context as stored with its change.
fn context_text(context: Option<&crate::PullContext>) -> String {
    context.and_then(|context| serde_json::to_string(context).ok()).unwrap_or_default()
}

fn matching<'a>(prepared: Option<&'a Arc<Prepared>>, row: &ChangeRow) -> Option<&'a Prepared> {
    prepared.map(Arc::as_ref).filter(|prepared| prepared.request == request_of(row))
}

/// What a review's refusal is recorded as.
fn review_attempt(verdict: Verdict) -> Attempt {
    if verdict == Verdict::Approve { Attempt::Approval } else { Attempt::Rejection }
}

/// Digests of statement rows whose signature verified (or that this server signed), so each is
/// checked once per process, not at every decision.
#[derive(Default)]
pub struct Verified {
    digests: std::collections::HashSet<[u8; 32]>,
}

/// Rows remembered at most; beyond, the memory starts over.
const VERIFIED_MEMORY: usize = 100_000;

impl Verified {
    fn digest(statement: &str, signature: &str) -> [u8; 32] {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update((statement.len() as u64).to_le_bytes());
        hasher.update(statement.as_bytes());
        hasher.update(signature.as_bytes());
        hasher.finalize().into()
    }

    pub fn remember(&mut self, statement: &str, signature: &str) {
        if self.digests.len() >= VERIFIED_MEMORY {
            self.digests.clear();
        }
        self.digests.insert(Verified::digest(statement, signature));
    }

    /// The statement of a stored row, if its signature is this server's and it names a person
    /// of the directory at the change's base. A row written into the database by other means
    /// than this server never counts.
    fn check(&mut self, prepared: &Prepared, server_key: &ssh_key::PublicKey, row: &StatementRow) -> CheckOutcome {
        let envelope = Envelope { statement: row.statement.clone(), signature: row.signature.clone() };
        let digest = Verified::digest(&row.statement, &row.signature);
        if self.digests.contains(&digest) {
            let statement = envelope.statement_unverified()?;
            return Ok(VerifiedStatement { person: statement.person.clone(), statement, by_server: true });
        }
        let (statement, person, signer) =
            envelope.verify(&prepared.config.directory, std::slice::from_ref(server_key))?;
        self.remember(&row.statement, &row.signature);
        Ok(VerifiedStatement { person: person.id.clone(), statement, by_server: signer == Signer::Server })
    }
}

/// The core's decision over the statements the server recorded, each verified against the
/// server's key: one that does not verify or does not read back is reported, never counted
/// silently. A deployment range of several merged changes is decided change by change when any
/// of them was reviewed on its own (`part_statements`, in the order of `prepared.parts`) or
/// came in by a merge commit.
pub fn decide(
    prepared: &Prepared,
    statements: &[StatementRow],
    part_statements: &[Vec<StatementRow>],
    cx: &mut Context<'_>,
) -> Decision {
    let mut decision = decide_one(prepared, &prepared.analysis, statements, cx);
    decision.findings.splice(0..0, prepared.findings.iter().cloned());
    let merged = |kind: MergedKind| matches!(kind, MergedKind::Merge | MergedKind::MergeWithNewContent);
    let separate = prepared
        .parts
        .iter()
        .zip(part_statements)
        .any(|(part, statements)| !statements.is_empty() || merged(part.facts.kind));
    if !separate {
        return decision;
    }
    let parts = prepared
        .parts
        .iter()
        .zip(part_statements)
        .map(|(part, statements)| {
            let mut facts = part.facts.clone();
            facts.reviewed = !statements.is_empty();
            (facts, decide_one(prepared, &part.analysis, statements, cx))
        })
        .collect();
    evaluate::combine(decision, parts)
}

fn decide_one(prepared: &Prepared, analysis: &Analysis, statements: &[StatementRow], cx: &mut Context<'_>) -> Decision {
    let server_key = cx.key.public_key().clone();
    let checked = statements
        .iter()
        .map(|row| (format!("server statement {}", row.id), cx.verified.check(prepared, &server_key, row)))
        .collect();
    let attestations = CheckedAttestations {
        fingerprint: analysis.change.fingerprint.clone(),
        checked,
        earlier: Vec::new(),
        other_changes: 0,
    };
    evaluate::decide(&prepared.config, analysis, &attestations, cx.now / 1000)
}

/// The approvals and rejections of every registration with each merged change's content.
async fn part_statements<T: WriteTx>(
    tx: &mut T,
    row: &ChangeRow,
    prepared: &Prepared,
) -> Result<Vec<Vec<StatementRow>>, StoreError> {
    let mut all = Vec::with_capacity(prepared.parts.len());
    for part in &prepared.parts {
        let mut statements = Vec::new();
        for sibling in tx.siblings(&row.repository, &row.environment, &part.analysis.change.fingerprint).await? {
            statements.extend(
                tx.latest_statements(sibling.id)
                    .await?
                    .into_iter()
                    .filter(|statement| statement.verdict != Verdict::Override),
            );
        }
        statements.sort_by_key(|statement| statement.id);
        all.push(statements);
    }
    Ok(all)
}

/// The statements that decide a registration: the approvals and rejections of every
/// registration of the same content (they follow the diff), and this registration's own
/// overrides (break-glass is for one deployment).
async fn statements_of<T: WriteTx>(tx: &mut T, row: &ChangeRow) -> Result<Vec<StatementRow>, StoreError> {
    let mut statements = Vec::new();
    for sibling in tx.siblings(&row.repository, &row.environment, &row.fingerprint).await? {
        for statement in tx.latest_statements(sibling.id).await? {
            if statement.verdict != Verdict::Override || sibling.id == row.id {
                statements.push(statement);
            }
        }
    }
    statements.sort_by_key(|statement| statement.id);
    Ok(statements)
}

async fn register<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    name: Option<&str>,
    prepared: &Arc<Prepared>,
) -> Result<Outcome, StoreError> {
    let request = &prepared.request;
    let fingerprint = &prepared.analysis.change.fingerprint;
    // A registration's base, head and requester never change: the same content registered
    // from another base or by another requester is another registration.
    let siblings = tx.siblings(&request.repository, &request.environment, fingerprint).await?;
    let existing = siblings.into_iter().find(|row| {
        row.base == request.base
            && row.head == request.head
            && row.requester == request.requester
            && request_of(row).purpose == request.purpose
            && request_of(row).plans == request.plans
    });
    let new = existing.is_none();
    let mut row = match existing {
        // The same registration from an edited pull request: its description is read anew.
        Some(mut row) if request_of(&row).context != request.context => {
            row.context = context_text(request.context.as_ref());
            tx.set_change_context(row.id, &row.context).await?;
            row
        }
        Some(row) => row,
        None => {
            let id = tx
                .insert_change(&NewChange {
                    repository: request.repository.clone(),
                    environment: request.environment.clone(),
                    fingerprint: fingerprint.clone(),
                    name: name.map(str::to_owned),
                    base: request.base.clone(),
                    head: request.head.clone(),
                    requester: request.requester.clone(),
                    registered_by: caller.to_owned(),
                    at: cx.now,
                    purpose: request.purpose.as_str().to_owned(),
                    plans: serde_json::to_string(&request.plans)
                        .map_err(|error| StoreError::Invalid(error.to_string()))?,
                    context: context_text(request.context.as_ref()),
                })
                .await?;
            tx.change(id).await?.ok_or_else(|| StoreError::Invalid(format!("change {id} vanished")))?
        }
    };
    let detail = json!({
        "repository": row.repository,
        "environment": row.environment,
        "fingerprint": row.fingerprint,
        "base": row.base,
        "head": row.head,
        "requester": row.requester,
        "name": row.name,
        "new": new,
    });
    tx.audit(caller, AuditAction::ChangeRegistered, &subject(row.id), &detail.to_string(), cx.now).await?;
    // A name supersedes only what the same caller registered under it: nobody else's pipeline.
    if let Some(name) = name.filter(|_| row.state == ChangeState::Open) {
        for mut older in tx.open_named(&row.repository, &row.environment, name).await? {
            if older.id == row.id || older.registered_by != caller {
                continue;
            }
            older.state = ChangeState::Superseded;
            older.updated_at = cx.now;
            tx.update_change(&older).await?;
            for assignment in tx.assignments(older.id).await? {
                if assignment.state == AssignmentState::Open {
                    tx.set_assignment_state(assignment.id, AssignmentState::Closed, cx.now).await?;
                }
            }
            let detail = json!({"by": row.id, "head": row.head});
            tx.audit(caller, AuditAction::ChangeSuperseded, &subject(older.id), &detail.to_string(), cx.now).await?;
        }
    }
    evaluate_change(tx, cx, caller, &mut row, prepared).await?;
    Ok(Outcome::Change(row))
}

/// Why this person may not approve or reject the change, if they may not: the core's one rule.
fn reviewer_refusal(prepared: &Prepared, person: &str) -> Option<Refusal> {
    let refusal = evaluate::review_refused(&prepared.config, &prepared.analysis.responsible, person)?;
    Some(Refusal { code: refusal.code(), message: refusal.to_string() })
}

async fn refuse<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    attempt: Attempt,
    subject: &str,
    refusal: Refusal,
    mut detail: serde_json::Value,
) -> Result<Outcome, StoreError> {
    detail["reason"] = json!(refusal.code);
    detail["message"] = json!(refusal.message);
    tx.audit(caller, attempt.refused(), subject, &detail.to_string(), cx.now).await?;
    cx.events.push(Event::Refused(refusal.code));
    Ok(Outcome::Refused(refusal))
}

async fn unknown_change<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    attempt: Attempt,
    repository: &str,
    environment: &str,
    fingerprint: &str,
) -> Result<Outcome, StoreError> {
    let refusal = Refusal {
        code: "unknown-change",
        message: format!(
            "no change with fingerprint {fingerprint} is registered for {repository} in {environment}; check the \
             fingerprint (it changes with every new commit) or register the change first"
        ),
    };
    let detail = json!({"repository": repository, "environment": environment, "fingerprint": fingerprint});
    refuse(tx, cx, caller, attempt, &format!("fingerprint/{fingerprint}"), refusal, detail).await
}

async fn review<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    row: &mut ChangeRow,
    prepared: &Prepared,
    (verdict, comment, plans, opened): (Verdict, &str, &[String], &[String]),
    presigned: Option<&Presigned>,
) -> Result<Outcome, StoreError> {
    let attempt = review_attempt(verdict);
    let detail = json!({"fingerprint": row.fingerprint, "environment": row.environment, "head": row.head});
    // A withdrawal only ever takes an approval away: whoever it names, whatever the change's state.
    let withdrawal = verdict == Verdict::Withdraw;
    if let Some(refusal) = reviewer_refusal(prepared, caller).filter(|_| !withdrawal) {
        return refuse(tx, cx, caller, attempt, &subject(row.id), refusal, detail).await;
    }
    if row.state != ChangeState::Open && !withdrawal {
        let refusal = Refusal {
            code: "superseded",
            message: format!("change {} was superseded by a newer head; review that one", row.id),
        };
        return refuse(tx, cx, caller, attempt, &subject(row.id), refusal, detail).await;
    }
    let statements = statements_of(tx, row).await?;
    let latest =
        statements.iter().rev().find(|statement| statement.person == caller && statement.verdict != Verdict::Override);
    if let Some(latest) = latest
        && latest.verdict == verdict
        && serde_json::from_str::<Statement>(&latest.statement)
            .is_ok_and(|statement| statement.head == row.head && statement.opened == opened)
    {
        return Ok(Outcome::Recorded { statement: latest.clone(), change: row.clone(), duplicate: true });
    }
    let statement = match presigned {
        Some(signed) => NewStatement {
            change_id: row.id,
            person: caller.to_owned(),
            verdict,
            comment: comment.to_owned(),
            at: signed.at,
            statement: signed.statement.clone(),
            signature: signed.signature.clone(),
        },
        None => sign(cx.key, verdict, caller, row, (comment, plans, opened), cx.now)?,
    };
    let id = tx.insert_statement(&statement).await?;
    cx.verified.remember(&statement.statement, &statement.signature);
    let detail = json!({
        "statement": id,
        "verdict": verdict.as_str(),
        "fingerprint": row.fingerprint,
        "environment": row.environment,
        "head": row.head,
        "comment": comment,
        "opened": opened.len(),
    });
    let recorded = match verdict {
        Verdict::Approve => AuditAction::ApprovalRecorded,
        Verdict::Withdraw => AuditAction::ApprovalWithdrawn,
        Verdict::Reject | Verdict::Override => AuditAction::RejectionRecorded,
    };
    tx.audit(caller, recorded, &subject(row.id), &detail.to_string(), cx.now).await?;
    cx.events.push(Event::Statement(verdict.as_str()));
    if row.first_review_at.is_none() {
        row.first_review_at = Some(cx.now);
        cx.events.push(Event::FirstReview(seconds_between(row.created_at, cx.now)));
    }
    let mut assignments = tx.assignments(row.id).await?;
    for assignment in &mut assignments {
        if assignment.person == caller && assignment.state == AssignmentState::Open {
            tx.set_assignment_state(assignment.id, AssignmentState::Done, cx.now).await?;
            assignment.state = AssignmentState::Done;
        }
    }
    let statement = StatementRow {
        id,
        change_id: row.id,
        person: statement.person,
        verdict: statement.verdict,
        comment: statement.comment,
        created_at: statement.at,
        statement: statement.statement,
        signature: statement.signature,
    };
    let mut statements = statements;
    statements.retain(|earlier| earlier.person != caller || earlier.verdict == Verdict::Override);
    statements.push(statement.clone());
    decide_and_route(tx, cx, caller, row, prepared, &statements, assignments).await?;
    Ok(Outcome::Recorded { statement, change: row.clone(), duplicate: false })
}

/// Signs "person gives verdict on this change's fingerprint, environment and head".
pub fn sign(
    key: &PrivateKey,
    verdict: Verdict,
    person: &str,
    row: &ChangeRow,
    (comment, plans, opened): (&str, &[String], &[String]),
    now: i64,
) -> Result<NewStatement, StoreError> {
    let statement = Statement::new(verdict, person, &row.fingerprint, &row.environment, &row.head, now / 1000, comment)
        .with_plans(plans.to_vec());
    // A long list would not fit in a statement every reader accepts: beyond a few hundred
    // paths the statement names the opened set by its digest.
    let statement = if opened.len() > countersign_core::attestation::MAX_OPENED_LISTED {
        Statement { opened_all: countersign_core::attestation::paths_digest(opened), ..statement }
    } else {
        Statement { opened: opened.to_vec(), ..statement }
    };
    let envelope = statement.sign(key).map_err(|error| StoreError::Invalid(error.to_string()))?;
    Ok(NewStatement {
        change_id: row.id,
        person: person.to_owned(),
        verdict,
        comment: comment.to_owned(),
        at: now,
        statement: envelope.statement,
        signature: envelope.signature,
    })
}

fn seconds_between(from_millis: i64, to_millis: i64) -> f64 {
    (to_millis - from_millis).max(0) as f64 / 1000.0
}

async fn override_change<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    row: &mut ChangeRow,
    prepared: &Prepared,
    reason: &str,
) -> Result<Outcome, StoreError> {
    let detail = json!({"fingerprint": row.fingerprint, "environment": row.environment, "reason": reason});
    let config = &prepared.config;
    let refusal = match (config.directory.person_index(caller), config.directory.by_id(caller)) {
        (Some(position), _) => match evaluate::override_refused(config, position, reason) {
            Some(refusal) => Some(Refusal { code: refusal.code(), message: refusal.to_string() }),
            None if row.verdict != GateVerdict::Blocked || row.state != ChangeState::Open => Some(Refusal {
                code: "not-blocked",
                message: format!("change {} is {} ({}); there is nothing to override", row.id, row.verdict, row.state),
            }),
            None => None,
        },
        (None, Some(Member::Agent(_))) => {
            Some(Refusal { code: "agent", message: format!("{caller} is an agent; agents cannot break the glass") })
        }
        (None, _) => Some(Refusal {
            code: "unknown-person",
            message: format!("{caller} is not a person of people.toml in {}", row.repository),
        }),
    };
    if let Some(refusal) = refusal {
        return refuse(tx, cx, caller, Attempt::Override, &subject(row.id), refusal, detail).await;
    }
    let hours = config.policy.break_glass.as_ref().map_or(24, |break_glass| break_glass.review_within_hours);
    let statement = sign(cx.key, Verdict::Override, caller, row, (reason, &[], &[]), cx.now)?;
    let statement_id = tx.insert_statement(&statement).await?;
    cx.verified.remember(&statement.statement, &statement.signature);
    let due_at = cx.now + i64::from(hours) * 3_600_000;
    let override_id = tx.insert_override(row.id, caller, reason, cx.now, due_at).await?;
    let detail = json!({
        "override": override_id,
        "statement": statement_id,
        "fingerprint": row.fingerprint,
        "environment": row.environment,
        "head": row.head,
        "reason": reason,
        "review_due_at": due_at,
    });
    tx.audit(caller, AuditAction::OverrideRecorded, &subject(row.id), &detail.to_string(), cx.now).await?;
    let summary = format!("{caller} broke the glass: {reason}");
    crate::notify::enqueue(tx, cx.settings, cx.now, "override.recorded", row, &summary, detail).await?;
    cx.events.push(Event::Override);
    evaluate_change(tx, cx, caller, row, prepared).await?;
    let override_row = tx
        .override_row(override_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("override {override_id} vanished")))?;
    Ok(Outcome::Overridden { override_row, change: row.clone() })
}

async fn complete_review<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    caller: &str,
    override_id: i64,
    comment: &str,
    prepared: Option<&Arc<Prepared>>,
) -> Result<Outcome, StoreError> {
    let Some(override_row) = tx.override_row(override_id).await? else {
        return Ok(Outcome::NotFound(format!("no override {override_id}")));
    };
    let row = tx
        .change(override_row.change_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("change {} vanished", override_row.change_id)))?;
    let Some(prepared) = matching(prepared, &row) else { return Ok(Outcome::Stale(request_of(&row))) };
    let detail = json!({"override": override_id, "comment": comment});
    let refusal = if override_row.reviewed_at.is_some() {
        Some(Refusal {
            code: "already-reviewed",
            message: format!(
                "override {override_id} was already reviewed by {}",
                override_row.reviewed_by.as_deref().unwrap_or("?")
            ),
        })
    } else if override_row.person == caller {
        Some(Refusal {
            code: "overrider-cannot-review",
            message: format!("{caller} broke the glass; a second person must review the override"),
        })
    } else {
        reviewer_refusal(prepared, caller)
    };
    if let Some(refusal) = refusal {
        return refuse(tx, cx, caller, Attempt::OverrideReview, &subject(row.id), refusal, detail).await;
    }
    tx.complete_override(override_id, caller, cx.now, comment).await?;
    let detail = json!({
        "override": override_id,
        "comment": comment,
        "late": cx.now > override_row.due_at,
        "due_at": override_row.due_at,
    });
    tx.audit(caller, AuditAction::OverrideReviewed, &subject(row.id), &detail.to_string(), cx.now).await?;
    let reviewed = tx
        .override_row(override_id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("override {override_id} vanished")))?;
    Ok(Outcome::Reviewed(reviewed))
}

/// Decides the change again from what the database holds now.
async fn evaluate_change<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    actor: &str,
    row: &mut ChangeRow,
    prepared: &Prepared,
) -> Result<Decision, StoreError> {
    let statements = statements_of(tx, row).await?;
    let assignments = tx.assignments(row.id).await?;
    decide_and_route(tx, cx, actor, row, prepared, &statements, assignments).await
}

/// Decides the change over its statements, records the decision, and routes reviews for what
/// is still unmet. The caller passes what it already read, saving round trips per approval.
async fn decide_and_route<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    actor: &str,
    row: &mut ChangeRow,
    prepared: &Prepared,
    statements: &[StatementRow],
    assignments: Vec<AssignmentRow>,
) -> Result<Decision, StoreError> {
    let parts = part_statements(tx, row, prepared).await?;
    let decision = decide(prepared, statements, &parts, cx);
    let verdict = decision.verdict;
    let previous = std::mem::replace(&mut row.verdict, verdict);
    row.decision = serde_json::to_string(&decision).map_err(|error| StoreError::Invalid(error.to_string()))?;
    let owners = prepared.analysis.owners(&prepared.config);
    // A list of strings always serializes.
    row.owners = serde_json::to_string(&owners).unwrap_or_else(|_| "[]".to_owned());
    row.updated_at = cx.now;
    if decision.verdict == GateVerdict::Allowed && row.allowed_at.is_none() {
        row.allowed_at = Some(cx.now);
        cx.events.push(Event::Approved(seconds_between(row.created_at, cx.now)));
    }
    tx.update_change(row).await?;
    let unmet: Vec<_> = decision
        .rules
        .iter()
        .filter(|rule| rule.applies && !rule.satisfied)
        .map(|rule| json!({"rule": rule.name, "missing": rule.missing}))
        .collect();
    let detail = json!({
        "verdict": verdict,
        "previous": previous,
        "fingerprint": row.fingerprint,
        "head": row.head,
        "risk": decision.risk.level,
        "unmet": unmet,
        "approvals": decision.approvals.iter().map(|approval| &approval.person).collect::<Vec<_>>(),
        "rejections": decision.rejections.iter().map(|rejection| &rejection.person).collect::<Vec<_>>(),
        "overrides": decision.overrides.iter().map(|approval| &approval.person).collect::<Vec<_>>(),
    });
    tx.audit(actor, AuditAction::ChangeEvaluated, &subject(row.id), &detail.to_string(), cx.now).await?;
    cx.events.push(Event::Decision(verdict.as_str()));
    let reviewers: BTreeSet<&str> = statements.iter().map(|statement| statement.person.as_str()).collect();
    let routing = Routing { decision: &decision, owners: &owners, reviewers: &reviewers, assignments: &assignments };
    route(tx, cx, actor, row, routing).await?;
    Ok(decision)
}

/// What routing weighs for one change.
struct Routing<'a> {
    decision: &'a Decision,
    owners: &'a [String],
    /// People who already stated something on the change.
    reviewers: &'a BTreeSet<&'a str>,
    assignments: &'a [AssignmentRow],
}

/// Keeps exactly as many open reviews per unmet rule as it is missing approvals, closing the
/// ones no longer needed and assigning the best-ranked eligible people for the rest.
async fn route<T: WriteTx>(
    tx: &mut T,
    cx: &mut Context<'_>,
    actor: &str,
    row: &ChangeRow,
    routing: Routing<'_>,
) -> Result<(), StoreError> {
    let Routing { decision, owners, reviewers, assignments } = routing;
    let blocked = decision.verdict == GateVerdict::Blocked && row.state == ChangeState::Open;
    let mut open_per_rule: Vec<(String, usize)> = Vec::new();
    for assignment in assignments.iter().filter(|assignment| assignment.state == AssignmentState::Open) {
        let needed = blocked
            && decision.rules.iter().any(|rule| {
                rule.name == assignment.rule
                    && rule.applies
                    && !rule.satisfied
                    && rule.eligible.contains(&assignment.person)
            });
        if needed {
            match open_per_rule.iter_mut().find(|(rule, _)| *rule == assignment.rule) {
                Some((_, count)) => *count += 1,
                None => open_per_rule.push((assignment.rule.clone(), 1)),
            }
        } else {
            let state = if reviewers.contains(assignment.person.as_str()) {
                AssignmentState::Done
            } else {
                AssignmentState::Closed
            };
            tx.set_assignment_state(assignment.id, state, cx.now).await?;
        }
    }
    if !blocked {
        return Ok(());
    }
    // What each unmet rule still needs, and who could give it.
    let mut needs: Vec<(&countersign_core::evaluate::RuleOutcome, usize, BTreeSet<&str>)> = Vec::new();
    for rule in decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied && rule.missing > 0) {
        let open = open_per_rule.iter().find(|(name, _)| *name == rule.name).map_or(0, |(_, count)| *count);
        let needed = (rule.missing as usize).saturating_sub(open);
        if needed == 0 {
            continue;
        }
        let already: BTreeSet<&str> = assignments
            .iter()
            .filter(|assignment| assignment.rule == rule.name)
            .map(|assignment| assignment.person.as_str())
            .collect();
        let pool: BTreeSet<&str> = rule
            .eligible
            .iter()
            .map(String::as_str)
            .filter(|person| !already.contains(person) && !reviewers.contains(person))
            .collect();
        needs.push((rule, needed, pool));
    }
    let everyone: Vec<String> = needs
        .iter()
        .flat_map(|(_, _, pool)| pool.iter().map(|person| (*person).to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ranking = ranked(tx, cx, &everyone, owners).await?;
    // People already reviewing this change for another rule cost nobody new.
    let on_change: BTreeSet<&str> = assignments
        .iter()
        .filter(|assignment| assignment.state == AssignmentState::Open)
        .map(|assignment| assignment.person.as_str())
        .collect();
    // Greedy cover: the person who can serve the most rules still in need, then someone already
    // on the change, then the routing rank (ownership, load, least recently assigned). So one
    // senior owner eligible for three rules gets one review request per rule, not three people.
    while needs.iter().any(|(_, needed, _)| *needed > 0) {
        let best = ranking
            .iter()
            .enumerate()
            .map(|(position, candidate)| {
                let serves = needs
                    .iter()
                    .filter(|(_, needed, pool)| *needed > 0 && pool.contains(candidate.person.as_str()))
                    .count();
                (serves, on_change.contains(candidate.person.as_str()), std::cmp::Reverse(position), candidate)
            })
            .filter(|(serves, ..)| *serves > 0)
            .max_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let Some((_, _, _, person)) = best else { break };
        for (rule, needed, pool) in
            needs.iter_mut().filter(|(_, needed, pool)| *needed > 0 && pool.contains(person.person.as_str()))
        {
            *needed -= 1;
            pool.remove(person.person.as_str());
            let id = tx.insert_assignment(row.id, &rule.name, &person.person, cx.now, None).await?;
            let detail = json!({
                "assignment": id,
                "rule": rule.name,
                "person": person.person,
                "owner": person.owner,
                "open_reviews": person.open_reviews,
            });
            tx.audit(actor, AuditAction::ReviewAssigned, &subject(row.id), &detail.to_string(), cx.now).await?;
            let summary = format!("review assigned to {} for rule {}", person.person, rule.name);
            crate::notify::enqueue(tx, cx.settings, cx.now, "review.assigned", row, &summary, detail).await?;
        }
    }
    Ok(())
}

async fn ranked<T: WriteTx>(
    tx: &mut T,
    cx: &Context<'_>,
    pool: &[String],
    owners: &[String],
) -> Result<Vec<Candidate>, StoreError> {
    if pool.is_empty() {
        return Ok(Vec::new());
    }
    let loads = tx.workload(pool).await?;
    let away = tx.away(pool, cx.now).await?;
    let candidates = loads
        .into_iter()
        .map(|load| Candidate {
            owner: owners.contains(&load.person),
            open_reviews: u32::try_from(load.open).unwrap_or(u32::MAX),
            last_assigned: load.last_assigned,
            away: away.contains(&load.person),
            person: load.person,
        })
        .collect();
    Ok(routing::rank(candidates))
}

/// Passes each review nobody picked up in time to the next-ranked eligible person.
async fn escalate<T: WriteTx>(tx: &mut T, cx: &mut Context<'_>) -> Result<Outcome, StoreError> {
    let threshold = i64::try_from(cx.settings.escalate_after.as_millis()).unwrap_or(i64::MAX);
    for assignment in tx.unpicked_before(cx.now.saturating_sub(threshold)).await? {
        let Some(row) = tx.change(assignment.change_id).await? else { continue };
        // Typed reads: a stored decision that does not read back is an error, never an empty
        // list of people that would silently stop escalation.
        let unreadable = |error: serde_json::Error| {
            StoreError::Invalid(format!("the stored decision of change {} is unreadable: {error}", row.id))
        };
        let decision: Decision = serde_json::from_str(&row.decision).map_err(unreadable)?;
        let eligible: Vec<String> = decision
            .rules
            .into_iter()
            .filter(|rule| rule.name == assignment.rule)
            .flat_map(|rule| rule.eligible)
            .collect();
        let owners: Vec<String> = serde_json::from_str(&row.owners).map_err(unreadable)?;
        let all = tx.assignments(row.id).await?;
        let already: BTreeSet<&str> =
            all.iter().filter(|other| other.rule == assignment.rule).map(|other| other.person.as_str()).collect();
        let pool: Vec<String> = eligible.into_iter().filter(|person| !already.contains(person.as_str())).collect();
        let Some(next) = ranked(tx, cx, &pool, &owners).await?.into_iter().next() else { continue };
        tx.set_assignment_state(assignment.id, AssignmentState::Escalated, cx.now).await?;
        let id = tx.insert_assignment(row.id, &assignment.rule, &next.person, cx.now, Some(assignment.id)).await?;
        let detail = json!({
            "assignment": id,
            "from_assignment": assignment.id,
            "from": assignment.person,
            "to": next.person,
            "rule": assignment.rule,
            "waited_seconds": seconds_between(assignment.assigned_at, cx.now),
        });
        tx.audit("countersign", AuditAction::ReviewEscalated, &subject(row.id), &detail.to_string(), cx.now).await?;
        let summary = format!(
            "review for rule {} escalated from {} to {}: nobody picked it up in time",
            assignment.rule, assignment.person, next.person
        );
        crate::notify::enqueue(tx, cx.settings, cx.now, "review.escalated", &row, &summary, detail).await?;
        cx.events.push(Event::Escalated);
    }
    announce_overdue(tx, cx).await?;
    Ok(Outcome::Done)
}

/// Announces, once each, the after-the-fact reviews of overrides that are now overdue.
async fn announce_overdue<T: WriteTx>(tx: &mut T, cx: &mut Context<'_>) -> Result<(), StoreError> {
    if cx.settings.webhooks.is_empty() {
        return Ok(());
    }
    for overdue in tx.overdue_unannounced(cx.now).await? {
        tx.mark_overdue_announced(overdue.id, cx.now).await?;
        let Some(row) = tx.change(overdue.change_id).await? else { continue };
        let detail = json!({
            "override": overdue.id,
            "person": overdue.person,
            "reason": overdue.reason,
            "review_due_at": overdue.due_at,
        });
        let summary = format!("the after-the-fact review of {}'s break-glass override is overdue", overdue.person);
        crate::notify::enqueue(tx, cx.settings, cx.now, "override.review-overdue", &row, &summary, detail).await?;
    }
    Ok(())
}
