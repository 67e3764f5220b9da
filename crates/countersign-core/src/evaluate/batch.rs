//! A deployment of several merged changes: each decided by the approvals of what was reviewed,
//! one verdict over all of them, and rollout advice for the batch.

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Severity};
use crate::model::OperationSource;
use crate::risk::RiskLevel;

use super::output::{ApprovalRef, Decision, GateVerdict, RuleOutcome};
use super::short;

named! {
    /// How a change reached the deployed branch's first-parent line.
    MergedKind {
        /// A merge commit: the change is its branch, from the fork point to the second parent.
        Merge = "merge",
        /// A merge that wrote content its branch did not have (a conflict resolved by hand):
        /// the merge itself is the change.
        MergeWithNewContent = "merge-with-new-content",
        /// One commit: a squash merge, or a direct push.
        Commit = "commit",
        /// Several commits in a row that were reviewed together (a rebase merge).
        Commits = "commits",
    }
}

/// What the read stage found out about one merged change, beside its decision.
#[derive(Clone, Debug)]
pub struct MergedChangeFacts {
    pub kind: MergedKind,
    /// The subject of its merge commit, or of its (first) commit.
    pub title: String,
    /// Its commits on the first-parent line, oldest first.
    pub commits: Vec<String>,
    /// Paths whose content nobody approved: what a merge wrote itself, or what differs from the
    /// closest approved version.
    pub new_content: Vec<String>,
    /// The approved version `new_content` was compared with, when there was one.
    pub compared_with: Option<ComparedWith>,
    /// Whether any source holds a statement about its content.
    pub reviewed: bool,
}

/// The approved version a change's content was compared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComparedWith {
    pub fingerprint: String,
    /// Who approved it.
    pub people: Vec<String>,
}

/// One merged change of a deployment, as the decision shows it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergedChange {
    pub kind: MergedKind,
    pub title: String,
    /// Its commits on the first-parent line, oldest first.
    pub commits: Vec<String>,
    /// Its content is the diff from `base` to `head`.
    pub base: String,
    pub head: String,
    pub fingerprint: String,
    pub verdict: GateVerdict,
    /// False for content no source holds a statement about: a direct push nobody reviewed.
    pub reviewed: bool,
    pub files: usize,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub risk: RiskLevel,
    pub destructive: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_content: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<ComparedWith>,
    /// The rules that apply and are not met.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<RuleOutcome>,
    pub approvals: Vec<ApprovalRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<ApprovalRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_approvals: Vec<ApprovalRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggested_reviewers: Vec<String>,
}

impl MergedChange {
    fn new(facts: MergedChangeFacts, decision: &Decision) -> MergedChange {
        MergedChange {
            kind: facts.kind,
            title: facts.title,
            commits: facts.commits,
            base: decision.change.base.clone(),
            head: decision.change.head.clone(),
            fingerprint: decision.change.fingerprint.clone(),
            verdict: decision.verdict,
            reviewed: facts.reviewed,
            files: decision.change.files,
            lines_added: decision.change.lines_added,
            lines_deleted: decision.change.lines_deleted,
            risk: decision.risk.level,
            destructive: decision.destructive.len(),
            new_content: facts.new_content,
            compared_with: facts.compared_with,
            unmet: decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied).cloned().collect(),
            approvals: decision.approvals.clone(),
            rejections: decision.rejections.clone(),
            earlier_approvals: decision.earlier_approvals.clone(),
            suggested_reviewers: decision.suggested_reviewers.clone(),
        }
    }

    /// How the change is named in messages: its last commit and title.
    pub fn label(&self) -> String {
        format!("{} {}", short(self.commits.last().map_or(&self.head, |commit| commit)), self.title)
    }
}

/// The decision over a deployment of several merged changes.
///
/// `whole` is the range decided as one change: its facts (commits, people, risk, destructive
/// operations) describe the deployment. It is allowed when every merged change is allowed by its
/// own approvals, or when the whole range was approved as one and nobody rejected any part.
/// Infrastructure plans describe the deployment, not a merged change: when they hold operations,
/// only an approval of the whole range (naming the plans) counts.
pub fn combine(mut whole: Decision, parts: Vec<(MergedChangeFacts, Decision)>) -> Decision {
    let parts: Vec<(MergedChange, Decision)> =
        parts.into_iter().map(|(facts, decision)| (MergedChange::new(facts, &decision), decision)).collect();
    let any_veto = parts.iter().any(|(_, decision)| vetoed(decision));
    let whole_vetoed = vetoed(&whole);
    let approved_as_one = whole.allowed() && (!whole.approvals.is_empty() || !whole.overrides.is_empty());
    let plan_operations = whole
        .destructive
        .iter()
        .chain(&whole.hazards)
        .any(|operation| !matches!(operation.source, OperationSource::Migration | OperationSource::Kubernetes));
    let blocked_parts: Vec<&MergedChange> =
        parts.iter().filter(|(part, _)| part.verdict == GateVerdict::Blocked).map(|(part, _)| part).collect();
    // A rejection of any part blocks even an approval of the whole.
    let per_change = !plan_operations && (!approved_as_one || any_veto);
    if per_change {
        whole.verdict = if !blocked_parts.is_empty() || whole_vetoed {
            GateVerdict::Blocked
        } else if parts.iter().any(|(part, _)| part.verdict == GateVerdict::Overridden) {
            GateVerdict::Overridden
        } else {
            GateVerdict::Allowed
        };
        let decisions: Vec<&Decision> = parts.iter().map(|(_, decision)| decision).collect();
        // A rejection of the whole range, or an attestation of it nobody can read, still blocks:
        // approving every part does not withdraw it.
        let unreadable_whole: Vec<RuleOutcome> =
            whole.rules.iter().filter(|rule| is_unread_veto(rule)).cloned().collect();
        whole.rules = merged_rules(&parts);
        for rule in unreadable_whole {
            match whole.rules.iter_mut().find(|merged| merged.name == rule.name) {
                Some(merged) => {
                    merged.applies = true;
                    merged.satisfied = false;
                    merged.why.extend(rule.why.into_iter().map(|why| format!("the whole range: {why}")));
                }
                None => whole.rules.push(rule),
            }
        }
        whole.approvals = union(decisions.iter().flat_map(|decision| &decision.approvals));
        whole.rejections =
            union(whole.rejections.iter().chain(decisions.iter().flat_map(|decision| &decision.rejections)));
        whole.overrides = union(decisions.iter().flat_map(|decision| &decision.overrides));
        // Approvals of earlier versions of each change, and of the whole range (a branch before
        // its last push) unless they are approvals of one of its changes: who to ask for a
        // re-review.
        let of_a_part = |approval: &&ApprovalRef| {
            approval
                .earlier_version
                .as_ref()
                .is_some_and(|earlier| parts.iter().any(|(part, _)| part.fingerprint == earlier.fingerprint))
        };
        whole.earlier_approvals = union(
            decisions
                .iter()
                .flat_map(|decision| &decision.earlier_approvals)
                .chain(whole.earlier_approvals.iter().filter(|approval| !of_a_part(approval))),
        );
        whole.suggested_reviewers = Vec::new();
        for person in decisions.iter().flat_map(|decision| &decision.suggested_reviewers) {
            if !whole.suggested_reviewers.contains(person) {
                whole.suggested_reviewers.push(person.clone());
            }
        }
        for (part, decision) in &parts {
            for finding in decision.findings.iter().filter(|finding| finding.severity != Severity::Info) {
                let message = format!("{}: {}", part.label(), finding.message);
                if !whole.findings.iter().any(|existing| existing.message == message) {
                    whole.findings.push(Finding { message, ..finding.clone() });
                }
            }
        }
    }
    whole.findings.push(Finding::new(
        Severity::Info,
        "merged-changes",
        if plan_operations {
            format!(
                "the range holds {}; the plans describe the deployment as a whole, so only an approval of the whole \
                 range naming the plans counts",
                super::plural(parts.len(), "merged change")
            )
        } else if per_change {
            format!(
                "the range holds {}, each decided by the approvals of what was reviewed{}",
                super::plural(parts.len(), "merged change"),
                if blocked_parts.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; blocked: {}",
                        blocked_parts.iter().map(|part| part.label()).collect::<Vec<_>>().join(", ")
                    )
                }
            )
        } else {
            format!("the range holds {} and was approved as one change", super::plural(parts.len(), "merged change"))
        },
    ));
    advise_batch(&mut whole, &parts);
    whole.changes = parts.into_iter().map(|(part, _)| part).collect();
    whole
}

/// A rejection, or an attestation that cannot be read (it may be one): it blocks whatever
/// else approves.
fn vetoed(decision: &Decision) -> bool {
    !decision.rejections.is_empty() || decision.rules.iter().any(is_unread_veto)
}

fn is_unread_veto(rule: &RuleOutcome) -> bool {
    rule.name == "readable-attestations" && rule.applies && !rule.satisfied
}

/// One destructive or high-risk change among others: deploy it apart, so that a rollback undoes
/// only it and a failure is not blamed on its neighbours.
fn advise_batch(whole: &mut Decision, parts: &[(MergedChange, Decision)]) {
    let destructive: Vec<&MergedChange> =
        parts.iter().filter(|(part, _)| part.destructive > 0).map(|(part, _)| part).collect();
    if parts.len() < 2 || destructive.len() == parts.len() {
        return;
    }
    for part in destructive {
        let what = if part.risk >= RiskLevel::Critical { "destructive (critical risk)" } else { "destructive" };
        let previous = parts.iter().take_while(|(other, _)| other.head != part.head).last();
        let first = match previous {
            Some((before, _)) => format!(
                "deploy up to {} first, then it by itself",
                short(before.commits.last().map_or(&before.head, |c| c))
            ),
            None => "deploy it by itself first, then the rest".to_owned(),
        };
        whole.rollout.alone = true;
        whole.rollout.notes.push(format!(
            "{} is {what} and rides with {} other {}: {first}",
            part.label(),
            parts.len() - 1,
            if parts.len() == 2 { "change" } else { "changes" }
        ));
    }
}

/// Each rule over every merged change: it applies when it applies to one, and is satisfied when
/// every change it applies to satisfies it.
fn merged_rules(parts: &[(MergedChange, Decision)]) -> Vec<RuleOutcome> {
    let mut merged: Vec<RuleOutcome> = Vec::new();
    for (part, decision) in parts {
        for rule in &decision.rules {
            let index = match merged.iter().position(|existing| existing.name == rule.name) {
                Some(index) => index,
                None => {
                    merged.push(RuleOutcome {
                        name: rule.name.clone(),
                        description: rule.description.clone(),
                        applies: false,
                        satisfied: true,
                        why: Vec::new(),
                        approvals: Vec::new(),
                        missing: 0,
                        eligible: Vec::new(),
                        suggested: Vec::new(),
                        owner_groups: Vec::new(),
                    });
                    merged.len() - 1
                }
            };
            if !rule.applies {
                continue;
            }
            let into = &mut merged[index];
            into.applies = true;
            into.satisfied &= rule.satisfied;
            into.missing += rule.missing;
            if !rule.satisfied {
                into.why.extend(rule.why.iter().map(|why| format!("{}: {why}", part.label())));
                into.owner_groups.extend(rule.owner_groups.iter().cloned());
            }
            for (list, from) in [
                (&mut into.approvals, &rule.approvals),
                (&mut into.eligible, &rule.eligible),
                (&mut into.suggested, &rule.suggested),
            ] {
                for person in from {
                    if !list.contains(person) {
                        list.push(person.clone());
                    }
                }
            }
        }
    }
    for rule in merged.iter_mut().filter(|rule| !rule.applies) {
        rule.why.push("applies to none of the merged changes".to_owned());
    }
    merged
}

/// Statements found for several changes, each once.
fn union<'a>(statements: impl Iterator<Item = &'a ApprovalRef>) -> Vec<ApprovalRef> {
    let mut out: Vec<ApprovalRef> = Vec::new();
    for statement in statements {
        if !out.iter().any(|other| {
            other.person == statement.person && other.time == statement.time && other.source == statement.source
        }) {
            out.push(statement.clone());
        }
    }
    out
}
