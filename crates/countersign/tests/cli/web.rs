//! The web interface in headless Chromium (tests/browser/review.mjs, driven by playwright-core,
//! checked by axe-core), against a real `countersign serve` with a change registered from a real
//! repository, and a notification caught by a webhook receiver started here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{Database, Fixture, audit_entries};

/// AI-assisted changes need a senior who opened every changed file.
const INFORMED_RULE: &str = "[[rule]]\nname = \"informed-ai-review\"\n\
    description = \"A senior reads every file of an AI-assisted change before signing it off\"\n\
    when = { ai_assisted = true }\nrequires = { count = 1, min_level = \"senior\", informed = true }\n";

/// A webhook receiver on loopback: answers the first delivery 503 (to be retried), then 200,
/// and keeps every body it was sent.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<(u16, Value)>>>,
}

fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/countersign", listener.local_addr().expect("address"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
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
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut kept = kept.lock().expect("lock");
            let status = if kept.is_empty() { 503 } else { 200 };
            kept.push((status, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Receiver { url, received }
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

    // The review request reached the webhook, after one failed attempt, with a link to the page.
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let received = hook.received.lock().expect("lock").clone();
        if let Some((_, body)) =
            received.iter().find(|(status, body)| *status == 200 && body["event"] == "review.assigned")
        {
            break (received.len(), body.clone());
        }
        assert!(Instant::now() < deadline, "no review.assigned delivered: {received:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (attempts, body) = delivered;
    assert!(attempts >= 2, "the first attempt was answered 503 and retried");
    assert_eq!(body["change"]["url"], format!("{}/changes/{change}", server.url));
    assert_eq!(body["change"]["repository"], "shop");
    assert!(body["summary"].as_str().is_some_and(|summary| summary.contains("review assigned to")), "{body:#}");
}
