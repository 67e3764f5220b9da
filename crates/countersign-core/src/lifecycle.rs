//! The approval service's vocabulary: the states a change and a routed review go through, and the
//! actions its audit log records. Stored and sent as the strings `as_str` gives.

use serde::{Deserialize, Serialize};

/// A stored name that is not one of its type's names: the database holds something this version
/// did not write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a known {kind}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub text: String,
}

named! {
    /// Where a registered change stands.
    ChangeState {
        /// Current: it can be reviewed and deployed.
        Open = "open",
        /// A newer head was registered under the same name; its reviews are closed.
        Superseded = "superseded",
    }
}

named! {
    /// Where a review routed to a person stands.
    AssignmentState {
        /// Waiting for the person.
        Open = "open",
        /// The person approved or rejected.
        Done = "done",
        /// No longer needed: the rule was met by others or the change moved on.
        Closed = "closed",
        /// Nobody picked it up in time; it went to the next person.
        Escalated = "escalated",
    }
}

named! {
    /// What a write that was refused had tried to do.
    Attempt {
        Change = "change",
        Deployment = "deployment",
        Approval = "approval",
        Rejection = "rejection",
        Override = "override",
        OverrideReview = "override-review",
        ReviewPick = "review-pick",
        Away = "away",
        SignIn = "sign-in",
    }
}

named! {
    /// What an audit entry records.
    AuditAction {
        ChangeRegistered = "change.registered",
        ChangeSuperseded = "change.superseded",
        ChangeEvaluated = "change.evaluated",
        ApprovalRecorded = "approval.recorded",
        RejectionRecorded = "rejection.recorded",
        ApprovalWithdrawn = "approval.withdrawn",
        OverrideRecorded = "override.recorded",
        OverrideReviewed = "override.reviewed",
        ReviewAssigned = "review.assigned",
        ReviewPicked = "review.picked",
        ReviewEscalated = "review.escalated",
        PersonAway = "person.away",
        PersonBack = "person.back",
        TokenCreated = "token.created",
        TokenRevoked = "token.revoked",
        DeploymentVerdict = "deployment.verdict",
        ChangeRefused = "change.refused",
        DeploymentRefused = "deployment.refused",
        ApprovalRefused = "approval.refused",
        RejectionRefused = "rejection.refused",
        OverrideRefused = "override.refused",
        OverrideReviewRefused = "override-review.refused",
        ReviewPickRefused = "review-pick.refused",
        AwayRefused = "away.refused",
        SessionStarted = "session.started",
        SessionEnded = "session.ended",
        SignInRefused = "sign-in.refused",
        /// Content reached a repository's default branch without an allowed decision.
        BypassDetected = "bypass.detected",
    }
}

impl Attempt {
    /// The audit action that records this attempt's refusal.
    pub fn refused(self) -> AuditAction {
        match self {
            Attempt::Change => AuditAction::ChangeRefused,
            Attempt::Deployment => AuditAction::DeploymentRefused,
            Attempt::Approval => AuditAction::ApprovalRefused,
            Attempt::Rejection => AuditAction::RejectionRefused,
            Attempt::Override => AuditAction::OverrideRefused,
            Attempt::OverrideReview => AuditAction::OverrideReviewRefused,
            Attempt::ReviewPick => AuditAction::ReviewPickRefused,
            Attempt::Away => AuditAction::AwayRefused,
            Attempt::SignIn => AuditAction::SignInRefused,
        }
    }
}
