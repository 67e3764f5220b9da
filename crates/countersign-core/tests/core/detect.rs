//! AI-assistance detection against the markers and traps of `ai-markers.md`.
//!
//! Every case is a real-shaped commit (subject, blank line, body, trailers). The expected scan is
//! written compactly: one `strength kind tool` entry per signal, separated by `; ` (order does not
//! matter, `-` stands for a signal without a tool, `""` means no signal), plus the e-mails of the
//! human co-authors and the `declared_none` flag. Each case also checks that every signal keeps
//! the exact (trimmed) line of the message, or the `author: …` / `committer: …` text, it came from.

use countersign_core::detect::{CommitScan, DetectConfig, Signal, Strength, scan_branch, scan_commit};
use countersign_core::model::{Commit, FileChange, Identity};

const JANE: (&str, &str) = ("Jane Doe", "jane@example.com");
const WEB_FLOW: (&str, &str) = ("GitHub", "noreply@github.com");
const COPILOT_AGENT: (&str, &str) = ("Copilot", "198982749+Copilot@users.noreply.github.com");
const MONALISA: &str = "2+monalisa@users.noreply.github.com";

#[derive(Clone, Copy)]
struct Case {
    author: (&'static str, &'static str),
    /// `None`: same as the author.
    committer: Option<(&'static str, &'static str)>,
    /// Lines of the message; joined with `\n` and ended with `\n` as git stores it.
    message: &'static [&'static str],
    parents: usize,
    /// Policy `[ai] trailers`.
    extra_trailers: &'static [&'static str],
    /// Directory agents: (e-mail, id).
    agents: &'static [(&'static str, &'static str)],
    /// Paths of the diff; detection must not look at them.
    files: &'static [&'static str],
    /// `strength kind tool` per signal, `; `-separated, any order.
    expect: &'static str,
    /// E-mails of the expected human co-authors, in message order.
    humans: &'static [&'static str],
    declared_none: bool,
}

const CASE: Case = Case {
    author: JANE,
    committer: None,
    message: &[],
    parents: 1,
    extra_trailers: &[],
    agents: &[],
    files: &[],
    expect: "",
    humans: &[],
    declared_none: false,
};

fn identity((name, email): (&str, &str)) -> Identity {
    Identity::new(name, email)
}

fn render_signals(signals: &[Signal]) -> String {
    let mut entries: Vec<String> = signals
        .iter()
        .map(|signal| {
            format!("{} {} {}", signal.strength.as_str(), signal.kind.as_str(), signal.tool.as_deref().unwrap_or("-"))
        })
        .collect();
    entries.sort();
    entries.join("; ")
}

fn normalize_expect(expect: &str) -> String {
    let mut entries: Vec<String> = expect
        .split(';')
        .map(|entry| entry.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|entry| !entry.is_empty())
        .collect();
    entries.sort();
    entries.join("; ")
}

fn render(signals: &str, humans: &[String], declared_none: bool) -> String {
    format!("signals: [{signals}]\nhuman co-authors: [{}]\ndeclared none: {declared_none}", humans.join(", "))
}

#[track_caller]
fn check(name: &str, case: Case) {
    let author = identity(case.author);
    let committer = identity(case.committer.unwrap_or(case.author));
    let mut message = case.message.join("\n");
    message.push('\n');
    let commit = Commit {
        id: "5e1f8c2a93d44b7ea6f02c8d1e9b7a34c0ffee00".to_owned(),
        parents: (0..case.parents).map(|i| format!("{:040x}", i + 1)).collect(),
        author: author.clone(),
        committer: committer.clone(),
        time: 1_767_225_600,
        message: message.clone(),
        files: case
            .files
            .iter()
            .map(|path| FileChange { path: (*path).to_owned(), added: 12, deleted: 3, deleted_file: false })
            .collect(),
    };
    let extra: Vec<String> = case.extra_trailers.iter().map(|key| (*key).to_owned()).collect();
    let agents: Vec<(String, String)> =
        case.agents.iter().map(|(email, id)| ((*email).to_owned(), (*id).to_owned())).collect();
    let config = DetectConfig::new(&extra, &agents);

    let scan = scan_commit(&commit, &config);

    let actual_humans: Vec<String> = scan.human_co_authors.iter().map(|who| who.email.clone()).collect();
    let expected_humans: Vec<String> = case.humans.iter().map(|email| (*email).to_owned()).collect();
    let actual = render(&render_signals(&scan.signals), &actual_humans, scan.declared_none);
    let expected = render(&normalize_expect(case.expect), &expected_humans, case.declared_none);
    assert_eq!(actual, expected, "case `{name}`: scan differs (left: actual, right: expected)\nmessage:\n{message}");

    // Signals keep the exact text they were read from: a trimmed message line or the identity.
    let mut sources: Vec<String> = message.lines().map(|line| line.trim().to_owned()).collect();
    sources.push(format!("author: {author}"));
    sources.push(format!("committer: {committer}"));
    for signal in &scan.signals {
        assert!(
            !signal.text.is_empty() && sources.contains(&signal.text),
            "case `{name}`: signal text {:?} is not an exact line of the message or identity\n{signal:?}",
            signal.text
        );
    }

    // Commit scans yield no contextual signal, so any signal marks the commit.
    let any = !case.expect.trim().is_empty();
    assert_eq!(scan.ai_assisted(false), any, "case `{name}`: ai_assisted(false)");
    assert_eq!(scan.ai_assisted(true), any, "case `{name}`: ai_assisted(true)");
}

macro_rules! cases {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), $case);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Claude Code
// ---------------------------------------------------------------------------------------------

cases! {
    claude_default_coauthor_trailer: Case {
        message: &[
            "Fix off-by-one in pager when the last page is partial",
            "",
            "The final page was dropped when the item count was an exact multiple",
            "of the page size. Compute the page count with div_ceil instead.",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    claude_model_name_opus_1m_context: Case {
        message: &[
            "Add streaming support to the export endpoint",
            "",
            "Large exports no longer buffer the whole result set in memory.",
            "",
            "Co-Authored-By: Claude Opus 4.6 (1M context) <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    claude_model_name_fable_5: Case {
        message: &[
            "refactor(auth): split token refresh out of the middleware",
            "",
            "Co-Authored-By: Claude Fable 5 <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    claude_footer_and_trailer: Case {
        message: &[
            "Handle SIGTERM gracefully in the worker pool",
            "",
            "Workers now finish their current job before exiting.",
            "",
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
            "",
            "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>",
        ],
        expect: "declared message claude-code; strong co-author claude-code",
        ..CASE
    };
    claude_footer_only: Case {
        message: &[
            "Add dark mode toggle to settings page",
            "",
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
        ],
        expect: "declared message claude-code",
        ..CASE
    };
    claude_footer_old_url: Case {
        message: &[
            "Update dependencies and fix deprecation warnings",
            "",
            "- bump clap to 4.5",
            "- replace deprecated `value_parser!` usages",
            "",
            "🤖 Generated with [Claude Code](https://claude.ai/code)",
        ],
        expect: "declared message claude-code",
        ..CASE
    };
    claude_footer_old_url_with_trailer: Case {
        message: &[
            "Fix race in cache invalidation",
            "",
            "🤖 Generated with [Claude Code](https://claude.ai/code)",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
        ],
        expect: "declared message claude-code; strong co-author claude-code",
        ..CASE
    };
    claude_session_trailer: Case {
        message: &[
            "Add retry budget to the HTTP client",
            "",
            "Claude-Session: https://claude.ai/code/session_011CUv3kTq9XeRz7bH2sNwYp",
        ],
        expect: "strong trailer claude-code",
        ..CASE
    };
    claude_session_with_coauthor: Case {
        message: &[
            "Migrate CI to the new runner images",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
            "Claude-Session: https://claude.ai/code/session_01HqZ4mXv8pLr2sT6yNcKd3B",
        ],
        expect: "strong co-author claude-code; strong trailer claude-code",
        ..CASE
    };
    claude_bot_author: Case {
        author: ("claude[bot]", "209825114+claude[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &[
            "fix: handle empty config file without panicking",
            "",
            "Return the default configuration when the file exists but is empty.",
            "",
            "Co-authored-by: Jane Doe <jane@example.com>",
        ],
        expect: "strong identity claude",
        humans: &["jane@example.com"],
        ..CASE
    };
    claude_bot_author_and_committer: Case {
        author: ("claude[bot]", "209825114+claude[bot]@users.noreply.github.com"),
        message: &["docs: fix broken links in CONTRIBUTING.md"],
        expect: "strong identity claude; strong identity claude",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// GitHub Copilot
// ---------------------------------------------------------------------------------------------

cases! {
    copilot_agent_initial_plan_identity_only: Case {
        author: COPILOT_AGENT,
        committer: Some(WEB_FLOW),
        message: &["Initial plan"],
        expect: "strong identity copilot-agent",
        ..CASE
    };
    copilot_swe_agent_bot_identity: Case {
        author: ("copilot-swe-agent[bot]", "198982749+Copilot@users.noreply.github.com"),
        message: &[
            "Fix flaky timeout in integration tests",
            "",
            "Co-authored-by: monalisa <2+monalisa@users.noreply.github.com>",
        ],
        expect: "strong identity copilot-agent; strong identity copilot-agent",
        humans: &[MONALISA],
        ..CASE
    };
    copilot_agent_logs_url_and_assigning_human: Case {
        author: COPILOT_AGENT,
        committer: Some(WEB_FLOW),
        message: &[
            "Add exponential backoff to webhook retries",
            "",
            "Retries now wait 2^n seconds, capped at five minutes, and give up after",
            "eight attempts.",
            "",
            "Co-authored-by: monalisa <2+monalisa@users.noreply.github.com>",
            "Agent-Logs-Url: https://github.com/acme/webhooks/sessions/5e1f8c2a-93d4-4b7e-a6f0-2c8d1e9b7a34",
        ],
        expect: "strong identity copilot-agent; strong trailer copilot-agent",
        humans: &[MONALISA],
        ..CASE
    };
    copilot_agent_squash_merge: Case {
        author: ("monalisa", "2+monalisa@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &[
            "Add exponential backoff to webhook retries (#57)",
            "",
            "* Initial plan",
            "",
            "* Add exponential backoff to webhook retries",
            "",
            "Co-authored-by: monalisa <2+monalisa@users.noreply.github.com>",
            "Agent-Logs-Url: https://github.com/acme/webhooks/sessions/5e1f8c2a-93d4-4b7e-a6f0-2c8d1e9b7a34",
            "",
            "---------",
            "",
            "Co-authored-by: copilot-swe-agent[bot] <198982749+Copilot@users.noreply.github.com>",
            "Co-authored-by: monalisa <2+monalisa@users.noreply.github.com>",
        ],
        expect: "strong trailer copilot-agent; strong co-author copilot-agent",
        humans: &[MONALISA],
        ..CASE
    };
    copilot_review_suggestion: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Apply suggestions from code review",
            "",
            "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
        ],
        expect: "strong co-author copilot",
        ..CASE
    };
    copilot_autofix_powered_by_ai: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Potential fix for code scanning alert no. 12: Uncontrolled data used in path expression",
            "",
            "Co-authored-by: Copilot Autofix powered by AI <175728472+Copilot@users.noreply.github.com>",
        ],
        expect: "strong co-author copilot",
        ..CASE
    };
    copilot_autofix_code_quality_bot_coauthor: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Potential fix for code quality finding: unused import",
            "",
            "Co-authored-by: Copilot Autofix powered by AI <223894421+github-code-quality[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author copilot-autofix",
        ..CASE
    };
    copilot_code_quality_bot_author: Case {
        author: ("github-code-quality[bot]", "223894421+github-code-quality[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &["Remove unused variable in report builder"],
        expect: "strong identity copilot-autofix",
        ..CASE
    };
    copilot_cli_trailer: Case {
        message: &[
            "Add --json output to the status command",
            "",
            "Co-authored-by: Copilot <223556219+Copilot@users.noreply.github.com>",
        ],
        expect: "strong co-author copilot-cli",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// OpenAI Codex
// ---------------------------------------------------------------------------------------------

cases! {
    codex_noreply_trailer: Case {
        message: &[
            "Add CSV export for invoices",
            "",
            "Exports use RFC 4180 quoting and a UTF-8 BOM for spreadsheet apps.",
            "",
            "Co-authored-by: Codex <noreply@openai.com>",
        ],
        expect: "strong co-author codex",
        ..CASE
    };
    codex_codex_email_trailer: Case {
        message: &[
            "Tighten validation of webhook signatures",
            "",
            "Co-authored-by: Codex <codex@openai.com>",
        ],
        expect: "strong co-author codex",
        ..CASE
    };
    codex_openai_codex_bot_trailer: Case {
        message: &[
            "Cache compiled templates between requests",
            "",
            "Co-authored-by: Codex <199175422+openai-codex[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author codex",
        ..CASE
    };
    codex_invented_emails: Case {
        message: &[
            "Port the scheduler to tokio",
            "",
            "Co-authored-by: Codex <208897398+openai-codex[bot]@users.noreply.github.com>",
            "Co-authored-by: openai-codex[bot] <215014543+openai-codex[bot]@users.noreply.github.com>",
            "Co-authored-by: Codex <codex-cli@openai.com>",
            "Co-authored-by: OpenAI Codex <217338502+codex[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author codex; strong co-author codex; declared co-author codex; declared co-author codex",
        ..CASE
    };
    codex_connector_bot_author: Case {
        author: ("chatgpt-codex-connector[bot]", "199175422+chatgpt-codex-connector[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &["Apply review suggestion: guard against empty slice"],
        expect: "strong identity codex",
        ..CASE
    };
    codex_cloud_commit_has_no_marker: Case {
        message: &[
            "Add pagination to the audit log endpoint",
            "",
            "Cursor-based pagination with a default page size of 50.",
        ],
        expect: "",
        ..CASE
    };
    codex_generated_with_directly_above_coauthor: Case {
        message: &[
            "Add rate limiting to the public API",
            "",
            "Token bucket per API key, 100 requests per minute.",
            "",
            "Generated with Codex",
            "Co-Authored-By: Codex <noreply@openai.com>",
        ],
        expect: "declared message codex; strong co-author codex",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------

cases! {
    cursor_coauthor_trailer: Case {
        message: &[
            "Fix hydration mismatch on the pricing page",
            "",
            "Co-authored-by: Cursor <cursoragent@cursor.com>",
        ],
        expect: "strong co-author cursor",
        ..CASE
    };
    cursor_made_with_trailer: Case {
        message: &[
            "Add Storybook stories for the Button component",
            "",
            "Made-with: Cursor",
        ],
        expect: "declared trailer cursor",
        ..CASE
    };
    cursor_made_with_and_coauthor: Case {
        message: &[
            "Extract shared form validation hooks",
            "",
            "Made-with: Cursor",
            "Co-authored-by: Cursor <cursoragent@cursor.com>",
        ],
        expect: "declared trailer cursor; strong co-author cursor",
        ..CASE
    };
    cursor_cloud_agent_author: Case {
        author: ("Cursor Agent", "cursoragent@cursor.com"),
        message: &[
            "Add agent rules and settings",
            "",
            "Co-authored-by: Jane Doe <jane@example.com>",
        ],
        expect: "strong identity cursor; strong identity cursor",
        humans: &["jane@example.com"],
        ..CASE
    };
    cursor_other_addresses: Case {
        message: &[
            "Convert config loader to async",
            "",
            "Co-authored-by: Cursor <noreply@cursor.com>",
            "Co-authored-by: Cursor Agent <bot@cursor.com>",
        ],
        expect: "strong co-author cursor; strong co-author cursor",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Aider
// ---------------------------------------------------------------------------------------------

cases! {
    aider_trailer_aider_chat: Case {
        message: &[
            "feat: Add --dry-run option to the sync command",
            "",
            "Co-authored-by: aider (anthropic/claude-sonnet-4-20250514) <aider@aider.chat>",
        ],
        expect: "strong co-author aider",
        ..CASE
    };
    aider_trailer_noreply_aider_chat: Case {
        message: &[
            "fix: Handle missing timezone in parse_date",
            "",
            "Co-authored-by: aider (gpt-4o) <noreply@aider.chat>",
        ],
        expect: "strong co-author aider",
        ..CASE
    };
    aider_trailer_aider_dev: Case {
        message: &[
            "refactor: Simplify retry loop in fetch_feed",
            "",
            "Co-authored-by: aider (deepseek/deepseek-chat) <noreply@aider.dev>",
        ],
        expect: "strong co-author aider",
        ..CASE
    };
    aider_suffix_on_author_and_committer: Case {
        author: ("Jane Doe (aider)", "jane@example.com"),
        message: &["feat: Add --dry-run option to the sync command"],
        expect: "strong identity aider",
        ..CASE
    };
    aider_suffix_on_committer_only_is_human: Case {
        committer: Some(("Jane Doe (aider)", "jane@example.com")),
        message: &["fix: Correct typo in README installation section"],
        expect: "",
        ..CASE
    };
    aider_subject_prefix: Case {
        message: &[
            "aider: Added retry logic to fetch_feed",
            "",
            "# Aider chat conversation:",
            "",
            "USER: add retries to fetch_feed",
        ],
        expect: "declared message aider",
        ..CASE
    };
    aider_subject_prefix_and_suffix: Case {
        author: ("Jane Doe (aider)", "jane@example.com"),
        message: &["aider: Refactored parse_args to use argparse subcommands"],
        expect: "strong identity aider; declared message aider",
        ..CASE
    };
    aider_prefix_outside_subject: Case {
        message: &[
            "Document the aider workflow",
            "",
            "Explain how to start a session:",
            "aider: run it from the repository root and /add the files to edit",
        ],
        expect: "",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Devin, Jules, OpenHands, OpenCode, Gemini, Amazon Q, Sweep
// ---------------------------------------------------------------------------------------------

cases! {
    devin_bot_identity: Case {
        author: ("devin-ai-integration[bot]", "158243242+devin-ai-integration[bot]@users.noreply.github.com"),
        message: &[
            "Add health check endpoint",
            "",
            "Co-Authored-By: Jane Doe <jane@example.com>",
        ],
        expect: "strong identity devin; strong identity devin",
        humans: &["jane@example.com"],
        ..CASE
    };
    devin_coauthor_trailer: Case {
        message: &[
            "Upgrade Next.js to 15 and fix type errors",
            "",
            "Co-Authored-By: Devin <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author devin",
        ..CASE
    };
    devin_cognition_email_author: Case {
        author: ("Devin AI", "noreply@cognition.ai"),
        committer: Some(JANE),
        message: &["Fix N+1 query in the orders list"],
        expect: "strong identity devin",
        ..CASE
    };
    devin_cli_footer: Case {
        message: &[
            "Refactor settings loader into its own module",
            "",
            "Generated with [Devin](https://cli.devin.ai/docs)",
            "",
            "Co-Authored-By: Devin <158243242+devin-ai-integration[bot]@users.noreply.github.com>",
        ],
        expect: "declared message devin; strong co-author devin",
        ..CASE
    };
    jules_bot_author: Case {
        author: ("google-labs-jules[bot]", "161369871+google-labs-jules[bot]@users.noreply.github.com"),
        message: &[
            "Add unit tests for the tokenizer",
            "",
            "Covers escaped quotes and unterminated strings.",
        ],
        expect: "strong identity jules; strong identity jules",
        ..CASE
    };
    jules_coauthor: Case {
        message: &[
            "Fix memory leak in image cache",
            "",
            "Co-authored-by: google-labs-jules[bot] <161369871+google-labs-jules[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author jules",
        ..CASE
    };
    openhands_trailer: Case {
        message: &[
            "Fix failing lint in utils/strings.py",
            "",
            "Co-authored-by: openhands <openhands@all-hands.dev>",
        ],
        expect: "strong co-author openhands",
        ..CASE
    };
    openhands_fallback_identity: Case {
        author: ("openhands", "openhands@all-hands.dev"),
        message: &["Add missing docstrings to the public API"],
        expect: "strong identity openhands; strong identity openhands",
        ..CASE
    };
    opencode_trailer: Case {
        message: &[
            "Add SQLite migration for user preferences",
            "",
            "Co-Authored-By: opencode <noreply@opencode.ai>",
        ],
        expect: "strong co-author opencode",
        ..CASE
    };
    gemini_improvised_trailer: Case {
        message: &[
            "Improve error messages for invalid YAML",
            "",
            "Co-Authored-By: Gemini <gemini@google.com>",
        ],
        expect: "declared co-author gemini",
        ..CASE
    };
    amazon_q_bot_author: Case {
        author: ("amazon-q-developer[bot]", "208079219+amazon-q-developer[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &["Add input validation to the Lambda handler"],
        expect: "strong identity amazon-q",
        ..CASE
    };
    sweep_bot_author: Case {
        author: ("sweep-ai[bot]", "128439645+sweep-ai[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &["Sweep: Add type hints to config.py"],
        expect: "strong identity sweep",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Project conventions: Assisted-by, Generated-by, policy trailers, directory agents
// ---------------------------------------------------------------------------------------------

cases! {
    kernel_assisted_by: Case {
        message: &[
            "mm/slub: fix double free in kmem_cache_destroy()",
            "",
            "When the cache is destroyed while a sysfs read is in flight, the",
            "release callback frees the name a second time.",
            "",
            "Fixes: 1f2e3d4c5b6a (\"mm/slub: move sysfs release into a callback\")",
            "Assisted-by: Claude:claude-3-opus coccinelle sparse",
            "Signed-off-by: Jane Doe <jane@example.com>",
        ],
        expect: "declared trailer claude-code",
        ..CASE
    };
    fedora_assisted_by_generic_chatbot: Case {
        message: &[
            "Update spec file for 2.4.1",
            "",
            "Assisted-by: generic LLM chatbot",
        ],
        expect: "declared trailer -",
        ..CASE
    };
    fedora_assisted_by_chatgptv5: Case {
        message: &[
            "Fix FTBFS with GCC 15",
            "",
            "Assisted-By: ChatGPTv5",
        ],
        expect: "declared trailer chatgpt",
        ..CASE
    };
    llvm_assisted_by: Case {
        message: &[
            "[clang] Fix crash on invalid constexpr lambda capture",
            "",
            "Assisted-by: GitHub Copilot",
        ],
        expect: "declared trailer copilot",
        ..CASE
    };
    asf_generated_by: Case {
        message: &[
            "KAFKA-17512: Add metrics for remote log reader",
            "",
            "Generated-by: Claude Code 2.0.14",
            "",
            "Reviewers: Jane Doe <jane@example.com>",
        ],
        expect: "declared trailer claude-code",
        ..CASE
    };
    openstack_generated_by_and_assisted_by: Case {
        message: &[
            "Add unit tests for the placement allocation helper",
            "",
            "Generated-By: claude-sonnet-4",
            "Assisted-By: gemini-2.5-pro",
            "Change-Id: I3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b7c8d9e0f",
        ],
        expect: "declared trailer claude-code; declared trailer gemini",
        ..CASE
    };
    assisted_by_none_declares_no_ai: Case {
        message: &[
            "Fix typo in the man page",
            "",
            "Assisted-by: none",
            "Signed-off-by: Jane Doe <jane@example.com>",
        ],
        expect: "",
        declared_none: true,
        ..CASE
    };
    assisted_by_none_case_variant: Case {
        message: &[
            "Rework the build matrix",
            "",
            "Assisted-By: None",
        ],
        expect: "",
        declared_none: true,
        ..CASE
    };
    policy_trailer_configured: Case {
        message: &[
            "Add retry to S3 uploads",
            "",
            "Acme-AI: copilot",
        ],
        extra_trailers: &["Acme-AI"],
        expect: "declared trailer copilot",
        ..CASE
    };
    policy_trailer_not_configured: Case {
        message: &[
            "Add retry to S3 uploads",
            "",
            "Acme-AI: copilot",
        ],
        expect: "",
        ..CASE
    };
    policy_trailer_configured_none: Case {
        message: &[
            "Add retry to S3 uploads",
            "",
            "Acme-AI: none",
        ],
        extra_trailers: &["acme-ai"],
        expect: "",
        declared_none: true,
        ..CASE
    };
    directory_agent_author: Case {
        author: ("Acme Release Agent", "release-agent@acme.dev"),
        committer: Some(JANE),
        message: &["chore(release): 3.2.0"],
        agents: &[("release-agent@acme.dev", "acme-release")],
        expect: "strong identity acme-release",
        ..CASE
    };
    directory_agent_coauthor: Case {
        message: &[
            "Rotate staging database credentials",
            "",
            "Co-authored-by: Ops Agent <ops-agent@acme.dev>",
        ],
        agents: &[("ops-agent@acme.dev", "ops-agent")],
        expect: "strong co-author ops-agent",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Traps (ai-markers.md §6)
// ---------------------------------------------------------------------------------------------

cases! {
    trap_squash_bullet_markers: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Add rate limiter middleware (#1024)",
            "",
            "* Add token bucket implementation",
            "* Co-authored-by: Cursor <cursoragent@cursor.com>",
            "* Wire limiter into the middleware stack",
            "",
            "  Co-authored-by: Claude <noreply@anthropic.com>",
            "    Made-with: Cursor",
        ],
        expect: "strong co-author cursor; strong co-author claude-code; declared trailer cursor",
        ..CASE
    };
    trap_dashes_above_trailers: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Migrate config loader to serde (#88)",
            "",
            "* Migrate config loader",
            "",
            "* Drop the hand-written parser",
            "",
            "---------",
            "Co-authored-by: Codex <noreply@openai.com>",
            "Co-authored-by: John Smith <john@example.com>",
        ],
        expect: "strong co-author codex",
        humans: &["john@example.com"],
        ..CASE
    };
    trap_squash_bullets_after_trailers: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Fix flaky login test (#301)",
            "",
            "Co-authored-by: John Smith <john@example.com>",
            "",
            "* Retry login on 502",
            "* Co-Authored-By: Claude <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        humans: &["john@example.com"],
        ..CASE
    };
    trap_squash_reemits_coauthor_with_other_casing: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Add OpenTelemetry tracing (#412)",
            "",
            "* Add tracing spans to the request handler",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
            "",
            "---------",
            "",
            "Co-authored-by: Claude <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    trap_uppercase_trailer: Case {
        message: &[
            "Fix Windows path handling in the installer",
            "",
            "CO-AUTHORED-BY: CLAUDE <NOREPLY@ANTHROPIC.COM>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    trap_lowercase_trailers: Case {
        message: &[
            "Add retry jitter",
            "",
            "co-authored-by: cursor <cursoragent@cursor.com>",
            "ASSISTED-BY: Copilot",
        ],
        expect: "strong co-author cursor; declared trailer copilot",
        ..CASE
    };
    trap_dozen_duplicated_trailers: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Rewrite the importer (#640)",
            "",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Claude <noreply@anthropic.com>",
        ],
        expect: "strong co-author claude-code",
        ..CASE
    };
    trap_several_ai_and_human_coauthors: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Overhaul the search indexer (#777)",
            "",
            "---------",
            "",
            "Co-authored-by: Claude <noreply@anthropic.com>",
            "Co-authored-by: Codex <codex@openai.com>",
            "Co-authored-by: Cursor <cursoragent@cursor.com>",
            "Co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
            "Co-authored-by: John Smith <john@example.com>",
        ],
        expect: "strong co-author claude-code; strong co-author codex; strong co-author cursor; strong co-author copilot",
        humans: &["john@example.com"],
        ..CASE
    };
    trap_revert_without_marker: Case {
        message: &[
            "Revert \"Add CSV export for invoices\"",
            "",
            "This reverts commit 3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b7c8d9e0f.",
        ],
        expect: "",
        ..CASE
    };
    trap_revert_with_agent_trailer: Case {
        message: &[
            "Revert \"Add CSV export for invoices\"",
            "",
            "This reverts commit 3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b7c8d9e0f.",
            "The export timed out on large accounts.",
            "",
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
        ],
        expect: "declared message claude-code; strong co-author claude-code",
        ..CASE
    };
    trap_revert_of_aider_subject: Case {
        message: &[
            "Revert \"aider: Added retry logic to fetch_feed\"",
            "",
            "This reverts commit 0b1c2d3e4f5a6b7c8d9e0f3f2a9c1e5b7d4e8f9a.",
        ],
        expect: "",
        ..CASE
    };
    // A merge's message is evidence like any other commit's: someone wrote it, and a conflict
    // resolution can carry new content.
    merge_commit_message_counts: Case {
        committer: Some(WEB_FLOW),
        parents: 2,
        message: &[
            "Merge pull request #77 from acme/claude/fix-auth-redirect",
            "",
            "Fix auth redirect loop",
            "",
            "🤖 Generated with [Claude Code](https://claude.com/claude-code)",
            "",
            "Co-Authored-By: Claude <noreply@anthropic.com>",
            "Co-authored-by: John Smith <john@example.com>",
        ],
        expect: "declared message claude-code; strong co-author claude-code",
        humans: &["john@example.com"],
        ..CASE
    };
    trap_merge_branch_message: Case {
        parents: 2,
        message: &["Merge branch 'copilot/fix-flaky-test' into main"],
        expect: "",
        ..CASE
    };
    trap_dependabot_author: Case {
        author: ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &[
            "Bump serde from 1.0.210 to 1.0.215",
            "",
            "Bumps [serde](https://github.com/serde-rs/serde) from 1.0.210 to 1.0.215.",
            "- [Release notes](https://github.com/serde-rs/serde/releases)",
            "- [Commits](https://github.com/serde-rs/serde/compare/v1.0.210...v1.0.215)",
            "",
            "---",
            "updated-dependencies:",
            "- dependency-name: serde",
            "  dependency-version: 1.0.215",
            "  dependency-type: direct:production",
            "  update-type: version-update:semver-patch",
            "...",
            "",
            "Signed-off-by: dependabot[bot] <support@github.com>",
        ],
        expect: "",
        ..CASE
    };
    trap_renovate_author: Case {
        author: ("renovate[bot]", "29139614+renovate[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &[
            "chore(deps): update rust crate tokio to v1.41.1 (#230)",
            "",
            "Co-authored-by: renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>",
        ],
        expect: "",
        ..CASE
    };
    trap_github_actions_author: Case {
        author: ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"),
        message: &["Update generated API docs [skip ci]"],
        expect: "",
        ..CASE
    };
    trap_pre_commit_ci_author: Case {
        author: ("pre-commit-ci[bot]", "66853113+pre-commit-ci[bot]@users.noreply.github.com"),
        message: &[
            "[pre-commit.ci] auto fixes from pre-commit.com hooks",
            "",
            "for more information, see https://pre-commit.ci",
        ],
        expect: "",
        ..CASE
    };
    trap_web_flow_committer: Case {
        committer: Some(WEB_FLOW),
        message: &["Update README.md"],
        expect: "",
        ..CASE
    };
    trap_human_named_claude: Case {
        message: &[
            "Translate the onboarding guide to French",
            "",
            "Co-authored-by: Claude Martin <claude@example.com>",
        ],
        expect: "",
        humans: &["claude@example.com"],
        ..CASE
    };
    trap_human_named_claude_at_anthropic: Case {
        // §2: the Claude trailer is recognised by `<noreply@anthropic.com>`; a person named Claude
        // with a personal anthropic.com address is a human co-author.
        message: &[
            "Fix typo in the SDK quickstart",
            "",
            "Co-authored-by: Claude Dupont <claude.dupont@anthropic.com>",
        ],
        expect: "",
        humans: &["claude.dupont@anthropic.com"],
        ..CASE
    };
    trap_human_named_copilot_author: Case {
        author: ("Marco Copilot", "marco.copilot@gmail.com"),
        message: &["Fix rounding in the invoice total"],
        expect: "",
        ..CASE
    };
    trap_human_named_cursor_coauthor: Case {
        message: &[
            "Add keyboard shortcuts to the editor",
            "",
            "Co-authored-by: Cursor Lee <cursor.lee@gmail.com>",
        ],
        expect: "",
        humans: &["cursor.lee@gmail.com"],
        ..CASE
    };
    trap_coauthor_name_without_email: Case {
        message: &[
            "Clean up logging",
            "",
            "Co-authored-by: Claude",
        ],
        expect: "",
        ..CASE
    };
    trap_marker_only_in_diff: Case {
        message: &[
            "Add prepare-commit-msg hook for contributors",
            "",
            "The hook appends the team's attribution footer template to every",
            "commit message. See docs/contributing.md.",
        ],
        files: &[".githooks/prepare-commit-msg", "docs/contributing.md", "src/generated/claude_code_footer.rs"],
        expect: "",
        ..CASE
    };
    trap_tool_names_in_prose: Case {
        message: &[
            "Document how we use Claude and Copilot",
            "",
            "Add docs/ai.md. Claude Code and GitHub Copilot are allowed for tests;",
            "copilot suggestions must be reviewed like any other patch. Setup steps",
            "are at https://claude.ai/code and in the Cursor docs.",
        ],
        expect: "",
        ..CASE
    };
    trap_generated_by_a_script: Case {
        message: &[
            "Regenerate protobuf bindings",
            "",
            "Generated by a script",
            "Generated with cargo-dist 0.22.1",
        ],
        expect: "",
        ..CASE
    };
}

// ---------------------------------------------------------------------------------------------
// Branch names (§3) and contextual signals
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn check_branch(branch: &str, expect: Option<&str>) {
    let actual = scan_branch(branch);
    let rendered = actual.as_ref().map(|signal| {
        format!("{} {} {}", signal.strength.as_str(), signal.kind.as_str(), signal.tool.as_deref().unwrap_or("-"))
    });
    assert_eq!(rendered.as_deref(), expect, "branch `{branch}`");
    if let Some(signal) = actual {
        let short = branch.strip_prefix("refs/heads/").unwrap_or(branch);
        assert_eq!(signal.text, format!("branch {short}"), "branch `{branch}`: signal text");
    }
}

#[test]
fn branch_claude() {
    check_branch("claude/repo-attribution-config-9j2nc3", Some("contextual branch claude-code"));
}

#[test]
fn branch_copilot() {
    check_branch("copilot/fix-flaky-timeout-in-integration-tests", Some("contextual branch copilot-agent"));
}

#[test]
fn branch_codex() {
    check_branch("codex/add-csv-export-for-invoices", Some("contextual branch codex"));
}

#[test]
fn branch_cursor() {
    check_branch("cursor/agent-rules-and-settings", Some("contextual branch cursor"));
}

#[test]
fn branch_full_ref() {
    check_branch("refs/heads/claude/x", Some("contextual branch claude-code"));
}

#[test]
fn branch_normal_feature() {
    check_branch("feature/x", None);
    check_branch("main", None);
}

#[test]
fn branch_prefix_must_be_a_path_segment() {
    check_branch("claude-fix-login", None);
    check_branch("feature/claude/x", None);
}

#[test]
fn contextual_signal_counts_only_when_allowed() {
    // A Codex cloud commit: the human's identity, no trailer; only the branch shows it.
    let commit = Commit {
        id: "0b1c2d3e4f5a6b7c8d9e0f3f2a9c1e5b7d4e8f9a".to_owned(),
        parents: vec![format!("{:040x}", 1)],
        author: identity(JANE),
        committer: identity(JANE),
        time: 1_767_225_600,
        message: "Add pagination to the audit log endpoint\n\nCursor-based pagination.\n".to_owned(),
        files: Vec::new(),
    };
    let mut scan = scan_commit(&commit, &DetectConfig::default());
    assert!(scan.signals.is_empty(), "{scan:?}");
    assert!(!scan.ai_assisted(false) && !scan.ai_assisted(true));
    scan.signals.extend(scan_branch("codex/add-audit-log-pagination"));
    assert_eq!(scan.signals.len(), 1);
    assert_eq!(scan.signals[0].strength, Strength::Contextual);
    assert!(!scan.ai_assisted(false), "a branch prefix alone must not count unless the policy says so");
    assert!(scan.ai_assisted(true), "a branch prefix counts when contextual signals are allowed");
}

#[test]
fn declared_signal_counts_without_context() {
    let scan = CommitScan {
        signals: vec![Signal {
            kind: countersign_core::detect::SignalKind::Trailer,
            tool: None,
            strength: Strength::Declared,
            text: "Assisted-by: generic LLM chatbot".to_owned(),
        }],
        ..CommitScan::default()
    };
    assert!(scan.ai_assisted(false));
    assert!(scan.ai_assisted(true));
    assert!(!CommitScan::default().ai_assisted(true));
}

// ---------------------------------------------------------------------------------------------
// Markers of 2026 (real examples; facts and sources in src/markers.rs)
// ---------------------------------------------------------------------------------------------

cases! {
    claude_code_action_bot_with_github_actions_id: Case {
        author: ("claude[bot]", "41898282+claude[bot]@users.noreply.github.com"),
        message: &[
            "Fix typo in the install guide",
            "",
            "Co-authored-by: Ashwin Bhat <ashwin-ant@users.noreply.github.com>",
        ],
        expect: "strong identity claude; strong identity claude",
        humans: &["ashwin-ant@users.noreply.github.com"],
        ..CASE
    };
    claude_code_action_bot_with_its_own_id: Case {
        author: ("claude[bot]", "209825114+claude[bot]@users.noreply.github.com"),
        message: &["Update the README"],
        expect: "strong identity claude; strong identity claude",
        ..CASE
    };
    cursor_app_bot: Case {
        author: ("cursor[bot]", "206951365+cursor[bot]@users.noreply.github.com"),
        committer: Some(WEB_FLOW),
        message: &["Fix null check in the session loader"],
        expect: "strong identity cursor",
        ..CASE
    };
    cursor_local_agent_coauthor_and_made_with: Case {
        message: &[
            "Speed up the index build",
            "",
            "Co-authored-by: Cursor <cursoragent@cursor.com>",
            "Made-with: Cursor",
        ],
        expect: "strong co-author cursor; declared trailer cursor",
        ..CASE
    };
    gemini_code_assist_suggestion_applied: Case {
        committer: Some(WEB_FLOW),
        message: &[
            "Apply suggestion from @gemini-code-assist[bot]",
            "",
            "Co-authored-by: gemini-code-assist[bot] <176961590+gemini-code-assist[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author gemini-code-assist",
        ..CASE
    };
    renamed_app_is_caught_by_its_id: Case {
        message: &[
            "Apply suggestions from code review",
            "",
            "Co-authored-by: code-assist[bot] <176961590+code-assist[bot]@users.noreply.github.com>",
        ],
        expect: "strong co-author gemini-code-assist",
        ..CASE
    };
    jules_bot_author_with_its_id: Case {
        author: ("google-labs-jules[bot]", "161369871+google-labs-jules[bot]@users.noreply.github.com"),
        message: &["Add unit tests for the parser"],
        expect: "strong identity jules; strong identity jules",
        ..CASE
    };
    jules_noreply_coauthor: Case {
        message: &["Refactor the date helpers", "", "Co-authored-by: Jules <noreply@jules.google>"],
        expect: "declared co-author jules",
        ..CASE
    };
    kiro_agent_identity_without_bot_suffix: Case {
        author: ("Kiro Agent", "244629292+kiro-agent@users.noreply.github.com"),
        message: &["Implement the spec's task 3"],
        expect: "strong identity kiro; strong identity kiro",
        ..CASE
    };
    kiro_agent_coauthor: Case {
        message: &[
            "Add the settings page",
            "",
            "Co-authored-by: Kiro Agent <244629292+kiro-agent@users.noreply.github.com>",
        ],
        expect: "strong co-author kiro",
        ..CASE
    };
    amp_coauthor_and_thread: Case {
        message: &[
            "Cache compiled templates",
            "",
            "Co-authored-by: Amp <amp@ampcode.com>",
            "Amp-Thread-ID: https://ampcode.com/threads/T-652c6d27-8ae1-4e61-923d-a4d40071cb4b",
        ],
        expect: "strong co-author amp; strong trailer amp",
        ..CASE
    };
    amp_thread_alone: Case {
        message: &[
            "renderer: fix glyph cache eviction",
            "",
            "Amp-Thread-ID: https://ampcode.com/threads/T-019cb9fe-b11b-753f-99e7-8ecc52b73ec4",
        ],
        expect: "strong trailer amp",
        ..CASE
    };
    vscode_copilot_coauthor: Case {
        message: &["Rename the config loader", "", "Co-authored-by: Copilot <copilot@github.com>"],
        expect: "declared co-author copilot",
        ..CASE
    };
    replit_agent_checkpoint: Case {
        author: ("admin3304", "44164221-admin3304@users.noreply.replit.com"),
        message: &[
            "Add booking form validation",
            "",
            "Replit-Commit-Author: Agent",
            "Replit-Commit-Session-Id: c723f457-f9f7-4aa8-a936-b93747336b4b",
            "Replit-Commit-Checkpoint-Type: full_checkpoint",
            "Replit-Commit-Event-Id: ef4d1ed6-2cf2-4451-be58-1a4e34fcb1da",
        ],
        expect: "strong trailer replit",
        ..CASE
    };
    replit_deployment_is_not_authoring: Case {
        message: &["Published your App", "", "Replit-Commit-Author: Deployment"],
        expect: "",
        ..CASE
    };
    ai_assisted_true_trailer: Case {
        message: &[
            "Tune the retry backoff",
            "",
            "Co-authored-by: Jane Doe <jane@example.com>",
            "Ai-assisted: true",
        ],
        expect: "declared trailer -",
        humans: &["jane@example.com"],
        ..CASE
    };
    ai_assisted_false_declares_none: Case {
        message: &["Tune the retry backoff", "", "AI-Assisted: false"],
        expect: "",
        declared_none: true,
        ..CASE
    };
    ai_generated_and_ai_tool_trailers: Case {
        message: &["Add a CSV export", "", "AI-Generated: claude-sonnet-4", "AI-Tool: copilot"],
        expect: "declared trailer claude-code; declared trailer copilot",
        ..CASE
    };
    qwen_code_coauthor: Case {
        message: &["Add health check", "", "Co-authored-by: Qwen-Coder <qwen-coder@alibabacloud.com>"],
        expect: "strong co-author qwen-code",
        ..CASE
    };
    roo_code_coauthor: Case {
        message: &["Fix the flaky e2e test", "", "Co-authored-by: Roo Code <roomote@roocode.com>"],
        expect: "strong co-author roo-code",
        ..CASE
    };
    entire_checkpoint_family: Case {
        message: &["Wire the billing webhook", "", "Entire-Session: 2026-11-19-3f1c", "Entire-Agent: claude-code"],
        expect: "declared trailer entire; declared trailer entire",
        ..CASE
    };
    bot_login_in_prose_is_not_a_signal: Case {
        message: &[
            "Update the contributing guide",
            "",
            "Skip the CLA check for copilot-swe-agent[bot] and google-labs-jules[bot], which",
            "sign through their organisations.",
        ],
        expect: "",
        ..CASE
    };
    vendor_address_in_prose_without_brackets_is_not_a_signal: Case {
        message: &["Document the bots", "", "Mail amp@ampcode.com or noreply@anthropic.com for help."],
        expect: "",
        ..CASE
    };
    github_actions_bot_alone_is_not_ai: Case {
        author: ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"),
        message: &["chore: update the changelog"],
        expect: "",
        ..CASE
    };
    a_word_that_contains_a_tool_name_does_not_name_it: Case {
        message: &["Add an example", "", "Assisted-by: sample-generator v2"],
        expect: "declared trailer -",
        ..CASE
    };
}
