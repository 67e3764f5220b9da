//! The other commands: scan, owners, policy check, demo, and the attestation ref.

use std::process::Command;

use crate::util::{TestRepo, stderr, stdout};

fn redact_ids(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !c.is_ascii_hexdigit()) {
        let hex_len = word.trim_end_matches(|c: char| !c.is_ascii_hexdigit()).len();
        if hex_len >= 10 {
            out.push_str("[sha]");
            out.push_str(&word[hex_len..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

fn history() -> TestRepo {
    let repo = TestRepo::new();
    repo.commit_as("bob", "services/checkout/a.py", "a\n", "Add a\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n");
    repo.commit_as(
        "Copilot <198982749+Copilot@users.noreply.github.com>",
        "services/checkout/b.py",
        "b\n",
        "Initial plan\n",
    );
    repo.commit_as("dave", "docs/c.md", "c\n", "Add c\n\nAssisted-by: none\n");
    repo.commit_as(
        "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
        "docs/d.md",
        "d\n",
        "Bump d\n",
    );
    repo.commit_as("carol", "docs/e.md", "e\n", "Add e\n\nAI-Tool: gemini\n");
    repo
}

#[test]
fn scan_jsonl_has_one_object_per_commit() {
    let repo = history();
    let output = repo.countersign(&["scan", "--format", "jsonl"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 7);
    let ai: Vec<(&str, bool)> =
        lines.iter().map(|line| (line["level"].as_str().unwrap(), line["ai_assisted"].as_bool().unwrap())).collect();
    assert_eq!(
        ai,
        [
            ("staff", true),
            ("unknown", false),
            ("mid", false),
            ("unknown", true),
            ("junior", true),
            ("senior", false),
            ("senior", false)
        ]
    );
    assert_eq!(lines[0]["signals"][0]["text"], "AI-Tool: gemini");
}

#[test]
fn scan_text_prints_ai_commits_and_a_summary() {
    let repo = history();
    let output = repo.countersign(&["scan"]);
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!(redact_ids(&stdout(&output)));
}

#[test]
fn scan_json_and_csv_cover_a_range() {
    let repo = history();
    let output = repo.countersign(&["scan", "--range", "HEAD~3..HEAD", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(json["commits"].as_array().unwrap().len(), 3);
    assert_eq!(json["summary"]["commits"], 3);
    assert_eq!(json["summary"]["by_tool"], serde_json::json!({"gemini": 1}));

    let output = repo.countersign(&["scan", "--range", "HEAD~2..HEAD", "--format", "csv"]);
    let csv = stdout(&output);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,time,author,level,ai_assisted,tools,signals"));
    assert!(lines.next().unwrap().ends_with(",carol@shop.example,staff,true,gemini,AI-Tool: gemini"));
    assert_eq!(lines.count(), 1);
}

#[test]
fn scan_of_an_unknown_revision_is_bad_input() {
    let repo = history();
    let output = repo.countersign(&["scan", "--range", "nope..HEAD"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot resolve revision `nope`"), "{}", stderr(&output));
}

#[test]
fn owners_names_the_deciding_codeowners_line_and_services() {
    let repo = TestRepo::new();
    let output = repo.countersign(&["owners", "services/checkout/cart.py", "docs/index.md", "README.md"]);
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
    let output = repo.countersign(&["owners", "--format", "json", "services/checkout/cart.py"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["paths"][0]["codeowners"]["line"], 2);
    assert_eq!(json["paths"][0]["codeowners"]["people"], serde_json::json!(["alice", "bob"]));
}

#[test]
fn policy_check_accepts_the_documented_configuration() {
    let repo = TestRepo::new();
    let output = repo.countersign(&["policy", "check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "policy ok: 4 rules, 5 people, 1 agents, 2 services\n");
}

#[test]
fn approvals_are_stored_in_the_attestation_ref() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# New\n", "Docs");
    let output = repo.review("approve", "carol", &["--comment", "fine"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("git push origin refs/countersign/attestations"));
    let files = repo.git(&["ls-tree", "-r", "--name-only", "refs/countersign/attestations"]);
    assert!(files.ends_with(".json") && files.contains("/production-carol-approve-"), "{files}");
    assert_eq!(repo.check(&[]).0, 0);

    // A second approval appends a commit; the first one is kept.
    repo.review("approve", "erin", &[]);
    assert_eq!(repo.git(&["rev-list", "--count", "refs/countersign/attestations"]), "2");
    assert_eq!(repo.git(&["ls-tree", "-r", "--name-only", "refs/countersign/attestations"]).lines().count(), 2);
}

#[test]
fn approve_with_a_key_not_listed_for_the_person_is_refused() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# New\n", "Docs");
    let carols_key = repo.key_file("carol");
    let output = repo.countersign(&[
        "approve",
        "--base",
        "main",
        "--head",
        "HEAD",
        "--as",
        "alice",
        "--key",
        carols_key.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is not one of alice's keys"), "{}", stderr(&output));
}

#[test]
fn demo_walks_through_a_blocked_and_an_approved_deployment() {
    let output = Command::new(env!("CARGO_BIN_EXE_countersign")).arg("demo").output().expect("demo runs");
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    let blocked = text.find("BLOCKED").expect("a blocked check");
    let refused = text
        .find("cannot review it")
        .map(|_| ())
        .or_else(|| stderr(&output).contains("cannot review it").then_some(()));
    assert!(refused.is_some(), "bob's own approval must be refused");
    let allowed = text.find("ALLOWED").expect("an allowed check");
    let blocked_again = text.rfind("BLOCKED").expect("blocked after a new commit");
    assert!(blocked < allowed && allowed < blocked_again, "{text}");
}

#[test]
fn policy_check_reports_mistakes_with_file_and_line_and_exits_2() {
    let repo = TestRepo::new();
    repo.write(
        ".countersign/policy.toml",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, teams = [\"sre\"] }\n",
    );
    let output = repo.countersign(&["policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output);
    assert!(errors.contains("unknown team `sre`"), "{errors}");
    assert!(errors.contains(".countersign/policy.toml:4:34"), "{errors}");
    assert!(errors.contains("known teams are: checkout, platform"), "{errors}");
    let output = repo.countersign(&["policy", "check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["errors"][0]["line"], 4);
}

#[test]
fn check_without_configuration_at_the_base_fails_closed() {
    let repo = TestRepo::new();
    repo.git(&["rm", "-q", ".countersign/policy.toml"]);
    repo.git(&["commit", "-qm", "Drop the policy"]);
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# x\n", "Docs");
    let output = repo.countersign(&["check", "--base", "main", "--head", "HEAD"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(".countersign/policy.toml not found at base revision"), "{}", stderr(&output));
}

#[test]
fn approvals_in_a_folder_are_written_whole_and_read_back() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# New\n", "Docs");
    let dir = repo.temp.path().join("approvals");
    let dir_arg = dir.to_str().unwrap();
    let output = repo.review("approve", "carol", &["--attestations", dir_arg, "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["person"], "carol");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "no temporary file is left behind");
    let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert!(envelope["signature"].as_str().unwrap().starts_with("-----BEGIN SSH SIGNATURE-----"));
    assert_eq!(repo.check(&["--attestations", dir_arg]).0, 0);
    // The ref was not touched.
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["rev-parse", "-q", "--verify", "refs/countersign/attestations"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn changing_the_gate_needs_two_seniors() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.write(".github/CODEOWNERS", "* @shop/platform\n");
    repo.commit_as("dave", "docs/index.md", "# x\n", "Hand checkout to platform");
    repo.review("approve", "alice", &[]);
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(crate::util::unmet(&decision), ["gate-config"]);
    assert_eq!(decision["risk"]["reasons"][0], "changes the gate's own configuration");
    repo.review("approve", "erin", &[]);
    assert_eq!(repo.check(&[]).0, 0);
}
