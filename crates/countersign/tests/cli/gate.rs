//! Evaluation scenarios on real repositories, through the binary.

use countersign_core::attestation::{Envelope, Statement, Verdict};

use crate::util::{TestRepo, finding_codes, key, stderr, stdout, unmet};

const CLAUDE: &str = "Co-Authored-By: Claude Opus 4.6 (1M context) <noreply@anthropic.com>";

/// A junior's AI-assisted change to the tier-0 checkout service.
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

#[test]
fn junior_ai_change_is_blocked_until_a_senior_approves() {
    let repo = junior_ai_change();
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(decision["verdict"], "blocked");
    assert_eq!(decision["ai_assisted"], true);
    assert_eq!(unmet(&decision), ["two-person", "ai-senior-signoff", "tier0-owners"]);
    let senior_rule = &decision["rules"][1];
    assert_eq!(senior_rule["eligible"], serde_json::json!(["alice", "carol", "erin"]));
    assert_eq!(senior_rule["missing"], 1);

    // A mid-level reviewer satisfies two-person only.
    let approved = repo.review("approve", "dave", &[]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(unmet(&decision), ["ai-senior-signoff", "tier0-owners"]);

    // Alice is senior and owns checkout.
    let approved = repo.review("approve", "alice", &["--comment", "looks right"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(decision["verdict"], "allowed");
    assert_eq!(decision["rules"][2]["owner_groups"][0]["covered_by"], "alice");
}

#[test]
fn text_output_puts_the_verdict_first_and_names_who_can_unblock() {
    let repo = junior_ai_change();
    let output = repo.countersign(&["check", "--base", "main", "--head", "HEAD"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("BLOCKED: deploy of "), "{text}");
    assert!(text.contains("✗ ai-senior-signoff"), "{text}");
    assert!(text.contains("can unblock: alice, carol, erin"), "{text}");
    assert!(text.contains("\nfewest reviewers to unblock: alice\n"), "{text}");
    assert!(text.contains("--as alice"), "{text}");
    assert!(text.contains(CLAUDE), "{text}");
}

#[test]
fn the_authors_own_approval_never_counts() {
    let repo = junior_ai_change();
    let refused = repo.review("approve", "bob", &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("cannot review it"), "{}", stderr(&refused));

    // Even an attestation Bob signs by hand is ignored by check.
    let (_, decision) = repo.check(&[]);
    let fingerprint = decision["change"]["fingerprint"].as_str().unwrap().to_owned();
    let head = decision["change"]["head"].as_str().unwrap().to_owned();
    let dir = repo.temp.path().join("attestations");
    std::fs::create_dir_all(&dir).unwrap();
    let own =
        Statement::new(Verdict::Approve, "bob", &fingerprint, "production", &head, now(), "").sign(&key(2)).unwrap();
    std::fs::write(dir.join("bob.json"), own.to_json()).unwrap();
    let (code, decision) = repo.check(&["--attestations", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        decision["findings"].to_string().contains("a responsible human of the change cannot approve"),
        "{decision:#}"
    );
    assert_eq!(decision["approvals"], serde_json::json!([]));
}

#[test]
fn a_requester_cannot_approve_the_change_they_deploy() {
    let repo = junior_ai_change();
    repo.review("approve", "alice", &[]);
    let (code, decision) = repo.check(&["--requester", "alice"]);
    assert_eq!(code, 1);
    assert!(decision["responsible"].to_string().contains("requester"));
    assert!(finding_codes(&decision).contains(&"attestation-ignored".to_owned()));
}

#[test]
fn an_agent_cannot_approve() {
    let repo = junior_ai_change();
    let refused = repo.review("approve", "ops-agent", &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("agent"), "{}", stderr(&refused));

    let (_, decision) = repo.check(&[]);
    let dir = repo.temp.path().join("attestations");
    std::fs::create_dir_all(&dir).unwrap();
    let statement = Statement::new(
        Verdict::Approve,
        "ops-agent",
        decision["change"]["fingerprint"].as_str().unwrap(),
        "production",
        "",
        now(),
        "",
    );
    std::fs::write(dir.join("agent.json"), statement.sign(&key(42)).unwrap().to_json()).unwrap();
    let (code, decision) = repo.check(&["--attestations", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(decision["findings"].to_string().contains("an agent; agents cannot approve"), "{decision:#}");
}

#[test]
fn a_senior_co_author_cannot_approve() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as(
        "bob",
        "services/checkout/cart.py",
        "x = 1\n",
        "Pair on totals\n\nCo-authored-by: Alice Moreau <alice@shop.example>\n",
    );
    let refused = repo.review("approve", "alice", &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    let responsible: Vec<&str> =
        decision["responsible"].as_array().unwrap().iter().map(|entry| entry["id"].as_str().unwrap()).collect();
    assert_eq!(responsible, ["bob", "alice"]);
    assert!(!decision["rules"][0]["eligible"].as_array().unwrap().contains(&serde_json::json!("alice")));
}

#[test]
fn a_new_commit_voids_approvals() {
    let repo = junior_ai_change();
    repo.review("approve", "alice", &[]);
    assert_eq!(repo.check(&[]).0, 0);
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 2\n", "Tweak\n");
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    // The reviewed commit stays approved; the new one is a change of its own that nobody approved.
    let changes = decision["changes"].as_array().expect("the branch is cut into its reviewed parts");
    assert_eq!(changes.len(), 2, "{decision:#}");
    assert_eq!((changes[0]["verdict"].as_str(), changes[1]["verdict"].as_str()), (Some("allowed"), Some("blocked")));
    assert_eq!(changes[1]["approvals"], serde_json::json!([]));
    assert_eq!(changes[0]["approvals"][0]["person"], "alice", "{decision:#}");
}

#[test]
fn a_rebase_with_identical_content_keeps_approvals() {
    let repo = junior_ai_change();
    repo.review("approve", "alice", &[]);
    let (_, before) = repo.check(&[]);
    // Main moves on elsewhere; the feature is rebased onto it, with the same content in the touched files.
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_as("carol", "docs/guide.md", "# Guide\n", "Add guide");
    repo.git(&["checkout", "-q", "feature"]);
    repo.git_as(("Bob Tran", "bob@shop.example"), &["rebase", "-q", "main"]);
    let (code, after) = repo.check(&[]);
    assert_ne!(before["change"]["head"], after["change"]["head"]);
    assert_eq!(before["change"]["fingerprint"], after["change"]["fingerprint"]);
    assert_eq!(code, 0, "{after:#}");
}

#[test]
fn keep_on_rebase_off_binds_approvals_to_the_head_commit() {
    let repo = TestRepo::new();
    repo.write(
        ".countersign/policy.toml",
        &crate::util::POLICY.replace("keep_on_rebase = true", "keep_on_rebase = false"),
    );
    repo.git(&["commit", "-qam", "Bind approvals to commits"]);
    repo.branch("feature");
    repo.commit_as("bob", "services/checkout/cart.py", "x = 2\n", &format!("Fix\n\n{CLAUDE}\n"));
    repo.review("approve", "alice", &[]);
    assert_eq!(repo.check(&[]).0, 0);
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_as("carol", "docs/guide.md", "# Guide\n", "Add guide");
    repo.git(&["checkout", "-q", "feature"]);
    repo.git_as(("Bob Tran", "bob@shop.example"), &["rebase", "-q", "main"]);
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert!(decision["findings"].to_string().contains("keep_on_rebase is off"), "{decision:#}");
}

#[test]
fn a_policy_weakened_inside_the_change_does_not_apply_to_it() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.write(".countersign/policy.toml", "version = 1\n");
    repo.commit_as("bob", "services/checkout/cart.py", "x = 3\n", &format!("Simplify the gate\n\n{CLAUDE}\n"));
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(unmet(&decision), ["two-person", "ai-senior-signoff", "tier0-owners", "gate-config"]);
}

#[test]
fn forged_and_mis_signed_attestations_are_ignored() {
    let repo = junior_ai_change();
    let (_, decision) = repo.check(&[]);
    let fingerprint = decision["change"]["fingerprint"].as_str().unwrap().to_owned();
    let head = decision["change"]["head"].as_str().unwrap().to_owned();
    let dir = repo.temp.path().join("attestations");
    std::fs::create_dir_all(&dir).unwrap();
    // Signed by a key that is not Alice's.
    let forged =
        Statement::new(Verdict::Approve, "alice", &fingerprint, "production", &head, now(), "").sign(&key(77)).unwrap();
    std::fs::write(dir.join("forged.json"), forged.to_json()).unwrap();
    // Alice's real signature over a statement for staging, edited to say production.
    let staging =
        Statement::new(Verdict::Approve, "alice", &fingerprint, "staging", &head, now(), "").sign(&key(1)).unwrap();
    let tampered = Envelope {
        statement: staging.statement.replace("staging", "production"),
        signature: staging.signature.clone(),
    };
    std::fs::write(dir.join("tampered.json"), tampered.to_json()).unwrap();
    // A real approval for another environment.
    std::fs::write(dir.join("staging.json"), staging.to_json()).unwrap();
    // Not an attestation at all.
    std::fs::write(dir.join("garbage.json"), "{\"hello\": 1}").unwrap();
    // An expired one.
    let old = Statement::new(Verdict::Approve, "alice", &fingerprint, "production", &head, now() - 30 * 86_400, "")
        .sign(&key(1))
        .unwrap();
    std::fs::write(dir.join("old.json"), old.to_json()).unwrap();

    let (code, decision) = repo.check(&["--attestations", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    let findings = decision["findings"].to_string();
    for expected in [
        "forged.json ignored: it has a signature that verifies with no key",
        "tampered.json ignored: it has a signature that verifies with no key",
        "not `production`",
        "garbage.json cannot be read",
        "older than max_age_days = 14",
    ] {
        assert!(findings.contains(expected), "missing {expected:?} in {findings}");
    }
    assert_eq!(decision["approvals"], serde_json::json!([]));
    // What cannot be read may be a rejection: it blocks, however many approvals there are.
    assert!(unmet(&decision).contains(&"readable-attestations".to_owned()), "{decision:#}");
}

#[test]
fn an_unknown_author_gets_the_strictest_treatment() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as(
        "Mallory <mallory@elsewhere.example>",
        "docs/index.md",
        "# Hi\n",
        "Docs tweak\n\nAssisted-by: Cursor\n",
    );
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        decision["responsible"][0],
        serde_json::json!({"id": "mallory@elsewhere.example", "level": "unknown", "known": false, "roles": ["author", "committer"]})
    );
    assert!(
        decision["rules"][1]["why"]
            .to_string()
            .contains("least senior author mallory@elsewhere.example is unknown < senior")
    );
    assert!(finding_codes(&decision).contains(&"unknown-person".to_owned()));
}

#[test]
fn a_rejection_blocks_until_its_author_approves() {
    let repo = junior_ai_change();
    repo.review("approve", "alice", &[]);
    let rejected = repo.review("reject", "carol", &["--comment", "needs a test"]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(decision["rejections"][0]["person"], "carol");
    assert_eq!(decision["rejections"][0]["comment"], "needs a test");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    repo.review("approve", "carol", &[]);
    assert_eq!(repo.check(&[]).0, 0);
}

#[test]
fn broken_configuration_fails_closed_with_exit_2() {
    let repo = TestRepo::new();
    repo.write(
        ".countersign/policy.toml",
        &crate::util::POLICY.replace("min_level = \"senior\" }", "min_level = \"seniour\" }"),
    );
    repo.git(&["commit", "-qam", "Typo"]);
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# x\n", "Docs");
    let (code, output) = repo.check(&[]);
    assert_eq!(code, 2);
    assert_eq!(output["verdict"], "error");
    assert_eq!(output["errors"][0]["message"], "unknown level `seniour`");
    assert!(output["errors"][0]["file"].as_str().unwrap().starts_with(".countersign/policy.toml@"));
    assert_eq!(output["errors"][0]["line"], 21);
}

#[test]
fn merge_commits_are_judged_by_the_commits_they_bring_in_and_their_own_message() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("dave", "docs/a.md", "a\n", "Docs a");
    repo.git(&["checkout", "-q", "-b", "side", "main"]);
    repo.commit_as("dave", "docs/b.md", "b\n", "Docs b");
    repo.git(&["checkout", "-q", "feature"]);
    let dave = ("Dave Kim", "dave@shop.example");
    repo.git_as(dave, &["merge", "-q", "--no-ff", "side", "-m", "Merge side"]);
    let (_, decision) = repo.check(&[]);
    assert_eq!(decision["change"]["commits"], 3);
    assert_eq!(decision["ai_assisted"], false, "{decision:#}");
    assert!(decision["commits"].as_array().unwrap().iter().all(|commit| commit["signals"] == serde_json::json!([])));

    // A merge's message is evidence like any other: a marker there marks the change, and a
    // co-author named there answers for it (and so cannot approve it).
    repo.git(&["checkout", "-q", "-b", "marked", "feature"]);
    repo.git(&["checkout", "-q", "-b", "other-side", "main"]);
    repo.commit_as("dave", "docs/d.md", "d\n", "Docs d");
    repo.git(&["checkout", "-q", "marked"]);
    let message = format!("Merge other-side\n\n{CLAUDE}\nCo-authored-by: Erin Vale <erin@shop.example>\n");
    repo.git_as(dave, &["merge", "-q", "--no-ff", "other-side", "-m", &message]);
    let output = repo.countersign(&["check", "--base", "main", "--head", "marked", "--format", "json"]);
    let marked: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(marked["ai_assisted"], true, "{marked:#}");
    assert!(marked["responsible"].to_string().contains("erin"), "{marked:#}");
    repo.git(&["checkout", "-q", "feature"]);

    // An AI-assisted commit brought in by a plain merge makes the change AI-assisted.
    repo.git(&["checkout", "-q", "side"]);
    repo.commit_as("dave", "docs/c.md", "c\n", &format!("Docs c\n\n{CLAUDE}\n"));
    repo.git(&["checkout", "-q", "feature"]);
    repo.git_as(dave, &["merge", "-q", "--no-ff", "side", "-m", "Merge side again"]);
    let (_, decision) = repo.check(&[]);
    assert_eq!(decision["change"]["commits"], 5);
    assert_eq!(decision["ai_assisted"], true);
    let ai_commits: Vec<&serde_json::Value> =
        decision["commits"].as_array().unwrap().iter().filter(|commit| commit["ai_assisted"] == true).collect();
    assert_eq!(ai_commits.len(), 1);
    assert_eq!(ai_commits[0]["signals"][0]["text"], CLAUDE);
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970").as_secs()
        as i64
}

#[test]
fn blocked_decision_json_snapshot() {
    let repo = junior_ai_change();
    let (_, decision) = repo.check(&["--requester", "bob"]);
    insta::assert_json_snapshot!(decision, {
        ".change.base" => "[sha]",
        ".change.head" => "[sha]",
        ".change.fingerprint" => "[fingerprint]",
        ".change.configuration.commit" => "[sha]",
        ".commits[].id" => "[sha]",
        ".attribution.files[].ai_ranges[].commit" => "[sha]",
    });
}

#[test]
fn pull_request_markers_are_contextual_unless_the_policy_counts_them() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as("dave", "docs/index.md", "# Faster\n", "Speed up the docs build\n");
    let body = repo.temp.path().join("body.md");
    std::fs::write(&body, "Speeds things up.\n\n[Codex Task](https://chatgpt.com/codex/tasks/task_e_1)\n").unwrap();
    let (_, decision) = repo.check(&["--pr-body", body.to_str().unwrap(), "--pr-author", "Copilot"]);
    assert_eq!(decision["ai_assisted"], false);
    let signals: Vec<&str> =
        decision["change_signals"].as_array().unwrap().iter().map(|signal| signal["text"].as_str().unwrap()).collect();
    assert_eq!(signals, ["pull request opened by Copilot", "[Codex Task](https://chatgpt.com/codex/tasks/task_e_1)"]);

    repo.git(&["checkout", "-q", "main"]);
    repo.write(
        ".countersign/policy.toml",
        &crate::util::POLICY.replace("contextual_counts = false", "contextual_counts = true"),
    );
    repo.git(&["commit", "-qam", "Count contextual signals"]);
    repo.git(&["checkout", "-q", "feature"]);
    // A pull request check: main moved on, which is normal before the merge.
    let (_, decision) = repo.check(&["--pr-author", "Copilot", "--context", "pull-request"]);
    assert_eq!(decision["ai_assisted"], true);
    assert_eq!(unmet(&decision), ["two-person", "ai-senior-signoff"]);
}

/// A git-ai note (`git notes --ref=ai`) marks a commit without trailers as AI-assisted, and
/// says line by line which lines the AI wrote and which its human did.
#[test]
fn git_ai_notes_are_evidence_and_attribute_lines() {
    let repo = TestRepo::new();
    repo.branch("feature");
    repo.commit_as(
        "bob",
        "services/checkout/cart.py",
        "def total(items):\n    return 0\ndef tax(total):\n    return total * 0.2\ndef shipping():\n    return 5\n",
        "Add tax and shipping\n",
    );
    let (_, without) = repo.check(&[]);
    assert_eq!(without["ai_assisted"], false, "{without:#}");
    let note = r#"services/checkout/cart.py
  s_0f1e2d3c4b5a69::t_aaaaaaaaaaaaaa 3-4
  h_1a2b3c4d5e6f70 5-6
---
{"schema_version": "authorship/3.0.0", "base_commit_sha": "00", "prompts": {}, "humans": {"h_1a2b3c4d5e6f70": {"author": "Bob Tran <bob@shop.example>"}}, "sessions": {"s_0f1e2d3c4b5a69": {"agent_id": {"tool": "claude", "id": "a", "model": "claude-opus-4-8"}}}}"#;
    repo.git(&["notes", "--ref=ai", "add", "-m", note, "HEAD"]);

    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(decision["ai_assisted"], true);
    let signal = &decision["commits"][0]["signals"][0];
    assert_eq!(
        (signal["kind"].as_str(), signal["strength"].as_str(), signal["tool"].as_str()),
        (Some("note"), Some("declared"), Some("claude"))
    );
    assert_eq!(signal["text"], "refs/notes/ai: claude (claude-opus-4-8) wrote 2 lines");
    // An Agent Trace record in refs/notes/agent-trace is read the same way.
    let trace = r#"{"version": "0.1.0", "files": [{"path": "services/checkout/cart.py", "conversations": [{"contributor": {"type": "ai", "model_id": "openai/gpt-5"}, "ranges": [{"start_line": 5, "end_line": 5}]}]}], "tool": {"name": "cursor"}}"#;
    repo.git(&["notes", "--ref=agent-trace", "add", "-m", trace, "HEAD"]);
    let (_, traced) = repo.check(&[]);
    let texts: Vec<&str> = traced["commits"][0]["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .filter_map(|signal| signal["text"].as_str())
        .collect();
    assert!(texts.contains(&"refs/notes/agent-trace: cursor (openai/gpt-5) wrote 1 line"), "{texts:?}");
    repo.git(&["notes", "--ref=agent-trace", "remove", "HEAD"]);
    // Of the four added lines, 3 and 4 are the AI's and 5 and 6 its human's.
    let attribution = &decision["attribution"];
    assert_eq!(
        (attribution["added_lines"].as_u64(), attribution["ai_lines"].as_u64()),
        (Some(4), Some(2)),
        "{attribution:#}"
    );
    let ranges: Vec<(u64, u64)> = attribution["files"][0]["ai_ranges"]
        .as_array()
        .expect("ranges")
        .iter()
        .map(|range| (range["start"].as_u64().unwrap_or(0), range["end"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(ranges, [(3, 4)], "{attribution:#}");

    let scan = repo.countersign(&["scan", "--range", "main..HEAD", "--format", "jsonl"]);
    assert!(stdout(&scan).contains("\"kind\":\"note\""), "{}", stdout(&scan));

    // A note that cannot be read adds nothing and is said.
    repo.git(&["notes", "--ref=ai", "add", "-f", "-m", "not a note", "HEAD"]);
    let (_, decision) = repo.check(&[]);
    assert_eq!(decision["ai_assisted"], false);
    assert!(
        decision["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|finding| finding["code"] == "unreadable-ai-note")
    );
}
