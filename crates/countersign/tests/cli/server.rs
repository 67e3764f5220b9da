//! The approval service end to end: real `countersign serve` processes over SQLite and
//! PostgreSQL, real clones, the CLI clients and the JSON API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ssh_key::LineEnding;

use crate::util::{POLICY, TestRepo, key, stderr, stdout};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// A database for one test: a SQLite file or a fresh PostgreSQL database (dropped at the end).
pub(crate) enum Database {
    Sqlite(PathBuf),
    /// The database's name, and a folder for the servers' signed checkpoints.
    Postgres(String, tempfile::TempDir),
}

impl Database {
    pub(crate) fn sqlite(dir: &Path) -> Database {
        Database::Sqlite(dir.join("countersign.db"))
    }

    pub(crate) fn postgres(label: &str) -> Database {
        let name = format!("countersign_cli_{label}_{}", std::process::id());
        execute(&countersign_testkit::postgres().admin_url(), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        execute(&countersign_testkit::postgres().admin_url(), &format!("CREATE DATABASE {name}"));
        Database::Postgres(name, tempfile::tempdir().expect("temp dir"))
    }

    /// Where the servers append signed audit checkpoints.
    fn checkpoints(&self) -> PathBuf {
        match self {
            Database::Sqlite(path) => PathBuf::from(format!("{}.checkpoints.jsonl", path.display())),
            Database::Postgres(_, dir) => dir.path().join("checkpoints.jsonl"),
        }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(name, _) => countersign_testkit::postgres().url(name),
        }
    }

    /// Runs one SQL statement directly, as an attacker with database access would.
    pub(crate) fn execute(&self, statement: &str) {
        match self {
            Database::Sqlite(path) => runtime().block_on(async {
                let store = countersign_store::SqliteStore::open(path).await.expect("open");
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(store.pool()).await.expect("execute");
            }),
            Database::Postgres(..) => execute(&self.url(), statement),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres(name, _) = self {
            execute(
                &countersign_testkit::postgres().admin_url(),
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn execute(url: &str, statement: &str) {
    runtime().block_on(async {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(url).await.expect("the tests' PostgreSQL accepts connections");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut connection).await.expect("execute");
    });
}

/// A fixture repository whose policy trusts the test server's key, a bare mirror of it for the
/// server's `--repos`, and the key file.
pub(crate) struct Fixture {
    pub(crate) repo: TestRepo,
    repos: PathBuf,
    signing_key: PathBuf,
}

pub(crate) const SERVER_KEY_SEED: u8 = 42;

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture::with_rules("")
    }

    /// The fixture with more rules after the example policy's.
    pub(crate) fn with_rules(rules: &str) -> Fixture {
        let repo = TestRepo::new();
        let server_key = key(SERVER_KEY_SEED);
        let public = server_key.public_key().to_openssh().expect("encodable");
        repo.write(".countersign/policy.toml", &format!("{POLICY}\n{rules}\n[server]\nkeys = [\"{public}\"]\n"));
        repo.commit_as(
            "alice",
            "docs/server.md",
            "The approval service signs for people.\n",
            "Trust the approval service",
        );
        let signing_key = repo.temp.path().join("server.key");
        std::fs::write(&signing_key, server_key.to_openssh(LineEnding::LF).expect("encodable").as_bytes())
            .expect("key");
        let repos = repo.temp.path().join("repos");
        let fixture = Fixture { repo, repos, signing_key };
        fixture.mirror(&fixture.repos);
        fixture
    }

    /// A `--repos` folder with a mirror of the fixture repository, as each server node has.
    fn mirror(&self, repos: &Path) {
        std::fs::create_dir_all(repos).expect("repos");
        let output = Command::new("git")
            .args(["clone", "--quiet", "--mirror"])
            .arg(self.repo.path())
            .arg(repos.join("shop"))
            .output()
            .expect("git clone runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    /// An AI-assisted change by bob (junior) to the tier-0 checkout service on branch `name`.
    pub(crate) fn bob_change(&self, name: &str, contents: &str) -> String {
        self.repo.git(&["checkout", "-q", "-B", name, "main"]);
        self.repo.commit_as(
            "bob",
            "services/checkout/cart.py",
            contents,
            "Multiply by quantity\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
        )
    }

    /// Another AI-assisted commit by bob on the current branch.
    pub(crate) fn bob_change_more(&self, contents: &str) -> String {
        self.repo.commit_as(
            "bob",
            "services/checkout/cart.py",
            contents,
            "Default to zero\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
        )
    }

    pub(crate) fn start(&self, database: &Database, extra: &[&str]) -> Server {
        Server::start(database, &self.repos, &self.signing_key, extra, &[])
    }

    pub(crate) fn token(&self, database: &Database, person: &str) -> String {
        let people = self.repo.path().join(".countersign/people.toml");
        let people = people.to_str().expect("a UTF-8 path");
        let url = database.url();
        let mut args = vec!["token", "create", "--database-url", &url, "--person", person, "--people", people];
        // Ids outside the fixture's directory stand for pipelines (or intruders).
        if !crate::util::PEOPLE.iter().any(|(id, ..)| *id == person) {
            args.push("--pipeline");
        }
        let output = countersign(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output).trim().to_owned()
    }

    /// The CLI in the fixture repository, against a server.
    pub(crate) fn cli(&self, server: &Server, token: &str, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--server", &server.url, "--token", token, "--format", "json"]);
        let output = self.repo.countersign(&all);
        let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code().expect("exit code"), value)
    }

    pub(crate) fn register(&self, server: &Server, token: &str, head: &str) -> (i32, Value) {
        self.cli(
            server,
            token,
            &[
                "register",
                "--repository",
                "shop",
                "--base",
                "main",
                "--head",
                head,
                "--requester",
                "bob",
                "--name",
                head,
            ],
        )
    }
}

pub(crate) fn countersign(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_countersign")).args(args).output().expect("countersign runs")
}

/// A running `countersign serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    fn start(database: &Database, repos: &Path, signing_key: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database.url()])
            .arg("--checkpoints")
            .arg(database.checkpoints())
            .arg("--repos")
            .arg(repos)
            .arg("--signing-key")
            .arg(signing_key)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = Vec::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("serve stopped before listening: {seen:?} {:?}", child.wait());
            };
            if let Some(url) = line.strip_prefix("countersign: listening on ") {
                break url.to_owned();
            }
            seen.push(line);
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build(),
    )
}

/// One API call: the status and the JSON (or text) answer.
pub(crate) fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", server.url);
    let agent = agent();
    let bearer = token.map(|token| format!("Bearer {token}"));
    let response = match method {
        "GET" => {
            let mut request = agent.get(&url);
            if let Some(bearer) = &bearer {
                request = request.header("Authorization", bearer);
            }
            request.call()
        }
        _ => {
            let mut request = agent.post(&url);
            if let Some(bearer) = &bearer {
                request = request.header("Authorization", bearer);
            }
            request.send_json(body.unwrap_or_else(|| json!({})))
        }
    };
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(crate) fn approve(server: &Server, token: &str, fingerprint: &str, verdict: &str) -> (u16, Value) {
    let body = json!({"repository": "shop", "fingerprint": fingerprint, "verdict": verdict, "comment": "checked"});
    call(server, "POST", "/api/approvals", Some(token), Some(body))
}

pub(crate) fn audit_entries(database: &Database) -> Vec<Value> {
    let output = countersign(&["audit", "export", "--database-url", &database.url()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stdout(&output).lines().map(|line| serde_json::from_str(line).expect("one JSON entry per line")).collect()
}

/// `audit verify` against the server's signed checkpoints.
pub(crate) fn audit_verify(database: &Database) -> (i32, Value) {
    let mut args = audit_verify_args(database);
    args.extend(["--format".to_owned(), "json".to_owned()]);
    let output = countersign(&args.iter().map(String::as_str).collect::<Vec<_>>());
    (output.status.code().expect("exit code"), serde_json::from_slice(&output.stdout).unwrap_or(Value::Null))
}

fn audit_verify_args(database: &Database) -> Vec<String> {
    let server_key = key(SERVER_KEY_SEED).public_key().to_openssh().expect("encodable");
    let checkpoints = database.checkpoints().display().to_string();
    ["audit", "verify", "--database-url", &database.url(), "--checkpoints", &checkpoints, "--server-key", &server_key]
        .map(str::to_owned)
        .to_vec()
}

fn detail(entry: &Value) -> Value {
    serde_json::from_str(entry["detail"].as_str().expect("detail")).expect("detail is JSON")
}

/// register → blocked → approve → allowed → new commit → blocked again → override → after-the-fact
/// review, with `check --server` verifying the server's signatures at each step.
fn story(database: &Database) {
    let fixture = Fixture::new();
    let head = fixture.bob_change("feature", "def total(items):\n    return sum(i.price * i.qty for i in items)\n");
    let server = fixture.start(database, &[]);
    let [ci, alice, bob, carol, erin] = ["ci-bot", "alice", "bob", "carol", "erin"].map(|p| fixture.token(database, p));
    let check = || {
        let (code, decision) =
            fixture.repo.check(&["--requester", "bob", "--server", &server.url, "--repository", "shop"]);
        (code, decision["verdict"].as_str().unwrap_or("?").to_owned())
    };

    // Registered by the pipeline: blocked, and the review goes to the senior owner.
    let (code, change) = fixture.register(&server, &ci, "feature");
    assert_eq!((code, change["verdict"].as_str()), (1, Some("blocked")), "{change}");
    assert_eq!(change["head"], head.as_str());
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
    let routed: Vec<&str> = change["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| a["person"].as_str().unwrap_or("?"))
        .collect();
    assert!(routed.contains(&"alice"), "tier-0 review goes to the owner: {routed:?}");
    let metrics = call(&server, "GET", "/metrics", None, None).1;
    let depth =
        format!("countersign_queue_depth{{reviewer=\"alice\"}} {}", routed.iter().filter(|p| **p == "alice").count());
    assert!(metrics.as_str().expect("text").contains(&depth), "{depth} in {metrics}");
    assert_eq!(check(), (1, "blocked".to_owned()));

    // Alice approves from her checkout: the CLI computes the fingerprint she looked at.
    let (code, answer) = fixture.cli(
        &server,
        &alice,
        &["approve", "--repo", ".", "--base", "main", "--head", "feature", "--repository", "shop", "--comment", "ok"],
    );
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["change"]["verdict"], "allowed");
    assert_eq!(check(), (0, "allowed".to_owned()), "check --server verifies the server's attestation");
    // The same patch checked as another repository's: approvals of shop's change do not count.
    let (code, decision) =
        fixture.repo.check(&["--requester", "bob", "--server", &server.url, "--repository", "billing"]);
    assert_eq!((code, decision["verdict"].as_str()), (1, Some("blocked")), "{decision}");
    assert_eq!(decision["approvals"], serde_json::json!([]), "{decision}");
    let (code, decision) = fixture.repo.check(&["--requester", "bob", "--server", &server.url, "--repository", "shop"]);
    assert_eq!((code, decision["approvals"][0]["person"].as_str()), (0, Some("alice")));

    // A duplicate approval is acknowledged, not recorded twice.
    let (status, answer) = approve(&server, &alice, &fingerprint, "approve");
    assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)));

    // Bob pushes again: a new fingerprint, blocked again; the old head is superseded.
    fixture.repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 1\n", "Simplify");
    let (code, newer) = fixture.register(&server, &ci, "feature");
    assert_eq!((code, newer["verdict"].as_str()), (1, Some("blocked")), "{newer}");
    assert_ne!(newer["fingerprint"], fingerprint.as_str());
    let new_fingerprint = newer["fingerprint"].as_str().expect("fingerprint").to_owned();
    assert_eq!(check(), (1, "blocked".to_owned()));
    let (_, older) = call(&server, "GET", &format!("/api/changes/{}", change["id"]), Some(&ci), None);
    assert_eq!(older["state"], "superseded");

    // Break-glass: bob is too junior; carol (staff) overrides with a reason.
    let override_args = [
        "override",
        "--repository",
        "shop",
        "--fingerprint",
        &new_fingerprint,
        "--reason",
        "checkout is down for every customer",
    ];
    let (code, _) = fixture.cli(&server, &bob, &override_args);
    assert_eq!(code, 2);
    let (code, answer) = fixture.cli(&server, &carol, &override_args);
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["change"]["verdict"], "overridden");
    assert_eq!(check(), (0, "overridden".to_owned()), "the override is a signed attestation too");
    let override_id = answer["override"]["id"].as_i64().expect("override id").to_string();

    // The after-the-fact review: pending, not by carol herself nor by bob; erin completes it.
    let (_, pending) = call(&server, "GET", "/api/overrides", Some(&erin), None);
    assert_eq!((pending["pending"].as_u64(), pending["overdue"].as_u64()), (Some(1), Some(0)));
    let (code, _) = fixture.cli(&server, &carol, &["review-override", &override_id, "--comment", "mine"]);
    assert_eq!(code, 2);
    let (code, _) = fixture.cli(&server, &bob, &["review-override", &override_id]);
    assert_eq!(code, 2);
    let (code, answer) = fixture.cli(&server, &erin, &["review-override", &override_id, "--comment", "fine"]);
    assert_eq!((code, answer["override"]["reviewed_by"].as_str()), (0, Some("erin")), "{answer}");
    let (_, pending) = call(&server, "GET", "/api/overrides", Some(&erin), None);
    assert_eq!(pending["pending"], 0);

    // The pipeline's final question is recorded.
    let (code, deployed) = fixture.cli(&server, &ci, &["deploy", "--change", &newer["id"].to_string()]);
    assert_eq!((code, deployed["verdict"].as_str()), (0, Some("overridden")));

    assert_eq!(audit_verify(database).0, 0);
    let actions: Vec<String> = audit_entries(database)
        .iter()
        .map(|entry| format!("{} {}", entry["actor"].as_str().unwrap_or("?"), entry["action"].as_str().unwrap_or("?")))
        .collect();
    insta::assert_snapshot!("server_story_audit", actions.join("\n"));

    let metrics = call(&server, "GET", "/metrics", None, None).1;
    let metrics = metrics.as_str().expect("text");
    for expected in [
        "countersign_decisions_total{verdict=\"blocked\"}",
        "countersign_decisions_total{verdict=\"overridden\"}",
        "countersign_statements_total{verdict=\"approve\"} 1",
        "countersign_overrides_total 1",
        "countersign_refused_total{reason=\"level-too-low\"} 1",
        "countersign_time_to_first_review_seconds_bucket",
        "countersign_time_to_approval_seconds_count 1",
        "countersign_overdue_reviews 0",
        "countersign_queue_depth{reviewer=\"alice\"} 0",
    ] {
        assert!(metrics.contains(expected), "metrics lack {expected}:\n{metrics}");
    }
}

#[test]
fn story_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    story(&Database::sqlite(dir.path()));
}

#[test]
fn story_on_postgres() {
    story(&Database::postgres("story"));
}

#[test]
fn forbidden_approvals_are_refused_and_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    fixture.repo.git(&["checkout", "-q", "-b", "pair", "main"]);
    fixture.repo.commit_as(
        "bob",
        "services/checkout/cart.py",
        "def total(items):\n    return 2\n",
        "Pair on totals\n\nCo-authored-by: Dave Kim <dave@shop.example>\n",
    );
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let (_, change) = fixture.register(&server, &ci, "pair");
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
    let revoked = fixture.token(&database, "carol");
    let revoked_id = revoked.trim_start_matches("cst_").split('_').next().expect("id").to_owned();
    let output = countersign(&["token", "revoke", "--database-url", &database.url(), &revoked_id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let cases = [
        ("own change", fixture.token(&database, "bob"), fingerprint.clone(), 403, "own-change"),
        ("co-author", fixture.token(&database, "dave"), fingerprint.clone(), 403, "co-author"),
        ("agent token", fixture.token(&database, "ops-agent"), fingerprint.clone(), 403, "agent"),
        ("unknown person", fixture.token(&database, "mallory"), fingerprint.clone(), 403, "unknown-person"),
        (
            "wrong fingerprint",
            fixture.token(&database, "alice"),
            format!("sha256:{}", "0".repeat(64)),
            403,
            "unknown-change",
        ),
        ("revoked token", revoked, fingerprint.clone(), 401, "unauthenticated"),
    ];
    for (what, token, fingerprint, status, code) in &cases {
        let (got, answer) = approve(&server, token, fingerprint, "approve");
        assert_eq!((got, answer["error"]["code"].as_str()), (*status, Some(*code)), "{what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 20, "{what}: the refusal explains itself: {message}");
    }
    let (status, answer) = call(
        &server,
        "POST",
        "/api/approvals",
        None,
        Some(json!({"repository": "shop", "fingerprint": fingerprint, "verdict": "approve"})),
    );
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthenticated")), "no anonymous write");

    let refused: Vec<String> = audit_entries(&database)
        .iter()
        .filter(|entry| entry["action"] == "approval.refused")
        .map(|entry| {
            format!("{} {}", entry["actor"].as_str().unwrap_or("?"), detail(entry)["reason"].as_str().unwrap_or("?"))
        })
        .collect();
    assert_eq!(
        refused,
        [
            "bob own-change",
            "dave co-author",
            "ops-agent agent",
            "mallory unknown-person",
            "alice unknown-change",
            "carol revoked-token"
        ]
    );
    let (_, change) = call(&server, "GET", &format!("/api/changes/{}", change["id"]), Some(&ci), None);
    assert_eq!(
        (change["verdict"].as_str(), change["decision"]["approvals"].as_array().map(Vec::len)),
        (Some("blocked"), Some(0))
    );
    assert_eq!(audit_verify(&database).0, 0);
}

#[test]
fn two_servers_on_one_postgres_database_agree() {
    let database = Database::postgres("two_servers");
    let fixture = Fixture::new();
    let branches = ["one", "two", "three"];
    for (index, branch) in branches.iter().enumerate() {
        fixture.bob_change(branch, &format!("def total(items):\n    return {}\n", index + 10));
    }
    let second_node = fixture.repo.temp.path().join("node-2");
    fixture.mirror(&second_node);
    let servers =
        [fixture.start(&database, &[]), Server::start(&database, &second_node, &fixture.signing_key, &[], &[])];
    let ci = fixture.token(&database, "ci-bot");
    let reviewers = ["alice", "carol", "dave", "erin"].map(|person| (person, fixture.token(&database, person)));

    // Every branch registered on both nodes at once: one change each.
    let fingerprints: Arc<Mutex<Vec<String>>> = Arc::default();
    std::thread::scope(|scope| {
        for branch in branches {
            for server in &servers {
                let (ci, fingerprints) = (&ci, Arc::clone(&fingerprints));
                let body = json!({"repository": "shop", "base": "main", "head": branch, "requester": "bob"});
                scope.spawn(move || {
                    let (status, change) = call(server, "POST", "/api/changes", Some(ci), Some(body));
                    assert_eq!(status, 200, "{change}");
                    fingerprints.lock().expect("lock").push(change["fingerprint"].as_str().expect("fp").to_owned());
                });
            }
        }
    });
    let mut fingerprints = fingerprints.lock().expect("lock").clone();
    fingerprints.sort();
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 3);
    let (_, listed) = call(&servers[0], "GET", "/api/changes?repository=shop", Some(&ci), None);
    assert_eq!(listed["changes"].as_array().map(Vec::len), Some(3), "no change registered twice: {listed}");

    // Each reviewer approves each change on both nodes at once, twice.
    let created = Arc::new(Mutex::new(0));
    std::thread::scope(|scope| {
        for (_, token) in &reviewers {
            for server in &servers {
                let (fingerprints, created) = (&fingerprints, Arc::clone(&created));
                scope.spawn(move || {
                    for _ in 0..2 {
                        for fingerprint in fingerprints {
                            let (status, answer) = approve(server, token, fingerprint, "approve");
                            assert!(status == 201 || status == 200, "{answer}");
                            if status == 201 {
                                *created.lock().expect("lock") += 1;
                            }
                        }
                    }
                });
            }
        }
    });
    assert_eq!(*created.lock().expect("lock"), 12, "one recorded approval per reviewer and change");
    let (_, listed) = call(&servers[0], "GET", "/api/changes?repository=shop", Some(&ci), None);
    assert!(listed["changes"].as_array().expect("list").iter().all(|change| change["verdict"] == "allowed"));
    for fingerprint in &fingerprints {
        let path = format!("/api/attestations?fingerprint={}", fingerprint.replace(':', "%3A"));
        let (_, found) = call(&servers[1], "GET", &path, None, None);
        let mut people: Vec<String> = found["attestations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|envelope| {
                let statement: Value =
                    serde_json::from_str(envelope["statement"].as_str().expect("text")).expect("json");
                statement["person"].as_str().expect("person").to_owned()
            })
            .collect();
        people.sort();
        assert_eq!(people, ["alice", "carol", "dave", "erin"], "no approval lost or doubled");
    }
    let (code, verified) = audit_verify(&database);
    assert_eq!((code, verified["intact"].as_bool()), (0, Some(true)), "{verified}");
    let recorded = audit_entries(&database).iter().filter(|entry| entry["action"] == "approval.recorded").count();
    assert_eq!(recorded, 12);
}

#[test]
fn acknowledged_approvals_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    fixture.bob_change("feature", "def total(items):\n    return 3\n");
    let mut server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let (_, change) = fixture.register(&server, &ci, "feature");
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
    let reviewers = ["alice", "carol", "dave", "erin"].map(|person| fixture.token(&database, person));

    // Reviewers flip between approve and reject as fast as they can; every flip is a new
    // statement. The server is killed mid-stream.
    let acknowledged: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|scope| {
        for token in &reviewers {
            let (acknowledged, stop, fingerprint, url) =
                (Arc::clone(&acknowledged), Arc::clone(&stop), &fingerprint, server.url.clone());
            scope.spawn(move || {
                let agent = agent();
                for verdict in ["reject", "approve"].iter().cycle() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let body = json!({"repository": "shop", "fingerprint": fingerprint, "verdict": verdict});
                    let Ok(mut response) = agent
                        .post(format!("{url}/api/approvals"))
                        .header("Authorization", format!("Bearer {token}"))
                        .send_json(body)
                    else {
                        break;
                    };
                    if response.status().as_u16() == 201 {
                        let answer: Value = response.body_mut().read_json().expect("json");
                        acknowledged.lock().expect("lock").push(answer["statement"]["id"].as_i64().expect("id"));
                    }
                }
            });
        }
        let started = Instant::now();
        while acknowledged.lock().expect("lock").len() < 200 && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= 200, "the stream ran: {}", acknowledged.len());

    let server = fixture.start(&database, &[]);
    assert_eq!(audit_verify(&database).0, 0, "the chain verifies after the crash");
    let recorded: std::collections::BTreeSet<i64> = audit_entries(&database)
        .iter()
        .filter(|entry| entry["action"] == "approval.recorded" || entry["action"] == "rejection.recorded")
        .map(|entry| detail(entry)["statement"].as_i64().expect("statement id"))
        .collect();
    let lost: Vec<&i64> = acknowledged.iter().filter(|id| !recorded.contains(id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    let (status, _) = call(&server, "GET", "/healthz", None, None);
    assert_eq!(status, 200);
}

#[test]
fn routing_prefers_owners_skips_away_people_and_escalates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    fixture.bob_change("first", "def total(items):\n    return 4\n");
    fixture.bob_change("second", "def total(items):\n    return 5\n");
    let hook = crate::web::receiver();
    let notify = ["--notify", &hook.url, "--notify-retry-after", "100ms"];
    let server =
        fixture.start(&database, &[&["--escalate-after", "1s", "--sweep-every", "200ms"][..], &notify].concat());
    let [ci, alice, carol] = ["ci-bot", "alice", "carol"].map(|person| fixture.token(&database, person));

    let owner_rule = |change: &Value| -> Vec<(String, String)> {
        change["assignments"]
            .as_array()
            .expect("assignments")
            .iter()
            .filter(|a| a["rule"] == "tier0-owners")
            .map(|a| (a["person"].as_str().unwrap_or("?").to_owned(), a["state"].as_str().unwrap_or("?").to_owned()))
            .collect()
    };
    let (_, first) = fixture.register(&server, &ci, "first");
    assert_eq!(owner_rule(&first), [("alice".to_owned(), "open".to_owned())], "the checkout owner first");

    // Alice is away: the owner rule has nobody else, the other rules go to other seniors.
    let (code, _) = fixture.cli(&server, &alice, &["away", "--note", "holiday"]);
    assert_eq!(code, 0);
    let (_, second) = fixture.register(&server, &ci, "second");
    assert!(owner_rule(&second).is_empty(), "nobody else owns checkout: {second}");
    assert!(
        second["assignments"].as_array().expect("list").iter().all(|a| a["person"] != "alice"),
        "away people get no reviews: {second}"
    );

    // Carol picks up her review of the second change; unpicked reviews escalate after 1 s.
    let (_, queue) = call(&server, "GET", "/api/queue", Some(&carol), None);
    let mine: Vec<i64> = queue["reviews"]
        .as_array()
        .expect("reviews")
        .iter()
        .filter(|review| review["change"]["id"] == second["id"])
        .map(|review| review["id"].as_i64().expect("id"))
        .collect();
    // One senior eligible for both remaining rules gets both, rather than two people one each.
    assert_eq!(mine.len(), 2, "the fewest reviewers who cover every unmet rule: {queue}");
    let (status, _) = call(&server, "POST", &format!("/api/assignments/{}/pick", mine[0]), Some(&carol), None);
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(1800));
    let (_, second) = call(&server, "GET", &format!("/api/changes/{}", second["id"]), Some(&ci), None);
    let assignments = second["assignments"].as_array().expect("assignments");
    let picked = assignments.iter().find(|a| a["id"] == mine[0]).expect("still there");
    assert_eq!(picked["state"], "open", "a picked-up review stays with its reviewer");
    let escalated: Vec<&Value> = assignments.iter().filter(|a| a["state"] == "escalated").collect();
    assert!(!escalated.is_empty(), "{second}");
    for from in escalated {
        let next = assignments.iter().find(|a| a["escalated_from"] == from["id"]).expect("passed on");
        assert_ne!(next["person"], from["person"]);
    }
    let entries = audit_entries(&database);
    assert!(entries.iter().any(|entry| entry["action"] == "review.escalated" && entry["actor"] == "countersign"));
    assert!(entries.iter().any(|entry| entry["action"] == "person.away" && entry["actor"] == "alice"));
    // Each escalation was announced, naming who it went from and to.
    let escalation = hook.delivered("review.escalated");
    assert!([&first["id"], &second["id"]].contains(&&escalation["change"]["id"]), "{escalation}");
    assert!(
        escalation["summary"].as_str().is_some_and(|text| text.contains("nobody picked it up in time")),
        "{escalation}"
    );
    assert_ne!(escalation["detail"]["from"], escalation["detail"]["to"]);
}

#[test]
fn audit_verify_names_the_first_tampered_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    fixture.bob_change("feature", "def total(items):\n    return 6\n");
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    fixture.register(&server, &ci, "feature");
    drop(server);
    let (code, verified) = audit_verify(&database);
    assert_eq!((code, verified["intact"].as_bool()), (0, Some(true)));
    database.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3");
    let (code, verified) = audit_verify(&database);
    assert_eq!((code, verified["first_bad_entry"].as_i64()), (1, Some(3)), "{verified}");
    let output = countersign(&audit_verify_args(&database).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(stdout(&output).contains("audit chain BROKEN: audit entry 3 was altered"), "{}", stdout(&output));
}

#[test]
fn api_describes_itself_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let (status, openapi) = call(&server, "GET", "/api/openapi.json", None, None);
    assert_eq!(status, 200);
    let paths: Vec<&String> = openapi["paths"].as_object().expect("paths").keys().collect();
    for path in [
        "/healthz",
        "/metrics",
        "/api/openapi.json",
        "/api/server-key",
        "/api/me",
        "/api/changes",
        "/api/changes/{id}",
        "/api/changes/{id}/deploy",
        "/api/approvals",
        "/api/overrides",
        "/api/overrides/{id}/review",
        "/api/attestations",
        "/api/deployments/last",
        "/api/queue",
        "/api/assignments/{id}/pick",
        "/api/away",
    ] {
        assert!(paths.iter().any(|documented| *documented == path), "{path} is not documented");
    }
    // Every schema the paths name is generated from the contract's types.
    let schemas = openapi["components"]["schemas"].as_object().expect("generated schemas");
    let text = openapi.to_string();
    let refs: Vec<&str> =
        text.split("\"#/components/schemas/").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    assert!(refs.len() > 20, "{refs:?}");
    for name in refs {
        assert!(schemas.contains_key(name), "#/components/schemas/{name} is referenced but not generated");
    }
    assert!(
        schemas["ChangeEntry"]["properties"]["state"].to_string().contains("ChangeState"),
        "{}",
        schemas["ChangeEntry"]
    );
    let (status, key) = call(&server, "GET", "/api/server-key", None, None);
    let expected = crate::util::key(SERVER_KEY_SEED).public_key().to_openssh().expect("encodable");
    assert_eq!((status, key["public_key"].as_str()), (200, Some(expected.as_str())));

    let cases = [
        (json!({"repository": "../etc", "base": "main", "head": "main"}), 400, "bad-change"),
        (json!({"repository": "nope", "base": "main", "head": "main"}), 400, "bad-change"),
        (json!({"repository": "shop", "base": "main", "head": "no-such-branch"}), 400, "bad-change"),
        (json!({"repository": "shop", "base": "main"}), 400, "bad-request"),
        (json!({"repository": "shop", "base": "main", "head": "main", "colour": "red"}), 400, "bad-request"),
    ];
    for (body, status, code) in cases {
        let (got, answer) = call(&server, "POST", "/api/changes", Some(&ci), Some(body.clone()));
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{body}: {answer}");
    }
    for (method, path, body, status, code) in [
        ("GET", "/api/changes/twelve", None, 400, "bad-request"),
        ("GET", "/api/nowhere", None, 404, "not-found"),
        ("GET", "/api/attestations?environment=production", None, 400, "bad-request"),
        ("POST", "/api/approvals", Some(json!({"comment": "x".repeat(70_000)})), 413, "too-large"),
    ] {
        let (got, answer) = call(&server, method, path, Some(&ci), body);
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{path}: {answer}");
    }
    let (status, me) = call(&server, "GET", "/api/me", Some(&ci), None);
    assert_eq!((status, me["person"].as_str()), (200, Some("ci-bot")));
}

#[test]
fn overdue_after_the_fact_reviews_are_listed_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    // A policy whose after-the-fact reviews are due at once.
    let policy = std::fs::read_to_string(fixture.repo.path().join(".countersign/policy.toml")).expect("policy");
    let policy = policy.replace("review_within_hours = 24", "review_within_hours = 0");
    assert!(policy.contains("review_within_hours = 0"));
    fixture.repo.write(".countersign/policy.toml", &policy);
    fixture.repo.commit_as("alice", "docs/glass.md", "Reviews of overrides are due at once.\n", "Tighten break-glass");
    fixture.mirror(&fixture.repo.temp.path().join("repos-tight"));
    fixture.bob_change("hotfix", "def total(items):\n    return 7\n");
    let slack = crate::web::receiver();
    let notify = ["--notify-slack", &slack.url, "--notify-retry-after", "100ms", "--sweep-every", "100ms"];
    let server =
        Server::start(&database, &fixture.repo.temp.path().join("repos-tight"), &fixture.signing_key, &notify, &[]);
    let [ci, carol, erin] = ["ci-bot", "carol", "erin"].map(|person| fixture.token(&database, person));
    let (_, change) = fixture.register(&server, &ci, "hotfix");
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint");
    let body = json!({"repository": "shop", "fingerprint": fingerprint, "reason": "checkout outage"});
    let (status, overridden) = call(&server, "POST", "/api/overrides", Some(&carol), Some(body));
    assert_eq!(status, 201, "{overridden}");
    std::thread::sleep(Duration::from_millis(20));

    let (_, pending) = call(&server, "GET", "/api/overrides", Some(&erin), None);
    assert_eq!((pending["pending"].as_u64(), pending["overdue"].as_u64()), (Some(1), Some(1)), "{pending}");
    assert_eq!(pending["reviews"][0]["overdue"], true);
    let metrics = call(&server, "GET", "/metrics", None, None).1;
    assert!(metrics.as_str().expect("text").contains("countersign_overdue_reviews 1"), "{metrics}");
    let (_, queue) = call(&server, "GET", "/api/queue", Some(&erin), None);
    assert_eq!(queue["after_the_fact"][0]["overdue"], true, "{queue}");
    // Both the override and its overdue review were announced, in Slack's format, with a link.
    let change_id = change["id"].as_i64().expect("id");
    let link = format!("<{}/changes/{change_id}|shop change {change_id}>", server.url);
    let recorded = slack.delivered("override.recorded")["text"].as_str().expect("text").to_owned();
    assert_eq!(recorded, format!("{link} carol broke the glass: checkout outage"));
    let overdue = slack.delivered("override.review-overdue")["text"].as_str().expect("text").to_owned();
    assert!(overdue.starts_with(&link) && overdue.contains("is overdue"), "{overdue}");
    std::thread::sleep(Duration::from_millis(300));
    let announced =
        slack.received.lock().expect("lock").iter().filter(|(_, event, _)| event.ends_with("overdue")).count();
    assert_eq!(announced, 1, "an overdue review is announced once");

    let id = overridden["override"]["id"].as_i64().expect("id");
    let (status, reviewed) =
        call(&server, "POST", &format!("/api/overrides/{id}/review"), Some(&erin), Some(json!({"comment": "ok"})));
    assert_eq!((status, reviewed["override"]["late"].as_bool()), (200, Some(true)), "{reviewed}");
    let metrics = call(&server, "GET", "/metrics", None, None).1;
    assert!(metrics.as_str().expect("text").contains("countersign_overdue_reviews 0"), "{metrics}");
    let late =
        audit_entries(&database).into_iter().find(|entry| entry["action"] == "override.reviewed").expect("recorded");
    assert_eq!(detail(&late)["late"], true);
}

#[test]
fn a_rebase_that_keeps_the_content_keeps_the_approvals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    let first_head = fixture.bob_change("feature", "def total(items):\n    return 8\n");
    let server = fixture.start(&database, &[]);
    let [ci, alice] = ["ci-bot", "alice"].map(|person| fixture.token(&database, person));
    let (_, change) = fixture.register(&server, &ci, "feature");
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
    let (status, _) = approve(&server, &alice, &fingerprint, "approve");
    assert_eq!(status, 201);

    // main moves on elsewhere; bob rebases: a new head, the same reviewed content.
    fixture.repo.git(&["checkout", "-q", "main"]);
    fixture.repo.commit_as("carol", "docs/other.md", "Unrelated.\n", "Document something else");
    fixture.repo.git(&["checkout", "-q", "feature"]);
    fixture.repo.git_as(("Bob Tran", "bob@shop.example"), &["rebase", "-q", "main"]);
    let new_head = fixture.repo.git(&["rev-parse", "HEAD"]);
    assert_ne!(new_head, first_head);
    // A new base and head make a registration of their own, fixed as registered; the approval
    // follows the content to it.
    let (code, moved) = fixture.register(&server, &ci, "feature");
    assert_ne!(moved["id"].as_i64(), change["id"].as_i64(), "a registration of its own: {moved}");
    assert_eq!(moved["fingerprint"], change["fingerprint"]);
    assert_eq!(code, 0, "{moved}");
    assert_eq!((moved["head"].as_str(), moved["verdict"].as_str()), (Some(new_head.as_str()), Some("allowed")));
    let registered: Vec<bool> = audit_entries(&database)
        .iter()
        .filter(|entry| entry["action"] == "change.registered")
        .map(|entry| detail(entry)["new"].as_bool().expect("new"))
        .collect();
    assert_eq!(registered, [true, true]);
    // The first registration keeps its base and head.
    let (_, first) = call(&server, "GET", &format!("/api/changes/{}", change["id"]), Some(&ci), None);
    assert_eq!((first["head"].as_str(), &first["base"]), (Some(first_head.as_str()), &change["base"]));
}

/// A `serve` started inside a CI job must not judge every change by that job's branch and pull
/// request: the read stage takes its context from the request, never from the process.
#[test]
fn the_servers_decision_does_not_depend_on_its_process_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    // A policy that counts contextual evidence: a CI job's branch or pull request would mark a
    // change AI-assisted, and the AI rule would then apply.
    let policy = std::fs::read_to_string(fixture.repo.path().join(".countersign/policy.toml")).expect("policy");
    fixture.repo.git(&["checkout", "-q", "main"]);
    fixture
        .repo
        .write(".countersign/policy.toml", &policy.replace("contextual_counts = false", "contextual_counts = true"));
    fixture.repo.commit_as("alice", "docs/context.md", "Context counts.\n", "Count contextual evidence");
    fixture.repo.git(&["checkout", "-q", "-b", "plain"]);
    fixture.repo.commit_as("dave", "docs/guide.md", "# Guide\n", "Write the guide by hand");
    let event = dir.path().join("event.json");
    let body = "🤖 Generated with [Claude Code](https://claude.com/claude-code)";
    std::fs::write(&event, json!({"pull_request": {"user": {"login": "Copilot"}, "body": body}}).to_string())
        .expect("event");
    let event = event.to_str().expect("UTF-8 path");
    let ci_job = [
        ("GITHUB_HEAD_REF", "claude/fix-everything"),
        ("GITHUB_BASE_REF", "main"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "codex/fix-everything"),
    ];

    // The same environment does change what `check` sees: it is the CLI's context to read.
    let output = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .current_dir(fixture.repo.path())
        .envs(ci_job)
        .args(["check", "--base", "main", "--head", "plain", "--format", "json"])
        .output()
        .expect("check runs");
    let decision: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(decision["ai_assisted"], true, "{decision:#}");

    let server = Server::start(&database, &fixture.repos, &fixture.signing_key, &[], &ci_job);
    let ci = fixture.token(&database, "ci-bot");
    let (code, view) = fixture.cli(
        &server,
        &ci,
        &["register", "--repository", "shop", "--base", "main", "--head", "plain", "--requester", "dave"],
    );
    assert_eq!(code, 1, "{view:#}");
    assert_eq!(view["decision"]["ai_assisted"], false, "{view:#}");
    assert_eq!(view["decision"].get("change_signals"), None, "{view:#}");
    assert!(!view.to_string().contains("fix-everything"), "{view:#}");
}

#[test]
fn deploying_through_the_server_records_what_runs_and_the_next_check_starts_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    let head = fixture.bob_change("feature", "def total(items):\n    return 9\n");
    let server = fixture.start(&database, &[]);
    let [ci, alice] = ["ci-bot", "alice"].map(|person| fixture.token(&database, person));
    let (status, _) = call(&server, "GET", "/api/deployments/last?repository=shop", None, None);
    assert_eq!(status, 404, "nothing deployed yet");

    // Unapproved: the verdict blocks and nothing is recorded.
    let deploy = ["deploy", "--repository", "shop", "--base", "main", "--head", "feature", "--requester", "bob"];
    let (code, blocked) = fixture.cli(&server, &ci, &deploy);
    assert_eq!(code, 1, "{blocked}");
    let (status, _) = call(&server, "GET", "/api/deployments/last?repository=shop", None, None);
    assert_eq!(status, 404, "a blocked verdict records nothing");

    let (_, change) = fixture.register(&server, &ci, "feature");
    let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
    assert_eq!(approve(&server, &alice, &fingerprint, "approve").0, 201);
    let (code, allowed) = fixture.cli(&server, &ci, &deploy);
    assert_eq!(code, 0, "{allowed}");
    let (status, last) = call(&server, "GET", "/api/deployments/last?repository=shop", None, None);
    assert_eq!(status, 200, "{last}");
    assert_eq!((last["head"].as_str(), last["verdict"].as_str()), (Some(head.as_str()), Some("allowed")), "{last}");
    let recorded = audit_entries(&database)
        .iter()
        .filter(|entry| entry["action"] == "deployment.verdict")
        .map(|entry| detail(entry)["recorded_as_deployed"].as_bool().expect("recorded_as_deployed"))
        .collect::<Vec<_>>();
    assert_eq!(recorded, [false, true]);

    // The next check without --base starts from what the server says runs.
    let check = |head: &str| {
        let output = fixture.repo.countersign(&[
            "check",
            "--server",
            &server.url,
            "--repository",
            "shop",
            "--head",
            head,
            "--format",
            "json",
        ]);
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code().expect("exit code"), value)
    };
    let (code, nothing) = check("feature");
    assert_eq!((code, nothing["nothing_to_deploy"].as_bool()), (0, Some(true)), "{nothing}");
    fixture.repo.git(&["checkout", "-q", "feature"]);
    fixture.repo.commit_as("carol", "docs/next.md", "Next.\n", "Document what comes next");
    let (_, next) = check("HEAD");
    assert_eq!(next["findings"][0]["code"], "base-from-deployments", "{next}");
    assert!(next["findings"][0]["message"].as_str().expect("message").contains("approval service"), "{next}");
    assert_eq!(next["change"]["configuration"]["commit"], head.as_str(), "{next}");
}

#[test]
fn the_server_decides_a_range_of_merged_pull_requests_by_their_own_approvals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    let before = fixture.repo.git(&["rev-parse", "main"]);
    fixture.bob_change("cart", "def total(items):\n    return 10\n");
    fixture.repo.git(&["checkout", "-q", "-B", "tax", "main"]);
    fixture.repo.commit_as(
        "bob",
        "services/checkout/tax.py",
        "RATE = 0.2\n",
        "Add the tax rate\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    );
    let server = fixture.start(&database, &[]);
    let [ci, alice] = ["ci-bot", "alice"].map(|person| fixture.token(&database, person));
    // Each pull request is registered and approved before it merges.
    for branch in ["cart", "tax"] {
        let (_, change) = fixture.cli(
            &server,
            &ci,
            &["register", "--repository", "shop", "--base", "main", "--head", branch, "--context", "pull-request"],
        );
        let fingerprint = change["fingerprint"].as_str().expect("fingerprint").to_owned();
        assert_eq!(approve(&server, &alice, &fingerprint, "approve").0, 201, "{change}");
    }
    fixture.repo.git(&["checkout", "-q", "main"]);
    for branch in ["cart", "tax"] {
        fixture.repo.git(&["merge", "-q", "--no-ff", branch, "-m", &format!("Merge branch '{branch}'")]);
    }

    // The deployment of main is decided merge by merge, by the approvals of each pull request.
    let deploy = ["deploy", "--repository", "shop", "--base", before.as_str(), "--head", "main", "--requester", "bob"];
    let (code, view) = fixture.cli(&server, &ci, &deploy);
    assert_eq!(code, 0, "{view}");
    let changes = view["decision"]["changes"].as_array().expect("merged changes");
    let kinds: Vec<(&str, &str)> = changes
        .iter()
        .map(|change| (change["kind"].as_str().unwrap_or("?"), change["verdict"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(kinds, [("merge", "allowed"), ("merge", "allowed")], "{view}");

    // A direct push on top, reviewed by nobody, blocks the next deployment and is named.
    fixture.repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 11\n", "Tweak totals\n");
    let next = ["deploy", "--repository", "shop", "--head", "main", "--requester", "bob"];
    let (code, view) = fixture.cli(&server, &ci, &next);
    assert_eq!(code, 1, "{view}");
    assert_eq!(view["decision"]["verdict"], "blocked", "{view}");
}
