//! The marks AI tools leave in commits, as data: adding a tool is one entry here and one case in
//! `tests/core/detect.rs` with a real example. Each entry says where the fact comes from (vendor
//! source or docs, or real commits); `ai-markers.md` has the longer notes.

use crate::detect::Strength;

/// Vendor e-mails, lowercase, matched exactly: an author, committer or co-author with one is the
/// tool (identities count only where git or a trailer puts them, never in prose).
pub(crate) const EMAILS: &[(&str, &str, Strength)] = &[
    ("noreply@anthropic.com", "claude-code", Strength::Strong),
    ("noreply@openai.com", "codex", Strength::Strong),
    ("codex@openai.com", "codex", Strength::Strong),
    ("cursoragent@cursor.com", "cursor", Strength::Strong),
    ("noreply@cursor.com", "cursor", Strength::Strong),
    ("bot@cursor.com", "cursor", Strength::Strong),
    ("aider@aider.chat", "aider", Strength::Strong),
    ("noreply@aider.chat", "aider", Strength::Strong),
    ("noreply@aider.dev", "aider", Strength::Strong),
    ("noreply@cognition.ai", "devin", Strength::Strong),
    ("openhands@all-hands.dev", "openhands", Strength::Strong),
    ("noreply@opencode.ai", "opencode", Strength::Strong),
    // Amp's default co-author (with `Amp-Thread-ID:`), e.g. ghostty-org/ghostty history.
    ("amp@ampcode.com", "amp", Strength::Strong),
    // Qwen Code's default co-author (QwenLM/qwen-code#2899, setting general.gitCoAuthor).
    ("qwen-coder@alibabacloud.com", "qwen-code", Strength::Strong),
    // Roo Code's co-author (roomote), seen in cline's own history.
    ("roomote@roocode.com", "roo-code", Strength::Strong),
    // Jules' documented "Jules <noreply@jules.google>" modes are known from one third-party
    // article only: a declaration, not proof.
    ("noreply@jules.google", "jules", Strength::Declared),
    // VS Code's `git.addAICoAuthor` (extensions/git/src/repository.ts). On by default for two
    // weeks in 2026 and reported on commits where Copilot was not used: a declaration.
    ("copilot@github.com", "copilot", Strength::Declared),
];

/// GitHub accounts of AI tools: login (lowercase), numeric user id (0 when not known) and tool.
/// A noreply address `<id>+<login>@users.noreply.github.com` is matched by its login and by its
/// id, so a renamed app is still caught. github-actions[bot]'s id (41898282), which
/// claude-code-action borrows for `claude[bot]`, is deliberately absent: the login decides there.
pub(crate) const BOTS: &[(&str, u64, &str)] = &[
    // anthropics/claude-code-action: `claude[bot]`, app user 209825114.
    ("claude[bot]", 209_825_114, "claude"),
    // The Copilot coding agent commits as `Copilot <198982749+Copilot@users.noreply.github.com>`.
    ("copilot-swe-agent[bot]", 198_982_749, "copilot-agent"),
    ("copilot", 175_728_472, "copilot"),
    ("copilot-cli", 223_556_219, "copilot-cli"),
    ("github-code-quality[bot]", 223_894_421, "copilot-autofix"),
    ("chatgpt-codex-connector[bot]", 0, "codex"),
    ("openai-codex[bot]", 0, "codex"),
    ("devin-ai-integration[bot]", 158_243_242, "devin"),
    ("google-labs-jules[bot]", 161_369_871, "jules"),
    ("amazon-q-developer[bot]", 208_079_219, "amazon-q"),
    ("sweep-ai[bot]", 0, "sweep"),
    // Cursor's GitHub app (chaoss/disclosure detection/constants.go).
    ("cursor[bot]", 206_951_365, "cursor"),
    // Its review suggestions land as `Co-authored-by: gemini-code-assist[bot] <176961590+…>`
    // when a human commits them from the pull request.
    ("gemini-code-assist[bot]", 176_961_590, "gemini-code-assist"),
    // Kiro commits as `Kiro Agent <244629292+kiro-agent@users.noreply.github.com>`: no `[bot]`
    // (kirodotdev/Kiro#5437); its GitHub app's id is from third-party lists only.
    ("kiro-agent", 244_629_292, "kiro"),
    ("kiro-agent[bot]", 245_459_735, "kiro"),
    ("roomote[bot]", 219_738_659, "roo-code"),
    ("cline[bot]", 205_137_888, "cline"),
];

/// Co-author names (lowercase prefix) that, with an address of the vendor's (suffix), name the
/// tool: tools that invent addresses per model or version.
pub(crate) const CO_AUTHOR_NAMES: &[(&str, &str, &str, Strength)] = &[
    // aider: `aider (<model>) <…@aider.chat|aider.dev>`.
    ("aider", "@aider.chat", "aider", Strength::Strong),
    ("aider", "@aider.dev", "aider", Strength::Strong),
    // Codex invents addresses (`…+openai-codex[bot]@…` with many ids, `…@openai.com`).
    ("codex", "@openai.com", "codex", Strength::Declared),
    ("openai codex", "@openai.com", "codex", Strength::Declared),
    ("codex", "[bot]@users.noreply.github.com", "codex", Strength::Declared),
    ("openai codex", "[bot]@users.noreply.github.com", "codex", Strength::Declared),
    // Gemini CLI writes nothing itself; users write `Gemini <gemini@google.com>` and the like.
    ("gemini", "@google.com", "gemini", Strength::Declared),
    ("cursor", "@cursor.com", "cursor", Strength::Strong),
    ("amp", "@ampcode.com", "amp", Strength::Strong),
];

/// What a trailer's value must be for the trailer to count.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value {
    /// Anything but empty.
    Any,
    /// Starts with this (lowercase) prefix.
    Prefix(&'static str),
    /// One of these (lowercase) words.
    OneOf(&'static [&'static str]),
    /// A yes/no declaration: `true`, `yes` count; `false`, `no`, `none` declare no AI.
    YesNo,
    /// A tool name or model, or a no-AI declaration such as `none`.
    ToolOrNone,
}

/// Trailer keys (lowercase) that mark AI assistance, with the tool when the key names it.
pub(crate) const TRAILERS: &[(&str, Value, Option<&str>, Strength)] = &[
    // The Linux kernel's `Assisted-by: AGENT:MODEL`, and `Generated-by:` (several detectors).
    ("assisted-by", Value::ToolOrNone, None, Strength::Declared),
    ("generated-by", Value::ToolOrNone, None, Strength::Declared),
    ("commit-generated-by", Value::ToolOrNone, None, Strength::Declared),
    ("ai-generated", Value::ToolOrNone, None, Strength::Declared),
    ("ai-tool", Value::ToolOrNone, None, Strength::Declared),
    // block/aittributor writes `Ai-assisted: true`; open-delivery-spec reads `AI-assisted`.
    ("ai-assisted", Value::YesNo, None, Strength::Declared),
    ("claude-session", Value::Any, Some("claude-code"), Strength::Strong),
    ("codex-session", Value::Any, Some("codex"), Strength::Declared),
    ("cursor-session", Value::Any, Some("cursor"), Strength::Declared),
    ("agent-logs-url", Value::Prefix("https://github.com/"), Some("copilot-agent"), Strength::Strong),
    ("made-with", Value::OneOf(&["cursor"]), Some("cursor"), Strength::Declared),
    // Amp: `Amp-Thread-ID: https://ampcode.com/threads/T-…`.
    ("amp-thread-id", Value::Prefix("https://ampcode.com/threads/"), Some("amp"), Strength::Strong),
    // Replit: `Replit-Commit-Author: Agent|Assistant` (`Deployment` is a deploy, not authoring).
    ("replit-commit-author", Value::OneOf(&["agent", "assistant"]), Some("replit"), Strength::Strong),
    // Entire's checkpoint trailers (chaoss/disclosure reads the family).
    ("entire-checkpoint", Value::Any, Some("entire"), Strength::Declared),
    ("entire-session", Value::Any, Some("entire"), Strength::Declared),
    ("entire-agent", Value::Any, Some("entire"), Strength::Declared),
    ("entire-strategy", Value::Any, Some("entire"), Strength::Declared),
    ("entire-metadata", Value::Any, Some("entire"), Strength::Declared),
];

/// Tool names accepted after `Generated with` / `Generated by` in a footer line.
pub(crate) const FOOTER_TOOLS: &[(&str, &str)] = &[
    ("claude code", "claude-code"),
    ("openai codex", "codex"),
    ("claude", "claude-code"),
    ("codex", "codex"),
    ("cursor", "cursor"),
    ("devin", "devin"),
    ("copilot", "copilot"),
    ("aider", "aider"),
    ("gemini", "gemini"),
    ("opencode", "opencode"),
    ("amp", "amp"),
];

/// Tool names found in a free-form declaration such as `Claude:claude-3-opus coccinelle`.
pub(crate) const TOOL_NAMES: &[(&str, &str)] = &[
    ("claude", "claude-code"),
    ("copilot", "copilot"),
    ("codex", "codex"),
    ("chatgpt", "chatgpt"),
    ("gpt", "chatgpt"),
    ("cursor", "cursor"),
    ("aider", "aider"),
    ("devin", "devin"),
    ("gemini", "gemini"),
    ("jules", "jules"),
    ("kiro", "kiro"),
    ("amazon q", "amazon-q"),
    ("windsurf", "windsurf"),
    ("openhands", "openhands"),
    ("opencode", "opencode"),
    ("amp", "amp"),
    ("cline", "cline"),
    ("replit", "replit"),
    ("qwen", "qwen-code"),
];

/// Platform identities that commit on a human's behalf (GitHub's web-flow committer) and are
/// neither a person nor an AI.
pub(crate) const PLATFORM_EMAILS: &[&str] = &["noreply@github.com", "web-flow@github.com"];

/// Words that declare no AI was used (`Assisted-by: none`).
pub(crate) const NONE_DECLARATIONS: &[&str] = &["none", "no", "n/a", "na", "nothing", "no ai", "none used", "false"];
