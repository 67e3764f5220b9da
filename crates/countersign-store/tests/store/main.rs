//! The store on both backends: the same story against SQLite and PostgreSQL.

use countersign_core::attestation::Verdict;
use countersign_core::audit::{Broken, ChainVerifier};
use countersign_core::evaluate::GateVerdict;
use countersign_core::lifecycle::AuditAction;
use countersign_store::{
    AuditFilter, CheckRunRow, GateRow, NewChange, NewStatement, PostgresStore, SessionRow, SqliteStore, Store,
    TokenRow, WriteTx, token_hash,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// A fresh PostgreSQL database of the tests' server (see countersign-testkit), dropped at the end.
struct PostgresDatabase {
    name: String,
}

impl PostgresDatabase {
    async fn create(label: &str) -> PostgresDatabase {
        use sqlx::Connection;
        let name = format!("countersign_store_{label}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&countersign_testkit::postgres().admin_url())
            .await
            .expect("the tests' PostgreSQL accepts connections");
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut admin)
            .await
            .expect("drop");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create");
        PostgresDatabase { name }
    }

    fn url(&self) -> String {
        countersign_testkit::postgres().url(&self.name)
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&countersign_testkit::postgres().admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

async fn verify<S: Store>(store: &S) -> Result<u64, Broken> {
    let mut verifier = ChainVerifier::default();
    for entry in store.audit_page(0, 10_000).await.expect("audit page") {
        verifier.push(&entry)?;
    }
    Ok(verifier.finish().0)
}

/// Changes, statements, tokens and the audit chain; then an edit and a deletion are caught.
async fn story<S: Store>(store: S, tamper: impl AsyncFn(&str)) {
    let mut tx = store.begin().await.expect("begin");
    let id = tx
        .insert_change(&NewChange {
            repository: "shop".to_owned(),
            environment: "production".to_owned(),
            fingerprint: "sha256:aa".to_owned(),
            name: Some("feature".to_owned()),
            base: "b".to_owned(),
            head: "h".to_owned(),
            requester: Some("bob".to_owned()),
            registered_by: "ci".to_owned(),
            at: 1_000,
            purpose: "deploy".to_owned(),
            plans: "[]".to_owned(),
            context: String::new(),
        })
        .await
        .expect("insert change");
    tx.audit("ci", AuditAction::ChangeRegistered, &format!("change/{id}"), "{}", 1_000).await.expect("audit");
    tx.insert_statement(&NewStatement {
        change_id: id,
        person: "alice".to_owned(),
        verdict: Verdict::Approve,
        comment: "ok".to_owned(),
        at: 2_000,
        statement: "{\"type\":\"x\"}".to_owned(),
        signature: "sig".to_owned(),
    })
    .await
    .expect("statement");
    tx.audit("alice", AuditAction::ApprovalRecorded, &format!("change/{id}"), "{\"statement\":1}", 2_000)
        .await
        .expect("audit");
    tx.insert_token(&TokenRow {
        id: "t1".to_owned(),
        person: "alice".to_owned(),
        hash: token_hash("cst_t1_secret"),
        label: "laptop".to_owned(),
        created_at: 3_000,
        revoked_at: None,
    })
    .await
    .expect("token");
    tx.commit().await.expect("commit");

    // Held-back writes are visible to the transaction's own reads, and ids keep counting.
    let mut tx = store.begin().await.expect("begin");
    let statement = |verdict: Verdict, at: i64| NewStatement {
        change_id: id,
        person: "carol".to_owned(),
        verdict,
        comment: String::new(),
        at,
        statement: "{}".to_owned(),
        signature: "sig".to_owned(),
    };
    let first = tx.insert_statement(&statement(Verdict::Approve, 2_100)).await.expect("statement");
    let second = tx.insert_statement(&statement(Verdict::Reject, 2_200)).await.expect("statement");
    let broke_glass = tx.insert_statement(&statement(Verdict::Override, 2_300)).await.expect("statement");
    assert_eq!((first, second, broke_glass), (2, 3, 4));
    let latest: Vec<(String, Verdict)> =
        tx.latest_statements(id).await.expect("latest").into_iter().map(|row| (row.person, row.verdict)).collect();
    let expected = [("alice", Verdict::Approve), ("carol", Verdict::Reject), ("carol", Verdict::Override)];
    assert_eq!(latest, expected.map(|(person, verdict)| (person.to_owned(), verdict)));
    let mut change = tx.change(id).await.expect("change").expect("found");
    change.verdict = GateVerdict::Allowed;
    change.allowed_at = Some(2_300);
    tx.update_change(&change).await.expect("update");
    change.decision = "{\"verdict\":\"allowed\"}".to_owned();
    tx.update_change(&change).await.expect("update again");
    let read = tx.find_change("shop", "production", "sha256:aa").await.expect("find").expect("found");
    assert_eq!(
        (read.verdict.as_str(), read.allowed_at, read.decision.as_str()),
        ("allowed", Some(2_300), change.decision.as_str())
    );
    assert!(store.last_deployed("shop", "production").await.expect("last deployed").is_none());
    change.deployed_at = Some(2_400);
    tx.update_change(&change).await.expect("record the deployment");
    tx.commit().await.expect("commit");
    let deployed = store.last_deployed("shop", "production").await.expect("last deployed").expect("one");
    assert_eq!((deployed.id, deployed.deployed_at), (id, Some(2_400)));
    assert!(store.last_deployed("shop", "staging").await.expect("last deployed").is_none());
    assert_eq!(store.statements_for(None, "sha256:aa", "production").await.expect("statements").len(), 4);
    assert_eq!(store.change(id).await.expect("change").expect("found").verdict, GateVerdict::Allowed);

    // A rolled-back transaction leaves nothing, not even its audit entries.
    let mut tx = store.begin().await.expect("begin");
    tx.audit("mallory", AuditAction::ApprovalRecorded, "change/1", "{}", 4_000).await.expect("audit");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.revoke_token("t1", 5_000).await.expect("revoke"));
    assert!(!tx.revoke_token("t1", 6_000).await.expect("revoke twice"));
    tx.audit("admin", AuditAction::TokenRevoked, "token/t1", "{}", 5_000).await.expect("audit");
    tx.commit().await.expect("commit");

    let change = store.find_change("shop", "production", "sha256:aa").await.expect("find").expect("found");
    assert_eq!((change.id, change.state.as_str(), change.requester.as_deref()), (id, "open", Some("bob")));
    assert_eq!(store.statements_for(None, "sha256:aa", "production").await.expect("by fingerprint").len(), 4);
    // The same patch in another repository has none of this one's statements.
    assert_eq!(store.statements_for(Some("shop"), "sha256:aa", "production").await.expect("in shop").len(), 4);
    assert!(store.statements_for(Some("billing"), "sha256:aa", "production").await.expect("in billing").is_empty());
    let token = store.token(&token_hash("cst_t1_secret")).await.expect("token").expect("found");
    assert_eq!((token.person.as_str(), token.revoked_at), ("alice", Some(5_000)));
    assert!(!format!("{token:?}").contains(&token.hash), "Debug shows no token hash");
    assert_eq!(verify(&store).await, Ok(3));
    web(&store, id).await;
    github(&store, id).await;

    tamper("UPDATE audit SET actor = 'mallory' WHERE seq = 2").await;
    let broken = verify(&store).await.expect_err("an edited entry is caught");
    assert_eq!(broken.seq, 2);
    assert!(broken.problem.contains("altered"), "{broken}");

    tamper("UPDATE audit SET actor = 'alice' WHERE seq = 2").await;
    assert_eq!(verify(&store).await, Ok(3));
    tamper("DELETE FROM audit WHERE seq = 2").await;
    let broken = verify(&store).await.expect_err("a deleted entry is caught");
    assert_eq!(broken.seq, 3);
    assert!(broken.problem.contains("missing"), "{broken}");
}

/// Sessions end with their token, file views are kept once, deliveries are leased and retried, an
/// overdue review is announced once, and the audit log filters.
async fn web<S: Store>(store: &S, change_id: i64) {
    let mut tx = store.begin().await.expect("begin");
    let session = SessionRow {
        hash: "s1".to_owned(),
        person: "alice".to_owned(),
        token_id: "t1".to_owned(),
        csrf: "c1".to_owned(),
        created_at: 7_000,
        expires_at: 9_000,
        ended_at: None,
        token_revoked_at: None,
    };
    tx.insert_session(&session).await.expect("session");
    tx.record_file_view("alice", change_id, "b.rs", 7_100).await.expect("view");
    tx.record_file_view("alice", change_id, "a.rs", 7_200).await.expect("view");
    tx.record_file_view("alice", change_id, "a.rs", 7_300).await.expect("a second view is kept once");
    assert_eq!(tx.file_views("alice", change_id).await.expect("views"), ["a.rs", "b.rs"]);
    let first = tx.enqueue_delivery("http://hook", "json", "review.assigned", "{}", 7_000).await.expect("queue");
    let second = tx.enqueue_delivery("http://slack", "slack", "review.assigned", "{}", 7_000).await.expect("queue");
    let overridden = tx.insert_override(change_id, "alice", "outage", 7_000, 7_500).await.expect("override");
    tx.commit().await.expect("commit");

    let read = store.session("s1").await.expect("session").expect("found");
    // The token it was signed in with was revoked earlier in the story: the session says so.
    assert_eq!((read.person.as_str(), read.token_revoked_at), ("alice", Some(5_000)));
    assert!(!format!("{read:?}").contains("c1"), "Debug shows no CSRF token");
    assert!(store.session("s2").await.expect("session").is_none());
    assert_eq!(store.file_views("bob", change_id).await.expect("views"), Vec::<String>::new());

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.end_session("s1", 8_000).await.expect("end"));
    assert!(!tx.end_session("s1", 8_100).await.expect("end twice"));
    let claimed: Vec<i64> =
        tx.claim_deliveries(8_000, 68_000, 10).await.expect("claim").iter().map(|row| row.id).collect();
    assert_eq!(claimed, [first, second]);
    assert!(tx.claim_deliveries(8_000, 68_000, 10).await.expect("claim").is_empty(), "leased");
    tx.delivery_done(first, 1, 8_100).await.expect("done");
    tx.delivery_failed(second, 1, Some(9_000), "503", 8_100).await.expect("retry later");
    assert_eq!(
        tx.overdue_unannounced(8_000).await.expect("overdue").iter().map(|row| row.id).collect::<Vec<_>>(),
        [overridden]
    );
    tx.mark_overdue_announced(overridden, 8_000).await.expect("announced");
    assert!(tx.overdue_unannounced(9_000).await.expect("overdue").is_empty());
    let due: Vec<i64> = tx.claim_deliveries(9_000, 69_000, 10).await.expect("claim").iter().map(|row| row.id).collect();
    assert_eq!(due, [second], "retried when due");
    tx.delivery_failed(second, 2, None, "gone", 9_100).await.expect("give up");
    tx.commit().await.expect("commit");
    assert_eq!(store.session("s1").await.expect("session").expect("found").ended_at, Some(8_000));
    let deliveries = store.deliveries(10).await.expect("deliveries");
    let states: Vec<(i64, Option<i64>, Option<i64>, i64)> =
        deliveries.iter().map(|row| (row.id, row.delivered_at, row.failed_at, row.attempts)).collect();
    assert_eq!(states, [(second, None, Some(9_100), 2), (first, Some(8_100), None, 1)]);

    let search = |filter: AuditFilter| async move {
        store.audit_search(&filter).await.expect("search").iter().map(|entry| entry.seq).collect::<Vec<_>>()
    };
    let subject = Some(format!("change/{change_id}"));
    assert_eq!(search(AuditFilter { subject: subject.clone(), ..AuditFilter::default() }).await, [2, 1]);
    assert_eq!(search(AuditFilter { actor: Some("admin".to_owned()), ..AuditFilter::default() }).await, [3]);
    assert_eq!(search(AuditFilter { action: Some("approval.".to_owned()), ..AuditFilter::default() }).await, [2]);
    assert_eq!(search(AuditFilter { subject, before_seq: Some(2), ..AuditFilter::default() }).await, [1]);
    assert_eq!(store.audit_head().await.expect("head").map(|entry| entry.seq), Some(3));
    assert_eq!(store.changes_since(0, 10).await.expect("changes").len(), 1);
    let named = store.named_changes("shop", "production", "feature", 5).await.expect("named");
    assert_eq!(named.iter().map(|row| row.id).collect::<Vec<_>>(), [change_id]);
    assert!(store.named_changes("shop", "staging", "feature", 5).await.expect("named").is_empty());
    assert_eq!(store.statements_since(2_150).await.expect("statements").len(), 2);
    assert_eq!(store.overrides_since(0).await.expect("overrides").len(), 1);
    assert!(store.assignments_since(0).await.expect("assignments").is_empty());
}

/// Webhook deliveries are kept once per delivery id, leased, retried and given up; check runs
/// and protection rules are remembered per change; a registration's context can be replaced.
async fn github<S: Store>(store: &S, change_id: i64) {
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.insert_github_event("d1", "pull_request", "{}", 10_000).await.expect("queue"));
    assert!(!tx.insert_github_event("d1", "pull_request", "{\"other\":1}", 10_100).await.expect("a replay"));
    assert!(!tx.insert_github_event("d9", "pull_request", "{}", 10_150).await.expect("the same body, another id"));
    assert!(tx.insert_github_event("d2", "ping", "{\"zen\":1}", 10_200).await.expect("queue"));
    let claimed: Vec<String> =
        tx.claim_github_events(10_500, 70_000, 10).await.expect("claim").into_iter().map(|row| row.delivery).collect();
    assert_eq!(claimed, ["d1", "d2"]);
    assert!(tx.claim_github_events(10_500, 70_000, 10).await.expect("claim").is_empty(), "leased");
    tx.github_event_done("d2", 1, 10_600).await.expect("done");
    tx.github_event_failed("d1", 1, Some(11_000), "busy", 10_600).await.expect("retry");
    let due: Vec<String> =
        tx.claim_github_events(11_000, 71_000, 10).await.expect("claim").into_iter().map(|row| row.delivery).collect();
    assert_eq!(due, ["d1"]);
    tx.github_event_failed("d1", 2, None, "unreadable", 11_100).await.expect("give up");
    tx.set_check_run(&CheckRunRow {
        change_id,
        repository: "o/shop".to_owned(),
        check_run_id: 5,
        installation: Some(1),
    })
    .await
    .expect("check run");
    tx.set_check_run(&CheckRunRow {
        change_id,
        repository: "o/shop".to_owned(),
        check_run_id: 6,
        installation: Some(1),
    })
    .await
    .expect("replaced");
    let gate = GateRow {
        callback_url: "https://api.github.com/repos/o/shop/actions/runs/1/deployment_protection_rule".to_owned(),
        change_id,
        repository: "o/shop".to_owned(),
        environment: "production".to_owned(),
        installation: Some(1),
        created_at: 11_200,
        answered: None,
        answered_at: None,
    };
    assert!(tx.insert_gate(&gate).await.expect("gate"));
    assert!(!tx.insert_gate(&gate).await.expect("the same callback again"));
    tx.set_change_context(change_id, "{\"number\":7}").await.expect("context");
    tx.commit().await.expect("commit");

    let events: Vec<(String, Option<i64>, Option<i64>, i64)> = store
        .github_events(10)
        .await
        .expect("events")
        .into_iter()
        .map(|row| (row.delivery, row.done_at, row.failed_at, row.attempts))
        .collect();
    assert_eq!(events, [("d2".to_owned(), Some(10_600), None, 1), ("d1".to_owned(), None, Some(11_100), 2)]);
    assert_eq!(store.check_run(change_id).await.expect("check run").map(|row| row.check_run_id), Some(6));
    assert_eq!(store.unanswered_gates(10).await.expect("gates").len(), 1);
    let mut tx = store.begin().await.expect("begin");
    tx.answer_gate(&gate.callback_url, "approved", 12_000).await.expect("answer");
    tx.commit().await.expect("commit");
    assert!(store.unanswered_gates(10).await.expect("gates").is_empty());
    let answered = store.gates_of(&[change_id]).await.expect("gates");
    assert_eq!((answered[0].answered.as_deref(), answered[0].answered_at), (Some("approved"), Some(12_000)));
    assert_eq!(store.change(change_id).await.expect("change").expect("found").context, "{\"number\":7}");
}

#[test]
fn story_on_sqlite() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("nested/countersign.db")).await.expect("open");
        let pool = store.pool().clone();
        story(store, async |statement: &str| {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&pool).await.expect("tamper");
        })
        .await;
        // Opening again applies no migration twice.
        SqliteStore::open(&dir.path().join("nested/countersign.db")).await.expect("reopen");
    });
}

#[test]
fn story_on_postgres() {
    runtime().block_on(async {
        let database = PostgresDatabase::create("story").await;
        let store = PostgresStore::open(&database.url()).await.expect("open");
        let pool = store.pool().clone();
        story(store, async |statement: &str| {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&pool).await.expect("tamper");
        })
        .await;
        PostgresStore::open(&database.url()).await.expect("reopen");
    });
}
