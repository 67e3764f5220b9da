//! Deployment ranges end to end, on histories built with the git CLI: the merged changes a range
//! holds (merges, squashes, rebase merges, direct pushes) each decided by its own approvals, the
//! deployment ledger, attestation sources read together, sticky rejections, signing through a
//! real ssh-agent, pushing approvals from racing clones, and the friction of real clones.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use ssh_key::LineEnding;

use crate::util::{POLICY, SERVICES, TestRepo, finding_codes, key, people_toml, stderr, stdout, unmet};

const CLAUDE: &str = "Co-Authored-By: Claude <noreply@anthropic.com>";

const BOB: (&str, &str) = ("Bob Tran", "bob@shop.example");

const DEPLOYMENTS: &str = "refs/countersign/deployments/production";

/// An AI-assisted commit message.
fn ai(title: &str) -> String {
    format!("{title}\n\n{CLAUDE}\n")
}

/// Bob's AI-assisted branch `name` off `from`, one commit writing `path`; back on main after.
fn bob_branch(repo: &TestRepo, name: &str, from: &str, path: &str, contents: &str) -> String {
    repo.git(&["checkout", "-q", "-b", name, from]);
    let head = repo.commit_as("bob", path, contents, &ai(&format!("Change {path}")));
    repo.git(&["checkout", "-q", "main"]);
    head
}

/// `approve` or `reject` of `base..head` as a fixture person with their own key; must succeed.
fn review(repo: &TestRepo, verb: &str, person: &str, base: &str, head: &str, extra: &[&str]) {
    let key = repo.key_file(person);
    let mut args = vec![verb, "--base", base, "--head", head, "--as", person, "--key", path_str(&key)];
    args.extend_from_slice(extra);
    let output = repo.countersign(&args);
    assert_eq!(output.status.code(), Some(0), "{verb} as {person}: {}{}", stdout(&output), stderr(&output));
}

/// Merges `branch` into main with a merge commit, as bob clicking "merge"; returns the merge.
fn merge(repo: &TestRepo, branch: &str) -> String {
    repo.git(&["checkout", "-q", "main"]);
    repo.git_as(BOB, &["merge", "-q", "--no-ff", branch, "-m", &format!("Merge branch '{branch}'")]);
    repo.git(&["rev-parse", "HEAD"])
}

fn rev(repo: &TestRepo, name: &str) -> String {
    repo.git(&["rev-parse", name])
}

/// The exit code and JSON output of a countersign run.
fn parsed(output: &Output) -> (i32, Value) {
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("no JSON ({error}): {}\n{}", stdout(output), stderr(output));
    });
    (output.status.code().expect("exit code"), json)
}

/// `check --format json` with the given flags (no defaults added).
fn check(repo: &TestRepo, args: &[&str]) -> (i32, Value) {
    parsed(&repo.countersign(&[&["check", "--format", "json"], args].concat()))
}

/// Each merged change of a decision as `kind verdict`.
fn changes(decision: &Value) -> Vec<String> {
    decision["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no merged changes in {decision:#}"))
        .iter()
        .map(|change| {
            format!("{} {}", change["kind"].as_str().expect("kind"), change["verdict"].as_str().expect("verdict"))
        })
        .collect()
}

/// Each text value of a list of objects, by key.
fn field(list: &Value, key: &str) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|item| item[key].as_str().expect("a text field").to_owned()).collect()
}

/// The names of the unmet rules of one merged change.
fn unmet_of(change: &Value) -> Vec<String> {
    change["unmet"].as_array().map_or_else(Vec::new, |_| field(&change["unmet"], "name"))
}

/// git in any folder (a clone, a bare remote) with the fixture's isolated configuration.
fn git_in(repo: &TestRepo, dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", BOB.0)
        .env("GIT_AUTHOR_EMAIL", BOB.1)
        .env("GIT_COMMITTER_NAME", BOB.0)
        .env("GIT_COMMITTER_EMAIL", BOB.1)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo.temp.path())
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?} in {} failed: {}", dir.display(), stderr(&output));
    stdout(&output).trim().to_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

// Merged changes of a deployment range

#[test]
fn merged_pull_requests_are_each_decided_by_their_own_approvals() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    bob_branch(&repo, "tax", "main", "services/checkout/tax.py", "RATE = 0.2\n");
    for branch in ["cart", "tax"] {
        review(&repo, "approve", "alice", "main", branch, &[]);
    }
    merge(&repo, "cart");
    merge(&repo, "tax");

    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(decision["verdict"], "allowed");
    assert_eq!(changes(&decision), ["merge allowed", "merge allowed"]);
    let merged = decision["changes"].as_array().expect("changes");
    assert_eq!(field(&decision["changes"], "title"), ["Merge branch 'cart'", "Merge branch 'tax'"]);
    for change in merged {
        assert_eq!(change["reviewed"], true, "{change:#}");
        assert_eq!(field(&change["approvals"], "person"), ["alice"], "{change:#}");
        assert_eq!(change["commits"].as_array().expect("commits").len(), 1, "{change:#}");
    }
    // A merge's change is its branch: from the fork point to the branch's head.
    assert_eq!(merged[1]["base"], before.as_str());
    assert_eq!(merged[1]["head"], rev(&repo, "tax").as_str());

    bob_branch(&repo, "refund", "main", "services/checkout/refund.py", "def refund(order):\n    return order\n");
    merge(&repo, "refund");
    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(decision["verdict"], "blocked");
    assert_eq!(changes(&decision), ["merge allowed", "merge allowed", "merge blocked"]);
    let refund = &decision["changes"][2];
    assert_eq!(refund["reviewed"], false, "{refund:#}");
    assert_eq!(refund["approvals"], json!([]));
    assert_eq!(unmet_of(refund), ["two-person", "ai-senior-signoff", "tier0-owners"], "{refund:#}");
}

#[test]
fn a_squash_merge_of_an_approved_branch_is_a_reviewed_commit() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    bob_branch(&repo, "tax", "main", "services/checkout/tax.py", "RATE = 0.2\n");
    for branch in ["cart", "tax"] {
        review(&repo, "approve", "alice", "main", branch, &[]);
    }
    merge(&repo, "cart");
    repo.git_as(BOB, &["merge", "-q", "--squash", "tax"]);
    repo.git_as(BOB, &["commit", "-q", "-m", &ai("Add the tax rate (#2)")]);

    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(changes(&decision), ["merge allowed", "commit allowed"]);
    let squash = &decision["changes"][1];
    assert_eq!(squash["reviewed"], true, "{squash:#}");
    assert_eq!(squash["title"], "Add the tax rate (#2)");
    assert_eq!(squash["commits"], json!([rev(&repo, "main")]));
    assert_eq!(field(&squash["approvals"], "person"), ["alice"], "{squash:#}");
}

#[test]
fn a_rebase_merge_is_one_change_of_the_commits_reviewed_together() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    review(&repo, "approve", "alice", "main", "cart", &[]);
    repo.git(&["checkout", "-q", "-b", "series", "main"]);
    for (file, text) in [("tax.py", "RATE = 0.2\n"), ("fees.py", "FEE = 1\n"), ("refund.py", "LIMIT = 30\n")] {
        repo.commit_as("bob", &format!("services/checkout/{file}"), text, &ai(&format!("Add {file}")));
    }
    review(&repo, "approve", "alice", "main", "series", &[]);

    // Main moves on (the cart branch merges first); the series is replayed onto it, one commit
    // at a time, as a rebase merge does.
    merge(&repo, "cart");
    repo.git(&["checkout", "-q", "series"]);
    repo.git_as(BOB, &["rebase", "-q", "main"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.git_as(BOB, &["merge", "-q", "--ff-only", "series"]);
    let replayed = repo.git(&["rev-list", "--reverse", "main~3..main"]);

    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(changes(&decision), ["merge allowed", "commits allowed"]);
    let series = &decision["changes"][1];
    assert_eq!(series["commits"], json!(replayed.lines().collect::<Vec<_>>()), "{series:#}");
    assert_eq!(series["title"], "Add tax.py");
    assert_eq!(series["reviewed"], true);
    assert_eq!(field(&series["approvals"], "person"), ["alice"], "{series:#}");
}

/// Twenty numbered lines of a file, with some replaced.
fn numbered(edits: &[(usize, &str)]) -> String {
    (1..=20)
        .map(|line| match edits.iter().find(|(at, _)| *at == line) {
            Some((_, text)) => format!("{text}\n"),
            None => format!("line {line}\n"),
        })
        .collect()
}

#[test]
fn an_approval_survives_main_moving_far_from_the_edit_but_not_next_to_it() {
    let repo = TestRepo::new();
    repo.commit_as("alice", "services/checkout/rates.txt", &numbered(&[]), "Lay out the rates");
    bob_branch(&repo, "edit", "main", "services/checkout/rates.txt", &numbered(&[(10, "bob's rate")]));
    review(&repo, "approve", "alice", "main", "edit", &[]);

    for (name, line, allowed) in [("far", 19, true), ("near", 13, false)] {
        // Main changes another line of the same file after the approval.
        repo.git(&["checkout", "-q", "-b", &format!("main-{name}"), "main"]);
        let moved = repo.commit_as(
            "alice",
            "services/checkout/rates.txt",
            &numbered(&[(line, "alice's rate")]),
            &format!("Change line {line}"),
        );
        // The branch is rebased onto it and merged.
        repo.git(&["checkout", "-q", "-b", &format!("edit-{name}"), "edit"]);
        repo.git_as(BOB, &["rebase", "-q", &format!("main-{name}")]);
        repo.git(&["checkout", "-q", &format!("main-{name}")]);
        repo.git_as(BOB, &["merge", "-q", "--no-ff", &format!("edit-{name}"), "-m", "Merge branch 'edit'"]);
        let merged = repo.path().join("services/checkout/rates.txt");
        let text = std::fs::read_to_string(merged).expect("read");
        assert!(text.contains("bob's rate") && text.contains("alice's rate"), "{text}");

        let (code, decision) = check(&repo, &["--base", &moved, "--head", &format!("main-{name}")]);
        if allowed {
            assert_eq!(code, 0, "edit 9 lines from main's: {decision:#}");
            assert_eq!(changes(&decision), ["merge allowed"]);
            assert_eq!(field(&decision["approvals"], "person"), ["alice"]);
        } else {
            assert_eq!(code, 1, "edit 3 lines from main's: {decision:#}");
            assert_eq!(changes(&decision), ["merge blocked"]);
            assert_eq!(decision["approvals"], json!([]), "{decision:#}");
        }
    }
}

#[test]
fn an_unreviewed_direct_push_between_approved_merges_blocks_only_itself() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    bob_branch(&repo, "tax", "main", "services/checkout/tax.py", "RATE = 0.2\n");
    for branch in ["cart", "tax"] {
        review(&repo, "approve", "alice", "main", branch, &[]);
    }
    merge(&repo, "cart");
    let pushed = repo.commit_as("dave", "docs/notes.md", "# Notes\n", "Write release notes");
    merge(&repo, "tax");

    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(changes(&decision), ["merge allowed", "commit blocked", "merge allowed"]);
    let direct = &decision["changes"][1];
    assert_eq!(direct["reviewed"], false, "{direct:#}");
    assert_eq!(direct["commits"], json!([pushed]));
    assert_eq!(direct["title"], "Write release notes");
    assert_eq!(unmet_of(direct), ["two-person"], "{direct:#}");

    let output = repo.countersign(&["check", "--base", &before, "--head", "main"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let line = text.lines().find(|line| line.contains("Write release notes")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("✗") && line.contains("direct push"), "{text}");
    assert!(text.contains("Merge branch 'cart' (merge;"), "{text}");
}

#[test]
fn a_squash_that_adds_content_names_what_nobody_approved() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    bob_branch(&repo, "tax", "main", "services/checkout/tax.py", "RATE = 0.2\n");
    for branch in ["cart", "tax"] {
        review(&repo, "approve", "alice", "main", branch, &[]);
    }
    merge(&repo, "cart");

    for (release, path, contents) in [
        ("extra-line", "services/checkout/tax.py", "RATE = 0.2\nEXEMPT = True\n"),
        ("extra-file", "services/checkout/fees.py", "FEE = 1\n"),
    ] {
        repo.git(&["checkout", "-q", "-b", release, "main"]);
        repo.git_as(BOB, &["merge", "-q", "--squash", "tax"]);
        repo.write(path, contents);
        repo.git_as(BOB, &["add", "-A"]);
        repo.git_as(BOB, &["commit", "-q", "-m", &ai("Add the tax rate (#2)")]);

        let (code, decision) = check(&repo, &["--base", &before, "--head", release]);
        assert_eq!(code, 1, "{release}: {decision:#}");
        assert_eq!(changes(&decision), ["merge allowed", "commit blocked"], "{release}");
        let squash = &decision["changes"][1];
        assert_eq!(squash["new_content"], json!([path]), "{release}: {squash:#}");
        assert_eq!(squash["compared_with"]["people"], json!(["alice"]), "{release}: {squash:#}");
        assert_eq!(squash["approvals"], json!([]));
    }
}

#[test]
fn a_merge_that_resolves_a_conflict_with_new_content_needs_its_own_approval() {
    let repo = TestRepo::new();
    let before = rev(&repo, "main");
    bob_branch(&repo, "one", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    bob_branch(&repo, "two", "main", "services/checkout/cart.py", "def total(items):\n    return 2\n");
    for branch in ["one", "two"] {
        review(&repo, "approve", "alice", "main", branch, &[]);
    }
    merge(&repo, "one");
    // Both changed the same line: bob resolves the conflict with a third text.
    let conflicted = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(["merge", "-q", "--no-ff", "two"])
        .env("GIT_AUTHOR_NAME", BOB.0)
        .env("GIT_AUTHOR_EMAIL", BOB.1)
        .env("GIT_COMMITTER_NAME", BOB.0)
        .env("GIT_COMMITTER_EMAIL", BOB.1)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo.temp.path())
        .output()
        .expect("git runs");
    assert!(!conflicted.status.success(), "the merge must conflict");
    repo.write("services/checkout/cart.py", "def total(items):\n    return 3\n");
    repo.git_as(BOB, &["add", "-A"]);
    repo.git_as(BOB, &["commit", "-q", "-m", "Merge branch 'two'"]);
    let resolved = rev(&repo, "main");

    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(changes(&decision), ["merge allowed", "merge-with-new-content blocked"]);
    let merge = &decision["changes"][1];
    assert_eq!(merge["new_content"], json!(["services/checkout/cart.py"]), "{merge:#}");
    assert_eq!(merge["base"], rev(&repo, "main^1").as_str());
    assert_eq!(merge["head"], resolved.as_str());

    review(&repo, "approve", "alice", &format!("{resolved}^1"), &resolved, &[]);
    let (code, decision) = check(&repo, &["--base", &before, "--head", "main"]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(changes(&decision), ["merge allowed", "merge-with-new-content allowed"]);
}

// The deployment ledger

#[test]
fn deployments_are_recorded_and_the_next_check_starts_from_the_last_one() {
    let repo = TestRepo::new();
    let first = rev(&repo, "main");
    let deployed_tip = |repo: &TestRepo| {
        let output = Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(["rev-parse", "-q", "--verify", DEPLOYMENTS])
            .output()
            .expect("git runs");
        output.status.success().then(|| stdout(&output).trim().to_owned())
    };

    // Without --base and without a record, there is nothing to start from.
    let output = repo.countersign(&["check", "--head", "main"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains(DEPLOYMENTS), "{}", stderr(&output));

    bob_branch(&repo, "cart", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    review(&repo, "approve", "alice", "main", "cart", &[]);
    let m1 = merge(&repo, "cart");
    let output = repo.countersign(&["deploy", "--env", "production", "--base", &first, "--head", "main"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("recorded:"), "{}", stdout(&output));
    let tip = deployed_tip(&repo).expect("the deployment is recorded");
    let record: Value =
        serde_json::from_str(&repo.git(&["show", &format!("{DEPLOYMENTS}:deployment.json")])).expect("record JSON");
    assert_eq!((record["commit"].as_str(), record["environment"].as_str()), (Some(m1.as_str()), Some("production")));

    // Head is what production runs: nothing to deploy, and nothing recorded again.
    for command in ["check", "deploy"] {
        let (code, nothing) = parsed(&repo.countersign(&[command, "--head", "main", "--format", "json"]));
        assert_eq!(code, 0, "{command}: {nothing:#}");
        assert_eq!(nothing["nothing_to_deploy"], true, "{command}: {nothing:#}");
        assert_eq!(nothing["head"], m1.as_str());
        assert_eq!(nothing["deployed"]["commit"], m1.as_str(), "{command}: {nothing:#}");
    }
    assert_eq!(deployed_tip(&repo).as_deref(), Some(tip.as_str()));

    // An unapproved change on top: the check starts from the record and blocks; deploy records nothing.
    let pr_base = rev(&repo, "main");
    bob_branch(&repo, "tax", "main", "services/checkout/tax.py", "RATE = 0.2\n");
    let m2 = merge(&repo, "tax");
    let (code, decision) = check(&repo, &["--head", "main"]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(finding_codes(&decision).first().map(String::as_str), Some("base-from-deployments"), "{decision:#}");
    assert_eq!(decision["change"]["base"], m1.as_str());
    let (code, blocked) = parsed(&repo.countersign(&["deploy", "--head", "main", "--format", "json"]));
    assert_eq!((code, blocked["verdict"].as_str()), (1, Some("blocked")), "{blocked:#}");
    assert_eq!(deployed_tip(&repo).as_deref(), Some(tip.as_str()), "a blocked deploy records nothing");

    // Approved, it deploys from the record.
    review(&repo, "approve", "alice", &pr_base, "tax", &[]);
    let output = repo.countersign(&["deploy", "--head", "main"]);
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let record: Value =
        serde_json::from_str(&repo.git(&["show", &format!("{DEPLOYMENTS}:deployment.json")])).expect("record JSON");
    assert_eq!(record["commit"], m2.as_str());
    assert_eq!(repo.git(&["rev-list", "--count", DEPLOYMENTS]), "2");

    // A head behind what production runs is a rollback.
    let (code, decision) = check(&repo, &["--head", "main~1"]);
    assert_eq!(code, 1, "{decision:#}");
    assert!(unmet(&decision).contains(&"rollback".to_owned()), "{decision:#}");
    assert_eq!(decision["change"]["rollback"]["base"], m2.as_str(), "{decision:#}");

    // A record forged to name the head itself (`HEAD`) would make every head "nothing to
    // deploy": a record must name a commit id, or the check stops.
    let forged = r#"{"environment": "production", "commit": "HEAD", "time": 1, "verdict": "allowed", "fingerprint": "sha256:00"}"#;
    let blob = git_stdin(&repo, &["hash-object", "-w", "--stdin"], forged);
    let tree = git_stdin(&repo, &["mktree"], &format!("100644 blob {blob}\tdeployment.json\n"));
    let commit = git_stdin(&repo, &["commit-tree", &tree, "-p", DEPLOYMENTS, "-m", "forged"], "");
    repo.git(&["update-ref", DEPLOYMENTS, &commit]);
    let output = repo.countersign(&["check", "--head", "main"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("not a commit id"), "{}", stderr(&output));
}

/// Runs git with `stdin` as its input; its output, trimmed.
fn git_stdin(repo: &TestRepo, args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo.path())
        .args(args)
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@evil.example")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@evil.example")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("git ends");
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

// Attestation sources

#[test]
fn approvals_of_a_folder_and_the_ref_are_read_together_and_each_statement_once() {
    let repo = TestRepo::new();
    bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    let folder = repo.temp.path().join("approvals");
    review(&repo, "approve", "alice", "main", "feature", &["--attestations", path_str(&folder)]);
    review(&repo, "approve", "carol", "main", "feature", &[]);

    let (code, decision) = check(&repo, &["--base", "main", "--head", "feature", "--attestations", path_str(&folder)]);
    assert_eq!(code, 0, "{decision:#}");
    let approvals = decision["approvals"].as_array().expect("approvals");
    let source = |person: &str| {
        approvals.iter().find(|approval| approval["person"] == person).expect("an approval")["source"]
            .as_str()
            .expect("source")
            .to_owned()
    };
    assert_eq!(approvals.len(), 2, "{decision:#}");
    assert!(source("alice").starts_with(path_str(&folder)), "{}", source("alice"));
    assert!(source("carol").starts_with("refs/countersign/attestations:"), "{}", source("carol"));
    // Without the folder, only carol's counts, and carol does not own checkout.
    let (code, decision) = check(&repo, &["--base", "main", "--head", "feature"]);
    assert_eq!((code, field(&decision["approvals"], "person")), (1, vec!["carol".to_owned()]));

    // Carol's statement copied from the ref into another folder is the same statement.
    let stored = repo.git(&["ls-tree", "-r", "--name-only", "refs/countersign/attestations"]);
    let copies = repo.temp.path().join("copies");
    std::fs::create_dir_all(&copies).expect("folder");
    std::fs::write(copies.join("carol.json"), repo.git(&["show", &format!("refs/countersign/attestations:{stored}")]))
        .expect("copy");
    let (_, decision) = check(&repo, &["--base", "main", "--head", "feature", "--attestations", path_str(&copies)]);
    assert_eq!(field(&decision["approvals"], "person"), ["carol"], "{decision:#}");
    let both = decision["approvals"][0]["source"].as_str().expect("source");
    assert_eq!(
        both,
        format!("refs/countersign/attestations:{stored} and {}", copies.join("carol.json").display()),
        "{decision:#}"
    );
}

// Rejections and earlier versions

#[test]
fn a_rejection_sticks_to_later_pushes_until_its_author_approves() {
    let repo = TestRepo::new();
    let rejected =
        bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    review(&repo, "reject", "carol", "main", "feature", &["--comment", "no tests"]);
    repo.git(&["checkout", "-q", "feature"]);
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 1  \n", "Whitespace");

    review(&repo, "approve", "alice", "main", "feature", &[]);
    let (code, decision) = check(&repo, &["--base", "main", "--head", "feature"]);
    assert_eq!(code, 1, "{decision:#}");
    assert_eq!(field(&decision["rejections"], "person"), ["carol"], "{decision:#}");
    assert_eq!(decision["rejections"][0]["earlier_version"]["head"], rejected.as_str(), "{decision:#}");
    assert_eq!(decision["rejections"][0]["comment"], "no tests");

    // Statements are dated to the second: carol's approval must come after her rejection.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    review(&repo, "approve", "carol", "main", "feature", &[]);
    let (code, decision) = check(&repo, &["--base", "main", "--head", "feature"]);
    assert_eq!(decision["rejections"], json!([]), "{decision:#}");
    assert_eq!(code, 0, "{decision:#}");
}

#[test]
fn an_approval_of_an_earlier_version_shows_what_changed_since() {
    let repo = TestRepo::new();
    let approved =
        bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return sum(items)\n");
    review(&repo, "approve", "alice", "main", "feature", &[]);
    repo.git(&["checkout", "-q", "feature"]);
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return round(sum(items), 2)\n", "Round");

    // Checked as the pull request it is: the branch is one change, approved before its last push.
    let pull_request = ["--base", "main", "--head", "feature", "--context", "pull-request"];
    let (code, decision) = check(&repo, &pull_request);
    assert_eq!(code, 1, "{decision:#}");
    let earlier = &decision["earlier_approvals"][0];
    assert_eq!(earlier["person"], "alice", "{decision:#}");
    assert_eq!(earlier["earlier_version"]["head"], approved.as_str());
    let changed = &earlier["earlier_version"]["changed_since"];
    assert_eq!(field(changed, "path"), ["services/checkout/cart.py"], "{decision:#}");
    let patch = changed[0]["patch"].as_str().expect("patch");
    assert!(patch.contains("+    return round(sum(items), 2)"), "{patch}");

    let mut args = vec!["check"];
    args.extend(pull_request);
    let output = repo.countersign(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("alice approved an earlier version"), "{}", stdout(&output));

    // Deployed as it is, the reviewed commit keeps its approval and the new one stands alone.
    let (code, decision) = check(&repo, &["--base", "main", "--head", "feature"]);
    assert_eq!(code, 1, "{decision:#}");
    let verdicts: Vec<&str> = decision["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| change["verdict"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(verdicts, ["allowed", "blocked"], "{decision:#}");
}

// Signing through ssh-agent

/// A real ssh-agent for one test, killed when dropped.
struct Agent {
    socket: PathBuf,
    pid: String,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let output =
            Command::new("ssh-agent").arg("-s").arg("-a").arg(dir.join("agent.sock")).output().expect("ssh-agent runs");
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        let value = |name: &str| {
            text.split([';', '\n'])
                .find_map(|part| part.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .to_owned()
        };
        Agent { socket: PathBuf::from(value("SSH_AUTH_SOCK")), pid: value("SSH_AGENT_PID") }
    }

    fn add(&self, key: &Path) {
        let output =
            Command::new("ssh-add").arg("-q").arg(key).env("SSH_AUTH_SOCK", &self.socket).output().expect("ssh-add");
        assert!(output.status.success(), "{}", stderr(&output));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("ssh-agent").arg("-k").env("SSH_AGENT_PID", &self.pid).output();
    }
}

/// countersign in the fixture repository with ssh-agent's socket set, or explicitly unset.
fn countersign_with_agent(repo: &TestRepo, args: &[&str], agent: Option<&Agent>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_countersign"));
    command.current_dir(repo.path()).args(args).env_remove("SSH_AUTH_SOCK");
    for name in
        ["GITHUB_HEAD_REF", "GITHUB_BASE_REF", "COUNTERSIGN_REQUESTER", "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH"]
    {
        command.env_remove(name);
    }
    if let Some(agent) = agent {
        command.env("SSH_AUTH_SOCK", &agent.socket);
    }
    command.output().expect("countersign runs")
}

fn private_file(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn approvals_sign_through_a_running_ssh_agent() {
    let repo = TestRepo::new();
    for (branch, total) in [("public-key", "1"), ("passphrase", "2"), ("git-config", "3")] {
        let contents = format!("def total(items):\n    return {total}\n");
        bob_branch(&repo, branch, "main", "services/checkout/cart.py", &contents);
    }
    let keys = repo.temp.path().join("keys");
    std::fs::create_dir_all(&keys).expect("keys folder");
    let private = keys.join("alice");
    private_file(&private, key(1).to_openssh(LineEnding::LF).expect("encodable").as_bytes());
    let public = keys.join("alice.pub");
    let output = Command::new("ssh-keygen").arg("-y").arg("-f").arg(&private).output().expect("ssh-keygen runs");
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::write(&public, &output.stdout).expect("write public key");
    let protected = keys.join("alice-protected");
    private_file(&protected, &std::fs::read(&private).expect("read"));
    let output = Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", "secret", "-P", "", "-f"])
        .arg(&protected)
        .output()
        .expect("ssh-keygen runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(std::fs::read_to_string(&protected).expect("read").contains("BEGIN OPENSSH PRIVATE KEY"));

    let agent = Agent::start(repo.temp.path());
    agent.add(&private);
    let approve = |head: &str, key: &Path, agent: Option<&Agent>| {
        countersign_with_agent(
            &repo,
            &["approve", "--base", "main", "--head", head, "--as", "alice", "--key", path_str(key)],
            agent,
        )
    };

    // A public key, its private half in the agent.
    assert_eq!(check(&repo, &["--base", "main", "--head", "public-key"]).0, 1);
    let output = approve("public-key", &public, Some(&agent));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let (code, decision) = check(&repo, &["--base", "main", "--head", "public-key"]);
    assert_eq!(code, 0, "{decision:#}");
    assert_eq!(field(&decision["approvals"], "person"), ["alice"]);

    // Without an agent the public key cannot sign, and the message says why.
    let output = approve("passphrase", &public, None);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("ssh-agent"), "{}", stderr(&output));

    // A passphrase-protected private key signs through the agent that holds it.
    let output = approve("passphrase", &protected, Some(&agent));
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(check(&repo, &["--base", "main", "--head", "passphrase"]).0, 0);

    // Neither --as nor --key: git's user.email and user.signingkey.
    repo.git(&["config", "user.email", "alice@shop.example"]);
    repo.git(&["config", "user.signingkey", path_str(&public)]);
    let output = countersign_with_agent(
        &repo,
        &["approve", "--base", "main", "--head", "git-config", "--format", "json"],
        Some(&agent),
    );
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let (_, approved) = parsed(&output);
    assert_eq!(approved["person"], "alice");
    assert_eq!(check(&repo, &["--base", "main", "--head", "git-config"]).0, 0);
}

// Sharing approvals

#[test]
fn two_reviewers_pushing_from_stale_clones_both_land_in_the_ref() {
    let repo = TestRepo::new();
    bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    let remote = repo.temp.path().join("remote.git");
    git_in(&repo, repo.temp.path(), &["init", "-q", "--bare", "-b", "main", path_str(&remote)]);
    repo.git(&["remote", "add", "origin", path_str(&remote)]);
    repo.git(&["push", "-q", "origin", "main", "feature"]);
    let clone = |name: &str| {
        let dir = repo.temp.path().join(name);
        git_in(&repo, repo.temp.path(), &["clone", "-q", path_str(&remote), path_str(&dir)]);
        dir
    };
    // Both clones are made before anybody pushes an approval.
    let (a, b) = (clone("a"), clone("b"));
    for (dir, person) in [(&a, "alice"), (&b, "carol")] {
        let key = repo.key_file(person);
        let output = repo.countersign(&[
            "approve",
            "--repo",
            path_str(dir),
            "--base",
            "origin/main",
            "--head",
            "origin/feature",
            "--as",
            person,
            "--key",
            path_str(&key),
            "--push",
            "origin",
        ]);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(0), "{person}: {all}");
        assert!(all.contains("pushed to origin"), "{person}: {all}");
        assert!(!all.contains("git pull"), "{person}: {all}");
    }
    let stored = git_in(&repo, &remote, &["ls-tree", "-r", "--name-only", "refs/countersign/attestations"]);
    assert_eq!(stored.lines().count(), 2, "{stored}");

    let c = clone("c");
    git_in(&repo, &c, &["fetch", "-q", "origin", "+refs/countersign/*:refs/countersign/*"]);
    let (code, decision) = check(&repo, &["--repo", path_str(&c), "--base", "origin/main", "--head", "origin/feature"]);
    assert_eq!(code, 0, "{decision:#}");
    let mut people = field(&decision["approvals"], "person");
    people.sort();
    assert_eq!(people, ["alice", "carol"]);
}

// Friction

#[test]
fn a_shallow_clone_that_lacks_the_fork_point_says_to_fetch_the_whole_history() {
    let repo = TestRepo::new();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 1\n", &ai("One"));
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 2\n", &ai("Two"));
    repo.git(&["checkout", "-q", "main"]);
    repo.commit_as("alice", "docs/guide.md", "# Guide\n", "Add a guide");
    let shallow = repo.temp.path().join("shallow");
    let url = format!("file://{}", repo.path().display());
    git_in(&repo, repo.temp.path(), &["clone", "-q", "--depth", "1", "--no-single-branch", &url, path_str(&shallow)]);
    assert_eq!(git_in(&repo, &shallow, &["rev-parse", "--is-shallow-repository"]), "true");

    let output =
        repo.countersign(&["check", "--repo", path_str(&shallow), "--base", "origin/main", "--head", "origin/feature"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("fetch-depth: 0"), "{}", stderr(&output));
}

#[test]
fn swapped_base_and_head_are_pointed_out() {
    let repo = TestRepo::new();
    bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    let (_, decision) = check(&repo, &["--base", "feature", "--head", "main"]);
    assert!(finding_codes(&decision).contains(&"head-behind-base".to_owned()), "{decision:#}");
    let finding = decision["findings"].to_string();
    assert!(finding.contains("were --base and --head swapped?"), "{finding}");
}

#[test]
fn a_clone_without_the_attestation_ref_is_told_to_fetch_it() {
    let repo = TestRepo::new();
    bob_branch(&repo, "feature", "main", "services/checkout/cart.py", "def total(items):\n    return 1\n");
    review(&repo, "approve", "alice", "main", "feature", &[]);
    assert_eq!(check(&repo, &["--base", "main", "--head", "feature"]).0, 0);
    let clone = repo.temp.path().join("clone");
    git_in(&repo, repo.temp.path(), &["clone", "-q", path_str(&repo.path()), path_str(&clone)]);

    let (code, decision) =
        check(&repo, &["--repo", path_str(&clone), "--base", "origin/main", "--head", "origin/feature"]);
    assert_eq!(code, 1, "{decision:#}");
    let note = decision["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| finding["code"] == "no-attestation-ref")
        .unwrap_or_else(|| panic!("{decision:#}"));
    assert!(note["message"].as_str().expect("message").contains("git fetch"), "{note:#}");
}

/// A configuration folder whose people.toml, services.toml and policy.toml each hold one mistake.
fn broken_config(dir: &Path) {
    std::fs::create_dir_all(dir).expect("config folder");
    let people = people_toml().replace("level = \"junior\"", "level = \"junoir\"");
    std::fs::write(dir.join("people.toml"), people).expect("write");
    std::fs::write(dir.join("services.toml"), SERVICES.replace("tier = 0", "tier = \"zero\"")).expect("write");
    std::fs::write(
        dir.join("policy.toml"),
        POLICY.replace("requires = { count = 1 }", "requires = { count = \"one\" }"),
    )
    .expect("write");
}

#[test]
fn policy_check_reports_a_mistake_of_every_file_in_one_run() {
    let repo = TestRepo::new();
    let dir = repo.temp.path().join("config");
    broken_config(&dir);
    let output = repo.countersign(&["policy", "check", "--config", path_str(&dir)]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let errors = stderr(&output);
    assert!(errors.contains("3 configuration error(s)"), "{errors}");
    for file in ["people.toml", "services.toml", "policy.toml"] {
        assert!(errors.contains(&format!("{}:", dir.join(file).display())), "{file} missing in {errors}");
    }
}

#[test]
fn a_closed_output_pipe_does_not_crash_the_binary() {
    let repo = TestRepo::new();
    let dir = repo.temp.path().join("config");
    broken_config(&dir);
    // Enough mistakes that the report outgrows a pipe's buffer.
    let mut policy = String::from("version = 1\n");
    for index in 0..2000 {
        policy.push_str(&format!("\n[[rule]]\nname = \"rule-{index}\"\nrequires = {{ count = \"one\" }}\n"));
    }
    std::fs::write(dir.join("policy.toml"), policy).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["policy", "check", "--config", path_str(&dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("countersign starts");
    let mut first = String::new();
    std::io::BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut first).expect("one line");
    drop(child.stdout.take());
    let status = child.wait().expect("countersign ends");
    assert!(!first.is_empty());
    assert_ne!(status.code(), Some(101), "a panic on the closed pipe");
    assert_eq!(status.code(), Some(2), "{status:?}");
}

#[test]
fn a_mistyped_token_owner_gets_a_suggestion_and_tokens_list_their_creation_time() {
    let repo = TestRepo::new();
    let database = repo.temp.path().join("countersign.db");
    let people = repo.path().join(".countersign/people.toml");
    let create = |person: &str| {
        repo.countersign(&[
            "token",
            "create",
            "--database-url",
            path_str(&database),
            "--person",
            person,
            "--people",
            path_str(&people),
        ])
    };
    let output = create("alcie");
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stderr(&output).contains("did you mean `alice`?"), "{}", stderr(&output));

    let output = create("alice");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = repo.countersign(&["token", "list", "--database-url", path_str(&database)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let line = text.lines().find(|line| line.contains("alice")).unwrap_or_else(|| panic!("{text}"));
    let created = line.split_whitespace().skip_while(|word| *word != "created").nth(1).expect("a creation time");
    assert!(created.contains('T') && created.ends_with('Z'), "{line}");
    created.parse::<jiff::Timestamp>().unwrap_or_else(|error| panic!("{created}: {error}"));
}

#[test]
fn owners_work_with_only_a_codeowners_file() {
    let repo = TestRepo::new();
    repo.git(&["rm", "-q", "-r", ".countersign"]);
    repo.git(&["commit", "-q", "-m", "No gate yet"]);
    let output = repo.countersign(&["owners", "services/checkout/cart.py"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("owners:   @shop/checkout from .github/CODEOWNERS"), "{text}");
}
