//! The second stage: the policy proper, over an analysis and its verified attestations.

use crate::attestation::Statement;
use crate::config::Config;
use crate::model::ChangeInput;

use super::analysis::{Analysis, analyze, blocking};
use super::attestations::{CheckedAttestations, FoundAttestation, accepted_attestations, check_attestations};
use super::output::{ApprovalRef, Decision, EarlierVersion, GateVerdict, RuleOutcome};
use super::rules::{evaluate_rule, suggest_reviewers};

/// Reads every part of the decision from its inputs; never stops at the first problem.
pub fn evaluate(config: &Config, change: &ChangeInput, attestations: &[FoundAttestation], now: i64) -> Decision {
    let analysis = analyze(config, change);
    decide(config, &analysis, &check_attestations(config, &analysis.change.fingerprint, attestations), now)
}

/// The decision for an analysed change and its checked attestations: the policy proper.
pub fn decide(config: &Config, analysis: &Analysis, attestations: &CheckedAttestations, now: i64) -> Decision {
    let mut findings = analysis.findings.clone();
    let policy = &config.policy;
    let n_people = config.directory.people().len();
    let accepted = accepted_attestations(config, analysis, attestations, now, &mut findings);
    let mut approved = vec![false; n_people];
    let mut uninformed: Vec<Option<String>> = vec![None; n_people];
    let mut approvals = Vec::new();
    for (idx, statement, origin, not_informed) in &accepted.approvals {
        approved[*idx] = true;
        uninformed[*idx].clone_from(not_informed);
        approvals.push(approval_ref(statement, origin, true));
    }
    let rejections: Vec<ApprovalRef> = if policy.approvals.rejections_block {
        accepted
            .rejections
            .iter()
            .map(|(statement, origin, current)| approval_ref(statement, origin, *current))
            .collect()
    } else {
        Vec::new()
    };
    let earlier_approvals =
        accepted.earlier_approvals.iter().map(|(statement, origin)| approval_ref(statement, origin, false)).collect();
    let overrides = accepted.overrides;

    let mut eligible_by_rule = Vec::with_capacity(policy.rules.len());
    let mut rules: Vec<RuleOutcome> = Vec::with_capacity(policy.rules.len() + 1);
    for (rule_idx, rule) in policy.rules.iter().enumerate() {
        let (outcome, eligible) = evaluate_rule(config, rule_idx, rule, analysis, (&approved, &uninformed));
        rules.push(outcome);
        eligible_by_rule.push(eligible);
    }
    let suggested_reviewers = suggest_reviewers(config, &rules, &eligible_by_rule);
    rules.extend(analysis.builtin.iter().cloned());
    if !accepted.unreadable.is_empty() {
        rules.push(blocking(
            "readable-attestations",
            "Every attestation of the change can be read: an unreadable one may be a rejection",
            vec![
                format!("cannot read: {}", accepted.unreadable.join(", ")),
                "remove or replace them (a rejection is withdrawn by its author's approval, not by deleting it)"
                    .to_owned(),
            ],
        ));
    }
    let blocked = rules.iter().any(|rule| rule.applies && !rule.satisfied) || !rejections.is_empty();
    let verdict = match (blocked, overrides.is_empty()) {
        (false, _) => GateVerdict::Allowed,
        (true, true) => GateVerdict::Blocked,
        (true, false) => GateVerdict::Overridden,
    };
    let overrides = if blocked {
        overrides.into_iter().map(|(statement, origin)| approval_ref(statement, origin, true)).collect()
    } else {
        Vec::new()
    };
    Decision {
        verdict,
        change: analysis.change.clone(),
        ai_assisted: analysis.ai_assisted,
        commits: analysis.commits.clone(),
        change_signals: analysis.change_signals.clone(),
        responsible: analysis.responsible.clone(),
        risk: analysis.risk.clone(),
        destructive: analysis.destructive.clone(),
        hazards: analysis.hazards.clone(),
        rollout: policy.rollout_for(analysis.risk.level).clone(),
        attribution: analysis.attribution.clone(),
        rules,
        rejections,
        approvals,
        earlier_approvals,
        overrides,
        suggested_reviewers,
        findings,
        changes: Vec::new(),
    }
}

/// A statement as the decision shows it; one about an earlier version names that version.
fn approval_ref(statement: &Statement, origin: &str, current: bool) -> ApprovalRef {
    ApprovalRef {
        person: statement.person.clone(),
        time: statement.time,
        comment: statement.comment.clone(),
        source: origin.to_owned(),
        opened: statement.opened.clone(),
        earlier_version: (!current).then(|| EarlierVersion {
            head: statement.head.clone(),
            fingerprint: statement.fingerprint.clone(),
            changed_since: Vec::new(),
        }),
    }
}
