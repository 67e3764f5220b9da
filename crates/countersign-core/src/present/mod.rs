//! The texts the CLI prints: plain strings built from the core's values, so the binary only
//! writes them out and every word of the output can be tested without a terminal.

mod calibration;
mod csv;
mod decision;
pub mod markdown;
mod owners;
mod simulation;

use std::fmt::Write;

use crate::deployment::NothingToDeploy;
use crate::evaluate::ServiceRef;
use crate::finding::Finding;

pub use calibration::calibration;
pub use csv::{CSV_HEADER, csv_line};
pub use decision::{ApproveHint, decision};
pub use owners::owners;
pub use simulation::simulation;

/// The findings under their heading; nothing when there are none.
pub fn findings(findings: &[Finding]) -> String {
    let mut out = String::new();
    if !findings.is_empty() {
        let _ = writeln!(out, "\nfindings:");
        for finding in findings {
            let _ = writeln!(out, "  {finding}");
        }
    }
    out
}

/// The head is what the environment runs, deployed when and by whom if the record says.
pub fn nothing_to_deploy(nothing: &NothingToDeploy) -> String {
    let when = match &nothing.deployed {
        Some(last) => format!(
            " (deployed {}{})",
            at(last.time),
            last.requester.as_deref().map(|by| format!(" by {by}")).unwrap_or_default()
        ),
        None => String::new(),
    };
    format!("nothing to deploy: {} is what {} runs{when}\n", short(&nothing.head), nothing.environment)
}

/// Services with their tiers, or "none".
fn services(services: &[ServiceRef]) -> String {
    if services.is_empty() {
        return "none".to_owned();
    }
    let named: Vec<String> =
        services.iter().map(|service| format!("{} (tier {})", service.name, service.tier)).collect();
    named.join(", ")
}

/// Seconds since the epoch as RFC 3339 (UTC).
pub fn at(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |at| at.to_string())
}

/// Milliseconds since the epoch as RFC 3339 (UTC), as the approval service keeps its times.
pub fn at_millis(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis).map_or_else(|_| millis.to_string(), |at| at.to_string())
}

/// The first 10 characters of a commit id, for people.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(10)]
}

/// `part` of `whole` in percent; 0 of nothing is 0.
pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}
