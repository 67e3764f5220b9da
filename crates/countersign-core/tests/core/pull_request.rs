//! Contextual signals from pull requests (ai-markers.md §3).

use countersign_core::detect::{DetectConfig, Signal, scan_pull_request};

#[track_caller]
fn check(author: Option<&str>, body: &str, expected: &[&str]) {
    let signals = scan_pull_request(author, body, &DetectConfig::new(&["AI-Tool".to_owned()], &[]));
    let rendered: Vec<String> = signals.iter().map(render).collect();
    assert_eq!(rendered, expected);
}

fn render(signal: &Signal) -> String {
    format!(
        "{} {} {} | {}",
        signal.strength.as_str(),
        signal.kind.as_str(),
        signal.tool.as_deref().unwrap_or("-"),
        signal.text
    )
}

#[test]
fn agents_that_open_pull_requests() {
    check(Some("Copilot"), "", &["contextual pull-request copilot-agent | pull request opened by Copilot"]);
    check(
        Some("google-labs-jules[bot]"),
        "",
        &["contextual pull-request jules | pull request opened by google-labs-jules[bot]"],
    );
    check(
        Some("devin-ai-integration[bot]"),
        "",
        &["contextual pull-request devin | pull request opened by devin-ai-integration[bot]"],
    );
    check(Some("dependabot[bot]"), "", &[]);
    check(Some("alice-m"), "", &[]);
}

#[test]
fn tool_footers_and_links_in_the_description() {
    check(
        None,
        "Fixes the cart.\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n",
        &["contextual pull-request claude-code | 🤖 Generated with [Claude Code](https://claude.com/claude-code)"],
    );
    check(
        None,
        "Made with [Cursor](https://cursor.com)",
        &["contextual pull-request cursor | Made with [Cursor](https://cursor.com)"],
    );
    check(
        None,
        "<a href=\"https://cursor.com/agents/bc-1234\">Open in Web</a>",
        &["contextual pull-request cursor | <a href=\"https://cursor.com/agents/bc-1234\">Open in Web</a>"],
    );
    check(
        None,
        "[Codex Task](https://chatgpt.com/codex/tasks/task_e_68a1)",
        &["contextual pull-request codex | [Codex Task](https://chatgpt.com/codex/tasks/task_e_68a1)"],
    );
    check(
        None,
        "Link to local Devin session: https://app.devin.ai/sessions/4f2a",
        &["contextual pull-request devin | Link to local Devin session: https://app.devin.ai/sessions/4f2a"],
    );
}

#[test]
fn commit_markers_written_in_the_description_are_contextual_there() {
    check(
        None,
        "Summary\n\nCo-authored-by: Claude <noreply@anthropic.com>\nAI-Tool: copilot\n",
        &[
            "contextual pull-request claude-code | Co-authored-by: Claude <noreply@anthropic.com>",
            "contextual pull-request copilot | AI-Tool: copilot",
        ],
    );
}

#[test]
fn ordinary_descriptions_carry_no_signal() {
    check(
        Some("bob"),
        "Reworks the cart total.\n\nWe looked at what Claude and Copilot suggest, and did it by hand.\nAssisted-by: none\n",
        &[],
    );
}
