//! git-ai notes (`refs/notes/ai`, the Git AI Standard 3.x), read line by line.

use countersign_core::notes::{AiNote, Writer, parse_git_ai};

/// One line per range: `path start-end writer`, writer `tool/model`, `tool` or `human`.
fn render(note: &AiNote) -> Vec<String> {
    note.files
        .iter()
        .flat_map(|(path, ranges)| {
            ranges.iter().map(move |range| {
                let writer = match &range.writer {
                    Writer::Ai { tool, model: Some(model) } => format!("{tool}/{model}"),
                    Writer::Ai { tool, model: None } => tool.clone(),
                    Writer::Human => "human".to_owned(),
                };
                format!("{path} {}-{} {writer}", range.start, range.end)
            })
        })
        .collect()
}

#[track_caller]
fn check(text: &str, expected: &[&str]) {
    let note = parse_git_ai(text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    assert_eq!(render(&note), expected, "{text}");
}

#[track_caller]
fn check_error(text: &str, expected: &str) {
    let error = parse_git_ai(text).expect_err(text);
    assert!(error.contains(expected), "{error}");
}

const SESSIONS: &str = r#"{
  "schema_version": "authorship/3.0.0",
  "git_ai_version": "1.6.22",
  "base_commit_sha": "9d2c51f0a7b3e4d6c8f1a2b3c4d5e6f7a8b9c0d1",
  "prompts": {},
  "humans": { "h_1a2b3c4d5e6f70": { "author": "Bob Tran <bob@shop.example>" } },
  "sessions": {
    "s_0f1e2d3c4b5a69": {
      "agent_id": { "tool": "claude", "id": "6a7b8c9d-0000-4e1f-9a2b-3c4d5e6f7a8b", "model": "claude-opus-4-8" },
      "human_author": "Bob Tran <bob@shop.example>"
    },
    "s_7a6b5c4d3e2f10": { "agent_id": { "tool": "codex", "id": "c0dec0de-1111-4222-8333-444455556666" } }
  }
}"#;

#[test]
fn sessions_and_humans_are_read_line_by_line() {
    let text = format!(
        "services/checkout/cart.py\n  s_0f1e2d3c4b5a69::t_aaaaaaaaaaaaaa 1-4,9\n  h_1a2b3c4d5e6f70 5-8\n\"docs/release notes.md\"\n  s_7a6b5c4d3e2f10::t_bbbbbbbbbbbbbb 2\n---\n{SESSIONS}"
    );
    check(
        &text,
        &[
            "docs/release notes.md 2-2 codex",
            "services/checkout/cart.py 1-4 claude/claude-opus-4-8",
            "services/checkout/cart.py 9-9 claude/claude-opus-4-8",
            "services/checkout/cart.py 5-8 human",
        ],
    );
    let note = parse_git_ai(&text).expect("a note");
    assert_eq!(note.ai_lines(), 6);
    let index = note.index();
    assert_eq!(
        index.writer_of("services/checkout/cart.py", 3),
        Some(&Writer::Ai { tool: "claude".to_owned(), model: Some("claude-opus-4-8".to_owned()) })
    );
    assert_eq!(index.writer_of("services/checkout/cart.py", 6), Some(&Writer::Human));
    // A line no entry names is untracked: the note does not say.
    assert_eq!(index.writer_of("services/checkout/cart.py", 10), None);
    assert_eq!(note.tools, [("claude".to_owned(), Some("claude-opus-4-8".to_owned())), ("codex".to_owned(), None)]);
}

#[test]
fn legacy_prompt_keys_are_read() {
    let text = r#"lib/util.rs
  4f1c2b3a9e8d7c6b 10-12
---
{"schema_version": "authorship/3.0.0", "base_commit_sha": "00", "prompts": {"4f1c2b3a9e8d7c6b": {"agent_id": {"tool": "cursor", "id": "x", "model": "gpt-5"}, "total_additions": 3, "total_deletions": 0, "accepted_lines": 3, "overriden_lines": 0, "messages": []}}}"#;
    check(text, &["lib/util.rs 10-12 cursor/gpt-5"]);
}

#[test]
fn a_note_without_line_ranges_starts_with_the_separator() {
    let note = parse_git_ai(&format!("---\n{SESSIONS}")).expect("a note");
    assert!(note.files.is_empty());
    assert_eq!(note.ai_lines(), 0);
}

#[test]
fn malformed_notes_say_why() {
    check_error("src/a.rs\n  s_x::t_y 1-2\n", "no `---` line");
    check_error(&format!("src/a.rs\n  s_unknown::t_y 1-2\n---\n{SESSIONS}"), "`s_unknown::t_y` is in no session");
    check_error(&format!("src/a.rs\n  s_0f1e2d3c4b5a69::t_y 4-2\n---\n{SESSIONS}"), "`4-2` is not a line range");
    check_error(&format!("  s_0f1e2d3c4b5a69::t_y 1\n---\n{SESSIONS}"), "line ranges before any file");
    check_error("---\n{\"schema_version\": \"authorship/2.0.0\", \"prompts\": {}}", "is not authorship/3.x");
    check_error("---\nnot json", "metadata");
}

#[test]
fn agent_trace_records_are_read() {
    use countersign_core::notes::parse_agent_trace;
    let record = r#"{"version": "0.1.0", "id": "550e8400-e29b-41d4-a716-446655440000", "timestamp": "2026-11-20T10:00:00Z",
  "vcs": {"type": "git", "revision": "9d2c51f0a7b3e4d6c8f1a2b3c4d5e6f7a8b9c0d1"}, "tool": {"name": "cursor", "version": "2.4.0"},
  "files": [
    {"path": "src/parser.ts", "conversations": [
      {"url": "https://example.invalid/c/1", "contributor": {"type": "ai", "model_id": "anthropic/claude-opus-4-5"},
       "ranges": [{"start_line": 42, "end_line": 67, "content_hash": "murmur3:9f2e8a1b"}, {"start_line": 70, "end_line": 70, "contributor": {"type": "human"}}]},
      {"contributor": {"type": "mixed"}, "ranges": [{"start_line": 80, "end_line": 90}]}
    ]}
  ]}"#;
    let note = parse_agent_trace(record).expect("a record");
    assert_eq!(render(&note), ["src/parser.ts 42-67 cursor/anthropic/claude-opus-4-5", "src/parser.ts 70-70 human"]);
    // One record per line, as the reference implementation appends them.
    let lines = format!(
        "{}\n{}\n",
        record.replace('\n', " "),
        r#"{"version": "1.0", "files": [{"path": "b.rs", "conversations": [{"contributor": {"type": "ai"}, "ranges": [{"start_line": 1, "end_line": 2}]}]}]}"#
    );
    let note = parse_agent_trace(&lines).expect("records");
    assert_eq!(note.ai_lines(), 28);
    assert!(note.tools.contains(&("agent-trace".to_owned(), None)), "{:?}", note.tools);
    assert!(parse_agent_trace("{\"files\": [{\"path\": \"a\", \"conversations\": [{\"contributor\": {\"type\": \"ai\"}, \"ranges\": [{\"start_line\": 5, \"end_line\": 2}]}]}]}").is_err());
    assert!(parse_agent_trace("not json").is_err());
}

#[test]
fn where_ranges_overlap_the_first_given_decides() {
    let text = format!(
        "a.py\n  s_0f1e2d3c4b5a69::t_aaaaaaaaaaaaaa 1-10\n  h_1a2b3c4d5e6f70 5-20\n  s_7a6b5c4d3e2f10::t_bbbbbbbbbbbbbb 15-30,40\n---\n{SESSIONS}"
    );
    let note = parse_git_ai(&text).expect("a note");
    let index = note.index();
    let writer = |line| match index.writer_of("a.py", line) {
        Some(Writer::Ai { tool, .. }) => tool.clone(),
        Some(Writer::Human) => "human".to_owned(),
        None => "-".to_owned(),
    };
    let lines = [1, 5, 10, 11, 20, 21, 30, 31, 39, 40, 41];
    let writers: Vec<String> = lines.iter().map(|&line| writer(line)).collect();
    assert_eq!(writers, ["claude", "claude", "claude", "human", "human", "codex", "codex", "-", "-", "codex", "-"]);
    assert_eq!(index.writer_of("b.py", 1), None);
}

#[test]
fn a_note_of_many_overlapping_ranges_is_indexed_without_quadratic_work() {
    // Range i covers i+1 ..= 100,000+i; a line is owned by the first range covering it.
    // Asked line by line over every range this would be 10^10 steps.
    const RANGES: u32 = 100_000;
    let writer_of = |index: u32| {
        if index.is_multiple_of(2) { Writer::Human } else { Writer::Ai { tool: "amp".to_owned(), model: None } }
    };
    let ranges = (0..RANGES)
        .map(|index| countersign_core::notes::NoteRange {
            start: index + 1,
            end: RANGES + index,
            writer: writer_of(index),
        })
        .collect();
    let note = AiNote { files: [("big.rs".to_owned(), ranges)].into(), tools: Vec::new() };
    let index = note.index();
    for line in 1..2 * RANGES {
        let owner = line.saturating_sub(RANGES);
        assert_eq!(index.writer_of("big.rs", line), Some(&writer_of(owner)), "line {line}");
    }
    assert_eq!(index.writer_of("big.rs", 2 * RANGES), None);
}
