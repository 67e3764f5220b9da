//! AI-authorship records kept beside commits, as git notes:
//!
//! - git-ai (the Git AI Standard, `authorship/3.x`, under `refs/notes/ai`): per file, the line
//!   ranges each AI session (or legacy prompt) or known human wrote in that commit, then JSON
//!   metadata with each session's `agent_id { tool, id, model }`;
//! - Agent Trace records (cursor/agent-trace, RFC 0.1) under `refs/notes/agent-trace`: JSON
//!   trace records (one, or one per line) whose files hold conversations with a contributor
//!   (`ai`, `human`, `mixed`, `unknown`) and line ranges.
//!
//! Records are self-asserted, like trailers: they declare, they do not prove.

use std::collections::HashMap;

use serde::Deserialize;

/// Who a note says wrote some lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Writer {
    /// An AI tool, with its model when the note says.
    Ai { tool: String, model: Option<String> },
    /// A known human.
    Human,
}

/// Lines of one file (1-based, inclusive) and who wrote them, in the commit's version of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteRange {
    pub start: u32,
    pub end: u32,
    pub writer: Writer,
}

/// A parsed note: the files it speaks about, and the tools of its sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AiNote {
    pub files: Vec<(String, Vec<NoteRange>)>,
    /// Every AI tool (and model) the note names, in order of first mention.
    pub tools: Vec<(String, Option<String>)>,
}

impl AiNote {
    /// Who the note says wrote `line` (1-based) of `path`; `None` when it does not say.
    pub fn writer_of(&self, path: &str, line: u32) -> Option<&Writer> {
        let (_, ranges) = self.files.iter().find(|(file, _)| file == path)?;
        ranges.iter().find(|range| range.start <= line && line <= range.end).map(|range| &range.writer)
    }

    /// Lines an AI wrote, over all files.
    pub fn ai_lines(&self) -> u64 {
        self.files
            .iter()
            .flat_map(|(_, ranges)| ranges)
            .filter(|range| matches!(range.writer, Writer::Ai { .. }))
            .map(|range| u64::from(range.end - range.start) + 1)
            .sum()
    }
}

#[derive(Deserialize)]
struct Metadata {
    schema_version: String,
    #[serde(default)]
    sessions: HashMap<String, Session>,
    #[serde(default)]
    prompts: HashMap<String, Session>,
}

#[derive(Deserialize)]
struct Session {
    agent_id: AgentId,
}

#[derive(Deserialize)]
struct AgentId {
    tool: String,
    #[serde(default)]
    model: Option<String>,
}

/// Which record format a note is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteFormat {
    GitAi,
    AgentTrace,
}

impl NoteFormat {
    /// The notes ref each format lives in.
    pub fn reference(self) -> &'static str {
        match self {
            NoteFormat::GitAi => "refs/notes/ai",
            NoteFormat::AgentTrace => "refs/notes/agent-trace",
        }
    }

    pub fn parse(self, text: &str) -> Result<AiNote, String> {
        match self {
            NoteFormat::GitAi => parse_git_ai(text),
            NoteFormat::AgentTrace => parse_agent_trace(text),
        }
    }
}

impl AiNote {
    /// Adds what another record of the same commit says.
    pub fn merge(&mut self, other: AiNote) {
        for (path, ranges) in other.files {
            match self.files.iter_mut().find(|(known, _)| *known == path) {
                Some((_, known)) => known.extend(ranges),
                None => self.files.push((path, ranges)),
            }
        }
        for tool in other.tools {
            if !self.tools.contains(&tool) {
                self.tools.push(tool);
            }
        }
    }
}

#[derive(Deserialize)]
struct TraceRecord {
    #[serde(default)]
    tool: Option<TraceTool>,
    files: Vec<TraceFile>,
}

#[derive(Deserialize)]
struct TraceTool {
    name: String,
}

#[derive(Deserialize)]
struct TraceFile {
    path: String,
    #[serde(default)]
    conversations: Vec<TraceConversation>,
}

#[derive(Deserialize)]
struct TraceConversation {
    #[serde(default)]
    contributor: Option<TraceContributor>,
    #[serde(default)]
    ranges: Vec<TraceRange>,
}

#[derive(Clone, Deserialize)]
struct TraceContributor {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    model_id: Option<String>,
}

#[derive(Deserialize)]
struct TraceRange {
    start_line: u32,
    end_line: u32,
    #[serde(default)]
    contributor: Option<TraceContributor>,
}

/// Parses Agent Trace records: one JSON record, or one per line. Ranges of `mixed` or
/// `unknown` contributors say nothing about who wrote them and are left out.
pub fn parse_agent_trace(text: &str) -> Result<AiNote, String> {
    let records: Vec<TraceRecord> = match serde_json::from_str::<TraceRecord>(text) {
        Ok(record) => vec![record],
        Err(_) => text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .enumerate()
            .map(|(index, line)| serde_json::from_str(line).map_err(|error| format!("record {}: {error}", index + 1)))
            .collect::<Result<_, _>>()?,
    };
    let mut note = AiNote::default();
    for record in records {
        let tool = record.tool.as_ref().map_or("agent-trace", |tool| tool.name.as_str()).to_owned();
        for file in record.files {
            let mut ranges = Vec::new();
            for conversation in file.conversations {
                for range in conversation.ranges {
                    let Some(contributor) = range.contributor.or_else(|| conversation.contributor.clone()) else {
                        continue;
                    };
                    let writer = match contributor.kind.as_str() {
                        "ai" => Writer::Ai { tool: tool.clone(), model: contributor.model_id.clone() },
                        "human" => Writer::Human,
                        _ => continue,
                    };
                    if range.start_line == 0 || range.end_line < range.start_line {
                        return Err(format!(
                            "{}: {}-{} is not a line range",
                            file.path, range.start_line, range.end_line
                        ));
                    }
                    if let Writer::Ai { tool, model } = &writer
                        && !note.tools.contains(&(tool.clone(), model.clone()))
                    {
                        note.tools.push((tool.clone(), model.clone()));
                    }
                    ranges.push(NoteRange { start: range.start_line, end: range.end_line, writer });
                }
            }
            note.merge(AiNote { files: vec![(file.path, ranges)], tools: Vec::new() });
        }
    }
    Ok(note)
}

/// Parses a git-ai note; says why when it is not one.
pub fn parse_git_ai(text: &str) -> Result<AiNote, String> {
    let (attestations, json) = match text.strip_prefix("---\n") {
        Some(json) => ("", json),
        None => text.split_once("\n---\n").ok_or("no `---` line between the line ranges and the metadata")?,
    };
    let metadata: Metadata = serde_json::from_str(json).map_err(|error| format!("metadata: {error}"))?;
    if !metadata.schema_version.starts_with("authorship/3.") {
        return Err(format!("schema_version {} is not authorship/3.x", metadata.schema_version));
    }
    let mut note = AiNote::default();
    let mut writer_of = |key: &str| -> Result<Option<Writer>, String> {
        if key.starts_with("h_") {
            return Ok(Some(Writer::Human));
        }
        let session = key.split_once("::").map_or(key, |(session, _)| session);
        let agent = metadata
            .sessions
            .get(session)
            .or_else(|| metadata.prompts.get(key))
            .ok_or_else(|| format!("`{key}` is in no session or prompt of the metadata"))?;
        let tool = (agent.agent_id.tool.clone(), agent.agent_id.model.clone());
        if !note.tools.contains(&tool) {
            note.tools.push(tool.clone());
        }
        Ok(Some(Writer::Ai { tool: tool.0, model: tool.1 }))
    };
    let mut files: Vec<(String, Vec<NoteRange>)> = Vec::new();
    for (index, line) in attestations.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(entry) = line.strip_prefix("  ") {
            let (key, ranges) = entry.trim().rsplit_once(' ').ok_or(format!("line {}: no line ranges", index + 1))?;
            let Some((_, file)) = files.last_mut() else {
                return Err(format!("line {}: line ranges before any file", index + 1));
            };
            let Some(writer) = writer_of(key.trim())? else { continue };
            for range in ranges.split(',') {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                let parse = |number: &str| {
                    number
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| format!("line {}: `{range}` is not a line range", index + 1))
                };
                let (start, end) = (parse(start)?, parse(end)?);
                if start == 0 || end < start {
                    return Err(format!("line {}: `{range}` is not a line range", index + 1));
                }
                file.push(NoteRange { start, end, writer: writer.clone() });
            }
        } else {
            let path = line.trim_end();
            let path = path.strip_prefix('"').and_then(|path| path.strip_suffix('"')).unwrap_or(path);
            files.push((path.to_owned(), Vec::new()));
        }
    }
    note.files = files;
    Ok(note)
}
