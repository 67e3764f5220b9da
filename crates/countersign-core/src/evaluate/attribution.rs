//! Which lines of a change an AI wrote: each added line is the work of the commit that wrote
//! it, AI-written when that commit is AI-assisted. Kept per line (as ranges) for reviewers'
//! tools to highlight, and summed per file, per service and in all for policy.

use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use crate::config::Config;
use crate::model::ChangeInput;
use crate::notes::{AiNote, NoteIndex, Writer};

use super::output::CommitReport;

/// AI-written lines of a change among the lines it adds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attribution {
    pub added_lines: u64,
    pub ai_lines: u64,
    /// `ai_lines` of `added_lines` in percent, one decimal.
    pub ai_percent: f64,
    pub files: Vec<FileAttribution>,
    pub services: Vec<ServiceAttribution>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileAttribution {
    pub path: String,
    pub added_lines: u64,
    pub ai_lines: u64,
    /// The AI-written lines, as ranges of the head's file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ai_ranges: Vec<AiRange>,
}

/// Consecutive lines of one file written by one AI-assisted commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AiRange {
    /// First and last line, 1-based, inclusive.
    pub start: u32,
    pub end: u32,
    pub commit: String,
    /// The tools the commit's signals name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceAttribution {
    pub name: String,
    pub tier: u32,
    pub added_lines: u64,
    pub ai_lines: u64,
}

impl Attribution {
    /// AI-written and added lines, within services of at most `tier` when given.
    pub fn counts(&self, tier: Option<u32>) -> (u64, u64) {
        match tier {
            None => (self.ai_lines, self.added_lines),
            Some(tier) => self
                .services
                .iter()
                .filter(|service| service.tier <= tier)
                .fold((0, 0), |(ai, added), service| (ai + service.ai_lines, added + service.added_lines)),
        }
    }
}

/// The attribution of a change whose added lines were read; `None` when they were not. A
/// git-ai note of the writing commit decides line by line (AI or human) where it speaks;
/// elsewhere the commit's own markers do.
pub fn attribute(
    config: &Config,
    change: &ChangeInput,
    commits: &[CommitReport],
    notes: &HashMap<String, AiNote>,
) -> Option<Attribution> {
    let added_any = change.files.iter().any(|file| file.added > 0);
    if change.added_lines.is_empty() && added_any {
        return None;
    }
    // Looked up once per added line: by commit id, each note as an index.
    let ai_commits: HashMap<&str, Vec<String>> = commits
        .iter()
        .filter(|report| report.ai_assisted)
        .map(|report| {
            let mut tools: Vec<String> = report.signals.iter().filter_map(|signal| signal.tool.clone()).collect();
            tools.sort();
            tools.dedup();
            (report.id.as_str(), tools)
        })
        .collect();
    let notes: HashMap<&str, NoteIndex<'_>> =
        notes.iter().map(|(commit, note)| (commit.as_str(), note.index())).collect();
    let mut attribution = Attribution::default();
    for file in &change.added_lines {
        let mut entry = FileAttribution { path: file.path.clone(), ..FileAttribution::default() };
        for (line, origin) in &file.lines {
            entry.added_lines += 1;
            let Some((commit, at)) = origin else { continue };
            let tools = match notes.get(commit.as_str()).and_then(|note| note.writer_of(&file.path, *at)) {
                Some(Writer::Ai { tool, .. }) => Some(vec![tool.clone()]),
                Some(Writer::Human) => None,
                None => ai_commits.get(commit.as_str()).cloned(),
            };
            let Some(tools) = tools else { continue };
            entry.ai_lines += 1;
            match entry.ai_ranges.last_mut() {
                Some(range) if range.end + 1 == *line && range.commit == *commit => range.end = *line,
                _ => entry.ai_ranges.push(AiRange { start: *line, end: *line, commit: commit.clone(), tools }),
            }
        }
        attribution.added_lines += entry.added_lines;
        attribution.ai_lines += entry.ai_lines;
        for index in config.services.indices_of(&entry.path) {
            let service = &config.services.all()[index];
            let counted = match attribution.services.iter_mut().find(|counted| counted.name == service.name) {
                Some(counted) => counted,
                None => {
                    attribution.services.push(ServiceAttribution {
                        name: service.name.clone(),
                        tier: service.tier,
                        ..ServiceAttribution::default()
                    });
                    attribution.services.last_mut()?
                }
            };
            counted.added_lines += entry.added_lines;
            counted.ai_lines += entry.ai_lines;
        }
        attribution.files.push(entry);
    }
    attribution.ai_percent = percent(attribution.ai_lines, attribution.added_lines);
    attribution.files.sort_by(|a, b| a.path.cmp(&b.path));
    attribution.services.sort_by(|a, b| a.tier.cmp(&b.tier).then_with(|| a.name.cmp(&b.name)));
    Some(attribution)
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 }
}
