//! Configuration diagnostics: the file, the place in it, what is wrong and what to do.

use std::ops::Range;

use miette::{Diagnostic, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use serde::Serialize;

/// A configuration file as read by an adapter, with the name shown to users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |idx| idx + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// One mistake in a configuration file. The gate refuses to run (exit 2) while any exists.
#[derive(Clone, Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(countersign::config))]
pub struct ConfigError {
    pub message: String,
    #[source_code]
    pub source_code: Excerpt,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl ConfigError {
    pub fn new(source: &SourceFile, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let (line, column) = span.as_ref().map_or((1, 1), |span| source.line_col(span.start));
        let message = message.into();
        // Without a place to point at, the message itself names the file.
        let message = if span.is_none() { format!("{}: {message}", source.name) } else { message };
        ConfigError {
            message,
            source_code: Excerpt { name: source.name.clone(), text: source.text.clone() },
            // A label over a huge stretch (an unterminated string) points at its start.
            span: span.map(|span| (span.start, span.end.saturating_sub(span.start).min(MAX_LABEL_BYTES)).into()),
            label: "here".to_owned(),
            help: None,
            file: source.name.clone(),
            line,
            column,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> ConfigError {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> ConfigError {
        self.label = label.into();
        self
    }

    /// A plain summary for JSON output and logs.
    pub fn summary(&self) -> ConfigErrorSummary {
        ConfigErrorSummary {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
            help: self.help.clone(),
        }
    }

    /// Turns a TOML syntax or type error into a diagnostic at the place toml reports.
    pub fn from_toml(source: &SourceFile, error: &toml::de::Error) -> ConfigError {
        let message = error.message().trim_end_matches('\n').to_owned();
        let help = toml_help(&message);
        let diagnostic = ConfigError::new(source, error.span(), message);
        match help {
            Some(help) => diagnostic.with_help(help),
            None => diagnostic,
        }
    }
}

fn toml_help(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some(format!(
            "remove or rename the key; {}",
            message
                .split_once(", expected")
                .map_or("", |(_, rest)| rest)
                .trim_start()
                .replace('`', "'")
                .replace("one of", "valid keys are")
        ))
    } else if message.starts_with("invalid type") {
        Some("check the value's type against the documented example in README.md".to_owned())
    } else if message.starts_with("missing field") {
        Some("add the missing key".to_owned())
    } else {
        None
    }
}

/// The most of a label's span a diagnostic underlines.
const MAX_LABEL_BYTES: usize = 80;

/// Bytes of context shown either side of a label on a line too long to show whole.
const EXCERPT_CONTEXT: usize = 120;

/// A configuration file as miette shows it: lines of ordinary length whole, a very long line
/// only around the place that is wrong, so a 50 MB line is never echoed.
#[derive(Clone)]
pub struct Excerpt {
    name: String,
    text: String,
}

impl std::fmt::Debug for Excerpt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Excerpt({}, {} bytes)", self.name, self.text.len())
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents = self.text.read_span(span, context_lines_before, context_lines_after)?;
        if contents.data().len() <= 4 * EXCERPT_CONTEXT {
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                contents.data(),
                *contents.span(),
                contents.line(),
                contents.column(),
                contents.line_count(),
            )));
        }
        let floor = |mut at: usize| {
            while !self.text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        let start = floor(span.offset().saturating_sub(EXCERPT_CONTEXT));
        let end = floor((span.offset() + span.len() + EXCERPT_CONTEXT).min(self.text.len()));
        let before = &self.text[..start];
        let line = before.matches('\n').count();
        let column = before.rfind('\n').map_or(start, |newline| start - newline - 1);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[start..end],
            (start, end - start).into(),
            line,
            column,
            self.text[start..end].matches('\n').count() + 1,
        )))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigErrorSummary {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}
