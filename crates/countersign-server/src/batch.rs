//! A write transaction that reads a whole batch's changes, statements and assignments in three
//! queries up front and answers the per-write reads from memory. Every write still goes to the
//! database and updates the copy, and the copy dies with the transaction, so it can never be
//! staler than what the transaction itself sees.

use std::collections::{HashMap, HashSet};

use countersign_core::attestation::Verdict;
use countersign_core::audit::Entry;
use countersign_core::lifecycle::{AssignmentState, AuditAction, ChangeState};
use countersign_store::{
    AssignmentRow, ChangeRow, CheckRunRow, DeliveryRow, GateRow, GithubEventRow, NewChange, NewStatement, OverrideRow,
    Result, SessionRow, StatementRow, TokenRow, Workload, WriteTx,
};

type ChangeKey = (String, String, String);

pub struct BatchTx<T> {
    inner: T,
    changes: HashMap<i64, ChangeRow>,
    /// Keys read up front: a lookup of one of these is answered from `changes`, found or not.
    known_keys: HashSet<ChangeKey>,
    /// Each person's latest statements per change, as [`WriteTx::latest_statements`] gives them.
    statements: HashMap<i64, Vec<StatementRow>>,
    assignments: HashMap<i64, Vec<AssignmentRow>>,
    /// The last audit entry appended in this transaction, for the checkpoint after commit.
    last_audit: Option<(i64, String)>,
}

fn key_of(change: &ChangeRow) -> ChangeKey {
    (change.repository.clone(), change.environment.clone(), change.fingerprint.clone())
}

impl<T: WriteTx> BatchTx<T> {
    pub fn new(inner: T) -> BatchTx<T> {
        BatchTx {
            inner,
            changes: HashMap::new(),
            known_keys: HashSet::new(),
            statements: HashMap::new(),
            assignments: HashMap::new(),
            last_audit: None,
        }
    }

    /// The last audit entry this transaction appended: `(seq, hash)`.
    pub fn last_audit(&self) -> Option<(i64, String)> {
        self.last_audit.clone()
    }

    /// Reads the changes with these keys, their latest statements and their assignments.
    pub async fn prefetch(&mut self, keys: Vec<ChangeKey>) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut fingerprints: Vec<String> = keys.iter().map(|(_, _, fingerprint)| fingerprint.clone()).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        let wanted: HashSet<ChangeKey> = keys.into_iter().collect();
        let found: Vec<ChangeRow> = self
            .inner
            .changes_with_fingerprints(&fingerprints)
            .await?
            .into_iter()
            .filter(|change| wanted.contains(&key_of(change)))
            .collect();
        let ids: Vec<i64> = found.iter().map(|change| change.id).collect();
        for id in &ids {
            self.statements.insert(*id, Vec::new());
            self.assignments.insert(*id, Vec::new());
        }
        for statement in self.inner.latest_statements_of(&ids).await? {
            self.statements.entry(statement.change_id).or_default().push(statement);
        }
        for assignment in self.inner.assignments_of(&ids).await? {
            self.assignments.entry(assignment.change_id).or_default().push(assignment);
        }
        self.changes.extend(found.into_iter().map(|change| (change.id, change)));
        self.known_keys.extend(wanted);
        Ok(())
    }

    fn cached_assignment(&mut self, id: i64) -> Option<&mut AssignmentRow> {
        self.assignments.values_mut().flat_map(|list| list.iter_mut()).find(|assignment| assignment.id == id)
    }
}

impl<T: WriteTx> WriteTx for BatchTx<T> {
    async fn change(&mut self, id: i64) -> Result<Option<ChangeRow>> {
        if let Some(change) = self.changes.get(&id) {
            return Ok(Some(change.clone()));
        }
        let change = self.inner.change(id).await?;
        if let Some(change) = &change {
            self.changes.insert(change.id, change.clone());
        }
        Ok(change)
    }

    async fn find_change(
        &mut self,
        repository: &str,
        environment: &str,
        fingerprint: &str,
    ) -> Result<Option<ChangeRow>> {
        let key = (repository.to_owned(), environment.to_owned(), fingerprint.to_owned());
        if self.known_keys.contains(&key) {
            return Ok(self
                .changes
                .values()
                .filter(|change| key_of(change) == key)
                .max_by_key(|change| (change.state == ChangeState::Open, change.id))
                .cloned());
        }
        let change = self.inner.find_change(repository, environment, fingerprint).await?;
        if let Some(change) = &change {
            self.changes.insert(change.id, change.clone());
        }
        Ok(change)
    }

    async fn siblings(&mut self, repository: &str, environment: &str, fingerprint: &str) -> Result<Vec<ChangeRow>> {
        let key = (repository.to_owned(), environment.to_owned(), fingerprint.to_owned());
        if self.known_keys.contains(&key) {
            let mut siblings: Vec<ChangeRow> =
                self.changes.values().filter(|change| key_of(change) == key).cloned().collect();
            siblings.sort_by_key(|change| change.id);
            return Ok(siblings);
        }
        let siblings = self.inner.siblings(repository, environment, fingerprint).await?;
        for change in &siblings {
            self.changes.insert(change.id, change.clone());
        }
        Ok(siblings)
    }

    async fn changes_with_fingerprints(&mut self, fingerprints: &[String]) -> Result<Vec<ChangeRow>> {
        self.inner.changes_with_fingerprints(fingerprints).await
    }

    async fn latest_statements_of(&mut self, change_ids: &[i64]) -> Result<Vec<StatementRow>> {
        self.inner.latest_statements_of(change_ids).await
    }

    async fn assignments_of(&mut self, change_ids: &[i64]) -> Result<Vec<AssignmentRow>> {
        self.inner.assignments_of(change_ids).await
    }

    async fn insert_change(&mut self, change: &NewChange) -> Result<i64> {
        let id = self.inner.insert_change(change).await?;
        // The key now has a change the copy does not hold: ask the database next time.
        self.known_keys.remove(&(change.repository.clone(), change.environment.clone(), change.fingerprint.clone()));
        self.statements.insert(id, Vec::new());
        self.assignments.insert(id, Vec::new());
        Ok(id)
    }

    async fn update_change(&mut self, change: &ChangeRow) -> Result<()> {
        self.inner.update_change(change).await?;
        if let Some(cached) = self.changes.get_mut(&change.id) {
            cached.clone_from(change);
        }
        Ok(())
    }

    async fn open_named(&mut self, repository: &str, environment: &str, name: &str) -> Result<Vec<ChangeRow>> {
        let changes = self.inner.open_named(repository, environment, name).await?;
        // Rows changed earlier in this transaction are read back as written, so the copy agrees.
        for change in &changes {
            self.changes.insert(change.id, change.clone());
        }
        Ok(changes)
    }

    async fn latest_statements(&mut self, change_id: i64) -> Result<Vec<StatementRow>> {
        if let Some(statements) = self.statements.get(&change_id) {
            return Ok(statements.clone());
        }
        let statements = self.inner.latest_statements(change_id).await?;
        self.statements.insert(change_id, statements.clone());
        Ok(statements)
    }

    async fn insert_statement(&mut self, statement: &NewStatement) -> Result<i64> {
        let id = self.inner.insert_statement(statement).await?;
        if let Some(latest) = self.statements.get_mut(&statement.change_id) {
            let is_override = statement.verdict == Verdict::Override;
            latest.retain(|earlier| {
                earlier.person != statement.person || (earlier.verdict == Verdict::Override) != is_override
            });
            latest.push(StatementRow {
                id,
                change_id: statement.change_id,
                person: statement.person.clone(),
                verdict: statement.verdict,
                comment: statement.comment.clone(),
                created_at: statement.at,
                statement: statement.statement.clone(),
                signature: statement.signature.clone(),
            });
        }
        Ok(id)
    }

    async fn assignments(&mut self, change_id: i64) -> Result<Vec<AssignmentRow>> {
        if let Some(assignments) = self.assignments.get(&change_id) {
            return Ok(assignments.clone());
        }
        let assignments = self.inner.assignments(change_id).await?;
        self.assignments.insert(change_id, assignments.clone());
        Ok(assignments)
    }

    async fn assignment(&mut self, id: i64) -> Result<Option<AssignmentRow>> {
        if let Some(assignment) = self.cached_assignment(id) {
            return Ok(Some(assignment.clone()));
        }
        self.inner.assignment(id).await
    }

    async fn insert_assignment(
        &mut self,
        change_id: i64,
        rule: &str,
        person: &str,
        at: i64,
        escalated_from: Option<i64>,
    ) -> Result<i64> {
        let id = self.inner.insert_assignment(change_id, rule, person, at, escalated_from).await?;
        if let Some(assignments) = self.assignments.get_mut(&change_id) {
            assignments.push(AssignmentRow {
                id,
                change_id,
                rule: rule.to_owned(),
                person: person.to_owned(),
                state: AssignmentState::Open,
                assigned_at: at,
                picked_up_at: None,
                closed_at: None,
                escalated_from,
            });
        }
        Ok(id)
    }

    async fn set_assignment_state(&mut self, id: i64, state: AssignmentState, at: i64) -> Result<()> {
        self.inner.set_assignment_state(id, state, at).await?;
        if let Some(assignment) = self.cached_assignment(id) {
            assignment.state = state;
            assignment.closed_at = Some(at);
        }
        Ok(())
    }

    async fn pick_assignment(&mut self, id: i64, at: i64) -> Result<()> {
        self.inner.pick_assignment(id, at).await?;
        if let Some(assignment) = self.cached_assignment(id) {
            assignment.picked_up_at.get_or_insert(at);
        }
        Ok(())
    }

    async fn unpicked_before(&mut self, before: i64) -> Result<Vec<AssignmentRow>> {
        self.inner.unpicked_before(before).await
    }

    async fn workload(&mut self, people: &[String]) -> Result<Vec<Workload>> {
        self.inner.workload(people).await
    }

    async fn away(&mut self, people: &[String], now: i64) -> Result<Vec<String>> {
        self.inner.away(people, now).await
    }

    async fn set_away(&mut self, person: &str, until: Option<i64>, note: &str, at: i64) -> Result<()> {
        self.inner.set_away(person, until, note, at).await
    }

    async fn clear_away(&mut self, person: &str) -> Result<bool> {
        self.inner.clear_away(person).await
    }

    async fn insert_override(
        &mut self,
        change_id: i64,
        person: &str,
        reason: &str,
        at: i64,
        due_at: i64,
    ) -> Result<i64> {
        self.inner.insert_override(change_id, person, reason, at, due_at).await
    }

    async fn override_row(&mut self, id: i64) -> Result<Option<OverrideRow>> {
        self.inner.override_row(id).await
    }

    async fn complete_override(&mut self, id: i64, by: &str, at: i64, comment: &str) -> Result<()> {
        self.inner.complete_override(id, by, at, comment).await
    }

    async fn insert_token(&mut self, token: &TokenRow) -> Result<()> {
        self.inner.insert_token(token).await
    }

    async fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool> {
        self.inner.revoke_token(id, at).await
    }

    async fn audit(&mut self, actor: &str, action: AuditAction, subject: &str, detail: &str, at: i64) -> Result<Entry> {
        let entry = self.inner.audit(actor, action, subject, detail, at).await?;
        self.last_audit = Some((entry.seq, entry.hash.clone()));
        Ok(entry)
    }

    async fn insert_session(&mut self, session: &SessionRow) -> Result<()> {
        self.inner.insert_session(session).await
    }

    async fn end_session(&mut self, hash: &str, at: i64) -> Result<bool> {
        self.inner.end_session(hash, at).await
    }

    async fn record_file_view(&mut self, person: &str, change_id: i64, path: &str, at: i64) -> Result<()> {
        self.inner.record_file_view(person, change_id, path, at).await
    }

    async fn file_views(&mut self, person: &str, change_id: i64) -> Result<Vec<String>> {
        self.inner.file_views(person, change_id).await
    }

    async fn enqueue_delivery(&mut self, url: &str, format: &str, event: &str, body: &str, at: i64) -> Result<i64> {
        self.inner.enqueue_delivery(url, format, event, body, at).await
    }

    async fn claim_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
        self.inner.claim_deliveries(now, lease_until, limit).await
    }

    async fn delivery_done(&mut self, id: i64, attempts: i64, at: i64) -> Result<()> {
        self.inner.delivery_done(id, attempts, at).await
    }

    async fn delivery_failed(
        &mut self,
        id: i64,
        attempts: i64,
        next_at: Option<i64>,
        error: &str,
        at: i64,
    ) -> Result<()> {
        self.inner.delivery_failed(id, attempts, next_at, error, at).await
    }

    async fn overdue_unannounced(&mut self, now: i64) -> Result<Vec<OverrideRow>> {
        self.inner.overdue_unannounced(now).await
    }

    async fn mark_overdue_announced(&mut self, id: i64, at: i64) -> Result<()> {
        self.inner.mark_overdue_announced(id, at).await
    }

    async fn set_change_context(&mut self, id: i64, context: &str) -> Result<()> {
        self.inner.set_change_context(id, context).await?;
        if let Some(change) = self.changes.get_mut(&id) {
            context.clone_into(&mut change.context);
        }
        Ok(())
    }

    async fn insert_github_event(&mut self, delivery: &str, event: &str, body: &str, at: i64) -> Result<bool> {
        self.inner.insert_github_event(delivery, event, body, at).await
    }

    async fn claim_github_events(&mut self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<GithubEventRow>> {
        self.inner.claim_github_events(now, lease_until, limit).await
    }

    async fn github_event_done(&mut self, delivery: &str, attempts: i64, at: i64) -> Result<()> {
        self.inner.github_event_done(delivery, attempts, at).await
    }

    async fn github_event_failed(
        &mut self,
        delivery: &str,
        attempts: i64,
        next_at: Option<i64>,
        error: &str,
        at: i64,
    ) -> Result<()> {
        self.inner.github_event_failed(delivery, attempts, next_at, error, at).await
    }

    async fn set_check_run(&mut self, check: &CheckRunRow) -> Result<()> {
        self.inner.set_check_run(check).await
    }

    async fn insert_gate(&mut self, gate: &GateRow) -> Result<bool> {
        self.inner.insert_gate(gate).await
    }

    async fn answer_gate(&mut self, callback_url: &str, answer: &str, at: i64) -> Result<()> {
        self.inner.answer_gate(callback_url, answer, at).await
    }

    async fn commit(self) -> Result<()> {
        self.inner.commit().await
    }
}
