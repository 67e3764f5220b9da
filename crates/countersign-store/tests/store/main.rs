//! The store on both backends: the same story against SQLite and PostgreSQL.

use countersign_core::attestation::Verdict;
use countersign_core::audit::{Broken, ChainVerifier};
use countersign_core::evaluate::GateVerdict;
use countersign_core::lifecycle::AuditAction;
use countersign_store::{NewChange, NewStatement, PostgresStore, SqliteStore, Store, TokenRow, WriteTx, token_hash};

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
