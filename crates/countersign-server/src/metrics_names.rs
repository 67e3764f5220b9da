//! Metric names, described once so `/metrics` explains itself.

pub const DECISIONS: &str = "countersign_decisions_total";
pub const STATEMENTS: &str = "countersign_statements_total";
pub const OVERRIDES: &str = "countersign_overrides_total";
pub const REFUSED: &str = "countersign_refused_total";
pub const ESCALATIONS: &str = "countersign_escalations_total";
pub const TIME_TO_FIRST_REVIEW: &str = "countersign_time_to_first_review_seconds";
pub const TIME_TO_APPROVAL: &str = "countersign_time_to_approval_seconds";
pub const QUEUE_DEPTH: &str = "countersign_queue_depth";
pub const OVERDUE_REVIEWS: &str = "countersign_overdue_reviews";
pub const PENDING_REVIEWS: &str = "countersign_pending_after_the_fact_reviews";
pub const DELIVERIES: &str = "countersign_webhook_deliveries_total";
pub const BYPASSES: &str = "countersign_bypasses_total";

pub fn describe() {
    metrics::describe_counter!(DECISIONS, "Decisions recorded, by verdict");
    metrics::describe_counter!(STATEMENTS, "Approvals, rejections and overrides recorded, by verdict");
    metrics::describe_counter!(OVERRIDES, "Break-glass overrides recorded");
    metrics::describe_counter!(REFUSED, "Writes refused, by reason");
    metrics::describe_counter!(BYPASSES, "Pushes that put content on a default branch without an allowed decision");
    metrics::describe_counter!(DELIVERIES, "Webhook delivery attempts, by outcome (delivered, retry, failed)");
    metrics::describe_counter!(ESCALATIONS, "Reviews passed on because nobody picked them up in time");
    metrics::describe_histogram!(
        TIME_TO_FIRST_REVIEW,
        metrics::Unit::Seconds,
        "From a change's registration to its first approval or rejection"
    );
    metrics::describe_histogram!(
        TIME_TO_APPROVAL,
        metrics::Unit::Seconds,
        "From a change's registration to its first allowed decision"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, "Open reviews per reviewer, read from the database at scrape time");
    metrics::describe_gauge!(OVERDUE_REVIEWS, "After-the-fact reviews of overrides past their deadline");
    metrics::describe_gauge!(PENDING_REVIEWS, "After-the-fact reviews of overrides not done yet");
}
