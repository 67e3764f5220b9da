//! The service's answers as the CLI prints them for people, built from the contract's types so
//! the text follows the JSON the server sends.

use countersign_core::attestation::Verdict;
use countersign_core::lifecycle::AssignmentState;
use countersign_core::present::at_millis;
use countersign_store::TokenRow;

use crate::contract::{AwayState, ChangeEntry, ChangeView, OverrideResult, OverrideReviewResult, Queue, ReviewResult};

/// The change's id, repository, environment, verdict and fingerprint on one line.
fn change_line(change: &ChangeEntry) -> String {
    format!(
        "change {} of {} for {}: {} ({})\n",
        change.id,
        change.repository,
        change.environment,
        change.verdict.as_str().to_uppercase(),
        change.fingerprint,
    )
}

/// A registered change: its line, the rules it still misses and to whom its reviews went.
pub fn decision(view: &ChangeView) -> String {
    let mut text = change_line(&view.change);
    for rule in view.decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied) {
        text.push_str(&format!("  unmet {}: {} more approval(s)\n", rule.name, rule.missing));
    }
    for assignment in view.assignments.iter().filter(|a| a.state == AssignmentState::Open) {
        text.push_str(&format!("  review routed to {} for {}\n", assignment.person, assignment.rule));
    }
    text
}

/// A review recorded through the service, of the `fingerprint` and `environment` asked for.
pub fn review(answer: &ReviewResult, verdict: Verdict, fingerprint: &str, environment: &str) -> String {
    let verb = if verdict == Verdict::Approve { "approved" } else { "rejected" };
    let again = if answer.duplicate { " (already recorded)" } else { "" };
    format!(
        "{} {verb} {fingerprint} for {environment}{again}\n{}",
        answer.statement.person,
        change_line(&answer.change)
    )
}

/// A break-glass override, and when its after-the-fact review is due.
pub fn overridden(answer: &OverrideResult) -> String {
    format!(
        "{}override {} recorded; a second person must review it by {}\n",
        change_line(&answer.change),
        answer.override_.id,
        at_millis(answer.override_.review_due_at)
    )
}

/// The after-the-fact review of override `id`.
pub fn override_reviewed(id: i64, answer: &OverrideReviewResult) -> String {
    let late = if answer.override_.late { " (late)" } else { "" };
    format!("override {id} reviewed by {}{late}\n", answer.override_.reviewed_by.as_deref().unwrap_or("?"))
}

/// The reviews routed to the caller, then the overrides awaiting their review.
pub fn queue(queue: &Queue) -> String {
    let mut text = format!("{} review(s) for {}\n", queue.reviews.len(), queue.person);
    for review in &queue.reviews {
        let change = review.change.as_ref().map(change_line).unwrap_or_else(|| "change gone\n".to_owned());
        let repository = review.change.as_ref().map_or("?", |change| change.repository.as_str());
        text.push_str(&format!(
            "  #{} {repository} rule {}, waiting {} s: {change}",
            review.id, review.rule, review.waiting_seconds
        ));
    }
    for pending in &queue.after_the_fact {
        let overdue = if pending.overdue { " OVERDUE" } else { "" };
        text.push_str(&format!(
            "  override {} of change {} by {} awaits review by {}{overdue}: {}\n",
            pending.id,
            pending.change,
            pending.person,
            at_millis(pending.review_due_at),
            pending.reason
        ));
    }
    text
}

/// Whether the caller is away, and until when.
pub fn away(state: &AwayState) -> String {
    match (state.away, state.until) {
        (true, Some(until)) => format!("{} is away until {}\n", state.person, at_millis(until)),
        (true, None) => format!("{} is away\n", state.person),
        (false, _) => format!("{} is back\n", state.person),
    }
}

/// One line per API token: id, person, created, live or revoked, label. Never the secret.
pub fn tokens(rows: &[TokenRow]) -> String {
    let line = |row: &TokenRow| {
        let state = match row.revoked_at {
            Some(at) => format!("revoked {}", at_millis(at)),
            None => "live".to_owned(),
        };
        format!("{}  {:<16} created {}  {:<29} {}\n", row.id, row.person, at_millis(row.created_at), state, row.label)
    };
    rows.iter().map(line).collect()
}

/// The verdict of `audit verify`, as JSON.
pub fn audit_json(verified: &Result<(u64, String), countersign_core::audit::Broken>) -> serde_json::Value {
    match verified {
        Ok((entries, head)) => serde_json::json!({"intact": true, "entries": entries, "head": head}),
        Err(broken) => serde_json::json!({"intact": false, "first_bad_entry": broken.seq, "problem": broken.problem}),
    }
}

/// The verdict of `audit verify`, for people.
pub fn audit_verified(verified: &Result<(u64, String), countersign_core::audit::Broken>) -> String {
    match verified {
        Ok((entries, head)) => format!("audit chain intact: {entries} entries, head {head}\n"),
        Err(broken) => format!("audit chain BROKEN: {broken}\n"),
    }
}
