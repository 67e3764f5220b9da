//! Reviewer routing: who of the eligible people should get a review, best first.

use std::cmp::Reverse;

/// One eligible reviewer with what routing weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub person: String,
    /// Owns a touched service or CODEOWNERS path.
    pub owner: bool,
    /// Reviews assigned to them and still open, on any change.
    pub open_reviews: u32,
    /// When they were last assigned a review (milliseconds), if ever.
    pub last_assigned: Option<i64>,
    /// Marked away: never routed to.
    pub away: bool,
}

/// Ranks by ownership, then open load, then least recently assigned (never first), then id so
/// that the order is total and every server node picks the same person.
pub fn rank(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.retain(|candidate| !candidate.away);
    candidates.sort_by(|a, b| {
        (Reverse(a.owner), a.open_reviews, a.last_assigned.unwrap_or(i64::MIN), &a.person).cmp(&(
            Reverse(b.owner),
            b.open_reviews,
            b.last_assigned.unwrap_or(i64::MIN),
            &b.person,
        ))
    });
    candidates
}
