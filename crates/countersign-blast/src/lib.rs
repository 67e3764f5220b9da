//! Blast-radius analysers: what a change would destroy or endanger, read from infrastructure plans,
//! SQL migrations and Kubernetes manifests. Like the core, this crate does no IO: callers hand it
//! file contents and get operations back.

pub mod kubernetes;
pub mod migration;
pub mod plan;
mod strict_json;

use countersign_core::model::Operation;

/// Operations found by an analyser, and notes about what it could not read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    pub destructive: Vec<Operation>,
    pub hazards: Vec<Operation>,
    /// Files skipped, with why: shown as findings, never as an allow of something unread.
    pub notes: Vec<String>,
}

impl Findings {
    pub fn extend(&mut self, other: Findings) {
        self.destructive.extend(other.destructive);
        self.hazards.extend(other.hazards);
        self.notes.extend(other.notes);
    }
}

/// A file that cannot be analysed; the gate refuses to decide without it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{file}{}: {message}", location.map(|(line, column)| format!(":{line}:{column}")).unwrap_or_default())]
pub struct AnalysisError {
    pub file: String,
    /// Line and column, from 1, when the parser knows them.
    pub location: Option<(u32, u32)>,
    pub message: String,
    #[help]
    pub help: String,
}

impl AnalysisError {
    pub fn new(file: &str, location: Option<(u32, u32)>, message: String, help: &str) -> AnalysisError {
        AnalysisError { file: file.to_owned(), location, message, help: help.to_owned() }
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|byte| **byte == b'\n').count() as u32 + 1
}
