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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

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
    /// Each file's ranges in the order the note gives them; where ranges overlap, the first
    /// one given decides.
    pub files: BTreeMap<String, Vec<NoteRange>>,
    /// Every AI tool (and model) the note names, in order of first mention.
    pub tools: Vec<(String, Option<String>)>,
}

impl AiNote {
    /// The note made quick to ask line by line: `O(r log r)` to build over its `r` ranges,
    /// `O(log r)` per question, however the ranges overlap.
    pub fn index(&self) -> NoteIndex<'_> {
        NoteIndex { files: self.files.iter().map(|(path, ranges)| (path.as_str(), disjoint(ranges))).collect() }
    }

    /// Lines an AI wrote, over all files.
    pub fn ai_lines(&self) -> u64 {
        self.files
            .values()
            .flatten()
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
            self.files.entry(path).or_default().extend(ranges);
        }
        for tool in other.tools {
            if !self.tools.contains(&tool) {
                self.tools.push(tool);
            }
        }
    }
}

/// Who wrote which line of an [`AiNote`], as disjoint sorted segments per file.
pub struct NoteIndex<'a> {
    files: HashMap<&'a str, Vec<Segment<'a>>>,
}

struct Segment<'a> {
    start: u32,
    end: u32,
    writer: &'a Writer,
}

impl NoteIndex<'_> {
    /// Who the note says wrote `line` (1-based) of `path`; `None` when it does not say.
    pub fn writer_of(&self, path: &str, line: u32) -> Option<&Writer> {
        let segments = self.files.get(path)?;
        let at = segments.partition_point(|segment| segment.end < line);
        segments.get(at).filter(|segment| segment.start <= line).map(|segment| segment.writer)
    }
}

/// Cuts overlapping ranges into disjoint segments, each owned by the earliest range covering
/// it: a sweep over the ranges' boundaries with the covering ranges in a heap by position.
fn disjoint(ranges: &[NoteRange]) -> Vec<Segment<'_>> {
    let mut by_start: Vec<usize> = (0..ranges.len()).collect();
    by_start.sort_by_key(|&index| ranges[index].start);
    // Ends are exclusive, in u64 so that a range ending at u32::MAX has a boundary after it.
    let mut boundaries: Vec<u64> =
        ranges.iter().flat_map(|range| [u64::from(range.start), u64::from(range.end) + 1]).collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    let mut covering: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    let mut next = 0;
    let mut segments: Vec<(Segment<'_>, usize)> = Vec::new();
    for pair in boundaries.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        while let Some(&index) = by_start.get(next).filter(|&&index| u64::from(ranges[index].start) == from) {
            covering.push(Reverse(index));
            next += 1;
        }
        while covering.peek().is_some_and(|&Reverse(index)| u64::from(ranges[index].end) < from) {
            covering.pop();
        }
        let Some(&Reverse(owner)) = covering.peek() else { continue };
        // `to - 1` is a line of some range, so it fits in u32.
        let (start, end) = (from as u32, (to - 1) as u32);
        match segments.last_mut() {
            Some((last, last_owner)) if *last_owner == owner && u64::from(last.end) + 1 == from => last.end = end,
            _ => segments.push((Segment { start, end, writer: &ranges[owner].writer }, owner)),
        }
    }
    segments.into_iter().map(|(segment, _)| segment).collect()
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
            note.files.entry(file.path).or_default().extend(ranges);
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
    let mut files: BTreeMap<String, Vec<NoteRange>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (index, line) in attestations.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(entry) = line.strip_prefix("  ") {
            let (key, ranges) = entry.trim().rsplit_once(' ').ok_or(format!("line {}: no line ranges", index + 1))?;
            let Some(file) = current.as_ref().map(|path| files.entry(path.clone()).or_default()) else {
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
            files.entry(path.to_owned()).or_default();
            current = Some(path.to_owned());
        }
    }
    note.files = files;
    Ok(note)
}
