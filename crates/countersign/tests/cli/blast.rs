//! Blast radius through the binary: plans, migrations and manifests make a change destructive,
//! raise its risk and change its rollout; unreadable plans fail closed.

use crate::util::{POLICY, TestRepo, stderr, unmet};

const DESTRUCTIVE_RULE: &str = r#"
[[rule]]
name = "destructive-two-seniors"
description = "Whatever deletes or replaces something that exists needs two seniors"
when = { destructive = true }
requires = { count = 2, min_level = "senior" }
"#;

const PLAN: &str = r#"{
  "format_version": "1.2",
  "terraform_version": "1.9.5",
  "resource_changes": [
    {"address": "aws_db_instance.orders", "mode": "managed", "type": "aws_db_instance", "name": "orders",
     "change": {"actions": ["delete", "create"], "replace_paths": [["engine"]]},
     "action_reason": "replace_because_cannot_update"},
    {"address": "aws_s3_bucket.assets", "mode": "managed", "type": "aws_s3_bucket", "name": "assets",
     "change": {"actions": ["update"]}}
  ]
}"#;

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n  namespace: shop\n";

/// A repository whose policy adds the destructive rule, with a human (not AI) docs change by bob.
fn docs_change() -> TestRepo {
    let repo = TestRepo::new();
    repo.commit_as(
        "alice",
        ".countersign/policy.toml",
        &format!("{POLICY}{DESTRUCTIVE_RULE}"),
        "Gate destructive changes",
    );
    repo.branch("feature");
    repo.commit_as("bob", "docs/index.md", "# Docs\n\nMore.\n", "Document");
    repo
}

fn targets(decision: &serde_json::Value, key: &str) -> Vec<String> {
    decision[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|operation| {
            let line = operation["line"].as_u64().map(|line| format!(":{line}")).unwrap_or_default();
            format!(
                "{} {}{line} {} {}",
                operation["source"].as_str().unwrap_or_default(),
                operation["file"].as_str().unwrap_or_default(),
                operation["action"].as_str().unwrap_or_default(),
                operation["target"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn a_destructive_plan_makes_the_change_critical() {
    let repo = docs_change();
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(unmet(&decision), ["two-person"]);
    // bob has not touched docs/ before: inexperience makes it medium.
    assert_eq!(decision["risk"]["level"], "medium");

    repo.write("plan.json", PLAN);
    let (code, decision) = repo.check(&["--plan", "plan.json"]);
    assert_eq!(code, 1);
    assert_eq!(unmet(&decision), ["two-person", "destructive-two-seniors"]);
    assert_eq!(
        targets(&decision, "destructive"),
        ["terraform plan.json replace (delete before create) aws_db_instance.orders"]
    );
    assert_eq!(decision["risk"]["level"], "critical");
    assert_eq!(decision["rollout"]["manual_confirmation"], true);
    insta::assert_json_snapshot!(
        "destructive_plan",
        serde_json::json!({
            "risk": decision["risk"],
            "destructive": decision["destructive"],
            "rollout": decision["rollout"],
            "rule": decision["rules"][4],
        })
    );

    // Approvals that did not see the plan do not count for a decision that depends on it.
    for person in ["alice", "carol"] {
        let approved = repo.review("approve", person, &[]);
        assert!(approved.status.success(), "{}", stderr(&approved));
    }
    let (code, decision) = repo.check(&["--plan", "plan.json"]);
    assert_eq!(code, 1, "{decision:#}");
    assert!(decision["findings"].to_string().contains("which the approval does not name"), "{decision:#}");
    // Nor for another plan: the approval names the digest of the plan that was reviewed.
    repo.write("other.json", &PLAN.replace("orders", "invoices"));
    let approved = repo.review("approve", "alice", &["--plan", "other.json"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let (code, _) = repo.check(&["--plan", "plan.json"]);
    assert_eq!(code, 1);

    // Two seniors who reviewed this plan unblock it; one does not.
    for (person, expected) in [("alice", 1), ("carol", 0)] {
        let approved = repo.review("approve", person, &["--plan", "plan.json"]);
        assert!(approved.status.success(), "{}", stderr(&approved));
        let (code, _) = repo.check(&["--plan", "plan.json"]);
        assert_eq!(code, expected, "after {person}");
    }
}

#[test]
fn an_unreadable_plan_fails_closed() {
    let repo = docs_change();
    repo.write("truncated.json", &PLAN[..120]);
    let (code, decision) = repo.check(&["--plan", "truncated.json"]);
    assert_eq!(code, 2);
    assert_eq!(decision["verdict"], "error");
    assert_eq!(decision["errors"][0]["file"], "truncated.json");
    assert_eq!(decision["errors"][0]["line"], 5);
    let output =
        repo.countersign(&["check", "--repo", ".", "--base", "main", "--head", "HEAD", "--plan", "missing.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("missing.json"), "{}", stderr(&output));
    assert!(stderr(&output).contains("fails closed"), "{}", stderr(&output));
}

#[test]
fn destructive_migrations_and_hazards_in_the_change() {
    let repo = docs_change();
    repo.commit_as("bob", "db/migrations/0007_orders.sql", "ALTER TABLE orders ADD COLUMN note text;\n", "Add note");
    repo.commit_as(
        "bob",
        "db/migrations/0008_cleanup.sql",
        "-- the flag moved to payments\nALTER TABLE orders DROP COLUMN is_paid;\nCREATE INDEX orders_note ON orders (note);\n",
        "Drop the paid flag",
    );
    // Down migrations drop by design; they are not linted.
    repo.commit_as("bob", "db/migrations/0008_cleanup.down.sql", "DROP TABLE orders;\n", "Down migration");
    let (code, decision) = repo.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        targets(&decision, "destructive"),
        ["migration db/migrations/0008_cleanup.sql:2 ban-drop-column ALTER TABLE orders DROP COLUMN is_paid"]
    );
    assert_eq!(
        targets(&decision, "hazards"),
        [
            "migration db/migrations/0008_cleanup.sql:3 require-concurrent-index-creation CREATE INDEX orders_note ON orders (note)"
        ]
    );
    assert_eq!(decision["risk"]["level"], "critical");
    assert!(unmet(&decision).contains(&"destructive-two-seniors".to_owned()));
}

#[test]
fn an_unreadable_migration_counts_as_destructive() {
    let repo = docs_change();
    // Latin-1, not UTF-8: countersign cannot lint it, so it must not pass as safe.
    std::fs::create_dir_all(repo.path().join("db/migrations")).expect("dir");
    std::fs::write(repo.path().join("db/migrations/0009_caf\u{e9}.sql"), b"DROP TABLE caf\xe9s;\n").expect("write");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "Latin-1 migration"]);
    let (_, decision) = repo.check(&[]);
    assert_eq!(decision["destructive"][0]["action"], "unread migration", "{decision:#}");
    assert_eq!(decision["risk"]["level"], "critical");
}

#[test]
fn a_deleted_manifest_deletes_its_workload() {
    let repo = TestRepo::new();
    repo.commit_as("alice", "deploy/checkout.yaml", DEPLOYMENT, "Deploy checkout");
    repo.branch("feature");
    repo.git(&["rm", "-q", "deploy/checkout.yaml"]);
    repo.git(&["commit", "-q", "-m", "Remove the checkout deployment"]);
    let (_, decision) = repo.check(&[]);
    assert_eq!(targets(&decision, "destructive"), ["kubernetes deploy/checkout.yaml delete Deployment shop/checkout"]);
    assert_eq!(decision["risk"]["level"], "critical");
}

#[test]
fn experience_comes_from_the_authors_recent_history() {
    let repo = TestRepo::new();
    // bob has worked on checkout before; dave never has.
    repo.commit_as("bob", "services/checkout/tax.py", "RATE = 0.2\n", "Add tax rate");
    repo.branch("feature");
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 2\n", "Fix total");
    repo.commit_as("dave", "services/checkout/cart.py", "def total(items):\n    return 3\n", "Fix total again");
    let (_, decision) = repo.check(&[]);
    let experience = &decision["risk"]["metrics"]["experience"];
    assert_eq!(experience, &serde_json::json!([{"person": "dave", "commits": 0}, {"person": "bob", "commits": 1}]));
    let reasons: Vec<&str> =
        decision["risk"]["reasons"].as_array().expect("reasons").iter().filter_map(|reason| reason.as_str()).collect();
    assert!(
        reasons.contains(&"dave has 0 commits in the touched directories in the last 90 days (fewer than 1)"),
        "{reasons:?}"
    );
    assert!(!reasons.iter().any(|reason| reason.starts_with("bob ")), "{reasons:?}");
}

/// The experience window ends at the base: a head its committer dated years back does not make the
/// author's old commits count.
#[test]
fn a_backdated_head_does_not_widen_the_experience_window() {
    let repo = TestRepo::new();
    repo.commit_at("dave", "2020-01-01T00:00:00Z", "services/checkout/legacy.py", "OLD = 1\n", "Add legacy");
    repo.commit_as("alice", "docs/index.md", "# Docs\n\nNow.\n", "Update docs");
    repo.branch("feature");
    repo.commit_at(
        "dave",
        "2020-02-01T00:00:00Z",
        "services/checkout/cart.py",
        "def total(items):\n    return 9\n",
        "Total",
    );
    let (_, decision) = repo.check(&[]);
    let experience = &decision["risk"]["metrics"]["experience"];
    assert_eq!(experience, &serde_json::json!([{"person": "dave", "commits": 0}]), "{:#}", decision["risk"]);
}

/// With `[risk] recent_fixes` set, `check` counts the fix and revert commits of the base's recent
/// history that touched the changed files; other commits and other files do not count.
#[test]
fn recent_fixes_of_the_changed_files_raise_the_risk() {
    let repo = TestRepo::new();
    let policy = format!("{}\n[risk]\nrecent_fixes = {{ high = 2 }}\n", crate::util::POLICY);
    repo.commit_as("alice", ".countersign/policy.toml", &policy, "Count recent fixes");
    repo.commit_as("alice", "services/checkout/cart.py", "def total(items):\n    return 1\n", "Fix the total");
    repo.commit_as("alice", "services/checkout/tax.py", "RATE = 0.2\n", "fix: tax rate");
    repo.commit_as("alice", "services/checkout/cart.py", "def total(items):\n    return 2\n", "Count every item");
    repo.commit_as("alice", "docs/index.md", "# Docs\n\nFixed.\n", "Fix a typo in the docs");
    repo.commit_as(
        "alice",
        "services/checkout/cart.py",
        "def total(items):\n    return 3\n",
        "Revert \"Count every item\"",
    );
    repo.branch("feature");
    repo.commit_as("bob", "services/checkout/cart.py", "def total(items):\n    return 4\n", "Sum the items");
    let (_, decision) = repo.check(&[]);
    assert_eq!(decision["risk"]["metrics"]["recent_fixes"], 2, "{:#}", decision["risk"]);
    let reasons = decision["risk"]["reasons"].to_string();
    assert!(reasons.contains("2 fixes touched these files in the last 90 days, at least 2 for high"), "{reasons}");
    // A head dated years back cannot move the window away from the fixes: it ends at the base.
    repo.commit_at(
        "bob",
        "2001-01-01T00:00:00Z",
        "services/checkout/cart.py",
        "def total(items):\n    return 5\n",
        "Old",
    );
    let (_, backdated) = repo.check(&[]);
    assert_eq!(backdated["risk"]["metrics"]["recent_fixes"], 2, "{:#}", backdated["risk"]);
}

#[test]
fn text_output_shows_destruction_and_rollout() {
    let repo = docs_change();
    repo.write("plan.json", PLAN);
    let output = repo.countersign(&["check", "--repo", ".", "--base", "main", "--head", "HEAD", "--plan", "plan.json"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("  destructive: terraform replace (delete before create) aws_db_instance.orders (plan.json): an attribute cannot be updated in place; forced by engine\n"),
        "{text}"
    );
    assert!(text.contains("  rollout:     manual 1% (bake 120 min) → 10% (bake 120 min) → 100%; one box first; business hours only; a person confirms each stage; deploy alone;"), "{text}");
}
