//! The web interface in headless Chromium (tests/browser/review.mjs, driven by playwright-core,
//! checked by axe-core), against a real `countersign serve` with a change registered from a real
//! repository, and a notification caught by a webhook receiver started here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{Database, Fixture, audit_entries};

/// AI-assisted changes need a senior who opened every changed file.
const INFORMED_RULE: &str = "[[rule]]\nname = \"informed-ai-review\"\n\
    description = \"A senior reads every file of an AI-assisted change before signing it off\"\n\
    when = { ai_assisted = true }\nrequires = { count = 1, min_level = \"senior\", informed = true }\n";

/// A webhook receiver on loopback: answers 503 (to be retried) while it has failures left, then
/// 200, and keeps every delivery it was sent.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) failures_left: Arc<AtomicUsize>,
    /// The status answered, the `X-Countersign-Event` header and the body of each delivery.
    pub(crate) received: Arc<Mutex<Vec<(u16, String, Value)>>>,
}

impl Receiver {
    /// Waits until a delivery of this event was answered 200, and returns its body.
    pub(crate) fn delivered(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received.lock().expect("lock").clone();
            if let Some((.., body)) = received.iter().find(|(status, name, _)| *status == 200 && name == event) {
                return body.clone();
            }
            assert!(Instant::now() < deadline, "no {event} delivered: {received:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A receiver that fails the first delivery.
pub(crate) fn receiver() -> Receiver {
    failing_receiver(1)
}

pub(crate) fn failing_receiver(failures: usize) -> Receiver {
    let failures_left = Arc::new(AtomicUsize::new(failures));
    let left = Arc::clone(&failures_left);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/countersign", listener.local_addr().expect("address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            let mut event = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("x-countersign-event")
                {
                    value.trim().clone_into(&mut event);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut kept = kept.lock().expect("lock");
            let failing = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            let status = if failing { 503 } else { 200 };
            kept.push((status, event, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Receiver { url, failures_left, received }
}

fn browser_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Chromium and the npm packages, installed by the project's own script.
fn install_browser() {
    let output = Command::new("bash").arg(browser_tests().join("setup.sh")).output().expect("bash runs");
    assert!(
        output.status.success(),
        "tests/browser/setup.sh failed (it installs Debian's chromium and the pinned npm packages): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_senior_signs_off_in_the_browser_and_the_gate_holds() {
    let fixture = Fixture::with_rules(INFORMED_RULE);
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let hook = receiver();
    let server = fixture.start(&database, &["--notify", &hook.url, "--notify-retry-after", "200ms"]);
    let ci = fixture.token(&database, "ci");
    let alice = fixture.token(&database, "alice");
    let bob = fixture.token(&database, "bob");
    fixture.bob_change("feature", "def total(items):\n    return sum(item.price * item.quantity for item in items)\n");
    fixture.repo.commit_as(
        "bob",
        "services/checkout/tax.py",
        "RATE = 0.2\n\n\ndef tax(amount):\n    return round(amount * RATE, 2)\n",
        "Add the tax helper\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    );
    let (code, registered) = fixture.register(&server, &ci, "feature");
    assert_eq!(code, 1, "registered and blocked: {registered:#}");
    let change = registered["id"].as_i64().unwrap_or_else(|| panic!("a change id: {registered:#}"));
    assert!(
        registered["assignments"].as_array().expect("assignments").iter().any(|a| a["person"] == "alice"),
        "a review is routed to alice: {:#}",
        registered["assignments"]
    );

    // A human change by dave waits for a reviewer too, so the dashboard has more than one.
    fixture.repo.git(&["checkout", "-q", "-B", "docs-fix", "main"]);
    fixture.repo.commit_as(
        "dave",
        "docs/runbook.md",
        "Restart the cart service first.\n",
        "Document the restart order",
    );
    let (code, _) = fixture.register(&server, &ci, "docs-fix");
    assert_eq!(code, 1, "dave's change waits for a review");

    install_browser();
    let screenshots = std::env::var("COUNTERSIGN_SCREENSHOTS").map_or_else(|_| dir.path().to_path_buf(), PathBuf::from);
    let output = Command::new("node")
        .arg(browser_tests().join("review.mjs"))
        .env("BASE_URL", &server.url)
        .env("ALICE_TOKEN", &alice)
        .env("BOB_TOKEN", &bob)
        .env("CHANGE_ID", change.to_string())
        .env("SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("the browser test's report");
    let checked: Vec<&str> =
        report["accessible"].as_array().expect("a list").iter().filter_map(Value::as_str).collect();
    let pages = ["sign-in", "queue", "change (blocked)", "file", "change (allowed)", "change on a phone", "dashboard"];
    assert_eq!(checked, [&pages[..], &["audit"]].concat(), "every page passes axe-core's WCAG 2.1 AA checks");

    // The approval carries the files opened, and the refusals are on the record.
    let entries = audit_entries(&database);
    let approvals: Vec<&Value> = entries.iter().filter(|entry| entry["action"] == "approval.recorded").collect();
    let opened: Vec<i64> = approvals
        .iter()
        .filter_map(|entry| serde_json::from_str::<Value>(entry["detail"].as_str()?).ok()?["opened"].as_i64())
        .collect();
    assert_eq!(opened, [1, 2], "first approval after one file, then after both");
    let refusals: Vec<String> = entries
        .iter()
        .filter(|entry| entry["action"].as_str().is_some_and(|action| action.ends_with(".refused")))
        .filter_map(|entry| {
            let detail: Value = serde_json::from_str(entry["detail"].as_str()?).ok()?;
            Some(format!("{} {} {}", entry["actor"].as_str()?, entry["action"].as_str()?, detail["reason"].as_str()?))
        })
        .collect();
    assert_eq!(
        refusals,
        ["bob approval.refused own-change", "bob rejection.refused csrf", "bob rejection.refused cross-site"]
    );
    let sessions: Vec<&str> = entries
        .iter()
        .filter(|entry| entry["action"].as_str().is_some_and(|action| action.starts_with("session.")))
        .filter_map(|entry| entry["action"].as_str())
        .collect();
    assert_eq!(sessions, ["session.started", "session.started", "session.ended"]);

    // Bob pushes once more: the new version's page shows what changed since alice's approval.
    fixture.repo.git(&["checkout", "-q", "feature"]);
    fixture.repo.commit_as(
        "bob",
        "services/checkout/tax.py",
        "RATE = 0.25\n\n\ndef tax(amount):\n    return round(amount * RATE, 2)\n",
        "Raise the tax rate\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
    );
    let (code, again) = fixture.register(&server, &ci, "feature");
    assert_eq!(code, 1, "a new version needs a new review: {again:#}");
    let agent = browser_agent();
    let session = sign_in(&agent, &server.url, &alice);
    let url = format!("{}/changes/{}", server.url, again["id"]);
    let mut page = agent.get(&url).header("Cookie", &session).call().expect("change page");
    let html = page.body_mut().read_to_string().expect("html");
    let since = html.split("class=\"earlier\"").nth(1).expect("what changed since the approval");
    assert!(since.contains("alice approved an earlier version"), "{since}");
    assert!(since.contains("-RATE = 0.2\n+RATE = 0.25"), "{since}");

    // The review request reached the webhook, after one failed attempt, with a link to the page.
    let body = hook.delivered("review.assigned");
    assert!(hook.received.lock().expect("lock")[0].0 == 503, "the first attempt was answered 503 and retried");
    assert_eq!(body["change"]["url"], format!("{}/changes/{change}", server.url));
    assert_eq!(body["change"]["repository"], "shop");
    assert!(body["summary"].as_str().is_some_and(|summary| summary.contains("review assigned to")), "{body:#}");
}

fn browser_agent() -> ureq::Agent {
    ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into()
}

/// Signs in over HTTP as a browser would; returns the session cookie (`name=value`).
fn sign_in(agent: &ureq::Agent, base: &str, token: &str) -> String {
    let mut page = agent.get(&format!("{base}/sign-in")).call().expect("sign-in page");
    let cookie = page.headers().get("set-cookie").and_then(|value| value.to_str().ok()).expect("a cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let csrf = pair.split_once('=').expect("value").1.to_owned();
    let html = page.body_mut().read_to_string().expect("html");
    assert!(html.contains(&csrf), "the form carries the cookie's token");
    let answer = agent
        .post(&format!("{base}/sign-in"))
        .header("Cookie", &pair)
        .send_form([("token", token), ("csrf", csrf.as_str())])
        .expect("sign in");
    assert_eq!(answer.status(), 303);
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("countersign_session="))
        .expect("a session cookie")
        .to_owned();
    session.split(';').next().expect("name=value").to_owned()
}

fn queue_status(agent: &ureq::Agent, base: &str, session: &str) -> u16 {
    agent.get(&format!("{base}/queue")).header("Cookie", session).call().expect("queue").status().as_u16()
}

#[test]
fn a_session_ends_when_its_token_is_revoked_or_its_time_is_up() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let server = fixture.start(&database, &["--session-ttl", "2s"]);
    let alice = fixture.token(&database, "alice");
    let carol = fixture.token(&database, "carol");
    let agent = browser_agent();

    // A sign-in form posted without its own cookie is refused, and makes no session.
    let refused =
        agent.post(&format!("{}/sign-in", server.url)).send_form([("token", alice.as_str()), ("csrf", "guess")]);
    let refused = refused.expect("an answer");
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|value| !value.as_bytes().starts_with(b"countersign_session"))
    );

    let session = sign_in(&agent, &server.url, &alice);
    assert_eq!(queue_status(&agent, &server.url, &session), 200);
    let token_id = alice.strip_prefix("cst_").and_then(|rest| rest.split('_').next()).expect("a token id");
    let output = crate::server::countersign(&["token", "revoke", "--database-url", &database.url(), token_id]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(queue_status(&agent, &server.url, &session), 303, "revoking the token ends its sessions");

    let session = sign_in(&agent, &server.url, &carol);
    assert_eq!(queue_status(&agent, &server.url, &session), 200);
    std::thread::sleep(Duration::from_millis(2_100));
    assert_eq!(queue_status(&agent, &server.url, &session), 303, "a session expires");
    assert_eq!(queue_status(&agent, &server.url, "countersign_session=forged"), 303, "a made-up cookie is nothing");
}

#[test]
fn a_queued_notification_survives_a_restart() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let hook = failing_receiver(usize::MAX);
    // One attempt before the restart: a delivery a stopped node was sending waits out its lease.
    let notify = ["--notify", hook.url.as_str(), "--notify-retry-after", "3s"];
    let server = fixture.start(&database, &notify);
    let ci = fixture.token(&database, "ci-bot");
    fixture.bob_change("feature", "def total(items):\n    return 9\n");
    let (code, _) = fixture.register(&server, &ci, "feature");
    assert_eq!(code, 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while hook.received.lock().expect("lock").is_empty() {
        assert!(Instant::now() < deadline, "no delivery was attempted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The failure is recorded right after the answer.
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let failed = hook.received.lock().expect("lock").len();
    assert!(hook.received.lock().expect("lock").iter().all(|(status, ..)| *status == 503));

    // The receiver recovers; a new server process on the same database sends what is still due.
    hook.failures_left.store(0, Ordering::SeqCst);
    let _server = fixture.start(&database, &notify);
    let body = hook.delivered("review.assigned");
    assert_eq!(body["change"]["repository"], "shop");
    assert!(hook.received.lock().expect("lock").len() > failed);
}

#[test]
fn only_the_readers_own_navigation_opens_a_file() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let carol = fixture.token(&database, "carol");
    fixture.bob_change("feature", "def total(items):\n    return 10\n");
    let (_, change) = fixture.register(&server, &ci, "feature");
    let id = change["id"].as_i64().expect("id");
    let agent = browser_agent();
    let session = sign_in(&agent, &server.url, &carol);
    let file = format!("{}/changes/{id}/file?path=services/checkout/cart.py", server.url);
    let opened = || {
        let mut page =
            agent.get(&format!("{}/changes/{id}", server.url)).header("Cookie", &session).call().expect("page");
        let html = page.body_mut().read_to_string().expect("html");
        html.split("You opened ").nth(1).and_then(|rest| rest.split(" changed").next()).expect("the count").to_owned()
    };
    for (site, dest) in
        [("same-site", "document"), ("cross-site", "document"), ("same-origin", "image"), ("same-origin", "empty")]
    {
        let page = agent
            .get(&file)
            .header("Cookie", &session)
            .header("Sec-Fetch-Site", site)
            .header("Sec-Fetch-Dest", dest)
            .call()
            .expect("file page");
        assert_eq!(page.status(), 200, "the page is shown");
        assert_eq!(opened(), "0 of 1", "a {site} {dest} request opens nothing");
    }
    let page = agent
        .get(&file)
        .header("Cookie", &session)
        .header("Sec-Fetch-Site", "same-origin")
        .header("Sec-Fetch-Dest", "document")
        .call()
        .expect("file page");
    assert_eq!(page.status(), 200);
    assert_eq!(opened(), "1 of 1", "the reader's own navigation opens the file");
    let missing = agent
        .get(&format!("{}/changes/{id}/file?path=services/checkout/other.py", server.url))
        .header("Cookie", &session)
        .call()
        .expect("answer");
    assert_eq!(missing.status(), 404, "a path the change does not touch is not a file of it");
}

#[test]
fn the_audit_page_says_when_the_chain_is_broken() {
    let fixture = Fixture::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let carol = fixture.token(&database, "carol");
    fixture.bob_change("feature", "def total(items):\n    return 11\n");
    fixture.register(&server, &ci, "feature");
    let agent = browser_agent();
    let session = sign_in(&agent, &server.url, &carol);
    database.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
    let mut page = agent.get(&format!("{}/audit", server.url)).header("Cookie", &session).call().expect("audit");
    let html = page.body_mut().read_to_string().expect("html");
    let status = html.split("id=\"chain-status\"").nth(1).and_then(|rest| rest.split("</p>").next()).expect("status");
    assert!(status.contains("BROKEN") && status.contains("2"), "{status}");
}

#[test]
fn a_large_change_read_file_by_file_can_still_be_approved() {
    let fixture = Fixture::with_rules(INFORMED_RULE);
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let carol = fixture.token(&database, "carol");
    // More than a statement can list by name (300 paths of some 240 bytes, beyond the 64 KiB
    // every reader accepts): documents written with an assistant.
    fixture.repo.git(&["checkout", "-q", "-B", "docs", "main"]);
    let folder = format!("docs/{}", "handbook-".repeat(25));
    for index in 0..300 {
        fixture.repo.write(&format!("{folder}/page-{index:03}.md"), &format!("Page {index}.\n"));
    }
    fixture.repo.commit_as("dave", "docs/index.md", "Index.\n", "Write the pages\n\nAssisted-by: Claude\n");
    let (code, change) = fixture.register(&server, &ci, "docs");
    assert_eq!(code, 1, "{change:#}");
    let id = change["id"].as_i64().expect("id");
    let agent = browser_agent();
    let session = sign_in(&agent, &server.url, &carol);
    let mut page = agent.get(&format!("{}/changes/{id}", server.url)).header("Cookie", &session).call().expect("page");
    let html = page.body_mut().read_to_string().expect("html");
    let files: std::collections::BTreeSet<String> = html
        .split("href=\"/changes/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|link| link.contains("/file?path="))
        .map(|link| format!("{}/changes/{}", server.url, link.replace("&amp;", "&")))
        .collect();
    assert_eq!(files.len(), 301, "every changed file has its page");
    for file in &files {
        assert_eq!(agent.get(file).header("Cookie", &session).call().expect("file").status(), 200);
    }
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("csrf");
    let approved = agent
        .post(&format!("{}/changes/{id}/review", server.url))
        .header("Cookie", &session)
        .send_form([("csrf", csrf), ("verdict", "approve"), ("comment", "read all 301")])
        .expect("approve");
    assert_eq!(approved.status(), 303, "the approval is recorded");
    let (_, view) = crate::server::call(&server, "GET", &format!("/api/changes/{id}"), Some(&ci), None);
    let informed =
        view["decision"]["rules"].as_array().expect("rules").iter().find(|rule| rule["name"] == "informed-ai-review");
    assert_eq!(informed.map(|rule| rule["satisfied"].clone()), Some(Value::Bool(true)), "{view:#}");
}
