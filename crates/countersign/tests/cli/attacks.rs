//! Attacks on the gate, each performed for real (git CLI, the binary, a running server), and the
//! defence that holds against it: the change stays blocked, the command refuses, or the forged
//! approval does not count.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use countersign_core::attestation::{Statement, Verdict};
use serde_json::{Value, json};

use crate::gate::now;
use crate::server::{
    Database, Fixture, SERVER_KEY_SEED, Server, approve, audit_entries, audit_verify, call,
    countersign as run_countersign,
};
use crate::util::{PEOPLE, POLICY, TestRepo, key, people_toml, stderr, stdout, unmet};

const CLAUDE: &str = "Co-Authored-By: Claude <noreply@anthropic.com>";

/// A valid policy with a single rule anyone but the authors satisfies.
const RELAXED_POLICY: &str = "version = 1\n\n[[rule]]\nname = \"anyone\"\nrequires = { count = 1 }\n";

const BOB: (&str, &str) = ("Bob Tran", "bob@shop.example");

/// A junior's AI-assisted change to the tier-0 checkout service, on branch `feature`.
fn junior_ai_change() -> TestRepo {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as(
        "bob",
        "services/checkout/cart.py",
        "def total(items):\n    return 1\n",
        &format!("Fix total\n\n{CLAUDE}\n"),
    );
    repo
}

/// Each text value of a list of objects, by key.
fn field(list: &Value, key: &str) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|item| item[key].as_str().expect("a text field").to_owned()).collect()
}

/// Signs a statement about `main..HEAD` with a fixture person's own key and writes it into `dir`.
fn sign_into(repo: &TestRepo, dir: &Path, verdict: Verdict, person: &str, comment: &str) {
    let (_, decision) = repo.check(&[]);
    let fingerprint = decision["change"]["fingerprint"].as_str().expect("fingerprint");
    let head = decision["change"]["head"].as_str().expect("head");
    let seed = PEOPLE.iter().find(|entry| entry.0 == person).expect("a fixture person").4;
    let envelope = Statement::new(verdict, person, fingerprint, "production", head, now(), comment)
        .sign(&key(seed))
        .expect("the statement signs");
    std::fs::create_dir_all(dir).expect("attestation folder");
    std::fs::write(dir.join(format!("{person}-{}.json", verdict.as_str())), envelope.to_json()).expect("write");
}

/// Approves (or rejects) `main..HEAD` with the CLI and the person's own key; it must succeed.
fn review_ok(repo: &TestRepo, verb: &str, person: &str, extra: &[&str]) {
    let output = repo.review(verb, person, extra);
    assert_eq!(output.status.code(), Some(0), "{verb} as {person}: {}", stderr(&output));
}

/// git in the repository with extra environment variables (e.g. a temporary index).
pub(crate) fn git_with(repo: &TestRepo, env: &[(&str, &Path)], args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@elsewhere.example")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@elsewhere.example")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo.temp.path())
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

// Revisions

#[test]
fn a_tag_shadowing_the_remote_tracking_base_is_refused_as_ambiguous() {
    let repo = TestRepo::new();
    repo.git(&["update-ref", "refs/remotes/origin/main", "main"]);
    repo.branch("weakened");
    repo.commit_as("bob", ".countersign/policy.toml", RELAXED_POLICY, "Relax the gate");
    repo.git(&["tag", "origin/main"]);
    repo.git(&["checkout", "-q", "-b", "feature", "main"]);
    repo.commit_as("bob", "services/checkout/cart.py", "x = 1\n", &format!("Fix\n\n{CLAUDE}\n"));

    let args = ["check", "--base", "origin/main", "--head", "feature", "--format", "json"];
    let output = repo.countersign(&args);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let message = stderr(&output);
    for expected in ["ambiguous", "refs/tags/origin/main", "refs/remotes/origin/main"] {
        assert!(message.contains(expected), "{expected:?} missing in {message}");
    }

    repo.git(&["tag", "-d", "origin/main"]);
    let output = repo.countersign(&args);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let decision: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(decision["change"]["configuration"]["reference"], "refs/remotes/origin/main");
    assert!(unmet(&decision).contains(&"tier0-owners".to_owned()), "{decision:#}");
}

#[test]
fn deploying_a_branch_that_drops_a_fix_on_main_is_a_rollback() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", "docs/guide.md", "# Guide\n", "Write the guide");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_as("alice", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n", "Fix total");
    repo.git(&["checkout", "-q", "feature"]);
    review_ok(&repo, "approve", "alice", &[]);
    review_ok(&repo, "approve", "carol", &[]);

    let (code, decision) = repo.check(&[]);
    assert_eq!((code, unmet(&decision)), (1, vec!["rollback".to_owned()]), "{decision:#}");
    // Before the merge, a branch behind its target is normal.
    let (code, decision) = repo.check(&["--context", "pull-request"]);
    assert_eq!(code, 0, "{decision:#}");
    assert!(!field(&decision["rules"], "name").contains(&"rollback".to_owned()), "{decision:#}");

    // A rule that allows rollbacks, with its own requirement, decides instead.
    repo.git(&["checkout", "-q", "main"]);
    let rule = "\n[[rule]]\nname = \"rollbacks\"\nwhen = { rollback = true }\nrequires = { count = 1, min_level = \"staff\" }\n";
    repo.commit_as("alice", ".countersign/policy.toml", &format!("{POLICY}{rule}"), "Allow rollbacks by staff");
    repo.git(&["checkout", "-q", "feature"]);
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 0, "{decision:#}");
    let rollbacks = decision["rules"].as_array().expect("rules").iter().find(|rule| rule["name"] == "rollbacks");
    assert_eq!(rollbacks.expect("the rule")["approvals"], json!(["carol"]), "{decision:#}");
}

#[test]
fn an_approval_of_one_empty_change_does_not_count_for_another() {
    let repo = TestRepo::new();
    repo.branch("noop");
    repo.commit_as("bob", "docs/index.md", "# Changed\n", "Change the docs");
    repo.git_as(BOB, &["revert", "--no-edit", "HEAD"]);
    review_ok(&repo, "approve", "alice", &[]);
    let (code, noop) = repo.check(&[]);
    assert_eq!(code, 0, "{noop:#}");

    repo.git(&["checkout", "-q", "-b", "empty", "main"]);
    repo.git_as(BOB, &["commit", "-q", "--allow-empty", "-m", "Nothing at all"]);
    let (code, empty) = repo.check(&[]);
    assert_ne!(noop["change"]["fingerprint"], empty["change"]["fingerprint"]);
    assert_eq!(code, 1, "{empty:#}");
    assert_eq!(empty["approvals"], json!([]));
    assert!(unmet(&empty).contains(&"two-person".to_owned()), "{empty:#}");
}

#[test]
fn paths_differing_only_in_invalid_utf8_bytes_have_different_fingerprints() {
    let repo = TestRepo::new();
    let mut fingerprints = Vec::new();
    for (branch, name) in [("ff", b"docs/\xff.md"), ("fe", b"docs/\xfe.md")] {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        std::fs::write(repo.path().join(OsStr::from_bytes(name)), "same\n").expect("write");
        repo.git_as(BOB, &["add", "-A"]);
        repo.git_as(BOB, &["commit", "-q", "-m", "Add a page"]);
        let (code, decision) = repo.check(&[]);
        assert_eq!((code, &decision["change"]["files"]), (1, &json!(1)), "{decision:#}");
        fingerprints.push(decision["change"]["fingerprint"].as_str().expect("fingerprint").to_owned());
    }
    assert_ne!(fingerprints[0], fingerprints[1]);
}

#[test]
fn a_config_folder_in_the_work_tree_that_differs_from_the_base_is_refused() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", ".countersign/policy.toml", RELAXED_POLICY, "Relax the gate");
    let output = repo.countersign(&[
        "check",
        "--base",
        "main",
        "--head",
        "HEAD",
        "--config",
        ".countersign",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("inside the repository's work tree"), "{}", stderr(&output));
}

// Identities

#[test]
fn a_bot_name_on_a_persons_address_is_that_person() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("claude[bot] <alice@shop.example>", "docs/index.md", "# Bot\n", "Update the docs");
    let dir = repo.temp.path().join("attestations");
    sign_into(&repo, &dir, Verdict::Approve, "alice", "");
    let (code, decision) = repo.check(&["--requester", "bob", "--attestations", dir.to_str().expect("UTF-8")]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(decision["approvals"], json!([]));
    assert!(decision["findings"].to_string().contains("a responsible human"), "{decision:#}");
    assert!(field(&decision["responsible"], "id").contains(&"alice".to_owned()), "{decision:#}");
}

#[test]
fn a_plus_addressed_author_is_unknown_and_blocks() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("Alice Moreau <alice+x@shop.example>", "docs/index.md", "# Plus\n", "Update the docs");
    review_ok(&repo, "approve", "alice", &[]);
    review_ok(&repo, "approve", "carol", &[]);
    let (code, decision) = repo.check(&[]);
    assert_eq!((code, unmet(&decision)), (1, vec!["unknown-people".to_owned()]), "{decision:#}");
    assert!(decision["findings"].to_string().contains("looks like alice's address"), "{decision:#}");
}

#[test]
fn unknown_and_ambiguous_requesters_block() {
    let repo = TestRepo::new();
    let mallory = "\n[[person]]\nid = \"mallory\"\nname = \"Mallory\"\nemails = [\"mallory@shop.example\"]\n\
                   github = \"alice\"\nlevel = \"junior\"\n";
    repo.commit_as("alice", ".countersign/people.toml", &format!("{}{mallory}", people_toml()), "Add mallory");
    repo.branch("feature");
    repo.commit_as("dave", "docs/index.md", "# Dave\n", "Update the docs");

    let (code, decision) = repo.check(&["--requester", "github:nobody"]);
    assert_eq!(code, 1);
    assert!(unmet(&decision).contains(&"unknown-people".to_owned()), "{decision:#}");

    let (code, decision) = repo.check(&["--requester", "alice"]);
    assert_eq!(code, 1);
    assert!(unmet(&decision).contains(&"unknown-people".to_owned()), "{decision:#}");
    let named = decision["findings"].as_array().expect("findings").iter().any(|finding| {
        finding["code"] == "unknown-person"
            && finding["message"].as_str().is_some_and(|message| message.contains("names alice and mallory"))
    });
    assert!(named, "{decision:#}");
}

#[test]
fn one_key_under_two_people_is_a_configuration_error() {
    let repo = TestRepo::new();
    let dir = repo.temp.path().join("config");
    std::fs::create_dir_all(&dir).expect("dir");
    let alices_key = key(1).public_key().to_openssh().expect("encodable");
    let mallory = format!("\n[[person]]\nid = \"mallory\"\nlevel = \"staff\"\nkeys = [\"{alices_key}\"]\n");
    std::fs::write(dir.join("people.toml"), format!("{}{mallory}", people_toml())).expect("write");
    std::fs::write(dir.join("services.toml"), crate::util::SERVICES).expect("write");
    std::fs::write(dir.join("policy.toml"), POLICY).expect("write");
    let output = run_countersign(&["policy", "check", "--config", dir.to_str().expect("UTF-8")]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("also listed under"), "{}", stderr(&output));
}

#[test]
fn an_agents_operator_cannot_approve_its_commits() {
    let repo = TestRepo::new();
    let operated = format!("{}operators = [\"carol\"]\n", people_toml());
    repo.commit_as("alice", ".countersign/people.toml", &operated, "Carol runs ops-agent");
    repo.branch("feature");
    repo.commit_as("ops-agent <ops-agent@shop.example>", "docs/index.md", "# Ops\n", "Update the docs");
    let dir = repo.temp.path().join("attestations");
    let attestations = ["--attestations", dir.to_str().expect("UTF-8")];

    sign_into(&repo, &dir, Verdict::Approve, "carol", "");
    let (code, decision) = repo.check(&attestations);
    assert_eq!(code, 1, "{decision:#}");
    assert!(decision["findings"].to_string().contains("a responsible human"), "{decision:#}");
    assert!(field(&decision["responsible"], "id").contains(&"carol".to_owned()), "{decision:#}");

    sign_into(&repo, &dir, Verdict::Approve, "erin", "");
    let (code, decision) = repo.check(&attestations);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(field(&decision["approvals"], "person"), ["erin"]);
}

// Rejections and attestations

#[test]
fn naming_the_rejecter_as_co_author_does_not_lift_the_rejection() {
    let repo = junior_ai_change();
    review_ok(&repo, "reject", "carol", &["--comment", "wrong total"]);
    let (_, before) = repo.check(&[]);
    let message = format!("Fix total\n\n{CLAUDE}\nCo-authored-by: Carol Diaz <carol@shop.example>\n");
    repo.git_as(BOB, &["commit", "-q", "--amend", "-m", &message]);
    review_ok(&repo, "approve", "alice", &[]);
    review_ok(&repo, "approve", "erin", &[]);
    let (code, after) = repo.check(&[]);
    assert_eq!(before["change"]["fingerprint"], after["change"]["fingerprint"]);
    assert_ne!(before["change"]["head"], after["change"]["head"]);
    assert_eq!(code, 1, "{after:#}");
    assert_eq!(field(&after["rejections"], "person"), ["carol"]);
}

#[test]
fn deleting_a_rejection_from_the_attestation_ref_does_not_lift_it() {
    let repo = junior_ai_change();
    review_ok(&repo, "approve", "alice", &[]);
    review_ok(&repo, "reject", "carol", &["--comment", "wrong total"]);
    const REF: &str = "refs/countersign/attestations";
    let listing = repo.git(&["ls-tree", "-r", "--name-only", REF]);
    let rejection = listing.lines().find(|path| path.contains("-carol-reject-")).expect("carol's rejection is stored");

    // A plain fast-forward commit whose tree lacks the rejection.
    let index = repo.temp.path().join("attestations.index");
    let env = [("GIT_INDEX_FILE", index.as_path())];
    git_with(&repo, &env, &["read-tree", REF]);
    git_with(&repo, &env, &["rm", "-q", "--cached", rejection]);
    let tree = git_with(&repo, &env, &["write-tree"]);
    let tip = repo.git(&["rev-parse", REF]);
    let commit = git_with(&repo, &[], &["commit-tree", &tree, "-p", &tip, "-m", "Tidy up"]);
    repo.git(&["update-ref", REF, &commit, &tip]);
    assert!(!repo.git(&["ls-tree", "-r", "--name-only", REF]).contains("carol"));

    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(field(&decision["rejections"], "person"), ["carol"]);
}

#[test]
fn a_truncated_attestation_blocks_and_an_oversized_comment_is_refused() {
    let repo = junior_ai_change();
    let dir = repo.temp.path().join("attestations");
    let into = ["--attestations", dir.to_str().expect("UTF-8")];
    review_ok(&repo, "approve", "alice", &into);
    review_ok(&repo, "approve", "erin", &into);
    assert_eq!(repo.check(&into).0, 0);

    let elsewhere = repo.temp.path().join("carol");
    review_ok(&repo, "approve", "carol", &["--attestations", elsewhere.to_str().expect("UTF-8")]);
    let file = std::fs::read_dir(&elsewhere).expect("folder").next().expect("one file").expect("entry").path();
    let envelope = std::fs::read(file).expect("read");
    std::fs::write(dir.join("truncated.json"), &envelope[..envelope.len() / 2]).expect("write");
    let (code, decision) = repo.check(&into);
    assert_eq!((code, unmet(&decision)), (1, vec!["readable-attestations".to_owned()]), "{decision:#}");

    let long = "x".repeat(70_000);
    let refused = repo.review("approve", "dave", &["--comment", &long, "--attestations", dir.to_str().expect("UTF-8")]);
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("shorten the comment"), "{}", stderr(&refused));
}

#[test]
fn an_override_signed_with_a_persons_own_key_is_ignored() {
    let repo = junior_ai_change();
    let dir = repo.temp.path().join("attestations");
    sign_into(&repo, &dir, Verdict::Override, "alice", "hotfix for the outage");
    let (code, decision) = repo.check(&["--attestations", dir.to_str().expect("UTF-8")]);
    assert_eq!((code, decision["verdict"].as_str()), (1, Some("blocked")), "{decision:#}");
    assert!(decision["overrides"].as_array().is_none_or(Vec::is_empty), "{decision:#}");
    assert!(
        decision["findings"].to_string().contains("break-glass comes only from the approval service"),
        "{decision:#}"
    );
}

// Approval service

/// A server over a fresh SQLite database, with bob's change on `feature` registered by the
/// pipeline (`ci`). Bind `fixture` and `_dir` by name: they hold the server's repositories and
/// database.
struct Registered {
    fixture: Fixture,
    _dir: tempfile::TempDir,
    database: Database,
    server: Server,
    ci: String,
    change: Value,
}

fn registered() -> Registered {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::sqlite(dir.path());
    let fixture = Fixture::new();
    fixture.bob_change("feature", "def total(items):\n    return 20\n");
    let server = fixture.start(&database, &[]);
    let ci = fixture.token(&database, "ci-bot");
    let (code, change) = fixture.register(&server, &ci, "feature");
    assert_eq!(code, 1, "{change}");
    Registered { fixture, _dir: dir, database, server, ci, change }
}

fn fingerprint_of(change: &Value) -> &str {
    change["fingerprint"].as_str().expect("fingerprint")
}

#[test]
fn registering_the_same_head_from_a_relaxed_base_does_not_relax_the_first_registration() {
    let Registered { fixture, _dir, database, server, ci, change: first } = registered();
    let public = key(SERVER_KEY_SEED).public_key().to_openssh().expect("encodable");
    fixture.repo.git(&["checkout", "-q", "-b", "relaxed", "main"]);
    let relaxed = format!("{RELAXED_POLICY}\n[server]\nkeys = [\"{public}\"]\n");
    fixture.repo.commit_as("dave", ".countersign/policy.toml", &relaxed, "Relax the gate");
    // Dave's approval satisfies the relaxed policy, not main's.
    let dave = fixture.token(&database, "dave");
    assert_eq!(approve(&server, &dave, fingerprint_of(&first), "approve").0, 201);

    let args = ["register", "--repository", "shop", "--base", "relaxed", "--head", "feature", "--requester", "bob"];
    let (_, second) = fixture.cli(&server, &ci, &args);
    assert_eq!(second["fingerprint"], first["fingerprint"], "{second}");
    assert_ne!(second["id"], first["id"], "{second}");
    let (status, deployed) = call(&server, "POST", &format!("/api/changes/{}/deploy", first["id"]), Some(&ci), None);
    assert_eq!((status, deployed["verdict"].as_str()), (200, Some("blocked")), "{deployed}");
    assert_eq!(deployed["base"], first["base"]);
    assert!(unmet(&deployed["decision"]).contains(&"tier0-owners".to_owned()), "{deployed}");

    let (_, third) =
        fixture.cli(&server, &ci, &["register", "--repository", "shop", "--base", "main", "--head", "feature"]);
    assert_ne!(third["id"], first["id"], "{third}");
    let (_, first_now) = call(&server, "GET", &format!("/api/changes/{}", first["id"]), Some(&ci), None);
    assert_eq!((first_now["requester"].as_str(), &first_now["base"]), (Some("bob"), &first["base"]), "{first_now}");
}

#[test]
fn registering_under_the_pipelines_name_does_not_supersede_its_change() {
    let Registered { fixture, _dir, database, server, ci, change: pipeline } = registered();
    fixture.bob_change("mine", "def total(items):\n    return 21\n");
    let dave = fixture.token(&database, "dave");
    let args = ["register", "--repository", "shop", "--base", "main", "--head", "mine", "--name", "feature"];
    let (code, mine) = fixture.cli(&server, &dave, &args);
    assert!(code == 0 || code == 1, "{mine}");
    assert_ne!(mine["id"], pipeline["id"]);
    let (_, pipeline) = call(&server, "GET", &format!("/api/changes/{}", pipeline["id"]), Some(&ci), None);
    assert_eq!(pipeline["state"], "open", "{pipeline}");
}

#[test]
fn a_statement_written_straight_into_the_database_does_not_count() {
    let Registered { fixture, _dir, database, server, ci, change } = registered();
    let dave = fixture.token(&database, "dave");
    assert_eq!(approve(&server, &dave, fingerprint_of(&change), "approve").0, 201);
    let columns = "change_id, person, verdict, comment, created_at, statement, signature";
    // Dave's signed text under alice's name, then the text itself claiming alice; both with a
    // signature nobody made.
    for (statement, signer) in
        [("statement", "dave"), ("REPLACE(statement, '\"person\":\"dave\"', '\"person\":\"alice\"')", "alice")]
    {
        database.execute(&format!(
            "INSERT INTO statements ({columns}) SELECT change_id, 'alice', verdict, comment, created_at, {statement}, \
             'garbage' FROM statements WHERE person = 'dave'"
        ));
        let (_, deployed) = call(&server, "POST", &format!("/api/changes/{}/deploy", change["id"]), Some(&ci), None);
        assert_eq!(deployed["verdict"], "blocked", "{deployed}");
        assert_eq!(field(&deployed["decision"]["approvals"], "person"), ["dave"], "{deployed}");
        let ignored = format!("ignored: it has a signature that verifies with no key of `{signer}`");
        assert!(deployed["decision"]["findings"].to_string().contains(&ignored), "{ignored}: {deployed}");
    }
}

/// A database with a few writes by a server that has stopped, so its log can be edited.
fn audited() -> (tempfile::TempDir, Database, Vec<Value>) {
    let Registered { fixture, _dir: dir, database, server, ci, change } = registered();
    for person in ["dave", "erin"] {
        let token = fixture.token(&database, person);
        assert_eq!(approve(&server, &token, fingerprint_of(&change), "approve").0, 201);
    }
    let (status, _) = call(&server, "POST", &format!("/api/changes/{}/deploy", change["id"]), Some(&ci), None);
    assert_eq!(status, 200);
    drop(server);
    assert_eq!(audit_verify(&database).0, 0);
    let entries = audit_entries(&database);
    assert!(entries.len() >= 6, "{entries:?}");
    (dir, database, entries)
}

/// `audit verify` without checkpoints: the chain's own consistency only.
fn chain_alone_intact(database: &Database) -> bool {
    let url = database.url();
    let output = run_countersign(&["audit", "verify", "--database-url", &url, "--no-checkpoints", "--format", "json"]);
    let verified: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    output.status.code() == Some(0) && verified["intact"] == true
}

#[test]
fn an_audit_log_re_chained_after_deleting_an_entry_is_caught() {
    let (_dir, database, entries) = audited();
    database.execute("DELETE FROM audit WHERE seq = 3");
    let mut prev = entries[1]["hash"].as_str().expect("hash").to_owned();
    for entry in &entries[3..] {
        let text = |name: &str| entry[name].as_str().expect("text field").to_owned();
        let old = entry["seq"].as_i64().expect("seq");
        let at = entry["at"].as_i64().expect("at");
        let hash = countersign_core::audit::entry_hash(
            old - 1,
            at,
            &text("actor"),
            &text("action"),
            &text("subject"),
            &text("detail"),
            &prev,
        );
        database.execute(&format!(
            "UPDATE audit SET seq = {}, prev_hash = '{prev}', hash = '{hash}' WHERE seq = {old}",
            old - 1
        ));
        prev = hash;
    }
    assert!(chain_alone_intact(&database), "the re-chained log is consistent on its own");
    let (code, verified) = audit_verify(&database);
    let problem = verified["problem"].as_str().unwrap_or_default();
    assert_eq!(code, 1, "{verified}");
    assert!(problem.contains("rewritten") || problem.contains("cut off"), "{verified}");
}

#[test]
fn an_audit_log_with_its_tail_cut_off_is_caught() {
    let (_dir, database, entries) = audited();
    database.execute(&format!("DELETE FROM audit WHERE seq > {}", entries.len() - 2));
    assert!(chain_alone_intact(&database), "a shorter chain is consistent on its own");
    let (code, verified) = audit_verify(&database);
    assert_eq!(code, 1, "{verified}");
    assert!(verified["problem"].as_str().unwrap_or_default().contains("cut off"), "{verified}");
}

#[test]
fn break_glass_with_an_invisible_reason_is_refused() {
    let Registered { fixture, _dir, database, server, change, .. } = registered();
    let carol = fixture.token(&database, "carol");
    let body = json!({"repository": "shop", "fingerprint": fingerprint_of(&change), "reason": "\u{200b}"});
    let (status, answer) = call(&server, "POST", "/api/overrides", Some(&carol), Some(body));
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("reason-required")), "{answer}");
}

#[test]
fn a_review_comment_too_large_to_sign_is_refused_and_not_recorded() {
    let Registered { fixture, _dir, database, server, ci, change } = registered();
    let alice = fixture.token(&database, "alice");
    // Each control character takes 6 bytes in the request and the statement, and 7 in the signed
    // envelope, which escapes the statement's text again: the request stays within the API's 64 KiB
    // body limit, the envelope would not fit in 64 KiB.
    let comment = "\u{0001}".repeat(10_000);
    let body =
        json!({"repository": "shop", "fingerprint": fingerprint_of(&change), "verdict": "approve", "comment": comment});
    let (status, answer) = call(&server, "POST", "/api/approvals", Some(&alice), Some(body));
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("too-large")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("shorten the comment"), "{answer}");
    let (_, after) = call(&server, "GET", &format!("/api/changes/{}", change["id"]), Some(&ci), None);
    assert_eq!((after["verdict"].as_str(), &after["decision"]["approvals"]), (Some("blocked"), &json!([])), "{after}");
    drop(server);
    assert!(audit_entries(&database).iter().all(|entry| entry["action"] != "approval.recorded"));
}

// Blast radius

/// The destructive operations of a decision as `file action`.
fn destructive(decision: &Value) -> Vec<String> {
    decision["destructive"]
        .as_array()
        .expect("destructive")
        .iter()
        .map(|operation| {
            format!(
                "{} {}",
                operation["file"].as_str().unwrap_or_default(),
                operation["action"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn a_migration_added_as_a_link_is_read_through_it() {
    let repo = TestRepo::new();
    repo.commit_as("alice", "scripts/drop.sql", "DROP TABLE users;\n", "Add a maintenance script");
    for (branch, name, target, action) in [
        ("inside", "db/migrations/0002_drop.sql", "../../scripts/drop.sql", "ban-drop-table"),
        ("outside", "db/migrations/0003_passwd.sql", "/etc/passwd", "unread migration"),
    ] {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        std::fs::create_dir_all(repo.path().join("db/migrations")).expect("dirs");
        std::os::unix::fs::symlink(target, repo.path().join(name)).expect("symlink");
        repo.git_as(BOB, &["add", "-A"]);
        repo.git_as(BOB, &["commit", "-q", "-m", "Add a migration"]);
        let (code, decision) = repo.check(&[]);
        assert_eq!(code, 1);
        assert_eq!(destructive(&decision), [format!("{name} {action}")], "{decision:#}");
    }
}

#[test]
fn migrations_that_hide_or_spread_destruction_are_destructive() {
    let repo = TestRepo::new();
    for (branch, sql, expected) in [
        ("do-block", "DO $$ BEGIN EXECUTE 'DROP TABLE users'; END $$;\n", Some("unanalysable DO block")),
        ("delete-all", "DELETE FROM users;\n", Some("delete without where")),
        ("update-all", "UPDATE users SET admin = true;\n", Some("update without where")),
        ("delete-one", "DELETE FROM users WHERE id = 1;\n", None),
    ] {
        repo.git(&["checkout", "-q", "-b", branch, "main"]);
        let file = format!("db/migrations/0002_{branch}.sql");
        repo.commit_as("bob", &file, sql, "Migrate");
        let (_, decision) = repo.check(&[]);
        let expected: Vec<String> = expected.map(|action| format!("{file} {action}")).into_iter().collect();
        assert_eq!(destructive(&decision), expected, "{sql}");
    }
}

#[test]
fn a_nul_byte_does_not_hide_the_size_of_a_file() {
    let repo = TestRepo::new();
    let rule = "\n[[rule]]\nname = \"large\"\nwhen = { lines_changed_over = 1000 }\nrequires = { count = 2 }\n";
    repo.commit_as("alice", ".countersign/policy.toml", &format!("{POLICY}{rule}"), "Gate large changes");
    repo.branch("feature");
    let mut contents = String::from("header \0 binary?\n");
    for line in 1..3000 {
        contents.push_str(&format!("row {line}\n"));
    }
    repo.commit_as("bob", "data/table.txt", &contents, "Add a table");
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert!(decision["change"]["lines_added"].as_u64().expect("lines") >= 3000, "{:#}", decision["change"]);
    let large = decision["rules"].as_array().expect("rules").iter().find(|rule| rule["name"] == "large");
    assert_eq!(large.expect("the rule")["applies"], true, "{decision:#}");
}
