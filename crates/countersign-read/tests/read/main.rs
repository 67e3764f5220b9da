//! The read stage: the CI context it is handed, and the configuration it reads at the base.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use countersign_read::{AmbientFlags, ChangeSpec, ConfigSource, Gate, ReadError, ambient_from_ci};

/// What `ambient_from_ci` makes of flags and CI variables: (source branch, target branch,
/// pull request author, pull request body).
fn check(flags: AmbientFlags, variables: &[(&str, &str)], expected: (Option<&str>, Option<&str>, Option<&str>, &str)) {
    let variables: HashMap<&str, &str> = variables.iter().copied().collect();
    let ambient = ambient_from_ci(&flags, |name| variables.get(name).map(|value| (*value).to_owned()))
        .expect("the context reads");
    let pull_request = ambient.pull_request.unwrap_or_default();
    assert_eq!(
        (
            ambient.source_branch.as_deref(),
            ambient.target_branch.as_deref(),
            pull_request.author.as_deref(),
            pull_request.body.as_str()
        ),
        expected
    );
}

#[test]
fn ci_context_comes_from_flags_then_the_ci_variables() {
    let temp = tempfile::tempdir().expect("temp dir");
    let event = temp.path().join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"user": {"login": "Copilot"}, "body": "Fixes #12"}}"#).expect("event");
    let event = event.to_str().expect("UTF-8 path");
    let body = temp.path().join("body.md");
    std::fs::write(&body, "Written by hand").expect("body");

    check(AmbientFlags::default(), &[], (None, None, None, ""));
    check(
        AmbientFlags::default(),
        &[("GITHUB_HEAD_REF", "claude/fix"), ("GITHUB_BASE_REF", "main")],
        (Some("claude/fix"), Some("main"), None, ""),
    );
    check(
        AmbientFlags::default(),
        &[("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "codex/x"), ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "release")],
        (Some("codex/x"), Some("release"), None, ""),
    );
    // An empty variable is no value.
    check(
        AmbientFlags::default(),
        &[("GITHUB_HEAD_REF", ""), ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "b")],
        (Some("b"), None, None, ""),
    );
    let flags = AmbientFlags {
        source_branch: Some("feature".to_owned()),
        target_branch: Some("main".to_owned()),
        ..AmbientFlags::default()
    };
    check(
        flags,
        &[("GITHUB_HEAD_REF", "claude/fix"), ("GITHUB_BASE_REF", "dev")],
        (Some("feature"), Some("main"), None, ""),
    );
    // The pull request of a GitHub pull_request event; not of a push event.
    let event_vars = [("GITHUB_EVENT_NAME", "pull_request_target"), ("GITHUB_EVENT_PATH", event)];
    check(AmbientFlags::default(), &event_vars, (None, None, Some("Copilot"), "Fixes #12"));
    check(
        AmbientFlags::default(),
        &[("GITHUB_EVENT_NAME", "push"), ("GITHUB_EVENT_PATH", event)],
        (None, None, None, ""),
    );
    // An explicit author and body win over the event.
    let flags =
        AmbientFlags { pr_author: Some("bob-t".to_owned()), pr_body: Some(body.clone()), ..AmbientFlags::default() };
    check(flags, &event_vars, (None, None, Some("bob-t"), "Written by hand"));
    let flags = AmbientFlags { pr_author: Some("bob-t".to_owned()), ..AmbientFlags::default() };
    check(flags, &event_vars, (None, None, Some("bob-t"), "Fixes #12"));
}

#[test]
fn an_unreadable_event_file_is_an_error() {
    let variables = [("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_EVENT_PATH", "/nonexistent/event.json")];
    let result = ambient_from_ci(&AmbientFlags::default(), |name| {
        variables.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    });
    assert!(matches!(&result, Err(error) if error.to_string().contains("/nonexistent/event.json")), "{result:?}");
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@shop.example")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@shop.example")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

const PEOPLE: &str = "levels = [\"junior\", \"senior\"]\n\n[[person]]\nid = \"alice\"\nemails = [\"alice@shop.example\"]\nlevel = \"senior\"\n";
const POLICY: &str = "version = 1\n\n[[rule]]\nname = \"two-person\"\nrequires = { count = 1 }\n";

/// The configuration is read at the base: the head's edit of the policy does not count, and a
/// base without it is a distinct "missing" error.
#[test]
fn configuration_is_read_at_the_base() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "# Shop\n").expect("write");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "Start"]);
    git(dir, &["branch", "bare"]);
    std::fs::create_dir_all(dir.join(".countersign")).expect("mkdir");
    std::fs::write(dir.join(".countersign/people.toml"), PEOPLE).expect("write");
    std::fs::write(dir.join(".countersign/policy.toml"), POLICY).expect("write");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "Gate"]);
    git(dir, &["checkout", "-q", "-b", "weaker"]);
    std::fs::write(dir.join(".countersign/policy.toml"), POLICY.replace("count = 1", "count = 0")).expect("write");
    git(dir, &["commit", "-q", "-am", "Weaken the gate"]);

    let spec = |base: &str| ChangeSpec {
        repo: dir.to_path_buf(),
        base: base.to_owned(),
        head: "weaker".to_owned(),
        environment: "production".to_owned(),
        config: ConfigSource::AtBase,
        requester: None,
        plans: Vec::new(),
        uploaded_plans: Vec::new(),
        purpose: None,
        deadline: None,
    };
    let gate = Gate::open(&spec("main")).expect("configuration at main");
    assert_eq!(gate.config.policy.rules[0].requires.count, 1);
    assert!(
        matches!(Gate::open(&spec("bare")), Err(ReadError::MissingConfig(message)) if message.contains("people.toml"))
    );
}
