//! The GitHub App end to end: deliveries shaped like GitHub's, signed with the test's secret,
//! posted to a real `countersign serve`, which talks to a mock of GitHub's API on loopback that
//! records every call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{Database, Fixture, audit_entries};

const SECRET: &str = "It's a Secret to Everybody";

/// One call the server made to the mock API.
#[derive(Clone, Debug)]
struct Call {
    method: String,
    path: String,
    authorization: String,
    body: Value,
}

/// GitHub's API on loopback: answers token exchanges, check runs and protection rule callbacks.
struct MockGithub {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn mock_github() -> MockGithub {
    mock_github_limited(0)
}

/// A mock whose first `limited` check runs are refused with a secondary rate limit.
fn mock_github_limited(limited: usize) -> MockGithub {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&calls);
    let base = url.clone();
    std::thread::spawn(move || {
        let mut next_check_run = 1000;
        let mut limited = limited;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut parts = request_line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
            let (mut length, mut authorization) = (0, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    } else if name.eq_ignore_ascii_case("authorization") {
                        value.trim().clone_into(&mut authorization);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut link = String::new();
            let (status, answer) = if path.starts_with("/orgs/octo-shop/members") {
                if path.contains("page=2") {
                    (200, json!([{"login": "bob-gh", "id": 2}]))
                } else {
                    link = format!("link: <{base}/orgs/octo-shop/members?per_page=100&page=2>; rel=\"next\"\r\n");
                    (200, json!([{"login": "alice-gh", "id": 1}]))
                }
            } else if path.starts_with("/orgs/octo-shop/teams/checkout/members") {
                (200, json!([{"login": "alice-gh", "id": 1}]))
            } else if path.starts_with("/orgs/octo-shop/teams") {
                (200, json!([{"slug": "checkout", "name": "Checkout"}]))
            } else if path == "/users/alice-gh" {
                (200, json!({"login": "alice-gh", "name": "Alice \"Al\" Moreau", "email": "alice@shop.example"}))
            } else if path == "/users/bob-gh" {
                (200, json!({"login": "bob-gh", "name": null, "email": null}))
            } else if path.ends_with("/access_tokens") && method == "POST" {
                (201, json!({"token": "ghs_installation", "expires_at": "2099-01-01T00:00:00Z"}))
            } else if path.ends_with("/check-runs") && method == "POST" && limited > 0 {
                limited -= 1;
                link = "retry-after: 1\r\n".to_owned();
                (429, json!({"message": "You have exceeded a secondary rate limit."}))
            } else if path.ends_with("/check-runs") && method == "POST" {
                next_check_run += 1;
                (201, json!({"id": next_check_run}))
            } else if path.contains("/check-runs/") && method == "PATCH" {
                (200, json!({"id": path.rsplit('/').next().and_then(|id| id.parse::<i64>().ok())}))
            } else if path.ends_with("/deployment_protection_rule") && method == "POST" {
                (204, Value::Null)
            } else {
                (404, json!({"message": "Not Found"}))
            };
            kept.lock().expect("lock").push(Call { method, path, authorization, body });
            let text = if answer.is_null() { String::new() } else { answer.to_string() };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{link}content-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    MockGithub { url, calls }
}

impl MockGithub {
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// Waits for the number of calls to reach `count`.
    fn wait_for(&self, count: usize, what: &str) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls();
            if calls.len() >= count {
                return calls;
            }
            assert!(Instant::now() < deadline, "waited for {what}: {calls:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a delivery; returns the status.
fn deliver(server_url: &str, event: &str, delivery: &str, body: &[u8], signature: Option<String>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent
        .post(&format!("{server_url}/webhooks/github"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("Content-Type", "application/json");
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", &signature);
    }
    request.send(body).expect("an answer").status().as_u16()
}

fn signed(server_url: &str, event: &str, delivery: &str, payload: &Value) -> u16 {
    let body = payload.to_string();
    deliver(server_url, event, delivery, body.as_bytes(), Some(sign(SECRET, body.as_bytes())))
}

fn repository() -> Value {
    json!({"id": 1296269, "name": "shop", "full_name": "octo-shop/shop", "default_branch": "main", "owner": {"login": "octo-shop"}})
}

fn pull_request(action: &str, head: &str, base: &str) -> Value {
    json!({
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": "Multiply by quantity",
            "body": "Computes the cart total from quantities.",
            "draft": false,
            "head": {"sha": head, "ref": "feature"},
            "base": {"sha": base, "ref": "main"},
            "user": {"login": "bob-gh", "id": 2, "type": "User"},
        },
        "repository": repository(),
        "installation": {"id": 42},
        "sender": {"login": "bob-gh", "id": 2, "type": "User"},
    })
}

fn review(login: &str, kind: &str, commit: &str, head: &str, base: &str) -> Value {
    review_by(login, kind, 9, commit, head, base)
}

fn review_by(login: &str, kind: &str, id: u64, commit: &str, head: &str, base: &str) -> Value {
    json!({
        "action": "submitted",
        "review": {
            "id": 80,
            "user": {"login": login, "id": id, "type": kind},
            "state": "approved",
            "body": "Looks right.",
            "commit_id": commit,
        },
        "pull_request": pull_request("opened", head, base)["pull_request"].clone(),
        "repository": repository(),
        "installation": {"id": 42},
    })
}

fn git(fixture: &Fixture, args: &[&str]) -> String {
    fixture.repo.git(args)
}

/// A queued delivery: its id, when it was done or given up, and its last error.
type Queued = (String, Option<i64>, Option<i64>, Option<String>);

/// Reads what the store queued, as an operator would.
fn events(database: &Database) -> Vec<Queued> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        use countersign_store::Store;
        let mut rows = match database {
            Database::Sqlite(path) => {
                let store = countersign_store::SqliteStore::open(path).await.expect("open");
                store.github_events(100).await.expect("events")
            }
            Database::Postgres(..) => {
                let store = countersign_store::PostgresStore::open(&database.url()).await.expect("open");
                store.github_events(100).await.expect("events")
            }
        };
        rows.sort_by(|one, other| one.delivery.cmp(&other.delivery));
        rows.into_iter().map(|row| (row.delivery, row.done_at, row.failed_at, row.last_error)).collect()
    })
}

fn settled(database: &Database, delivery: &str) -> (Option<i64>, Option<i64>, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((_, done, failed, error)) = events(database).into_iter().find(|(id, ..)| id == delivery)
            && (done.is_some() || failed.is_some())
        {
            return (done, failed, error);
        }
        assert!(Instant::now() < deadline, "delivery {delivery} was not processed: {:#?}", events(database));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_github_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    the_github_app(&Database::sqlite(dir.path()));
}

#[test]
fn the_github_app_on_postgres() {
    the_github_app(&Database::postgres("github"));
}

/// From a pull request to an approved deployment protection rule, with every way a delivery can
/// fail to count on the way.
fn the_github_app(database: &Database) {
    let fixture = Fixture::new();
    // GitHub logins for the people: alice reviews as alice-gh, bob opens pull requests as bob-gh.
    let people = std::fs::read_to_string(fixture.repo.path().join(".countersign/people.toml")).expect("people");
    let people = people
        .replace("id = \"alice\"\n", "id = \"alice\"\ngithub = \"alice-gh\"\n")
        .replace("id = \"bob\"\n", "id = \"bob\"\ngithub = \"bob-gh\"\n");
    fixture.repo.commit_as("alice", ".countersign/people.toml", &people, "Add GitHub logins");
    let released = git(&fixture, &["rev-parse", "main"]);

    let dir = tempfile::tempdir().expect("temp dir");
    let github = mock_github();
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
    let key = dir.path().join("app.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let secret = secret.display().to_string();
    let key = key.display().to_string();
    let server = fixture.start(
        database,
        &[
            "--github-webhook-secret",
            &secret,
            "--github-api-url",
            &github.url,
            "--github-app-id",
            "31337",
            "--github-app-key",
            &key,
        ],
    );
    let ci = fixture.token(database, "ci-bot");

    // What ran in production before: a registration of main, standing in for an earlier
    // allowed deployment.
    let (_, deployed) =
        fixture.cli(&server, &ci, &["register", "--repository", "shop", "--base", "main~1", "--head", "main"]);
    database.execute(&format!("UPDATE changes SET deployed_at = 1 WHERE id = {}", deployed["id"]));

    // Bad input is refused or set aside, never a crash and never an allow.
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    let body = ping.to_string();
    assert_eq!(deliver(&server.url, "ping", "d-bad", body.as_bytes(), Some(sign("wrong", body.as_bytes()))), 401);
    assert_eq!(deliver(&server.url, "ping", "d-none", body.as_bytes(), None), 401);
    assert!(events(database).is_empty(), "a delivery without a valid signature records nothing");
    assert_eq!(signed(&server.url, "ping", "d-ping", &ping), 202);
    assert_eq!(signed(&server.url, "ping", "d-ping", &ping), 200, "a replay is recognised");
    assert_eq!(signed(&server.url, "ping", "d-ping-again", &ping), 200, "so is the same body under a new delivery id");
    let truncated = &pull_request("opened", &released, &released).to_string()[..200];
    assert_eq!(
        deliver(&server.url, "pull_request", "d-cut", truncated.as_bytes(), Some(sign(SECRET, truncated.as_bytes()))),
        202
    );
    assert!(settled(database, "d-ping").0.is_some(), "an unknown event is done with");
    let (_, failed, error) = settled(database, "d-cut");
    assert!(failed.is_some() && error.is_some_and(|error| error.contains("unreadable")), "a truncated body fails");
    let oversized = vec![b' '; 26 * 1024 * 1024];
    assert_eq!(deliver(&server.url, "ping", "d-big", &oversized, Some(sign(SECRET, &oversized))), 413);

    // Bob opens a pull request: registered, and a failing check run with the reasons.
    let first =
        fixture.bob_change("feature", "def total(items):\n    return sum(i.price * i.quantity for i in items)\n");
    assert_eq!(signed(&server.url, "pull_request", "d-open", &pull_request("opened", &first, &released)), 202);
    settled(database, "d-open");
    let calls = github.wait_for(2, "a token exchange and a check run");
    assert_eq!((calls[0].method.as_str(), calls[0].path.as_str()), ("POST", "/app/installations/42/access_tokens"));
    assert_eq!(calls[0].authorization.split('.').count(), 3, "the app authenticates with a JWT");
    assert_eq!((calls[1].method.as_str(), calls[1].path.as_str()), ("POST", "/repos/octo-shop/shop/check-runs"));
    assert_eq!(calls[1].authorization, "Bearer ghs_installation");
    assert_eq!(calls[1].body["head_sha"], first.as_str());
    assert_eq!(calls[1].body["conclusion"], "failure");
    assert_eq!(calls[1].body["name"], "countersign / production");
    let summary = calls[1].body["output"]["summary"].as_str().expect("summary");
    assert!(summary.contains("ai-senior-signoff") && summary.contains("Co-Authored-By: Claude"), "{summary}");
    assert!(
        calls[1].body["details_url"].as_str().is_some_and(|url| url.starts_with(&format!("{}/changes/", server.url)))
    );

    // A second push: a new change and check run; the first version's reviews do not carry over.
    let second =
        fixture.bob_change_more("def total(items):\n    return sum(i.price * i.quantity for i in items) or 0\n");
    assert_eq!(signed(&server.url, "pull_request", "d-push", &pull_request("synchronize", &second, &released)), 202);
    settled(database, "d-push");
    let calls = github.wait_for(3, "the second check run");
    assert_eq!((calls[2].method.as_str(), calls[2].body["head_sha"].as_str()), ("POST", Some(second.as_str())));

    // Copilot's approval and an approval of the older commit never count.
    let copilot = review("copilot-pull-request-reviewer[bot]", "Bot", &second, &second, &released);
    assert_eq!(signed(&server.url, "pull_request_review", "d-copilot", &copilot), 202);
    settled(database, "d-copilot");
    // Copilot's coding agent under another login, known by its numeric id.
    let renamed = review_by("helpful-reviewer", "User", 198_982_749, &second, &second, &released);
    assert_eq!(signed(&server.url, "pull_request_review", "d-renamed", &renamed), 202);
    settled(database, "d-renamed");
    let stale = review("alice-gh", "User", &first, &second, &released);
    assert_eq!(signed(&server.url, "pull_request_review", "d-stale", &stale), 202);
    settled(database, "d-stale");
    let stranger = review("mallory-gh", "User", &second, &second, &released);
    assert_eq!(signed(&server.url, "pull_request_review", "d-stranger", &stranger), 202);
    settled(database, "d-stranger");
    let refusals: Vec<String> = audit_entries(database)
        .iter()
        .filter(|entry| entry["action"] == "approval.refused")
        .filter_map(|entry| {
            let detail: Value = serde_json::from_str(entry["detail"].as_str()?).ok()?;
            Some(format!("{} {}", entry["actor"].as_str()?, detail["reason"].as_str()?))
        })
        .collect();
    assert_eq!(
        refusals,
        [
            "github:copilot-pull-request-reviewer[bot] bot-review",
            "github:helpful-reviewer bot-review",
            "github:alice-gh older-commit",
            "github:mallory-gh unknown-login"
        ]
    );
    assert_eq!(github.calls().len(), 3, "nothing was posted for reviews that do not count");

    // The pull request is merged; GitHub asks before deploying the merge. Not approved yet: it waits.
    git(&fixture, &["checkout", "-q", "main"]);
    let merge_message = "Merge pull request #7 from feature";
    fixture
        .repo
        .git_as(("Carol Diaz", "carol@shop.example"), &["merge", "-q", "--no-ff", "-m", merge_message, "feature"]);
    let merge = git(&fixture, &["rev-parse", "main"]);
    let callback = format!("{}/repos/octo-shop/shop/actions/runs/99/deployment_protection_rule", github.url);
    let rule = json!({
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": callback,
        "deployment": {"id": 5, "sha": merge, "ref": "main", "environment": "production"},
        "repository": repository(),
        "installation": {"id": 42},
    });
    assert_eq!(signed(&server.url, "deployment_protection_rule", "d-deploy", &rule), 202);
    settled(database, "d-deploy");
    assert_eq!(github.calls().len(), 3, "a deployment waiting for approvals is not answered yet");

    // Alice approves the reviewed head: the check run passes and the deployment is approved.
    let approval = review("alice-gh", "User", &second, &second, &released);
    assert_eq!(signed(&server.url, "pull_request_review", "d-alice", &approval), 202);
    settled(database, "d-alice");
    let calls = github.wait_for(5, "the updated check run and the protection rule's answer");
    let patch = calls.iter().find(|call| call.method == "PATCH").expect("the check run is updated");
    assert_eq!(patch.body["conclusion"], "success");
    assert!(patch.path.ends_with(&format!("/check-runs/{}", 1002)), "{}", patch.path);
    let answer = calls.iter().find(|call| call.path.ends_with("/deployment_protection_rule")).expect("answered");
    assert_eq!(answer.body["state"], "approved");
    assert_eq!(answer.body["environment_name"], "production");
    assert!(
        answer.body["comment"].as_str().is_some_and(|comment| comment.len() <= 1024 && comment.contains("/changes/"))
    );
    let approvals: Vec<String> = audit_entries(database)
        .iter()
        .filter(|entry| entry["action"] == "approval.recorded")
        .filter_map(|entry| entry["actor"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(approvals, ["alice"], "the review became alice's approval, and nothing else did");

    // The merge queue's commit is gated by the range: the reviewed content passes.
    let queue = json!({
        "action": "checks_requested",
        "merge_group": {"head_sha": merge, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7", "base_sha": released, "base_ref": "refs/heads/main"},
        "repository": repository(),
        "installation": {"id": 42},
    });
    assert_eq!(signed(&server.url, "merge_group", "d-queue", &queue), 202);
    settled(database, "d-queue");
    let calls = github.wait_for(6, "the merge queue's check run");
    assert_eq!(
        (calls[5].body["head_sha"].as_str(), calls[5].body["conclusion"].as_str()),
        (Some(merge.as_str()), Some("success"))
    );

    // The bypass detector: the reviewed merge reached main lawfully; a direct push did not.
    let push = |delivery: &str, before: &str, after: &str| {
        let payload = json!({
            "ref": "refs/heads/main",
            "before": before,
            "after": after,
            "forced": false,
            "repository": {"name": "shop", "full_name": "octo-shop/shop", "default_branch": "main"},
            "pusher": {"name": "dave-gh"},
        });
        assert_eq!(signed(&server.url, "push", delivery, &payload), 202);
        settled(database, delivery);
    };
    push("d-push-merge", &released, &merge);
    let bypasses = || audit_entries(database).into_iter().filter(|entry| entry["action"] == "bypass.detected").count();
    assert_eq!(bypasses(), 0, "reviewed content is no bypass");
    let direct =
        fixture.repo.commit_as("dave", "services/checkout/cart.py", "def total(items):\n    return 0\n", "Hotfix");
    push("d-push-direct", &merge, &direct);
    let flagged: Vec<Value> =
        audit_entries(database).into_iter().filter(|entry| entry["action"] == "bypass.detected").collect();
    assert_eq!(flagged.len(), 1, "a direct push to main is flagged");
    let detail: Value = serde_json::from_str(flagged[0]["detail"].as_str().expect("detail")).expect("json");
    assert_eq!((detail["after"].as_str(), detail["pusher"].as_str()), (Some(direct.as_str()), Some("dave-gh")));

    // An admin dismisses alice's review on GitHub: her approval no longer counts.
    let mut dismissed = review("alice-gh", "User", &second, &second, &released);
    dismissed["action"] = json!("dismissed");
    dismissed["review"]["state"] = json!("dismissed");
    assert_eq!(signed(&server.url, "pull_request_review", "d-dismissed", &dismissed), 202);
    settled(database, "d-dismissed");
    let last_patch = github.calls().into_iter().rev().find(|call| call.method == "PATCH").expect("updated");
    assert_eq!(last_patch.body["conclusion"], "failure", "the check run fails again");
    assert!(audit_entries(database).iter().any(|entry| entry["action"] == "approval.withdrawn"));
    // She approves again, so that the replay below has something to undo.
    let mut again = review("alice-gh", "User", &second, &second, &released);
    again["review"]["id"] = json!(82);
    assert_eq!(signed(&server.url, "pull_request_review", "d-alice-again", &again), 202);
    settled(database, "d-alice-again");

    // Alice then requests changes; her earlier approval, captured and resent under a new
    // delivery id, does not bring it back.
    let mut rejection = review("alice-gh", "User", &second, &second, &released);
    rejection["review"]["state"] = json!("changes_requested");
    rejection["review"]["id"] = json!(81);
    assert_eq!(signed(&server.url, "pull_request_review", "d-alice-rejects", &rejection), 202);
    settled(database, "d-alice-rejects");
    assert_eq!(signed(&server.url, "pull_request_review", "d-alice-replayed", &approval), 200);
    let latest: Vec<String> = audit_entries(database)
        .iter()
        .filter(|entry| ["approval.recorded", "rejection.recorded"].contains(&entry["action"].as_str().unwrap_or("")))
        .filter_map(|entry| entry["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(latest, ["approval.recorded", "approval.recorded", "rejection.recorded"], "the replay recorded nothing");
}

#[test]
fn an_organisation_becomes_a_proposed_directory_with_levels_left_open() {
    let github = mock_github();
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "ghp_reader\n").expect("token");
    let output = dir.path().join("people.toml");
    let args = |output: &std::path::Path| {
        crate::server::countersign(&[
            "directory",
            "import",
            "--github-org",
            "octo-shop",
            "--github-api-url",
            &github.url,
            "--github-token-file",
            token.to_str().expect("UTF-8"),
            "--output",
            output.to_str().expect("UTF-8"),
        ])
    };
    let run = args(&output);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(&output).expect("written");
    insta::assert_snapshot!("proposed_directory", text);
    assert!(github.calls().iter().all(|call| call.authorization == "Bearer ghp_reader"));
    // An existing file is never overwritten.
    std::fs::write(&output, "kept\n").expect("overwrite the proposal");
    let again = args(&output);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&output).expect("kept"), "kept\n");
    // The proposal does not load until a person sets the levels.
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).expect("config");
    std::fs::write(config.join("people.toml"), &text).expect("people");
    std::fs::write(config.join("policy.toml"), "version = 1\n[[rule]]\nname = \"r\"\nrequires = { count = 1 }\n")
        .expect("policy");
    let check = crate::server::countersign(&["policy", "check", "--config", config.to_str().expect("UTF-8")]);
    assert_eq!(check.status.code(), Some(2), "{}", String::from_utf8_lossy(&check.stdout));
}

/// A server taking GitHub's deliveries and calling the mock with a token (not an App), its files
/// in `dir`.
fn start_with_token(
    fixture: &Fixture,
    database: &Database,
    github: &MockGithub,
    dir: &std::path::Path,
) -> crate::server::Server {
    let (secret, token) = (dir.join("webhook-secret"), dir.join("token"));
    std::fs::write(&secret, SECRET).expect("secret");
    std::fs::write(&token, "ghp_repository\n").expect("token");
    let (secret, token) = (secret.display().to_string(), token.display().to_string());
    fixture.start(
        database,
        &["--github-webhook-secret", &secret, "--github-api-url", &github.url, "--github-token-file", &token],
    )
}

#[test]
fn a_rate_limited_call_is_retried_when_github_says() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let github = mock_github_limited(1);
    let server = start_with_token(&fixture, &database, &github, dir.path());
    let base = git(&fixture, &["rev-parse", "main"]);
    // A human commit on an agent's branch, with the agent named in the description: both are
    // contextual signals the delivery carries.
    // A branch name may hold backticks: the check run shows it whole, in a longer fence.
    git(&fixture, &["checkout", "-q", "-b", "claude/fix-`cart`", "main"]);
    let head = fixture.repo.commit_as("dave", "docs/cart.md", "Totals include quantities.\n", "Document totals");
    let mut opened = pull_request("opened", &head, &base);
    opened["pull_request"]["head"]["ref"] = json!("claude/fix-`cart`");
    opened["pull_request"]["body"] = json!("🤖 Generated with [Claude Code](https://claude.com/claude-code)");
    assert_eq!(signed(&server.url, "pull_request", "d-limited", &opened), 202);
    let calls = github.wait_for(2, "the check run, after the rate limit");
    let posts: Vec<&Call> = calls.iter().filter(|call| call.path.ends_with("/check-runs")).collect();
    assert_eq!(posts.len(), 2, "{calls:#?}");
    assert!(calls.iter().all(|call| call.authorization == "Bearer ghp_repository"), "the token is used as given");
    let summary = posts[1].body["output"]["summary"].as_str().expect("summary");
    assert!(summary.contains("change branch: `` branch claude/fix-`cart` ``"), "{summary}");
    assert!(summary.contains("Generated with [Claude Code]"), "{summary}");
    let (done, failed, error) = settled(&database, "d-limited");
    assert!(done.is_some() && failed.is_none(), "{error:?}");
    let attempts = events(&database).into_iter().find(|(id, ..)| id == "d-limited").map(|(.., error)| error);
    assert!(attempts.flatten().is_some_and(|error| error.contains("429")), "the first attempt's answer is kept");
}

#[test]
fn a_change_that_cannot_be_judged_fails_its_check_and_its_deployment() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let github = mock_github();
    let server = start_with_token(&fixture, &database, &github, dir.path());
    let ci = fixture.token(&database, "ci-bot");
    let base = git(&fixture, &["rev-parse", "main"]);
    let (_, deployed) =
        fixture.cli(&server, &ci, &["register", "--repository", "shop", "--base", "main~1", "--head", "main"]);
    database.execute(&format!("UPDATE changes SET deployed_at = 1 WHERE id = {}", deployed["id"]));
    // A head no clone has (a force-push GitHub saw first, or a forged id): nothing to read.
    let missing = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(signed(&server.url, "pull_request", "d-missing", &pull_request("opened", missing, &base)), 202);
    let (_, failed, _) = settled(&database, "d-missing");
    assert!(failed.is_some(), "given up, not retried for ever");
    let calls = github.wait_for(1, "a failing check run");
    assert_eq!(
        (calls[0].body["head_sha"].as_str(), calls[0].body["conclusion"].as_str()),
        (Some(missing), Some("failure"))
    );
    assert!(calls[0].body["output"]["title"].as_str().is_some_and(|title| title.contains("cannot be judged")));
    let callback = format!("{}/repos/octo-shop/shop/actions/runs/7/deployment_protection_rule", github.url);
    let rule = json!({
        "action": "requested",
        "environment": "production",
        "deployment_callback_url": callback,
        "deployment": {"sha": missing},
        "repository": repository(),
    });
    assert_eq!(signed(&server.url, "deployment_protection_rule", "d-rule", &rule), 202);
    settled(&database, "d-rule");
    let calls = github.wait_for(2, "the rule's answer");
    assert_eq!(calls[1].body["state"], "rejected", "{:#?}", calls[1]);
    assert!(calls[1].body["comment"].as_str().is_some_and(|comment| comment.contains("cannot judge")));
}
