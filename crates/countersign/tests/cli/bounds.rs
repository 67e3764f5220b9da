//! Hostile inputs that could crash, hang or exhaust the gate, generated here at full size, and
//! the bound that holds against each: the gate still answers, refusing (exit 2) or blocking
//! (exit 1), promptly and with its own message. Commands whose defence is about time run under a
//! deadline and fail the test when they overrun it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::attacks::git_with;
use crate::server::{Database, Fixture, call, countersign as run_countersign};
use crate::util::{POLICY, SERVICES, TestRepo, people_toml, stderr, stdout, unmet};

const BOB: (&str, &str) = ("Bob Tran", "bob@shop.example");

/// What a command that must not wait on its input may take, with room for a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(20);

/// What a linear pass over 200,000 co-authors may take in a debug build; quadratic work takes
/// far longer.
const LINEAR: Duration = Duration::from_secs(60);

/// `check` of `main..HEAD` in JSON with extra arguments.
fn check_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["check", "--repo", ".", "--base", "main", "--head", "HEAD", "--format", "json"];
    args.extend_from_slice(extra);
    args
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Vec<u8>> {
    let mut pipe = pipe.expect("the pipe was requested");
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Runs the binary in `dir` like [`TestRepo::countersign`], killing it and failing the test when
/// it is still running after `limit`.
fn run_within(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .current_dir(dir)
        .args(args)
        .env_remove("GITHUB_HEAD_REF")
        .env_remove("GITHUB_BASE_REF")
        .env_remove("COUNTERSIGN_REQUESTER")
        .env_remove("GITHUB_EVENT_NAME")
        .env_remove("GITHUB_EVENT_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("countersign starts");
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("countersign {args:?} was still running after {limit:?}: the bound does not hold");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: out.join().expect("stdout is read"), stderr: err.join().expect("stderr is read") }
}

/// The exit code and the JSON decision of a finished `check`.
fn decided(output: &Output) -> (i32, Value) {
    let decision = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("check printed no JSON ({error}): {}\n{}", stdout(output), stderr(output)));
    (output.status.code().expect("an exit code, not a signal"), decision)
}

/// A repository with bob's harmless change to the docs on branch `feature`.
fn docs_change() -> TestRepo {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", "docs/guide.md", "# Guide\n", "Write the guide");
    repo
}

/// A configuration folder outside the work tree: the fixture's services.toml, and this people.toml
/// and policy.toml.
fn config_dir(repo: &TestRepo, name: &str, people: &[u8], policy: &str) -> PathBuf {
    let dir = repo.temp.path().join(name);
    std::fs::create_dir_all(&dir).expect("config folder");
    std::fs::write(dir.join("people.toml"), people).expect("write people.toml");
    std::fs::write(dir.join("services.toml"), SERVICES).expect("write services.toml");
    std::fs::write(dir.join("policy.toml"), policy).expect("write policy.toml");
    dir
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Stderr as one line: each line without the frame drawn around it, joined with spaces.
fn said(output: &Output) -> String {
    stderr(output)
        .lines()
        .map(|line| {
            let line = line.trim();
            line.strip_prefix("x ").or_else(|| line.strip_prefix('|')).unwrap_or(line).trim()
        })
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The messages of the findings with `code`.
fn messages(decision: &Value, code: &str) -> Vec<String> {
    decision["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|finding| finding["code"] == code)
        .map(|finding| finding["message"].as_str().expect("a message").to_owned())
        .collect()
}

// Nesting

#[test]
fn a_migration_nested_20000_deep_blocks_without_crashing_check_or_the_server() {
    let fixture = Fixture::new();
    let deep = format!("SELECT {}1{};\n", "(".repeat(20_000), ")".repeat(20_000));
    fixture.repo.git(&["checkout", "-q", "-b", "deep", "main"]);
    fixture.repo.commit_as("bob", "db/migrations/0002_deep.sql", &deep, "Add a deep migration");

    let (code, decision) = fixture.repo.check(&[]);
    assert_eq!(code, 1, "{decision:#}");
    let unparsable = decision["destructive"]
        .as_array()
        .expect("destructive")
        .iter()
        .find(|operation| operation["action"] == "unparsable migration")
        .unwrap_or_else(|| panic!("no unparsable migration: {:#}", decision["destructive"]));
    assert_eq!(unparsable["file"], "db/migrations/0002_deep.sql");
    let reason = unparsable["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("nest more than 128"), "{reason}");

    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let body = json!({"repository": "shop", "base": "main", "head": "deep", "requester": "bob"});
    // `call` fails the test when the server does not answer at all.
    let (status, answer) = call(&server, "POST", "/api/changes", Some(&ci), Some(body));
    assert!((200..600).contains(&status), "{status}: {answer}");
    let (status, health) = call(&server, "GET", "/healthz", None, None);
    assert_eq!(status, 200, "{health}");
    fixture.bob_change("normal", "def total(items):\n    return 3\n");
    let (code, normal) = fixture.register(&server, &ci, "normal");
    assert_eq!((code, normal["verdict"].as_str()), (1, Some("blocked")), "{normal}");
}

// CODEOWNERS

/// A CODEOWNERS of exactly `size` bytes: two rules, then comments.
fn codeowners_of(size: usize) -> String {
    let mut text = String::from("* @shop/platform\n/services/checkout/ @shop/checkout\n");
    let line = format!("# {}\n", "x".repeat(77));
    while text.len() + line.len() <= size {
        text.push_str(&line);
    }
    match size - text.len() {
        0 => {}
        1 => text.push('\n'),
        rest => {
            text.push('#');
            text.push_str(&"x".repeat(rest - 2));
            text.push('\n');
        }
    }
    assert_eq!(text.len(), size);
    text
}

#[test]
fn a_codeowners_of_3_mb_is_refused_at_the_base_and_beside_a_config_folder() {
    let repo = TestRepo::new();
    let codeowners = codeowners_of(3_000_000);
    repo.commit_as("alice", ".github/CODEOWNERS", &codeowners, "List everyone");
    repo.branch("feature");
    repo.commit_as("bob", "docs/guide.md", "# Guide\n", "Write the guide");
    let output = repo.countersign(&check_args(&[]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("GitHub ignores a CODEOWNERS of 3 MB"), "{}", stderr(&output));

    // `policy check --config DIR` reads CODEOWNERS beside DIR.
    let root = repo.temp.path().join("checkout");
    let dir = root.join("config");
    std::fs::create_dir_all(root.join(".github")).expect("dirs");
    std::fs::write(root.join(".github/CODEOWNERS"), &codeowners).expect("write CODEOWNERS");
    std::fs::create_dir_all(&dir).expect("config folder");
    std::fs::write(dir.join("people.toml"), people_toml()).expect("write");
    std::fs::write(dir.join("services.toml"), SERVICES).expect("write");
    std::fs::write(dir.join("policy.toml"), POLICY).expect("write");
    let output = run_countersign(&["policy", "check", "--config", utf8(&dir)]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("GitHub ignores a CODEOWNERS of 3 MB"), "{}", stderr(&output));
}

// Plans

#[test]
fn a_plan_naming_resource_changes_twice_is_refused() {
    let repo = docs_change();
    let plan = repo.temp.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"format_version":"1.2","terraform_version":"1.9.0","resource_changes":[{"address":"aws_db_instance.orders","type":"aws_db_instance","name":"orders","change":{"actions":["delete"]}}],"resource_changes":[]}"#,
    )
    .expect("write plan");
    let output = repo.countersign(&check_args(&["--plan", utf8(&plan)]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("`resource_changes` appears twice"), "{}", stderr(&output));
}

// Linear work

/// A decision of over 100 MB (an entry and a finding per co-author), its responsible humans
/// counted rather than built into a `Value`.
#[derive(serde::Deserialize)]
struct Counted {
    verdict: String,
    responsible: Vec<serde::de::IgnoredAny>,
}

#[test]
fn a_commit_with_200000_co_authors_is_checked_and_scanned_in_linear_time() {
    use std::fmt::Write as _;
    let repo = TestRepo::new();
    repo.branch("crowd");
    let mut message = String::from("Pair with everyone\n\n");
    for n in 0..200_000 {
        writeln!(message, "Co-authored-by: Person {n} <p{n}@x.example>").expect("writing to a String");
    }
    let file = repo.temp.path().join("message.txt");
    std::fs::write(&file, message).expect("write message");
    repo.write("docs/crowd.md", "# Crowd\n");
    repo.git_as(BOB, &["add", "-A"]);
    repo.git_as(BOB, &["commit", "-q", "-F", utf8(&file)]);
    let head = repo.git(&["rev-parse", "HEAD"]);

    let output = run_within(&repo.path(), &check_args(&[]), LINEAR);
    let counted: Counted = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("check printed no decision ({error}): {}", stderr(&output)));
    assert_eq!((output.status.code(), counted.verdict.as_str()), (Some(1), "blocked"));
    assert!(counted.responsible.len() > 200_000, "{} responsible", counted.responsible.len());

    let output = run_within(&repo.path(), &["scan", "--range", "HEAD", "--format", "jsonl"], LINEAR);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains(&head), "{}", stdout(&output));
}

// Files that are not files

#[test]
fn fifos_and_devices_are_refused_or_block_without_waiting() {
    let repo = docs_change();
    let fifo = repo.temp.path().join("plan.json");
    mkfifo(&fifo);
    let output = run_within(&repo.path(), &check_args(&["--plan", utf8(&fifo)]), PROMPTLY);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("not a regular file (a FIFO)"), "{}", stderr(&output));

    let output = run_within(&repo.path(), &check_args(&["--plan", "/dev/zero"]), PROMPTLY);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("(a device)"), "{}", stderr(&output));

    let dir = repo.temp.path().join("attestations");
    std::fs::create_dir_all(&dir).expect("attestation folder");
    mkfifo(&dir.join("x.json"));
    let (code, decision) = decided(&run_within(&repo.path(), &check_args(&["--attestations", utf8(&dir)]), PROMPTLY));
    assert_eq!(code, 1, "{decision:#}");
    assert!(unmet(&decision).contains(&"readable-attestations".to_owned()), "{decision:#}");
}

// Configuration size and echo

#[test]
fn an_oversized_people_toml_is_refused_and_a_megabyte_line_is_not_echoed() {
    let repo = docs_change();
    let mut huge = people_toml();
    huge.push_str("# ");
    huge.push_str(&"x".repeat(20 << 20));
    huge.push('\n');
    let dir = config_dir(&repo, "huge", huge.as_bytes(), POLICY);
    let output = repo.countersign(&check_args(&["--config", utf8(&dir)]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("larger than the 8388608 bytes"), "{}", stderr(&output));

    let people = people_toml();
    let (first, rest) = people.split_once('\n').expect("more than one line");
    let unterminated = format!("{first}\nnote = \"{}\n{rest}", "x".repeat(1 << 20));
    let dir = config_dir(&repo, "unterminated", unterminated.as_bytes(), POLICY);
    let output = repo.countersign(&check_args(&["--config", utf8(&dir)]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(message.len() < 20_000, "{} bytes of stderr: {}", message.len(), &message[..2_000.min(message.len())]);
}

// Configuration depth and encoding

#[test]
fn a_deep_table_header_names_its_file_and_invalid_utf8_names_its_line() {
    let repo = docs_change();
    let deep = format!("version = 1\n[{}a]\n", "a.".repeat(9_999));
    let dir = config_dir(&repo, "deep", people_toml().as_bytes(), &deep);
    let output = run_within(&repo.path(), &check_args(&["--config", utf8(&dir)]), PROMPTLY);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("policy.toml"), "{}", stderr(&output));

    let people = people_toml();
    let mut bytes = Vec::new();
    let (first, rest) = people.split_once('\n').expect("more than one line");
    bytes.extend_from_slice(first.as_bytes());
    bytes.extend_from_slice(b"\n\n# caf\xe9\n");
    bytes.extend_from_slice(rest.as_bytes());
    let dir = config_dir(&repo, "latin1", &bytes, POLICY);
    let output = repo.countersign(&check_args(&["--config", utf8(&dir)]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("line 3 is not UTF-8"), "{}", stderr(&output));
}

// The attestation ref

#[test]
fn an_attestation_ref_pointing_at_a_blob_is_refused() {
    let repo = docs_change();
    let file = repo.temp.path().join("not-a-commit.txt");
    std::fs::write(&file, "hello\n").expect("write");
    let blob = repo.git(&["hash-object", "-w", utf8(&file)]);
    repo.git(&["update-ref", "refs/countersign/attestations", &blob]);
    let output = repo.countersign(&check_args(&[]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = said(&output);
    for expected in ["refs/countersign/attestations", "not a commit"] {
        assert!(message.contains(expected), "{expected:?} missing in {message}");
    }
}

// Statement size

#[test]
fn an_attestation_over_64_kib_blocks_in_the_ref_and_in_a_folder() {
    let repo = docs_change();
    let (_, decision) = repo.check(&[]);
    let fingerprint = decision["change"]["fingerprint"].as_str().expect("fingerprint");
    let hex = fingerprint.strip_prefix("sha256:").expect("a sha256 fingerprint");
    let big = repo.temp.path().join("big.json");
    let padding = "x".repeat(100_000 - r#"{"padding":""}"#.len());
    std::fs::write(&big, format!(r#"{{"padding":"{padding}"}}"#)).expect("write");
    assert_eq!(std::fs::metadata(&big).expect("metadata").len(), 100_000);

    let blob = repo.git(&["hash-object", "-w", utf8(&big)]);
    let index = repo.temp.path().join("attestations.index");
    let env = [("GIT_INDEX_FILE", index.as_path())];
    let entry = format!("100644,{blob},{}/{hex}/big.json", &hex[..2]);
    git_with(&repo, &env, &["update-index", "--add", "--cacheinfo", &entry]);
    let tree = git_with(&repo, &env, &["write-tree"]);
    let commit = git_with(&repo, &[], &["commit-tree", &tree, "-m", "A large statement"]);
    repo.git(&["update-ref", "refs/countersign/attestations", &commit]);
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1, "{decision:#}");
    assert!(unmet(&decision).contains(&"readable-attestations".to_owned()), "{decision:#}");
    let unreadable = messages(&decision, "attestation-unreadable");
    assert!(unreadable.iter().any(|message| message.contains("more than the 65536")), "{unreadable:#?}");

    let dir = repo.temp.path().join("attestations");
    std::fs::create_dir_all(&dir).expect("attestation folder");
    std::fs::copy(&big, dir.join("big.json")).expect("copy");
    let (code, decision) = repo.check(&["--attestations", utf8(&dir)]);
    assert_eq!(code, 1, "{decision:#}");
    assert!(unmet(&decision).contains(&"readable-attestations".to_owned()), "{decision:#}");
    let unreadable = messages(&decision, "attestation-unreadable");
    assert!(unreadable.iter().any(|message| message.contains("larger than the 65536")), "{unreadable:#?}");
}

// Blob size

#[test]
fn a_70_mib_file_is_sized_not_read() {
    let repo = TestRepo::new();
    repo.branch("zeros");
    let size: u64 = 70 << 20;
    std::fs::create_dir_all(repo.path().join("data")).expect("dirs");
    let file = std::fs::File::create(repo.path().join("data/zeros.bin")).expect("create");
    file.set_len(size).expect("a sparse file of zeros");
    repo.git_as(BOB, &["add", "-A"]);
    repo.git_as(BOB, &["commit", "-q", "-m", "Add zeros"]);
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1, "{:#}", decision["change"]);
    assert_eq!(decision["change"]["lines_added"].as_u64(), Some(size), "{:#}", decision["change"]);
}

// CSV

#[test]
fn scan_csv_does_not_write_a_formula() {
    let repo = TestRepo::new();
    let name = "Mallory";
    repo.commit_as(&format!("{name} <=1+1@evil.example>"), "docs/index.md", "# Formula\n", "Update the docs");
    let output = repo.countersign(&["scan", "--range", "HEAD", "--format", "csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let csv = stdout(&output);
    for line in csv.lines() {
        assert!(!line.starts_with('=') && !line.contains(",=") && !line.contains(",\"="), "{line}");
    }
    assert!(csv.contains(",'=1+1@evil.example,"), "the address cell is prefixed: {csv}");
}

// Time

#[test]
fn a_zero_time_budget_fails_closed() {
    let repo = docs_change();
    let output = repo.countersign(&check_args(&["--time-budget", "0s"]));
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(said(&output).contains("time budget"), "{}", stderr(&output));
}
