//! AI-assistance detection over commit identities, whole messages and branch names.
//!
//! The rules follow `ai-markers.md`: every line of the message is scanned (git's trailer block
//! misses markers in squash bullets and after `---------` lines), matching is case-insensitive,
//! tool names count only together with their vendor e-mail or bot id, and non-AI bots or aider's
//! committer-only suffix never count.

use serde::{Deserialize, Serialize};

use crate::markers;
use crate::model::{Commit, Identity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignalKind {
    Identity,
    CoAuthor,
    Trailer,
    Message,
    Branch,
    PullRequest,
    /// An authorship record beside the commit (a git-ai note).
    Note,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Note => "note",
            SignalKind::Identity => "identity",
            SignalKind::CoAuthor => "co-author",
            SignalKind::Trailer => "trailer",
            SignalKind::Message => "message",
            SignalKind::Branch => "branch",
            SignalKind::PullRequest => "pull-request",
        }
    }
}

/// How much a signal proves. Strong and declared signals mark a commit; contextual ones only
/// when the policy says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    Contextual,
    Declared,
    Strong,
}

impl Strength {
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Contextual => "contextual",
            Strength::Declared => "declared",
            Strength::Strong => "strong",
        }
    }
}

/// One piece of evidence that a commit is AI-assisted, with the exact text it was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Signal {
    pub kind: SignalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    pub strength: Strength,
    pub text: String,
}

/// What an identity (author, committer or co-author) is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IdentityKind {
    /// Possibly a person of the directory; the directory decides.
    #[default]
    Human,
    /// A well-known AI tool, recognised by its vendor e-mail or bot id.
    AiTool(&'static str),
    /// An agent listed in the directory.
    Agent(String),
    /// Automation that is not AI (dependabot, GitHub's web-flow committer …).
    Bot,
}

impl IdentityKind {
    pub fn is_human(&self) -> bool {
        matches!(self, IdentityKind::Human)
    }
}

/// Detection settings taken from `policy.toml` and `people.toml`.
#[derive(Clone, Debug, Default)]
pub struct DetectConfig {
    /// Extra trailer keys that declare AI assistance, lowercased (policy `[ai] trailers`).
    pub extra_trailers: Vec<String>,
    /// Directory agents: lowercased e-mail and agent id.
    pub agent_emails: Vec<(String, String)>,
    /// Lowercased e-mails and GitHub logins of the directory's people: such an identity is that
    /// person, whatever its name claims.
    pub person_emails: std::collections::HashSet<String>,
    pub person_logins: std::collections::HashSet<String>,
}

impl DetectConfig {
    pub fn new(extra_trailers: &[String], agents: &[(String, String)]) -> DetectConfig {
        DetectConfig {
            extra_trailers: extra_trailers.iter().map(|key| key.trim().to_ascii_lowercase()).collect(),
            agent_emails: agents.iter().map(|(email, id)| (email.to_ascii_lowercase(), id.clone())).collect(),
            ..DetectConfig::default()
        }
    }

    /// The same, knowing the directory's people.
    pub fn with_directory(mut self, directory: &crate::directory::Directory) -> DetectConfig {
        for person in directory.people() {
            self.person_emails.extend(person.emails.iter().map(|email| email.trim().to_ascii_lowercase()));
            self.person_logins.extend(person.github.iter().map(|login| login.trim().to_ascii_lowercase()));
            for email in &person.emails {
                let email = email.trim().to_ascii_lowercase();
                if let Some(login) = crate::directory::noreply_login(&email) {
                    self.person_logins.insert(login.to_owned());
                }
            }
        }
        self
    }

    fn is_person(&self, email: &str) -> bool {
        self.person_emails.contains(email)
            || crate::directory::noreply_login(email).is_some_and(|login| self.person_logins.contains(login))
    }
}

/// The result of scanning one commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitScan {
    pub signals: Vec<Signal>,
    /// Human `Co-authored-by` identities: responsible for the commit like its author.
    pub human_co_authors: Vec<Identity>,
    /// `Assisted-by: none` or the like: the author declared that no AI was used.
    pub declared_none: bool,
    pub author_kind: IdentityKind,
    pub committer_kind: IdentityKind,
    /// The co-authors already seen, so a million repeated trailers cost a million lookups.
    pub seen_co_authors: std::collections::HashSet<Identity>,
}

impl CommitScan {
    /// Whether the commit counts as AI-assisted; contextual signals count only when allowed.
    pub fn ai_assisted(&self, contextual_counts: bool) -> bool {
        self.signals.iter().any(|signal| signal.strength != Strength::Contextual || contextual_counts)
    }
}

/// Classifies one identity. Name-based rules always need the e-mail or bot id as well, and a
/// person's own e-mail is that person whatever the name says.
pub fn classify_identity(identity: &Identity, config: &DetectConfig) -> IdentityKind {
    let email = identity.email.trim().to_ascii_lowercase();
    let name = identity.name.trim().to_ascii_lowercase();
    if config.is_person(&email) {
        return IdentityKind::Human;
    }
    if let Some(tool) = ai_tool_of_email(&email).map(|(tool, _)| tool).or_else(|| ai_bot_of_login(&name)) {
        return IdentityKind::AiTool(tool);
    }
    if let Some((_, id)) = config.agent_emails.iter().find(|(agent_email, _)| *agent_email == email) {
        return IdentityKind::Agent(id.clone());
    }
    if is_bot(&name, &email) {
        return IdentityKind::Bot;
    }
    IdentityKind::Human
}

/// The tool of a vendor e-mail or of a GitHub noreply address of an AI tool's account.
fn ai_tool_of_email(email: &str) -> Option<(&'static str, Strength)> {
    if let Some((_, tool, strength)) = markers::EMAILS.iter().find(|(known, ..)| *known == email) {
        return Some((tool, *strength));
    }
    // GitHub noreply addresses: `<id>+<login>@users.noreply.github.com`, matched by login or id.
    let local = email.strip_suffix("@users.noreply.github.com")?;
    let (id, login) = match local.split_once('+') {
        Some((id, login)) => (id.parse::<u64>().ok(), login),
        None => (None, local),
    };
    let by_login = ai_bot_of_login(login);
    let by_id = id
        .and_then(|id| markers::BOTS.iter().find(|(_, known, _)| *known != 0 && *known == id))
        .map(|(.., tool)| *tool);
    // The id first: it names the account exactly (the Copilot agent, Copilot and Copilot CLI
    // share the login `Copilot`).
    by_id.or(by_login).map(|tool| (tool, Strength::Strong))
}

fn ai_bot_of_login(login: &str) -> Option<&'static str> {
    markers::BOTS.iter().find(|(bot, ..)| *bot == login).map(|(.., tool)| *tool)
}

fn is_bot(name: &str, email: &str) -> bool {
    markers::PLATFORM_EMAILS.contains(&email)
        || name.ends_with("[bot]")
        || email.contains("[bot]@")
        || email.ends_with("@dependabot.com")
}

/// An AI tool identity read from a `Co-authored-by` value, with the strength it deserves.
fn classify_co_author(co_author: &Identity) -> Option<(&'static str, Strength)> {
    let email = co_author.email.trim().to_ascii_lowercase();
    let name = co_author.name.trim().to_ascii_lowercase();
    ai_tool_of_email(&email).or_else(|| {
        markers::CO_AUTHOR_NAMES
            .iter()
            .find(|(prefix, domain, ..)| name.starts_with(prefix) && email.ends_with(domain))
            .map(|(_, _, tool, strength)| (*tool, *strength))
    })
}

/// Parses `Name <email>`; `None` when there is no e-mail in angle brackets.
pub fn parse_identity(value: &str) -> Option<Identity> {
    let value = value.trim();
    let open = value.rfind('<')?;
    let close = value[open..].find('>')? + open;
    let email = value[open + 1..close].trim();
    if email.is_empty() {
        return None;
    }
    Some(Identity::new(value[..open].trim(), email))
}

/// Scans one commit: its author and committer, then every line of its message.
///
/// A merge commit's message is evidence like any other: someone wrote it, a conflict
/// resolution can carry new content, and a `Co-authored-by` there names a responsible human.
pub fn scan_commit(commit: &Commit, config: &DetectConfig) -> CommitScan {
    let mut scan = CommitScan::default();
    scan_identities(&commit.author, &commit.committer, config, &mut scan);
    scan_message(&commit.message, config, &mut scan);
    dedup_signals(&mut scan.signals);
    scan
}

fn scan_identities(author: &Identity, committer: &Identity, config: &DetectConfig, scan: &mut CommitScan) {
    scan.author_kind = classify_identity(author, config);
    scan.committer_kind = classify_identity(committer, config);
    for (role, identity, kind) in
        [("author", author, &scan.author_kind), ("committer", committer, &scan.committer_kind)]
    {
        match kind.clone() {
            IdentityKind::AiTool(tool) => scan.signals.push(Signal {
                kind: SignalKind::Identity,
                tool: Some(tool.to_owned()),
                strength: Strength::Strong,
                text: format!("{role}: {identity}"),
            }),
            IdentityKind::Agent(id) => scan.signals.push(Signal {
                kind: SignalKind::Identity,
                tool: Some(id),
                strength: Strength::Strong,
                text: format!("{role}: {identity}"),
            }),
            // A person's e-mail under an AI bot's name: still that person, and the name is
            // their own declaration that a tool was involved.
            IdentityKind::Human => {
                if let Some(tool) = ai_bot_of_login(&identity.name.trim().to_ascii_lowercase()) {
                    scan.signals.push(Signal {
                        kind: SignalKind::Identity,
                        tool: Some(tool.to_owned()),
                        strength: Strength::Declared,
                        text: format!("{role}: {identity}"),
                    });
                }
            }
            IdentityKind::Bot => {}
        }
    }
    // Aider before v0.85 suffixed names: on the author it wrote the code; on the committer only,
    // a human edit that aider merely committed.
    if has_aider_suffix(&author.name) {
        scan.signals.push(Signal {
            kind: SignalKind::Identity,
            tool: Some("aider".to_owned()),
            strength: Strength::Strong,
            text: format!("author: {author}"),
        });
    }
}

pub fn has_aider_suffix(name: &str) -> bool {
    name.trim_end().to_ascii_lowercase().ends_with(" (aider)")
}

/// Removes list bullets and quoting that squash merges and e-mails put before trailers.
fn strip_line_prefix(line: &str) -> &str {
    line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '-' | '+' | '>' | '•'))
}

/// Splits `Key: value` when the key looks like a trailer key.
fn split_trailer(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    key_ok.then(|| (key, value.trim()))
}

/// `Assisted-by: none`, `None.` and the like: a negative declaration.
fn is_none_declaration(value: &str) -> bool {
    markers::NONE_DECLARATIONS.contains(&value.trim_end_matches(['.', '!', ' ']))
}

fn scan_message(message: &str, config: &DetectConfig, scan: &mut CommitScan) {
    // One lowercase buffer for all lines: scanning long histories should not allocate per line.
    let mut lower = String::new();
    for (line_idx, raw_line) in message.lines().enumerate() {
        let line = strip_line_prefix(raw_line).trim_end();
        if line.is_empty() {
            continue;
        }
        lower.clear();
        lower.push_str(line);
        lower.make_ascii_lowercase();
        let text = raw_line.trim();
        if line_idx == 0 && lower.starts_with("aider: ") && lower.len() > "aider: ".len() {
            scan.signals.push(signal(SignalKind::Message, Some("aider"), Strength::Declared, text));
        }
        if let Some((key, value)) = split_trailer(&lower) {
            let original_value = line.split_once(':').map_or("", |(_, value)| value.trim());
            if scan_trailer(key, value, original_value, text, config, scan) {
                continue;
            }
        }
        scan_free_text(&lower, text, scan);
    }
}

/// Handles a `key: value` line; returns true when the line was fully understood as a trailer.
fn scan_trailer(
    key: &str,
    value: &str,
    original_value: &str,
    text: &str,
    config: &DetectConfig,
    scan: &mut CommitScan,
) -> bool {
    if key == "co-authored-by" {
        let Some(co_author) = parse_identity(original_value) else { return true };
        if let Some((tool, strength)) = classify_co_author(&co_author) {
            scan.signals.push(signal(SignalKind::CoAuthor, Some(tool), strength, text));
        } else if let IdentityKind::Agent(id) = classify_identity(&co_author, config) {
            scan.signals.push(signal(SignalKind::CoAuthor, Some(&id), Strength::Strong, text));
        } else if classify_identity(&co_author, config).is_human() && scan.seen_co_authors.insert(co_author.clone()) {
            scan.human_co_authors.push(co_author);
        }
        return true;
    }
    let known = markers::TRAILERS
        .iter()
        .find(|(known, ..)| *known == key)
        .map(|(_, rule, tool, strength)| (*rule, *tool, *strength));
    let (rule, tool, strength) = match known {
        Some(known) => known,
        None if config.extra_trailers.iter().any(|extra| extra == key) => {
            (markers::Value::ToolOrNone, None, Strength::Declared)
        }
        None => return false,
    };
    if value.is_empty() {
        return true;
    }
    let counts = match rule {
        markers::Value::Any => true,
        markers::Value::Prefix(prefix) => value.starts_with(prefix),
        markers::Value::OneOf(words) => words.contains(&value),
        markers::Value::YesNo => {
            if is_none_declaration(value) {
                scan.declared_none = true;
                return true;
            }
            matches!(value, "true" | "yes")
        }
        markers::Value::ToolOrNone => {
            if is_none_declaration(value) {
                scan.declared_none = true;
                return true;
            }
            true
        }
    };
    if !counts {
        return false;
    }
    let tool = tool.or_else(|| tool_named_in(value));
    scan.signals.push(signal(SignalKind::Trailer, tool, strength, text));
    true
}

/// Markers that are not trailers: tool footers, session links and vendor ids inside prose.
fn scan_free_text(lower: &str, text: &str, scan: &mut CommitScan) {
    let words = lower.trim_start_matches(|c: char| !c.is_alphanumeric());
    for prefix in ["generated with ", "generated by ", "generated with: ", "generated by: "] {
        if let Some(rest) = words.strip_prefix(prefix) {
            let rest = rest.trim_start_matches(['[', ' ', ':']);
            if let Some((_, tool)) = markers::FOOTER_TOOLS.iter().find(|(name, _)| starts_with_word(rest, name)) {
                scan.signals.push(signal(SignalKind::Message, Some(tool), Strength::Declared, text));
                return;
            }
        }
    }
    if lower.contains("claude.ai/code/session_") {
        scan.signals.push(signal(SignalKind::Message, Some("claude-code"), Strength::Strong, text));
        return;
    }
    if let Some(tool) = vendor_id_in_prose(lower) {
        scan.signals.push(signal(SignalKind::Message, Some(tool), Strength::Strong, text));
    }
}

/// A vendor e-mail or an AI tool's GitHub address written as an identity (`<…>`) anywhere in a
/// line (e.g. a squash bullet that mangled a trailer) is still strong evidence. A bot login in
/// prose ("skip the CLA check for copilot-swe-agent[bot]") is not: identities count only where
/// git or a trailer puts them.
fn vendor_id_in_prose(lower: &str) -> Option<&'static str> {
    if !lower.contains('@') {
        return None;
    }
    let mut rest = lower;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        if let Some((tool, _)) = ai_tool_of_email(after[..close].trim()) {
            return Some(tool);
        }
        rest = &after[close + 1..];
    }
    None
}

fn starts_with_word(haystack: &str, word: &str) -> bool {
    haystack.strip_prefix(word).is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Best-effort tool name from a free-form declaration such as `Claude:claude-3-opus coccinelle`:
/// a known name at the start of a word.
fn tool_named_in(value: &str) -> Option<&'static str> {
    markers::TOOL_NAMES
        .iter()
        .find(|(name, _)| {
            value
                .match_indices(name)
                .any(|(start, _)| start == 0 || !value[..start].ends_with(|c: char| c.is_ascii_alphanumeric()))
        })
        .map(|(_, tool)| *tool)
}

fn signal(kind: SignalKind, tool: Option<&str>, strength: Strength, text: &str) -> Signal {
    Signal { kind, tool: tool.map(str::to_owned), strength, text: text.to_owned() }
}

/// Identical lines repeated a dozen times (seen in real squash merges) are one signal.
fn dedup_signals(signals: &mut Vec<Signal>) {
    let mut seen = std::collections::HashSet::new();
    signals.retain(|signal| seen.insert((signal.kind, strip_line_prefix(&signal.text).to_ascii_lowercase())));
}

/// The evidence of authorship records (git-ai, Agent Trace): the tools they say wrote lines of
/// the commit. Self-asserted, like a trailer: declared.
pub fn scan_note(note: &crate::notes::AiNote, reference: &str) -> Option<Signal> {
    let (tool, model) = note.tools.first()?;
    let model = model.as_deref().map(|model| format!(" ({model})")).unwrap_or_default();
    Some(Signal {
        kind: SignalKind::Note,
        tool: Some(tool.clone()),
        strength: Strength::Declared,
        text: format!("{reference}: {tool}{model} wrote {}", crate::evaluate::plural(note.ai_lines() as usize, "line")),
    })
}

/// Contextual signal from the name of the branch a change is deployed from.
pub fn scan_branch(branch: &str) -> Option<Signal> {
    const PREFIXES: &[(&str, &str)] =
        &[("claude/", "claude-code"), ("copilot/", "copilot-agent"), ("codex/", "codex"), ("cursor/", "cursor")];
    let short = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    let lower = short.to_ascii_lowercase();
    PREFIXES.iter().find(|(prefix, _)| lower.starts_with(prefix)).map(|(_, tool)| Signal {
        kind: SignalKind::Branch,
        tool: Some((*tool).to_owned()),
        strength: Strength::Contextual,
        text: format!("branch {short}"),
    })
}

/// Contextual signals from a pull request: an AI agent as its author, tool links and footers in
/// its body, and any commit marker written there (ai-markers.md §3).
pub fn scan_pull_request(author: Option<&str>, body: &str, config: &DetectConfig) -> Vec<Signal> {
    const BODY_MARKERS: &[(&str, &str)] = &[
        ("made with [cursor](", "cursor"),
        ("cursor.com/agents/bc-", "cursor"),
        ("chatgpt.com/codex/tasks/", "codex"),
        ("app.devin.ai/sessions/", "devin"),
    ];
    let mut signals = Vec::new();
    if let Some(login) = author {
        let lower = login.trim().trim_start_matches('@').to_ascii_lowercase();
        let tool = if lower == "copilot" { Some("copilot-agent") } else { ai_bot_of_login(&lower) };
        if let Some(tool) = tool {
            signals.push(signal(
                SignalKind::PullRequest,
                Some(tool),
                Strength::Contextual,
                &format!("pull request opened by {}", login.trim()),
            ));
        }
    }
    let mut in_body = CommitScan::default();
    scan_message(body, config, &mut in_body);
    signals.extend(in_body.signals.into_iter().map(|found| Signal {
        kind: SignalKind::PullRequest,
        strength: Strength::Contextual,
        ..found
    }));
    for line in body.lines() {
        let lower = line.to_ascii_lowercase();
        if let Some((_, tool)) = BODY_MARKERS.iter().find(|(marker, _)| lower.contains(marker)) {
            signals.push(signal(SignalKind::PullRequest, Some(tool), Strength::Contextual, line.trim()));
        }
    }
    dedup_signals(&mut signals);
    signals
}
