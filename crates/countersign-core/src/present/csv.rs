//! `countersign scan --format csv`: one line per commit, safe to open in a spreadsheet.

use crate::scan::{CommitLine, tools};

/// The first line of the CSV output.
pub const CSV_HEADER: &str = "id,time,author,level,ai_assisted,tools,signals";

/// One commit as a CSV line, ending in a line break.
pub fn csv_line(line: &CommitLine<'_>) -> String {
    let tools = tools(line.signals);
    let texts: Vec<&str> = line.signals.iter().map(|signal| signal.text.as_str()).collect();
    format!(
        "{},{},{},{},{},{},{}\n",
        line.id,
        line.time,
        csv_field(&line.author),
        csv_field(line.level),
        line.ai_assisted,
        csv_field(&tools.join(";")),
        csv_field(&texts.join(" | "))
    )
}

/// Quotes a CSV field when it holds a separator, a quote or a line break (RFC 4180). A field a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first) is
/// prefixed with `'`, as OWASP advises: commit messages are written by anyone.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{value}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.into_owned()
    }
}
