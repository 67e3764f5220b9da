//! Evaluation: a change, the configuration and the attestations in; a decision with every reason
//! out. It runs in two stages so the server can reuse the first as approvals arrive:
//!
//! - [`analyze`] reads everything about a change that does not depend on its approvals
//!   (detection, responsible humans, services, owner groups, risk, which rules apply);
//! - [`decide`] weighs the verified attestations against the rules.
//!
//! Who may review a change ([`review_refused`]) and who may break the glass
//! ([`override_refused`]) are decided here once, for the CLI and the server alike.

mod analysis;
mod attestations;
mod attribution;
mod batch;
mod break_glass;
mod decision;
mod output;
mod predicates;
mod responsible;
mod rules;

pub use analysis::{Analysis, analyze, is_gate_config};
pub use attestations::{CheckOutcome, CheckedAttestations, FoundAttestation, Verified, check_attestations};
pub use attribution::{AiRange, Attribution, FileAttribution, ServiceAttribution};
pub use batch::{ComparedWith, MergedChange, MergedChangeFacts, MergedKind, combine};
pub use break_glass::{OverrideRefusal, override_refused};
pub use decision::{decide, evaluate};
pub use output::{
    ApprovalRef, ChangeSummary, CodeOwnersMatch, CommitReport, Decision, EarlierVersion, GateVerdict, Interdiff,
    OwnerGroup, PathOwners, Responsible, Role, RuleOutcome, ServiceOwners, ServiceRef,
};
pub use responsible::{ReviewRefusal, responsible, review_refused};
pub use rules::path_owners;

pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// The first 12 hex digits of a commit id, for messages.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
