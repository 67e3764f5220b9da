//! Storage of the approval service: one trait, with a SQLite backend (embedded, the default) and a
//! PostgreSQL backend for several server nodes. Both use the same SQL text; each has its own
//! migrations, applied at open.
//!
//! Every write happens in a [`WriteTx`], which holds the database's single writer lock (SQLite's
//! `BEGIN IMMEDIATE`, a PostgreSQL advisory transaction lock) from its first statement to its
//! commit. That one lock is what makes the audit chain linear and keeps two nodes from deciding
//! the same change differently at the same moment.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use countersign_core::attestation::Verdict;
use countersign_core::audit::Entry;
use countersign_core::evaluate::GateVerdict;
use countersign_core::lifecycle::{AssignmentState, AuditAction, ChangeState};

mod backend;

pub use backend::{PostgresStore, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A deployment request as the server tracks it: one repository, environment and fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub id: i64,
    pub repository: String,
    pub environment: String,
    pub fingerprint: String,
    /// The pipeline's name for the change (a branch or pull request), to supersede older heads.
    pub name: Option<String>,
    pub base: String,
    pub head: String,
    pub requester: Option<String>,
    pub state: ChangeState,
    pub verdict: GateVerdict,
    /// The core's decision, as JSON.
    pub decision: String,
    /// People who own a touched path or service, as a JSON array.
    pub owners: String,
    pub registered_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub first_review_at: Option<i64>,
    pub allowed_at: Option<i64>,
    /// When a deploy verdict allowed it (milliseconds): it is what runs in its environment
    /// until a later one.
    pub deployed_at: Option<i64>,
    /// `deploy` or `pull-request`: what the change was registered for.
    pub purpose: String,
    /// The infrastructure plans uploaded with the registration, as JSON.
    pub plans: String,
    /// Where the change came from beyond its commits (a pull request's branch and description),
    /// as JSON; empty when nothing is known.
    pub context: String,
}

/// A signed approval, rejection or override statement, as the server recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementRow {
    pub id: i64,
    pub change_id: i64,
    pub person: String,
    pub verdict: Verdict,
    pub comment: String,
    pub created_at: i64,
    /// The statement's exact JSON text, as signed.
    pub statement: String,
    /// The server's SSHSIG signature over `statement`.
    pub signature: String,
}

/// A review routed to a person for one unmet rule of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentRow {
    pub id: i64,
    pub change_id: i64,
    pub rule: String,
    pub person: String,
    pub state: AssignmentState,
    pub assigned_at: i64,
    pub picked_up_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub escalated_from: Option<i64>,
}

/// A break-glass override and its mandatory after-the-fact review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideRow {
    pub id: i64,
    pub change_id: i64,
    pub person: String,
    pub reason: String,
    pub created_at: i64,
    pub due_at: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_comment: Option<String>,
}

/// An API token; only the SHA-256 of the secret is kept, and it is never serialized.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    pub id: String,
    pub person: String,
    #[serde(skip)]
    pub hash: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRow")
            .field("id", &self.id)
            .field("person", &self.person)
            .field("hash", &"<redacted>")
            .field("label", &self.label)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

/// A web sign-in. Only the SHA-256 of its secret is kept; the CSRF token is never shown in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub hash: String,
    pub person: String,
    /// The token it was signed in with: revoking the token ends the session.
    pub token_id: String,
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// When the token it stands for was revoked.
    pub token_revoked_at: Option<i64>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("hash", &"<redacted>")
            .field("person", &self.person)
            .field("token_id", &self.token_id)
            .field("csrf", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("ended_at", &self.ended_at)
            .field("token_revoked_at", &self.token_revoked_at)
            .finish()
    }
}

/// An outgoing webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub url: String,
    /// `json` or `slack`.
    pub format: String,
    pub event: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_at: i64,
    pub delivered_at: Option<i64>,
    /// When it was given up after the last retry.
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A GitHub webhook delivery, queued before it is processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GithubEventRow {
    /// `X-GitHub-Delivery`: one row per delivery, so a replay is never processed twice.
    pub delivery: String,
    pub event: String,
    pub body: String,
    pub received_at: i64,
    pub attempts: i64,
    pub next_at: i64,
    pub done_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The check run posted for a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRunRow {
    pub change_id: i64,
    /// `owner/name`.
    pub repository: String,
    pub check_run_id: i64,
    pub installation: Option<i64>,
}

/// A deployment protection rule GitHub asked about, and how it was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateRow {
    pub callback_url: String,
    pub change_id: i64,
    pub repository: String,
    pub environment: String,
    pub installation: Option<i64>,
    pub created_at: i64,
    /// `approved` or `rejected`, once answered.
    pub answered: Option<String>,
    pub answered_at: Option<i64>,
}

/// Which audit entries to show, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Exact subject, e.g. `change/12`.
    pub subject: Option<String>,
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `approval.`).
    pub action: Option<String>,
    /// Only entries before this sequence number (for paging).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// A change to be inserted.
#[derive(Clone, Debug)]
pub struct NewChange {
    pub repository: String,
    pub environment: String,
    pub fingerprint: String,
    pub name: Option<String>,
    pub base: String,
    pub head: String,
    pub requester: Option<String>,
    pub registered_by: String,
    pub at: i64,
    pub purpose: String,
    /// JSON list of uploaded plans, `[]` when none.
    pub plans: String,
    /// See [`ChangeRow::context`].
    pub context: String,
}

/// A statement to be inserted.
#[derive(Clone, Debug)]
pub struct NewStatement {
    pub change_id: i64,
    pub person: String,
    pub verdict: Verdict,
    pub comment: String,
    pub at: i64,
    pub statement: String,
    pub signature: String,
}

/// A reviewer's open load and when they were last given a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub person: String,
    pub open: i64,
    pub last_assigned: Option<i64>,
}

/// Which changes to list.
#[derive(Clone, Debug, Default)]
pub struct ChangeFilter {
    pub repository: Option<String>,
    pub environment: Option<String>,
    pub verdict: Option<GateVerdict>,
    pub open_only: bool,
    pub limit: i64,
}

/// Where a database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    SqliteFile(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; `sqlite://PATH` or a plain path is a
    /// SQLite file.
    pub fn parse(url: &str) -> Location {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Location::Postgres(url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
            Location::SqliteFile(Path::new(path).to_path_buf())
        }
    }
}

/// How long a write waits for the writer lock before it gives up with an error.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads that need no lock, and the writer transaction.
pub trait Store: Clone + Send + Sync + 'static {
    type Tx: WriteTx;

    /// Starts a write transaction holding the writer lock.
    fn begin(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    fn change(&self, id: i64) -> impl Future<Output = Result<Option<ChangeRow>>> + Send;
    fn find_change(
        &self,
        repository: &str,
        environment: &str,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<ChangeRow>>> + Send;
    fn changes(&self, filter: &ChangeFilter) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// Statements of every change with this fingerprint and environment, in `repository` when
    /// given, else in any repository.
    fn statements_for(
        &self,
        repository: Option<&str>,
        fingerprint: &str,
        environment: &str,
    ) -> impl Future<Output = Result<Vec<StatementRow>>> + Send;
    fn assignments(&self, change_id: i64) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    /// A person's open assignments, oldest first.
    fn queue(&self, person: &str) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    fn overrides_of(&self, change_id: i64) -> impl Future<Output = Result<Vec<OverrideRow>>> + Send;
    /// Overrides whose after-the-fact review is still to do.
    fn pending_reviews(&self) -> impl Future<Output = Result<Vec<OverrideRow>>> + Send;
    fn token(&self, hash: &str) -> impl Future<Output = Result<Option<TokenRow>>> + Send;
    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenRow>>> + Send;
    /// The change a deploy verdict allowed last in a repository and environment: what runs there.
    fn last_deployed(
        &self,
        repository: &str,
        environment: &str,
    ) -> impl Future<Output = Result<Option<ChangeRow>>> + Send;
    /// Up to `limit` audit entries after `after_seq`, in order.
    fn audit_page(&self, after_seq: i64, limit: i64) -> impl Future<Output = Result<Vec<Entry>>> + Send;
    /// Open assignments per person.
    fn queue_depths(&self) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;
    fn overdue_reviews(&self, now: i64) -> impl Future<Output = Result<i64>> + Send;
    /// The latest `limit` registrations under a name (a branch or pull request), newest first, in
    /// any state: earlier versions of a change.
    fn named_changes(
        &self,
        repository: &str,
        environment: &str,
        name: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// A session by the hash of its secret, with its token's revocation.
    fn session(&self, hash: &str) -> impl Future<Output = Result<Option<SessionRow>>> + Send;
    /// The paths a person opened on a change's page.
    fn file_views(&self, person: &str, change_id: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Audit entries matching the filter, newest first.
    fn audit_search(&self, filter: &AuditFilter) -> impl Future<Output = Result<Vec<Entry>>> + Send;
    /// The last audit entry.
    fn audit_head(&self) -> impl Future<Output = Result<Option<Entry>>> + Send;
    /// Changes registered since `since`, at most `limit`, oldest first (for the dashboard).
    fn changes_since(&self, since: i64, limit: i64) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// Statements recorded since `since`, oldest first.
    fn statements_since(&self, since: i64) -> impl Future<Output = Result<Vec<StatementRow>>> + Send;
    /// Assignments made since `since`, oldest first.
    fn assignments_since(&self, since: i64) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    /// Overrides recorded since `since`, oldest first.
    fn overrides_since(&self, since: i64) -> impl Future<Output = Result<Vec<OverrideRow>>> + Send;
    /// The latest deliveries, newest first.
    fn deliveries(&self, limit: i64) -> impl Future<Output = Result<Vec<DeliveryRow>>> + Send;
    /// The latest GitHub webhook deliveries received, newest first.
    fn github_events(&self, limit: i64) -> impl Future<Output = Result<Vec<GithubEventRow>>> + Send;
    fn check_run(&self, change_id: i64) -> impl Future<Output = Result<Option<CheckRunRow>>> + Send;
    /// The deployment protection rules asked about these changes.
    fn gates_of(&self, change_ids: &[i64]) -> impl Future<Output = Result<Vec<GateRow>>> + Send;
    /// Protection rules still waiting for an answer, oldest first.
    fn unanswered_gates(&self, limit: i64) -> impl Future<Output = Result<Vec<GateRow>>> + Send;
}

/// A write transaction. Dropping it without [`WriteTx::commit`] rolls everything back.
pub trait WriteTx: Send {
    fn change(&mut self, id: i64) -> impl Future<Output = Result<Option<ChangeRow>>> + Send;
    fn find_change(
        &mut self,
        repository: &str,
        environment: &str,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<ChangeRow>>> + Send;
    /// Every registration of the same content (repository, environment, fingerprint), oldest
    /// first: they share their approvals and rejections.
    fn siblings(
        &mut self,
        repository: &str,
        environment: &str,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// Changes with any of these fingerprints, for reading a batch's changes in one query.
    fn changes_with_fingerprints(
        &mut self,
        fingerprints: &[String],
    ) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// [`WriteTx::latest_statements`] of several changes in one query.
    fn latest_statements_of(&mut self, change_ids: &[i64]) -> impl Future<Output = Result<Vec<StatementRow>>> + Send;
    /// Assignments of several changes in one query.
    fn assignments_of(&mut self, change_ids: &[i64]) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    fn insert_change(&mut self, change: &NewChange) -> impl Future<Output = Result<i64>> + Send;
    /// Writes every mutable column of the row back.
    fn update_change(&mut self, change: &ChangeRow) -> impl Future<Output = Result<()>> + Send;
    /// Open changes with this name, for superseding when a new head is registered.
    fn open_named(
        &mut self,
        repository: &str,
        environment: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<ChangeRow>>> + Send;
    /// What a decision needs of a change's statements: each person's latest approval or
    /// rejection and their latest override. Older ones never count, so they are not read.
    fn latest_statements(&mut self, change_id: i64) -> impl Future<Output = Result<Vec<StatementRow>>> + Send;
    fn insert_statement(&mut self, statement: &NewStatement) -> impl Future<Output = Result<i64>> + Send;
    fn assignments(&mut self, change_id: i64) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    fn assignment(&mut self, id: i64) -> impl Future<Output = Result<Option<AssignmentRow>>> + Send;
    fn insert_assignment(
        &mut self,
        change_id: i64,
        rule: &str,
        person: &str,
        at: i64,
        escalated_from: Option<i64>,
    ) -> impl Future<Output = Result<i64>> + Send;
    fn set_assignment_state(
        &mut self,
        id: i64,
        state: AssignmentState,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn pick_assignment(&mut self, id: i64, at: i64) -> impl Future<Output = Result<()>> + Send;
    /// Open assignments nobody picked up that were made before `before`.
    fn unpicked_before(&mut self, before: i64) -> impl Future<Output = Result<Vec<AssignmentRow>>> + Send;
    fn workload(&mut self, people: &[String]) -> impl Future<Output = Result<Vec<Workload>>> + Send;
    /// Which of these people are away at `now`.
    fn away(&mut self, people: &[String], now: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn set_away(
        &mut self,
        person: &str,
        until: Option<i64>,
        note: &str,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn clear_away(&mut self, person: &str) -> impl Future<Output = Result<bool>> + Send;
    fn insert_override(
        &mut self,
        change_id: i64,
        person: &str,
        reason: &str,
        at: i64,
        due_at: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    fn override_row(&mut self, id: i64) -> impl Future<Output = Result<Option<OverrideRow>>> + Send;
    fn complete_override(
        &mut self,
        id: i64,
        by: &str,
        at: i64,
        comment: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    fn insert_token(&mut self, token: &TokenRow) -> impl Future<Output = Result<()>> + Send;
    /// Whether a token with this id was live and is now revoked.
    fn revoke_token(&mut self, id: &str, at: i64) -> impl Future<Output = Result<bool>> + Send;
    /// Appends to the audit chain, after the last entry committed or appended in this transaction.
    fn audit(
        &mut self,
        actor: &str,
        action: AuditAction,
        subject: &str,
        detail: &str,
        at: i64,
    ) -> impl Future<Output = Result<Entry>> + Send;
    fn insert_session(&mut self, session: &SessionRow) -> impl Future<Output = Result<()>> + Send;
    /// Whether a live session with this hash was ended now.
    fn end_session(&mut self, hash: &str, at: i64) -> impl Future<Output = Result<bool>> + Send;
    fn record_file_view(
        &mut self,
        person: &str,
        change_id: i64,
        path: &str,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn file_views(&mut self, person: &str, change_id: i64) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Queues a delivery, due at once.
    fn enqueue_delivery(
        &mut self,
        url: &str,
        format: &str,
        event: &str,
        body: &str,
        at: i64,
    ) -> impl Future<Output = Result<i64>> + Send;
    /// Up to `limit` due deliveries, each leased until `lease_until` so that no other node sends
    /// it meanwhile.
    fn claim_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DeliveryRow>>> + Send;
    fn delivery_done(&mut self, id: i64, attempts: i64, at: i64) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt: retried at `next_at`, or given up when `next_at` is `None`.
    fn delivery_failed(
        &mut self,
        id: i64,
        attempts: i64,
        next_at: Option<i64>,
        error: &str,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Overrides whose after-the-fact review is overdue at `now` and not yet announced.
    fn overdue_unannounced(&mut self, now: i64) -> impl Future<Output = Result<Vec<OverrideRow>>> + Send;
    fn mark_overdue_announced(&mut self, id: i64, at: i64) -> impl Future<Output = Result<()>> + Send;
    /// Replaces a registration's context (a pull request's edited description).
    fn set_change_context(&mut self, id: i64, context: &str) -> impl Future<Output = Result<()>> + Send;
    /// Queues a webhook delivery; `false` when this delivery id, or the same body under another
    /// id, was received before.
    fn insert_github_event(
        &mut self,
        delivery: &str,
        event: &str,
        body: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Up to `limit` due deliveries, each leased until `lease_until`.
    fn claim_github_events(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<GithubEventRow>>> + Send;
    fn github_event_done(&mut self, delivery: &str, attempts: i64, at: i64) -> impl Future<Output = Result<()>> + Send;
    /// Records a failed attempt: retried at `next_at`, or given up when `next_at` is `None`.
    fn github_event_failed(
        &mut self,
        delivery: &str,
        attempts: i64,
        next_at: Option<i64>,
        error: &str,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    fn set_check_run(&mut self, check: &CheckRunRow) -> impl Future<Output = Result<()>> + Send;
    /// Remembers a protection rule to answer; `false` when its callback was known already.
    fn insert_gate(&mut self, gate: &GateRow) -> impl Future<Output = Result<bool>> + Send;
    fn answer_gate(&mut self, callback_url: &str, answer: &str, at: i64) -> impl Future<Output = Result<()>> + Send;
    fn commit(self) -> impl Future<Output = Result<()>> + Send;
}

/// SHA-256 of a token secret, as stored.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}
