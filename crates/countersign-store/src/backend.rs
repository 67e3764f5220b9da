//! The two backends. Their SQL is the same text (`$1` placeholders work in both); the macro below
//! writes each method once and instantiates it for both databases, so they cannot drift apart.

use std::borrow::Cow;
use std::str::FromStr;

use countersign_core::audit::Entry;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlSafeStr, Transaction};

use countersign_core::evaluate::GateVerdict;
use countersign_core::lifecycle::{AssignmentState, AuditAction};

use crate::{
    AssignmentRow, AuditFilter, ChangeFilter, ChangeRow, CheckRunRow, DeliveryRow, GateRow, GithubEventRow,
    LOCK_TIMEOUT, NewChange, NewStatement, OverrideRow, Result, SessionRow, StatementRow, Store, StoreError, TokenRow,
    Workload, WriteTx,
};

/// Any constant key; every countersign write holds it.
const WRITER_LOCK_KEY: i64 = 0x0063_6f75_6e74_6572;

const CHANGE_COLUMNS: &str = "id, repository, environment, fingerprint, name, base, head, requester, state, verdict, \
     decision, owners, registered_by, created_at, updated_at, first_review_at, allowed_at, purpose, plans, deployed_at, \
     context";
const STATEMENT_COLUMNS: &str = "id, change_id, person, verdict, comment, created_at, statement, signature";
const ASSIGNMENT_COLUMNS: &str =
    "id, change_id, rule, person, state, assigned_at, picked_up_at, closed_at, escalated_from";
const OVERRIDE_COLUMNS: &str =
    "id, change_id, person, reason, created_at, due_at, reviewed_by, reviewed_at, review_comment";
const DELIVERY_COLUMNS: &str =
    "id, url, format, event, body, created_at, attempts, next_at, delivered_at, failed_at, last_error";
const GITHUB_EVENT_COLUMNS: &str =
    "delivery, event, body, received_at, attempts, next_at, done_at, failed_at, last_error";
const GATE_COLUMNS: &str =
    "callback_url, change_id, repository, environment, installation, created_at, answered, answered_at";
const AUDIT_COLUMNS: &str = "seq, at, actor, action, subject, detail, prev_hash, hash";

/// A stored name read back into its type; a name this version never writes is an error, not a
/// silent default.
fn parse<T: std::str::FromStr>(text: String) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|error: T::Err| StoreError::Invalid(error.to_string()))
}

/// What tells two sets of uploaded plans apart in the registration key.
fn plans_digest(plans: &str) -> String {
    use sha2::Digest as _;
    if plans == "[]" { String::new() } else { hex::encode(sha2::Sha256::digest(plans.as_bytes())) }
}

/// A backend's migrations: (description, SQL, whether it manages its own transaction).
fn migrator(migrations: &[(&'static str, &'static str, bool)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .zip(1..)
            .map(|((description, sql, no_tx), version)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), *no_tx)
            })
            .collect(),
    )
}

/// SQLite in one file, in WAL mode, with a full sync at every commit: an acknowledged write
/// survives a crash or power loss.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(path: &std::path::Path) -> Result<SqliteStore> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Invalid(format!("cannot create the directory {}: {error}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(LOCK_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        migrator(&[
            ("init", include_str!("../migrations/sqlite/0001_init.sql"), false),
            ("registrations", include_str!("../migrations/sqlite/0002_registrations.sql"), true),
            ("deployments", include_str!("../migrations/sqlite/0003_deployments.sql"), false),
            ("web", include_str!("../migrations/sqlite/0004_web.sql"), false),
            ("github", include_str!("../migrations/sqlite/0005_github.sql"), false),
        ])
        .run(&pool)
        .await?;
        Ok(SqliteStore { pool })
    }
}

/// PostgreSQL, for several server nodes over one database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn open(url: &str) -> Result<PostgresStore> {
        let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(LOCK_TIMEOUT).connect(url).await?;
        migrator(&[
            ("init", include_str!("../migrations/postgres/0001_init.sql"), false),
            ("registrations", include_str!("../migrations/postgres/0002_registrations.sql"), false),
            ("deployments", include_str!("../migrations/postgres/0003_deployments.sql"), false),
            ("web", include_str!("../migrations/postgres/0004_web.sql"), false),
            ("github", include_str!("../migrations/postgres/0005_github.sql"), false),
        ])
        .run(&pool)
        .await?;
        Ok(PostgresStore { pool })
    }

    /// A store over an existing pool; the caller has applied the migrations.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl SqliteStore {
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

pub struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    pending: Pending,
}

pub struct PostgresTx {
    tx: Transaction<'static, Postgres>,
    pending: Pending,
}

/// Writes held back and sent together, before the next read that could see them and at commit:
/// a batch of approvals costs a few statements, not a few per approval. Safe because every
/// write happens under the writer lock, which also lets statement ids be handed out here.
#[derive(Default)]
struct Pending {
    last_audit: Option<Option<(i64, String)>>,
    audit: Vec<Entry>,
    next_statement_id: Option<i64>,
    statements: Vec<(i64, NewStatement)>,
    /// The last written state of each updated change, in the order first updated.
    changes: Vec<ChangeRow>,
}

/// Changes per multi-row UPDATE: 13 parameters each.
const CHANGES_PER_UPDATE: usize = 128;

fn change_update(rows: usize) -> String {
    let columns = [
        "id",
        "name",
        "base",
        "head",
        "requester",
        "state",
        "verdict",
        "decision",
        "owners",
        "updated_at",
        "first_review_at",
        "allowed_at",
        "deployed_at",
    ];
    let values = (0..rows)
        .map(|row| {
            let fields = columns
                .iter()
                .enumerate()
                .map(|(index, column)| format!("${} AS {column}", row * columns.len() + index + 1))
                .collect::<Vec<_>>()
                .join(", ");
            format!("SELECT {fields}")
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let assignments = columns[1..].iter().map(|column| format!("{column} = v.{column}")).collect::<Vec<_>>().join(", ");
    format!("UPDATE changes SET {assignments} FROM ({values}) AS v WHERE changes.id = v.id")
}

fn statement_insert(rows: usize) -> String {
    let values = (0..rows).map(|row| format!("({})", placeholders(row * 8 + 1, 8))).collect::<Vec<_>>().join(", ");
    format!(
        "INSERT INTO statements (id, change_id, person, verdict, comment, created_at, statement, signature) \
         VALUES {values}"
    )
}

/// Audit rows per INSERT statement: 8 parameters each, well under both databases' limits.
const AUDIT_ROWS_PER_INSERT: usize = 256;

fn audit_insert(rows: usize) -> String {
    let mut text = String::from("INSERT INTO audit (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES ");
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        let first = row * 8 + 1;
        text.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            first,
            first + 1,
            first + 2,
            first + 3,
            first + 4,
            first + 5,
            first + 6,
            first + 7
        ));
    }
    text
}

impl SqliteStore {
    async fn begin_write(&self) -> Result<SqliteTx> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx { tx, pending: Pending::default() })
    }
}

impl PostgresStore {
    async fn begin_write(&self) -> Result<PostgresTx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITER_LOCK_KEY).execute(&mut *tx).await?;
        Ok(PostgresTx { tx, pending: Pending::default() })
    }
}

/// `$first, $first+1, …` for an `IN (…)` list of `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ")
}

/// Values per `IN (…)` list: well under both databases' parameter limits.
const IN_LIST: usize = 500;

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

macro_rules! backend {
    ($store:ident, $tx:ident, $db:ty, $row:ty) => {
        fn change_row(row: &$row) -> Result<ChangeRow> {
            Ok(ChangeRow {
                id: row.try_get("id")?,
                repository: row.try_get("repository")?,
                environment: row.try_get("environment")?,
                fingerprint: row.try_get("fingerprint")?,
                name: row.try_get("name")?,
                base: row.try_get("base")?,
                head: row.try_get("head")?,
                requester: row.try_get("requester")?,
                state: parse(row.try_get("state")?)?,
                verdict: parse(row.try_get("verdict")?)?,
                decision: row.try_get("decision")?,
                owners: row.try_get("owners")?,
                registered_by: row.try_get("registered_by")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                first_review_at: row.try_get("first_review_at")?,
                allowed_at: row.try_get("allowed_at")?,
                deployed_at: row.try_get("deployed_at")?,
                purpose: row.try_get("purpose")?,
                plans: row.try_get("plans")?,
                context: row.try_get("context")?,
            })
        }

        fn statement_row(row: &$row) -> Result<StatementRow> {
            Ok(StatementRow {
                id: row.try_get("id")?,
                change_id: row.try_get("change_id")?,
                person: row.try_get("person")?,
                verdict: parse(row.try_get("verdict")?)?,
                comment: row.try_get("comment")?,
                created_at: row.try_get("created_at")?,
                statement: row.try_get("statement")?,
                signature: row.try_get("signature")?,
            })
        }

        fn assignment_row(row: &$row) -> Result<AssignmentRow> {
            Ok(AssignmentRow {
                id: row.try_get("id")?,
                change_id: row.try_get("change_id")?,
                rule: row.try_get("rule")?,
                person: row.try_get("person")?,
                state: parse(row.try_get("state")?)?,
                assigned_at: row.try_get("assigned_at")?,
                picked_up_at: row.try_get("picked_up_at")?,
                closed_at: row.try_get("closed_at")?,
                escalated_from: row.try_get("escalated_from")?,
            })
        }

        fn override_row(row: &$row) -> Result<OverrideRow> {
            Ok(OverrideRow {
                id: row.try_get("id")?,
                change_id: row.try_get("change_id")?,
                person: row.try_get("person")?,
                reason: row.try_get("reason")?,
                created_at: row.try_get("created_at")?,
                due_at: row.try_get("due_at")?,
                reviewed_by: row.try_get("reviewed_by")?,
                reviewed_at: row.try_get("reviewed_at")?,
                review_comment: row.try_get("review_comment")?,
            })
        }

        fn token_row(row: &$row) -> Result<TokenRow> {
            Ok(TokenRow {
                id: row.try_get("id")?,
                person: row.try_get("person")?,
                hash: row.try_get("hash")?,
                label: row.try_get("label")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn delivery_row(row: &$row) -> Result<DeliveryRow> {
            Ok(DeliveryRow {
                id: row.try_get("id")?,
                url: row.try_get("url")?,
                format: row.try_get("format")?,
                event: row.try_get("event")?,
                body: row.try_get("body")?,
                created_at: row.try_get("created_at")?,
                attempts: row.try_get("attempts")?,
                next_at: row.try_get("next_at")?,
                delivered_at: row.try_get("delivered_at")?,
                failed_at: row.try_get("failed_at")?,
                last_error: row.try_get("last_error")?,
            })
        }

        fn github_event_row(row: &$row) -> Result<GithubEventRow> {
            Ok(GithubEventRow {
                delivery: row.try_get("delivery")?,
                event: row.try_get("event")?,
                body: row.try_get("body")?,
                received_at: row.try_get("received_at")?,
                attempts: row.try_get("attempts")?,
                next_at: row.try_get("next_at")?,
                done_at: row.try_get("done_at")?,
                failed_at: row.try_get("failed_at")?,
                last_error: row.try_get("last_error")?,
            })
        }

        fn gate_row(row: &$row) -> Result<GateRow> {
            Ok(GateRow {
                callback_url: row.try_get("callback_url")?,
                change_id: row.try_get("change_id")?,
                repository: row.try_get("repository")?,
                environment: row.try_get("environment")?,
                installation: row.try_get("installation")?,
                created_at: row.try_get("created_at")?,
                answered: row.try_get("answered")?,
                answered_at: row.try_get("answered_at")?,
            })
        }

        async fn select_file_views<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            person: &str,
            change_id: i64,
        ) -> Result<Vec<String>> {
            let rows = sqlx::query::<$db>(
                "SELECT path FROM file_views WHERE person = $1 AND change_id = $2 ORDER BY path",
            )
            .bind(person)
            .bind(change_id)
            .fetch_all(executor)
            .await?;
            rows.iter().map(|row| Ok(row.try_get("path")?)).collect()
        }

        fn entry_row(row: &$row) -> Result<Entry> {
            Ok(Entry {
                seq: row.try_get("seq")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                subject: row.try_get("subject")?,
                detail: row.try_get("detail")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        }

        async fn select_change<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            id: i64,
        ) -> Result<Option<ChangeRow>> {
            let row = sqlx::query::<$db>(sql(format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id = $1")))
                .bind(id)
                .fetch_optional(executor)
                .await?;
            row.as_ref().map(change_row).transpose()
        }

        async fn select_change_by_key<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            repository: &str,
            environment: &str,
            fingerprint: &str,
        ) -> Result<Option<ChangeRow>> {
            let row = sqlx::query::<$db>(sql(format!(
                "SELECT {CHANGE_COLUMNS} FROM changes \
                 WHERE repository = $1 AND environment = $2 AND fingerprint = $3 \
                 ORDER BY CASE WHEN state = 'open' THEN 1 ELSE 0 END DESC, id DESC LIMIT 1"
            )))
            .bind(repository.to_owned())
            .bind(environment.to_owned())
            .bind(fingerprint.to_owned())
            .fetch_optional(executor)
            .await?;
            row.as_ref().map(change_row).transpose()
        }

        async fn select_assignments<'e, E: sqlx::Executor<'e, Database = $db>>(
            executor: E,
            change_id: i64,
        ) -> Result<Vec<AssignmentRow>> {
            let rows = sqlx::query::<$db>(sql(format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE change_id = $1 ORDER BY id"
            )))
            .bind(change_id)
            .fetch_all(executor)
            .await?;
            rows.iter().map(assignment_row).collect()
        }

        impl Store for $store {
            type Tx = $tx;

            async fn begin(&self) -> Result<$tx> {
                self.begin_write().await
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn change(&self, id: i64) -> Result<Option<ChangeRow>> {
                select_change(&self.pool, id).await
            }

            async fn find_change(
                &self,
                repository: &str,
                environment: &str,
                fingerprint: &str,
            ) -> Result<Option<ChangeRow>> {
                select_change_by_key(&self.pool, repository, environment, fingerprint).await
            }

            async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes \
                     WHERE ($1 IS NULL OR repository = $1) AND ($2 IS NULL OR environment = $2) \
                       AND ($3 IS NULL OR verdict = $3) AND (NOT $4 OR state = 'open') \
                     ORDER BY id DESC LIMIT $5"
                )))
                .bind(filter.repository.as_deref())
                .bind(filter.environment.as_deref())
                .bind(filter.verdict.map(GateVerdict::as_str))
                .bind(filter.open_only)
                .bind(if filter.limit > 0 { filter.limit } else { 100 })
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(change_row).collect()
            }

            async fn statements_for(
                &self,
                repository: Option<&str>,
                fingerprint: &str,
                environment: &str,
            ) -> Result<Vec<StatementRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {} FROM statements s JOIN changes c ON c.id = s.change_id \
                     WHERE c.fingerprint = $1 AND c.environment = $2 AND ($3 IS NULL OR c.repository = $3) \
                     ORDER BY s.id",
                    STATEMENT_COLUMNS.split(", ").map(|column| format!("s.{column}")).collect::<Vec<_>>().join(", ")
                )))
                .bind(fingerprint)
                .bind(environment)
                .bind(repository)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(statement_row).collect()
            }

            async fn assignments(&self, change_id: i64) -> Result<Vec<AssignmentRow>> {
                select_assignments(&self.pool, change_id).await
            }

            async fn queue(&self, person: &str) -> Result<Vec<AssignmentRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE person = $1 AND state = 'open' \
                     ORDER BY assigned_at, id"
                )))
                .bind(person)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(assignment_row).collect()
            }

            async fn overrides_of(&self, change_id: i64) -> Result<Vec<OverrideRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE change_id = $1 ORDER BY id"
                )))
                .bind(change_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(override_row).collect()
            }

            async fn pending_reviews(&self) -> Result<Vec<OverrideRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE reviewed_at IS NULL ORDER BY due_at, id"
                )))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(override_row).collect()
            }

            async fn token(&self, hash: &str) -> Result<Option<TokenRow>> {
                let row = sqlx::query::<$db>(
                    "SELECT id, person, hash, label, created_at, revoked_at FROM tokens WHERE hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(token_row).transpose()
            }

            async fn last_deployed(&self, repository: &str, environment: &str) -> Result<Option<ChangeRow>> {
                let row = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes \
                     WHERE repository = $1 AND environment = $2 AND deployed_at IS NOT NULL \
                     ORDER BY deployed_at DESC, id DESC LIMIT 1"
                )))
                .bind(repository)
                .bind(environment)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(change_row).transpose()
            }

            async fn tokens(&self) -> Result<Vec<TokenRow>> {
                let rows = sqlx::query::<$db>(
                    "SELECT id, person, hash, label, created_at, revoked_at FROM tokens ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(token_row).collect()
            }

            async fn audit_page(&self, after_seq: i64, limit: i64) -> Result<Vec<Entry>> {
                let rows = sqlx::query::<$db>(
                    "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entry_row).collect()
            }

            async fn queue_depths(&self) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query::<$db>(
                    "SELECT person, COUNT(*) AS open FROM assignments WHERE state = 'open' \
                     GROUP BY person ORDER BY person",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|row| Ok((row.try_get("person")?, row.try_get("open")?))).collect()
            }

            async fn named_changes(
                &self,
                repository: &str,
                environment: &str,
                name: &str,
                limit: i64,
            ) -> Result<Vec<ChangeRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes \
                     WHERE repository = $1 AND environment = $2 AND name = $3 ORDER BY id DESC LIMIT $4"
                )))
                .bind(repository)
                .bind(environment)
                .bind(name)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(change_row).collect()
            }

            async fn session(&self, hash: &str) -> Result<Option<SessionRow>> {
                let row = sqlx::query::<$db>(
                    "SELECT s.hash, s.person, s.token_id, s.csrf, s.created_at, s.expires_at, s.ended_at, \
                            t.revoked_at AS token_revoked_at \
                     FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(SessionRow {
                    hash: row.try_get("hash")?,
                    person: row.try_get("person")?,
                    token_id: row.try_get("token_id")?,
                    csrf: row.try_get("csrf")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    ended_at: row.try_get("ended_at")?,
                    token_revoked_at: row.try_get("token_revoked_at")?,
                }))
            }

            async fn file_views(&self, person: &str, change_id: i64) -> Result<Vec<String>> {
                select_file_views(&self.pool, person, change_id).await
            }

            async fn audit_search(&self, filter: &AuditFilter) -> Result<Vec<Entry>> {
                let (action, prefix) = match filter.action.as_deref() {
                    Some(action) if action.ends_with('.') => (None, Some(format!("{action}%"))),
                    other => (other, None),
                };
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit \
                     WHERE ($1 IS NULL OR subject = $1) AND ($2 IS NULL OR actor = $2) \
                       AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR action LIKE $4) \
                       AND ($5 IS NULL OR seq < $5) \
                     ORDER BY seq DESC LIMIT $6"
                )))
                .bind(filter.subject.as_deref())
                .bind(filter.actor.as_deref())
                .bind(action)
                .bind(prefix)
                .bind(filter.before_seq)
                .bind(if filter.limit > 0 { filter.limit } else { 100 })
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(entry_row).collect()
            }

            async fn audit_head(&self) -> Result<Option<Entry>> {
                let row = sqlx::query::<$db>(sql(format!("SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1")))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(entry_row).transpose()
            }

            async fn changes_since(&self, since: i64, limit: i64) -> Result<Vec<ChangeRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes WHERE created_at >= $1 ORDER BY id LIMIT $2"
                )))
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(change_row).collect()
            }

            async fn statements_since(&self, since: i64) -> Result<Vec<StatementRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE created_at >= $1 ORDER BY id"
                )))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(statement_row).collect()
            }

            async fn assignments_since(&self, since: i64) -> Result<Vec<AssignmentRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE assigned_at >= $1 ORDER BY id"
                )))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(assignment_row).collect()
            }

            async fn overrides_since(&self, since: i64) -> Result<Vec<OverrideRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE created_at >= $1 ORDER BY id"
                )))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(override_row).collect()
            }

            async fn deliveries(&self, limit: i64) -> Result<Vec<DeliveryRow>> {
                let rows =
                    sqlx::query::<$db>(sql(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries ORDER BY id DESC LIMIT $1")))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter().map(delivery_row).collect()
            }

            async fn github_events(&self, limit: i64) -> Result<Vec<GithubEventRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {GITHUB_EVENT_COLUMNS} FROM github_events ORDER BY received_at DESC, delivery LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(github_event_row).collect()
            }

            async fn check_run(&self, change_id: i64) -> Result<Option<CheckRunRow>> {
                let row = sqlx::query::<$db>(
                    "SELECT change_id, repository, check_run_id, installation FROM github_checks WHERE change_id = $1",
                )
                .bind(change_id)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(CheckRunRow {
                    change_id: row.try_get("change_id")?,
                    repository: row.try_get("repository")?,
                    check_run_id: row.try_get("check_run_id")?,
                    installation: row.try_get("installation")?,
                }))
            }

            async fn gates_of(&self, change_ids: &[i64]) -> Result<Vec<GateRow>> {
                if change_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = sqlx::query::<$db>(sql(format!(
                    "SELECT {GATE_COLUMNS} FROM github_gates WHERE change_id IN ({}) ORDER BY created_at",
                    placeholders(1, change_ids.len())
                )));
                for id in change_ids {
                    query = query.bind(*id);
                }
                let rows = query.fetch_all(&self.pool).await?;
                rows.iter().map(gate_row).collect()
            }

            async fn unanswered_gates(&self, limit: i64) -> Result<Vec<GateRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {GATE_COLUMNS} FROM github_gates WHERE answered IS NULL ORDER BY created_at LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(gate_row).collect()
            }

            async fn overdue_reviews(&self, now: i64) -> Result<i64> {
                let row = sqlx::query::<$db>(
                    "SELECT COUNT(*) AS overdue FROM overrides WHERE reviewed_at IS NULL AND due_at < $1",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("overdue")?)
            }
        }

        impl $tx {
            /// Sends the held-back statement inserts and change updates.
            async fn flush_writes(&mut self) -> Result<()> {
                let statements = std::mem::take(&mut self.pending.statements);
                for chunk in statements.chunks(AUDIT_ROWS_PER_INSERT) {
                    let mut query = sqlx::query::<$db>(sql(statement_insert(chunk.len())));
                    for (id, statement) in chunk {
                        query = query
                            .bind(*id)
                            .bind(statement.change_id)
                            .bind(statement.person.clone())
                            .bind(statement.verdict.as_str())
                            .bind(statement.comment.clone())
                            .bind(statement.at)
                            .bind(statement.statement.clone())
                            .bind(statement.signature.clone());
                    }
                    query.execute(&mut *self.tx).await?;
                }
                let changes = std::mem::take(&mut self.pending.changes);
                for chunk in changes.chunks(CHANGES_PER_UPDATE) {
                    let mut query = sqlx::query::<$db>(sql(change_update(chunk.len())));
                    for change in chunk {
                        query = query
                            .bind(change.id)
                            .bind(change.name.clone())
                            .bind(change.base.clone())
                            .bind(change.head.clone())
                            .bind(change.requester.clone())
                            .bind(change.state.as_str())
                            .bind(change.verdict.as_str())
                            .bind(change.decision.clone())
                            .bind(change.owners.clone())
                            .bind(change.updated_at)
                            .bind(change.first_review_at)
                            .bind(change.allowed_at)
                            .bind(change.deployed_at);
                    }
                    query.execute(&mut *self.tx).await?;
                }
                Ok(())
            }
        }

        impl WriteTx for $tx {
            async fn change(&mut self, id: i64) -> Result<Option<ChangeRow>> {
                self.flush_writes().await?;
                select_change(&mut *self.tx, id).await
            }

            async fn find_change(
                &mut self,
                repository: &str,
                environment: &str,
                fingerprint: &str,
            ) -> Result<Option<ChangeRow>> {
                self.flush_writes().await?;
                select_change_by_key(&mut *self.tx, repository, environment, fingerprint).await
            }

            async fn siblings(
                &mut self,
                repository: &str,
                environment: &str,
                fingerprint: &str,
            ) -> Result<Vec<ChangeRow>> {
                self.flush_writes().await?;
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes \
                     WHERE repository = $1 AND environment = $2 AND fingerprint = $3 ORDER BY id"
                )))
                .bind(repository)
                .bind(environment)
                .bind(fingerprint)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(change_row).collect()
            }

            async fn changes_with_fingerprints(&mut self, fingerprints: &[String]) -> Result<Vec<ChangeRow>> {
                self.flush_writes().await?;
                let mut found = Vec::new();
                for chunk in fingerprints.chunks(IN_LIST) {
                    let mut query = sqlx::query::<$db>(sql(format!(
                        "SELECT {CHANGE_COLUMNS} FROM changes WHERE fingerprint IN ({})",
                        placeholders(1, chunk.len())
                    )));
                    for fingerprint in chunk {
                        query = query.bind(fingerprint.clone());
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        found.push(change_row(&row)?);
                    }
                }
                Ok(found)
            }

            async fn latest_statements_of(&mut self, change_ids: &[i64]) -> Result<Vec<StatementRow>> {
                self.flush_writes().await?;
                let mut found = Vec::new();
                for chunk in change_ids.chunks(IN_LIST) {
                    let mut query = sqlx::query::<$db>(sql(format!(
                        "SELECT {STATEMENT_COLUMNS} FROM statements WHERE id IN ( \
                           SELECT MAX(id) FROM statements WHERE change_id IN ({}) \
                           GROUP BY change_id, person, verdict = 'override') ORDER BY id",
                        placeholders(1, chunk.len())
                    )));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        found.push(statement_row(&row)?);
                    }
                }
                Ok(found)
            }

            async fn assignments_of(&mut self, change_ids: &[i64]) -> Result<Vec<AssignmentRow>> {
                let mut found = Vec::new();
                for chunk in change_ids.chunks(IN_LIST) {
                    let mut query = sqlx::query::<$db>(sql(format!(
                        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE change_id IN ({}) ORDER BY id",
                        placeholders(1, chunk.len())
                    )));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&mut *self.tx).await? {
                        found.push(assignment_row(&row)?);
                    }
                }
                Ok(found)
            }

            async fn insert_change(&mut self, change: &NewChange) -> Result<i64> {
                let row = sqlx::query::<$db>(
                    "INSERT INTO changes (repository, environment, fingerprint, name, base, head, requester, \
                       state, verdict, decision, owners, registered_by, created_at, updated_at, purpose, plans, \
                       plans_digest, context) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', 'blocked', '{}', '[]', $8, $9, $9, $10, $11, $12, $13) \
                     RETURNING id",
                )
                .bind(&change.repository)
                .bind(&change.environment)
                .bind(&change.fingerprint)
                .bind(change.name.as_deref())
                .bind(&change.base)
                .bind(&change.head)
                .bind(change.requester.as_deref())
                .bind(&change.registered_by)
                .bind(change.at)
                .bind(&change.purpose)
                .bind(&change.plans)
                .bind(plans_digest(&change.plans))
                .bind(&change.context)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn update_change(&mut self, change: &ChangeRow) -> Result<()> {
                match self.pending.changes.iter_mut().find(|pending| pending.id == change.id) {
                    Some(pending) => pending.clone_from(change),
                    None => self.pending.changes.push(change.clone()),
                }
                Ok(())
            }

            async fn open_named(&mut self, repository: &str, environment: &str, name: &str) -> Result<Vec<ChangeRow>> {
                self.flush_writes().await?;
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes \
                     WHERE repository = $1 AND environment = $2 AND name = $3 AND state = 'open' ORDER BY id"
                )))
                .bind(repository)
                .bind(environment)
                .bind(name)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(change_row).collect()
            }

            async fn latest_statements(&mut self, change_id: i64) -> Result<Vec<StatementRow>> {
                self.flush_writes().await?;
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE id IN ( \
                       SELECT MAX(id) FROM statements WHERE change_id = $1 \
                       GROUP BY person, verdict = 'override') ORDER BY id"
                )))
                .bind(change_id)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(statement_row).collect()
            }

            async fn insert_statement(&mut self, statement: &NewStatement) -> Result<i64> {
                let id = match self.pending.next_statement_id {
                    Some(id) => id,
                    None => {
                        let row = sqlx::query::<$db>("SELECT COALESCE(MAX(id), 0) AS last FROM statements")
                            .fetch_one(&mut *self.tx)
                            .await?;
                        row.try_get::<i64, _>("last")? + 1
                    }
                };
                self.pending.next_statement_id = Some(id + 1);
                self.pending.statements.push((id, statement.clone()));
                Ok(id)
            }

            async fn assignments(&mut self, change_id: i64) -> Result<Vec<AssignmentRow>> {
                select_assignments(&mut *self.tx, change_id).await
            }

            async fn assignment(&mut self, id: i64) -> Result<Option<AssignmentRow>> {
                let row =
                    sqlx::query::<$db>(sql(format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(&mut *self.tx)
                        .await?;
                row.as_ref().map(assignment_row).transpose()
            }

            async fn insert_assignment(
                &mut self,
                change_id: i64,
                rule: &str,
                person: &str,
                at: i64,
                escalated_from: Option<i64>,
            ) -> Result<i64> {
                let row = sqlx::query::<$db>(
                    "INSERT INTO assignments (change_id, rule, person, state, assigned_at, escalated_from) \
                     VALUES ($1, $2, $3, 'open', $4, $5) RETURNING id",
                )
                .bind(change_id)
                .bind(rule)
                .bind(person)
                .bind(at)
                .bind(escalated_from)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn set_assignment_state(&mut self, id: i64, state: AssignmentState, at: i64) -> Result<()> {
                sqlx::query::<$db>("UPDATE assignments SET state = $2, closed_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(state.as_str())
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn pick_assignment(&mut self, id: i64, at: i64) -> Result<()> {
                sqlx::query::<$db>(
                    "UPDATE assignments SET picked_up_at = $2 WHERE id = $1 AND picked_up_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn unpicked_before(&mut self, before: i64) -> Result<Vec<AssignmentRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {ASSIGNMENT_COLUMNS} FROM assignments \
                     WHERE state = 'open' AND picked_up_at IS NULL AND assigned_at < $1 ORDER BY id"
                )))
                .bind(before)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(assignment_row).collect()
            }

            async fn workload(&mut self, people: &[String]) -> Result<Vec<Workload>> {
                let mut loads = Vec::with_capacity(people.len());
                for person in people {
                    let row = sqlx::query::<$db>(
                        "SELECT COALESCE(SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END), 0) AS open, \
                           MAX(assigned_at) AS last_assigned FROM assignments WHERE person = $1",
                    )
                    .bind(person)
                    .fetch_one(&mut *self.tx)
                    .await?;
                    loads.push(Workload {
                        person: person.clone(),
                        open: row.try_get("open")?,
                        last_assigned: row.try_get("last_assigned")?,
                    });
                }
                Ok(loads)
            }

            async fn away(&mut self, people: &[String], now: i64) -> Result<Vec<String>> {
                let mut away = Vec::new();
                for person in people {
                    let row = sqlx::query::<$db>(
                        "SELECT person FROM away WHERE person = $1 AND (until IS NULL OR until > $2)",
                    )
                    .bind(person)
                    .bind(now)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                    if row.is_some() {
                        away.push(person.clone());
                    }
                }
                Ok(away)
            }

            async fn set_away(&mut self, person: &str, until: Option<i64>, note: &str, at: i64) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO away (person, until, note, set_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (person) DO UPDATE SET until = excluded.until, note = excluded.note, \
                       set_at = excluded.set_at",
                )
                .bind(person)
                .bind(until)
                .bind(note)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn clear_away(&mut self, person: &str) -> Result<bool> {
                let done =
                    sqlx::query::<$db>("DELETE FROM away WHERE person = $1").bind(person).execute(&mut *self.tx).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_override(
                &mut self,
                change_id: i64,
                person: &str,
                reason: &str,
                at: i64,
                due_at: i64,
            ) -> Result<i64> {
                let row = sqlx::query::<$db>(
                    "INSERT INTO overrides (change_id, person, reason, created_at, due_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(change_id)
                .bind(person)
                .bind(reason)
                .bind(at)
                .bind(due_at)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn override_row(&mut self, id: i64) -> Result<Option<OverrideRow>> {
                let row = sqlx::query::<$db>(sql(format!("SELECT {OVERRIDE_COLUMNS} FROM overrides WHERE id = $1")))
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(override_row).transpose()
            }

            async fn complete_override(&mut self, id: i64, by: &str, at: i64, comment: &str) -> Result<()> {
                sqlx::query::<$db>(
                    "UPDATE overrides SET reviewed_by = $2, reviewed_at = $3, review_comment = $4 \
                     WHERE id = $1 AND reviewed_at IS NULL",
                )
                .bind(id)
                .bind(by)
                .bind(at)
                .bind(comment)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_token(&mut self, token: &TokenRow) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO tokens (id, person, hash, label, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&token.id)
                .bind(&token.person)
                .bind(&token.hash)
                .bind(&token.label)
                .bind(token.created_at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn revoke_token(&mut self, id: &str, at: i64) -> Result<bool> {
                let done = sqlx::query::<$db>(
                    "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn audit(&mut self, actor: &str, action: AuditAction, subject: &str, detail: &str, at: i64) -> Result<Entry> {
                let last = match self.pending.last_audit.take() {
                    Some(last) => last,
                    None => {
                        let row = sqlx::query::<$db>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                            .fetch_optional(&mut *self.tx)
                            .await?;
                        match row {
                            Some(row) => Some((row.try_get("seq")?, row.try_get("hash")?)),
                            None => None,
                        }
                    }
                };
                let entry = Entry::next(
                    last.as_ref().map(|(seq, hash): &(i64, String)| (*seq, hash.as_str())),
                    at,
                    actor,
                    action.as_str(),
                    subject,
                    detail,
                );
                self.pending.last_audit = Some(Some((entry.seq, entry.hash.clone())));
                self.pending.audit.push(entry.clone());
                Ok(entry)
            }

            async fn insert_session(&mut self, session: &SessionRow) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO sessions (hash, person, token_id, csrf, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&session.hash)
                .bind(&session.person)
                .bind(&session.token_id)
                .bind(&session.csrf)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn end_session(&mut self, hash: &str, at: i64) -> Result<bool> {
                let done = sqlx::query::<$db>("UPDATE sessions SET ended_at = $2 WHERE hash = $1 AND ended_at IS NULL")
                    .bind(hash)
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_file_view(&mut self, person: &str, change_id: i64, path: &str, at: i64) -> Result<()> {
                self.flush_writes().await?;
                sqlx::query::<$db>(
                    "INSERT INTO file_views (person, change_id, path, opened_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (person, change_id, path) DO NOTHING",
                )
                .bind(person)
                .bind(change_id)
                .bind(path)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn file_views(&mut self, person: &str, change_id: i64) -> Result<Vec<String>> {
                select_file_views(&mut *self.tx, person, change_id).await
            }

            async fn enqueue_delivery(&mut self, url: &str, format: &str, event: &str, body: &str, at: i64) -> Result<i64> {
                let row = sqlx::query::<$db>(
                    "INSERT INTO deliveries (url, format, event, body, created_at, next_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                )
                .bind(url)
                .bind(format)
                .bind(event)
                .bind(body)
                .bind(at)
                .fetch_one(&mut *self.tx)
                .await?;
                Ok(row.try_get("id")?)
            }

            async fn claim_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY next_at, id LIMIT $2"
                )))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?;
                let rows: Vec<DeliveryRow> = rows.iter().map(delivery_row).collect::<Result<_>>()?;
                for row in &rows {
                    sqlx::query::<$db>("UPDATE deliveries SET next_at = $2 WHERE id = $1")
                        .bind(row.id)
                        .bind(lease_until)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(rows)
            }

            async fn delivery_done(&mut self, id: i64, attempts: i64, at: i64) -> Result<()> {
                sqlx::query::<$db>("UPDATE deliveries SET delivered_at = $2, attempts = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(attempts)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn delivery_failed(
                &mut self,
                id: i64,
                attempts: i64,
                next_at: Option<i64>,
                error: &str,
                at: i64,
            ) -> Result<()> {
                sqlx::query::<$db>(
                    "UPDATE deliveries SET attempts = $2, next_at = COALESCE($3, next_at), last_error = $4, \
                       failed_at = CASE WHEN $3 IS NULL THEN $5 ELSE NULL END \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(attempts)
                .bind(next_at)
                .bind(error)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn overdue_unannounced(&mut self, now: i64) -> Result<Vec<OverrideRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM overrides \
                     WHERE reviewed_at IS NULL AND due_at < $1 AND overdue_notified_at IS NULL ORDER BY id"
                )))
                .bind(now)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(override_row).collect()
            }

            async fn mark_overdue_announced(&mut self, id: i64, at: i64) -> Result<()> {
                sqlx::query::<$db>("UPDATE overrides SET overdue_notified_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn set_change_context(&mut self, id: i64, context: &str) -> Result<()> {
                self.flush_writes().await?;
                sqlx::query::<$db>("UPDATE changes SET context = $2 WHERE id = $1")
                    .bind(id)
                    .bind(context)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn insert_github_event(&mut self, delivery: &str, event: &str, body: &str, at: i64) -> Result<bool> {
                use sha2::Digest as _;
                let digest = hex::encode(sha2::Sha256::digest(body.as_bytes()));
                let done = sqlx::query::<$db>(
                    "INSERT INTO github_events (delivery, event, body, digest, received_at, next_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
                )
                .bind(delivery)
                .bind(event)
                .bind(body)
                .bind(digest)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn claim_github_events(&mut self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<GithubEventRow>> {
                let rows = sqlx::query::<$db>(sql(format!(
                    "SELECT {GITHUB_EVENT_COLUMNS} FROM github_events \
                     WHERE done_at IS NULL AND failed_at IS NULL AND next_at <= $1 ORDER BY received_at, delivery LIMIT $2"
                )))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self.tx)
                .await?;
                let rows: Vec<GithubEventRow> = rows.iter().map(github_event_row).collect::<Result<_>>()?;
                for row in &rows {
                    sqlx::query::<$db>("UPDATE github_events SET next_at = $2 WHERE delivery = $1")
                        .bind(&row.delivery)
                        .bind(lease_until)
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(rows)
            }

            async fn github_event_done(&mut self, delivery: &str, attempts: i64, at: i64) -> Result<()> {
                sqlx::query::<$db>("UPDATE github_events SET done_at = $2, attempts = $3 WHERE delivery = $1")
                    .bind(delivery)
                    .bind(at)
                    .bind(attempts)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn github_event_failed(
                &mut self,
                delivery: &str,
                attempts: i64,
                next_at: Option<i64>,
                error: &str,
                at: i64,
            ) -> Result<()> {
                sqlx::query::<$db>(
                    "UPDATE github_events SET attempts = $2, next_at = COALESCE($3, next_at), last_error = $4, \
                       failed_at = CASE WHEN $3 IS NULL THEN $5 ELSE NULL END \
                     WHERE delivery = $1",
                )
                .bind(delivery)
                .bind(attempts)
                .bind(next_at)
                .bind(error)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn set_check_run(&mut self, check: &CheckRunRow) -> Result<()> {
                sqlx::query::<$db>(
                    "INSERT INTO github_checks (change_id, repository, check_run_id, installation) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (change_id) DO UPDATE SET repository = excluded.repository, \
                       check_run_id = excluded.check_run_id, installation = excluded.installation",
                )
                .bind(check.change_id)
                .bind(&check.repository)
                .bind(check.check_run_id)
                .bind(check.installation)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_gate(&mut self, gate: &GateRow) -> Result<bool> {
                let done = sqlx::query::<$db>(
                    "INSERT INTO github_gates (callback_url, change_id, repository, environment, installation, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (callback_url) DO NOTHING",
                )
                .bind(&gate.callback_url)
                .bind(gate.change_id)
                .bind(&gate.repository)
                .bind(&gate.environment)
                .bind(gate.installation)
                .bind(gate.created_at)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn answer_gate(&mut self, callback_url: &str, answer: &str, at: i64) -> Result<()> {
                sqlx::query::<$db>("UPDATE github_gates SET answered = $2, answered_at = $3 WHERE callback_url = $1")
                    .bind(callback_url)
                    .bind(answer)
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn commit(mut self) -> Result<()> {
                self.flush_writes().await?;
                for chunk in self.pending.audit.chunks(AUDIT_ROWS_PER_INSERT) {
                    let mut query = sqlx::query::<$db>(sql(audit_insert(chunk.len())));
                    for entry in chunk {
                        query = query
                            .bind(entry.seq)
                            .bind(entry.at)
                            .bind(&entry.actor)
                            .bind(&entry.action)
                            .bind(&entry.subject)
                            .bind(&entry.detail)
                            .bind(&entry.prev_hash)
                            .bind(&entry.hash);
                    }
                    query.execute(&mut *self.tx).await?;
                }
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

mod sqlite_impl {
    use super::*;
    backend!(SqliteStore, SqliteTx, Sqlite, sqlx::sqlite::SqliteRow);
}

mod postgres_impl {
    use super::*;
    backend!(PostgresStore, PostgresTx, Postgres, sqlx::postgres::PgRow);
}
