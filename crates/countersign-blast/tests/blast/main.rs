//! Tests of the blast-radius analysers, one `check` helper per area over fixture files written for
//! these tests in the documented shapes.

mod kubernetes;
mod migration;
mod plan;

use countersign_blast::Findings;

/// Each operation as one line: `destructive|hazard <target> | <action> | <reason>`, then notes.
fn lines(findings: &Findings) -> Vec<String> {
    let operation = |kind: &str, operation: &countersign_core::model::Operation| {
        let line = operation.line.map(|line| format!(":{line}")).unwrap_or_default();
        format!(
            "{kind} {}{line} {} | {} | {}",
            operation.file,
            operation.target,
            operation.action,
            operation.reason.as_deref().unwrap_or("-")
        )
    };
    findings
        .destructive
        .iter()
        .map(|op| operation("destructive", op))
        .chain(findings.hazards.iter().map(|op| operation("hazard", op)))
        .chain(findings.notes.iter().map(|note| format!("note {note}")))
        .collect()
}
