//! Evaluation: a change, the configuration and the attestations in; a decision with every reason out.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::attestation::{Envelope, Rejected, Statement, Verdict};
use crate::codeowners::Owner;
use crate::config::Config;
use crate::detect::{self, CommitScan, IdentityKind, Signal};
use crate::directory::{Member, Rank};
use crate::finding::{Finding, Severity};
use crate::fingerprint::fingerprint;
use crate::model::{ChangeInput, Operation, RecentHistory};
use crate::policy::{Predicate, Requirement, Rule};
use crate::risk::{self, Experience, Risk, RiskInput};
use crate::rollout::Rollout;

/// Seconds an attestation may be dated ahead of the verifier's clock.
const CLOCK_SKEW_SECS: i64 = 300;

/// An attestation as found by an adapter, with where it came from for messages.
#[derive(Clone, Debug)]
pub struct FoundAttestation {
    pub origin: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GateVerdict {
    Allowed,
    Blocked,
    /// Blocked by its rules but let through by break-glass; an after-the-fact review is due.
    Overridden,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceRef {
    pub name: String,
    pub tier: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChangeSummary {
    pub repo: String,
    pub base: String,
    pub head: String,
    pub fingerprint: String,
    pub environment: String,
    pub commits: usize,
    pub files: usize,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub services: Vec<ServiceRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CommitReport {
    pub id: String,
    pub ai_assisted: bool,
    pub signals: Vec<Signal>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Responsible {
    pub id: String,
    pub level: String,
    pub known: bool,
    /// How the person is tied to the change: author, committer, co-author, requester.
    pub roles: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ApprovalRef {
    pub person: String,
    pub time: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OwnerGroup {
    /// The CODEOWNERS owners or the service whose owners form this group.
    pub owners: String,
    /// The touched paths that gave this group.
    pub paths: Vec<String>,
    pub covered_by: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleOutcome {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub applies: bool,
    pub satisfied: bool,
    pub why: Vec<String>,
    pub approvals: Vec<String>,
    pub missing: u32,
    pub eligible: Vec<String>,
    pub suggested: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_groups: Vec<OwnerGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub verdict: GateVerdict,
    pub change: ChangeSummary,
    pub ai_assisted: bool,
    pub commits: Vec<CommitReport>,
    /// Signals of the change as a whole: its branch name and its pull request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub change_signals: Vec<Signal>,
    pub responsible: Vec<Responsible>,
    pub risk: Risk,
    /// Operations that delete or replace something that exists, each with where it was found.
    pub destructive: Vec<Operation>,
    /// Operations that endanger availability without destroying, e.g. a locking migration.
    pub hazards: Vec<Operation>,
    /// How a change of this risk should be rolled out.
    pub rollout: Rollout,
    pub rules: Vec<RuleOutcome>,
    /// Rejections that block the change until their authors approve.
    pub rejections: Vec<ApprovalRef>,
    /// Every approval that counts for this change, whatever rule it satisfies.
    pub approvals: Vec<ApprovalRef>,
    /// Break-glass overrides of this change; the comment is the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<ApprovalRef>,
    /// The fewest reviewers who, approving, would satisfy every unmet rule (greedy), best first.
    pub suggested_reviewers: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Responsible {
    /// Whether the person wrote code of the change, as author or co-author: experience is
    /// judged for them, not for committers or requesters.
    pub fn wrote_code(&self) -> bool {
        self.roles.iter().any(|role| matches!(*role, "author" | "co-author"))
    }
}

impl Decision {
    /// Whether the change may be deployed now: allowed, or overridden by break-glass.
    pub fn allowed(&self) -> bool {
        self.verdict != GateVerdict::Blocked
    }
}

/// Everything about a change that does not depend on its approvals: computed once per head, then
/// reused for every decision as approvals arrive.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub change: ChangeSummary,
    pub ai_assisted: bool,
    pub commits: Vec<CommitReport>,
    pub change_signals: Vec<Signal>,
    pub responsible: Vec<Responsible>,
    pub risk: Risk,
    pub destructive: Vec<Operation>,
    pub hazards: Vec<Operation>,
    pub findings: Vec<Finding>,
    head: String,
    n_signals: usize,
    agent_authored: bool,
    least: Option<(String, Rank)>,
    /// Positions of the known responsible people, and the same as a mask over the directory.
    responsible_people: Vec<usize>,
    excluded: Vec<bool>,
    paths: Vec<String>,
    services: Vec<(String, u32)>,
    target_branch: Option<String>,
    lines_changed: u64,
    groups: Vec<Group>,
    declaration: Option<RuleOutcome>,
    /// For each rule of the policy: whether it applies to this change, and why.
    applicability: Vec<(bool, Vec<String>)>,
}

impl Analysis {
    /// People who own a touched path or service: routing prefers them.
    pub fn owners(&self, config: &Config) -> Vec<String> {
        let people = config.directory.people();
        let mut members: Vec<usize> = self.groups.iter().flat_map(|group| group.members.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        members.into_iter().map(|idx| people[idx].id.clone()).collect()
    }
}

/// A verified statement with its signer's id, or why the attestation was refused.
pub type CheckOutcome = Result<(Statement, String), Rejected>;

/// Attestations of one change with their signatures checked; the expensive, cacheable part.
#[derive(Clone, Debug)]
pub struct CheckedAttestations {
    pub fingerprint: String,
    /// Attestations naming this fingerprint: the statement and its signer, or why it was refused.
    pub checked: Vec<(String, CheckOutcome)>,
    /// How many attestations name other fingerprints.
    pub other_changes: usize,
}

/// Checks each attestation's signature against the directory; other changes' attestations are
/// only counted.
pub fn check_attestations(config: &Config, fingerprint: &str, found: &[FoundAttestation]) -> CheckedAttestations {
    let fingerprint = fingerprint.to_owned();
    let mut checked = Vec::new();
    let mut other_changes = 0;
    for attestation in found {
        let result = Envelope::from_bytes(&attestation.bytes).and_then(|envelope| {
            let statement = envelope.statement_unverified()?;
            if statement.fingerprint != fingerprint {
                return Ok(None);
            }
            envelope
                .verify(&config.directory, &config.policy.server_keys)
                .map(|(statement, person)| Some((statement, person.id.clone())))
        });
        match result {
            Ok(None) => other_changes += 1,
            Ok(Some(verified)) => checked.push((attestation.origin.clone(), Ok(verified))),
            Err(rejected) => checked.push((attestation.origin.clone(), Err(rejected))),
        }
    }
    CheckedAttestations { fingerprint, checked, other_changes }
}

/// Reads every part of the decision from its inputs; never stops at the first problem.
pub fn evaluate(config: &Config, change: &ChangeInput, attestations: &[FoundAttestation], now: i64) -> Decision {
    let analysis = analyze(config, change);
    decide(config, &analysis, &check_attestations(config, &analysis.change.fingerprint, attestations), now)
}

/// Detection, responsibility, services, ownership and risk of a change.
pub fn analyze(config: &Config, change: &ChangeInput) -> Analysis {
    let mut findings = Vec::new();
    let directory = &config.directory;
    let policy = &config.policy;
    let detect_config = &config.index.detect;

    let scans: Vec<CommitScan> =
        change.commits.iter().map(|commit| detect::scan_commit(commit, detect_config)).collect();
    let commits: Vec<CommitReport> = change
        .commits
        .iter()
        .zip(&scans)
        .map(|(commit, scan)| CommitReport {
            id: commit.id.clone(),
            ai_assisted: scan.ai_assisted(policy.ai.contextual_counts),
            signals: scan.signals.clone(),
        })
        .collect();
    let mut change_signals: Vec<Signal> =
        change.source_branch.as_deref().and_then(detect::scan_branch).into_iter().collect();
    if let Some(pull_request) = &change.pull_request {
        change_signals.extend(detect::scan_pull_request(
            pull_request.author.as_deref(),
            &pull_request.body,
            detect_config,
        ));
    }
    let ai_assisted =
        commits.iter().any(|commit| commit.ai_assisted) || (policy.ai.contextual_counts && !change_signals.is_empty());
    let n_signals = commits.iter().map(|commit| commit.signals.len()).sum::<usize>() + change_signals.len();
    let agent_authored = change.commits.iter().zip(&scans).any(|(commit, scan)| {
        !matches!(scan.author_kind, IdentityKind::Human | IdentityKind::Bot)
            || detect::has_aider_suffix(&commit.author.name)
    });

    let responsible = responsible_humans(config, change, &scans, &mut findings);
    let mut excluded = vec![false; directory.people().len()];
    let mut responsible_people = Vec::new();
    for entry in responsible.iter().filter(|entry| entry.known) {
        if let Some(idx) = directory.person_index(&entry.id) {
            excluded[idx] = true;
            responsible_people.push(idx);
        }
    }
    let least =
        responsible.iter().map(|entry| (entry.id.clone(), rank_of(config, entry))).min_by_key(|(_, rank)| *rank);

    let paths: Vec<String> = change.files.iter().map(|file| file.path.clone()).collect();
    let path_services: Vec<Vec<usize>> = paths.iter().map(|path| config.services.indices_of(path)).collect();
    let mut touched: Vec<usize> = path_services.iter().flatten().copied().collect();
    touched.sort_unstable();
    touched.dedup();
    let services: Vec<(String, u32)> = touched
        .iter()
        .map(|idx| &config.services.all()[*idx])
        .map(|service| (service.name.clone(), service.tier))
        .collect();
    let lines_added: u64 = change.files.iter().map(|file| u64::from(file.added)).sum();
    let lines_deleted: u64 = change.files.iter().map(|file| u64::from(file.deleted)).sum();
    let mut destructive = change.blast.destructive.clone();
    destructive.sort();
    destructive.dedup();
    let mut hazards = change.blast.hazards.clone();
    hazards.sort();
    hazards.dedup();
    let file_lines: Vec<(&str, u64)> =
        change.files.iter().map(|file| (file.path.as_str(), u64::from(file.added) + u64::from(file.deleted))).collect();
    let risk = risk::assess(
        &policy.risk,
        &RiskInput {
            services: &services,
            touches_gate_config: paths.iter().any(|path| is_gate_config(path)),
            destructive: &destructive,
            hazards: &hazards,
            files: &file_lines,
            experience: experience(config, &responsible, &paths, change.history.as_ref()),
        },
    );
    let groups = owner_groups(config, &paths, &path_services);
    let declaration = policy.ai.require_declaration.then(|| declaration_rule(&change.commits, &scans));
    let mut analysis = Analysis {
        change: ChangeSummary {
            repo: change.repo.clone(),
            base: change.base.clone(),
            head: change.head.clone(),
            fingerprint: fingerprint(&change.tree_changes),
            environment: change.environment.clone(),
            commits: change.commits.len(),
            files: change.files.len(),
            lines_added,
            lines_deleted,
            services: services.iter().map(|(name, tier)| ServiceRef { name: name.clone(), tier: *tier }).collect(),
        },
        ai_assisted,
        commits,
        change_signals,
        responsible,
        risk,
        destructive,
        hazards,
        findings,
        head: change.head.clone(),
        n_signals,
        agent_authored,
        least,
        responsible_people,
        excluded,
        paths,
        services,
        target_branch: change.target_branch.clone(),
        lines_changed: lines_added + lines_deleted,
        groups,
        declaration,
        applicability: Vec::new(),
    };
    // Whether a rule applies depends on the change only, never on its approvals.
    analysis.applicability = policy
        .rules
        .iter()
        .map(|rule| {
            let mut why = Vec::new();
            let applies = match &rule.when {
                None => {
                    why.push("applies to every change".to_owned());
                    true
                }
                Some(predicate) => holds(config, predicate, &analysis, &mut why),
            };
            (applies, why)
        })
        .collect();
    analysis
}

/// The decision for an analysed change and its checked attestations: the policy proper.
pub fn decide(config: &Config, analysis: &Analysis, attestations: &CheckedAttestations, now: i64) -> Decision {
    let mut findings = analysis.findings.clone();
    let policy = &config.policy;
    let n_people = config.directory.people().len();
    let (latest, overrides) = accepted_attestations(config, analysis, attestations, now, &mut findings);
    let mut approved = vec![false; n_people];
    let mut approvals = Vec::new();
    for (idx, statement) in &latest {
        if statement.verdict == Verdict::Approve {
            approved[*idx] = true;
            approvals.push(approval_ref(statement));
        }
    }
    let rejections: Vec<ApprovalRef> = if policy.approvals.rejections_block {
        latest
            .iter()
            .filter(|(_, statement)| statement.verdict == Verdict::Reject)
            .map(|(_, statement)| approval_ref(statement))
            .collect()
    } else {
        Vec::new()
    };

    let mut eligible_by_rule = Vec::with_capacity(policy.rules.len());
    let mut rules: Vec<RuleOutcome> = Vec::with_capacity(policy.rules.len() + 1);
    for (rule_idx, rule) in policy.rules.iter().enumerate() {
        let (outcome, eligible) = evaluate_rule(config, rule_idx, rule, analysis, &approved);
        rules.push(outcome);
        eligible_by_rule.push(eligible);
    }
    let suggested_reviewers = suggest_reviewers(config, &rules, &eligible_by_rule);
    rules.extend(analysis.declaration.clone());
    let blocked = rules.iter().any(|rule| rule.applies && !rule.satisfied) || !rejections.is_empty();
    let verdict = match (blocked, overrides.is_empty()) {
        (false, _) => GateVerdict::Allowed,
        (true, true) => GateVerdict::Blocked,
        (true, false) => GateVerdict::Overridden,
    };
    let overrides = if blocked { overrides.into_iter().map(approval_ref).collect() } else { Vec::new() };
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
        rules,
        rejections,
        approvals,
        overrides,
        suggested_reviewers,
        findings,
    }
}

/// Greedy cover: repeatedly pick the eligible person who counts for the most still-missing
/// approvals, preferring the order of each rule's own suggestions.
fn suggest_reviewers(config: &Config, rules: &[RuleOutcome], eligible_by_rule: &[Vec<usize>]) -> Vec<String> {
    let n_people = config.directory.people().len();
    let mut missing: Vec<(u32, Vec<bool>, Vec<usize>)> = Vec::new();
    for (rule, eligible) in rules.iter().zip(eligible_by_rule) {
        if rule.applies && rule.missing > 0 {
            let mut mask = vec![false; n_people];
            for idx in eligible {
                mask[*idx] = true;
            }
            let order: Vec<usize> = rule
                .suggested
                .iter()
                .filter_map(|id| config.directory.person_index(id))
                .chain(eligible.iter().copied())
                .collect();
            missing.push((rule.missing, mask, order));
        }
    }
    let mut picked = vec![false; n_people];
    let mut picks = Vec::new();
    loop {
        let mut best: Option<(usize, usize, usize)> = None;
        for (rule_idx, (_, _, order)) in missing.iter().enumerate().filter(|(_, (left, _, _))| *left > 0) {
            for (rank, person) in order.iter().enumerate() {
                if picked[*person] {
                    continue;
                }
                let covers = missing.iter().filter(|(left, mask, _)| *left > 0 && mask[*person]).count();
                let position = rule_idx * n_people.max(1) * 2 + rank;
                if best.is_none_or(|(best_covers, best_position, _)| {
                    covers > best_covers || (covers == best_covers && position < best_position)
                }) {
                    best = Some((covers, position, *person));
                }
            }
        }
        let Some((_, _, person)) = best else { break };
        for (left, mask, _) in &mut missing {
            if *left > 0 && mask[person] {
                *left -= 1;
            }
        }
        picked[person] = true;
        picks.push(config.directory.people()[person].id.clone());
    }
    picks
}

fn approval_ref(statement: &Statement) -> ApprovalRef {
    ApprovalRef { person: statement.person.clone(), time: statement.time, comment: statement.comment.clone() }
}

fn rank_of(config: &Config, entry: &Responsible) -> Rank {
    match config.directory.person(&entry.id) {
        Some(person) if entry.known => person.rank(),
        _ => Rank::Unknown,
    }
}

/// Each responsible author's commits in the directories the change touches, from the recent
/// history the adapter read. Requesters and committers are not judged on it: experience is about
/// whoever wrote the code.
fn experience(
    config: &Config,
    responsible: &[Responsible],
    paths: &[String],
    history: Option<&RecentHistory>,
) -> Vec<Experience> {
    let directories = risk::directories_of(paths.iter().map(String::as_str));
    let minimum = config.policy.risk.experience_min_commits;
    let mut counts: Vec<u32> = vec![0; config.directory.people().len()];
    if let Some(history) = history {
        for commit in &history.commits {
            let Some(Member::Person(person)) = config.directory.by_identity(&commit.author) else { continue };
            let touches =
                commit.files.iter().any(|file| directories.binary_search(&risk::directory_of(&file.path)).is_ok());
            if touches && let Some(idx) = config.directory.person_index(&person.id) {
                counts[idx] += 1;
            }
        }
    }
    responsible
        .iter()
        .filter(|entry| entry.wrote_code())
        .map(|entry| {
            let idx = if entry.known { config.directory.person_index(&entry.id) } else { None };
            let unknown = match (idx, history) {
                (None, _) => Some("not in the directory".to_owned()),
                (Some(_), None) => Some("the history was not read".to_owned()),
                (Some(idx), Some(history)) if !history.complete && counts[idx] < minimum => {
                    Some("the history ends before the window starts (shallow clone?)".to_owned())
                }
                _ => None,
            };
            Experience {
                person: entry.id.clone(),
                commits: if unknown.is_none() { idx.map(|idx| counts[idx]) } else { None },
                unknown,
            }
        })
        .collect()
}

/// Paths whose change alters the gate itself.
pub fn is_gate_config(path: &str) -> bool {
    path.starts_with(".countersign/") || crate::codeowners::CODEOWNERS_LOCATIONS.contains(&path)
}

/// The responsible humans of a change, for callers that only need to know who cannot review it.
pub fn responsible(config: &Config, change: &ChangeInput) -> Vec<Responsible> {
    let scans: Vec<CommitScan> =
        change.commits.iter().map(|commit| detect::scan_commit(commit, &config.index.detect)).collect();
    responsible_humans(config, change, &scans, &mut Vec::new())
}

/// Authors, committers and co-authors who are humans, and the requester. Agents and bots are not
/// responsible; their work falls on the humans around them, or on an unknown human.
fn responsible_humans(
    config: &Config,
    change: &ChangeInput,
    scans: &[CommitScan],
    findings: &mut Vec<Finding>,
) -> Vec<Responsible> {
    let mut entries: Vec<Responsible> = Vec::new();
    let add = |entries: &mut Vec<Responsible>, id: String, level: String, known: bool, role: &'static str| match entries
        .iter_mut()
        .find(|entry| entry.id == id)
    {
        Some(entry) if !entry.roles.contains(&role) => entry.roles.push(role),
        Some(_) => {}
        None => entries.push(Responsible { id, level, known, roles: vec![role] }),
    };
    let mut unknown_reported = BTreeSet::new();
    for (commit, scan) in change.commits.iter().zip(scans) {
        let identities = [
            (&commit.author, scan.author_kind.is_human(), "author"),
            (&commit.committer, scan.committer_kind.is_human(), "committer"),
        ]
        .into_iter()
        .chain(scan.human_co_authors.iter().map(|identity| (identity, true, "co-author")));
        for (identity, is_human, role) in identities {
            if !is_human {
                continue;
            }
            match config.directory.by_identity(identity) {
                Some(Member::Person(person)) => add(
                    &mut entries,
                    person.id.clone(),
                    config.directory.level_name(person.rank()).to_owned(),
                    true,
                    role,
                ),
                Some(Member::Agent(_)) => {}
                None => {
                    let email = identity.email.trim().to_ascii_lowercase();
                    if unknown_reported.insert(email.clone()) {
                        findings.push(Finding::new(
                            Severity::Warning,
                            "unknown-person",
                            format!(
                                "{role} {identity} of commit {} is not in people.toml; treated as below every level",
                                short(&commit.id)
                            ),
                        ));
                    }
                    add(&mut entries, email, "unknown".to_owned(), false, role);
                }
            }
        }
    }
    if let Some(requester) = &change.requester {
        match config.directory.lookup(requester) {
            Some(Member::Person(person)) => add(
                &mut entries,
                person.id.clone(),
                config.directory.level_name(person.rank()).to_owned(),
                true,
                "requester",
            ),
            Some(Member::Agent(agent)) => findings.push(Finding::new(
                Severity::Info,
                "agent-requester",
                format!("the deployment was requested by agent `{}`; the humans of the change answer for it", agent.id),
            )),
            None => {
                findings.push(Finding::new(
                    Severity::Warning,
                    "unknown-person",
                    format!("requester `{requester}` is not in people.toml; treated as below every level"),
                ));
                add(&mut entries, requester.clone(), "unknown".to_owned(), false, "requester");
            }
        }
    }
    if entries.is_empty() {
        findings.push(Finding::new(
            Severity::Warning,
            "no-human",
            "no human author, committer, co-author or requester: the change is treated as coming from an unknown human",
        ));
        add(&mut entries, "(no human)".to_owned(), "unknown".to_owned(), false, "none");
    }
    entries
}

pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Keeps the latest verdict of each eligible person for this change, by person position.
fn accepted_attestations<'a>(
    config: &Config,
    analysis: &Analysis,
    attestations: &'a CheckedAttestations,
    now: i64,
    findings: &mut Vec<Finding>,
) -> (Vec<(usize, &'a Statement)>, Vec<&'a Statement>) {
    let mut latest: Vec<(usize, &Statement)> = Vec::new();
    let mut overrides = Vec::new();
    for (origin, result) in &attestations.checked {
        let (statement, person) = match result {
            Ok(verified) => verified,
            Err(rejected) => {
                findings.push(Finding::new(
                    Severity::Warning,
                    "attestation-ignored",
                    format!("attestation {origin} ignored: it {rejected}"),
                ));
                continue;
            }
        };
        let ignore = |reason: String| {
            Finding::new(
                Severity::Warning,
                "attestation-ignored",
                format!("attestation {origin} by {person} ignored: {reason}"),
            )
        };
        if statement.environment != analysis.change.environment {
            findings.push(ignore(format!(
                "it is for environment `{}`, not `{}`",
                statement.environment, analysis.change.environment
            )));
            continue;
        }
        if !config.policy.approvals.keep_on_rebase && statement.head != analysis.head {
            findings.push(ignore(format!("it approved head {}, and keep_on_rebase is off", short(&statement.head))));
            continue;
        }
        if statement.time > now + CLOCK_SKEW_SECS {
            findings.push(ignore("it is dated in the future".to_owned()));
            continue;
        }
        if let Some(days) = config.policy.approvals.max_age_days
            && statement.time + i64::from(days) * 86_400 < now
        {
            findings.push(ignore(format!("it is older than max_age_days = {days}")));
            continue;
        }
        let Some(idx) = config.directory.person_index(person) else { continue };
        if statement.verdict == Verdict::Override {
            match override_refused(config, idx, &statement.comment) {
                Some(refusal) => findings.push(ignore(refusal.to_string())),
                None => overrides.push(statement),
            }
            continue;
        }
        if analysis.excluded[idx] {
            findings.push(ignore("a responsible human of the change cannot approve or reject it".to_owned()));
            continue;
        }
        match latest.iter_mut().find(|(other, _)| *other == idx) {
            Some(entry) if entry.1.time <= statement.time => entry.1 = statement,
            Some(_) => {}
            None => latest.push((idx, statement)),
        }
    }
    if attestations.other_changes > 0 {
        findings.push(Finding::new(
            Severity::Info,
            "attestations-for-other-changes",
            format!("{} attestations name other fingerprints and were not considered", attestations.other_changes),
        ));
    }
    latest.sort_by_key(|(idx, _)| *idx);
    (latest, overrides)
}

/// Why a person may not break the glass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideRefusal {
    /// policy.toml has no `[break_glass]`.
    Disabled,
    LevelTooLow {
        person: String,
        level: String,
        needed: String,
    },
    ReasonRequired,
}

impl OverrideRefusal {
    /// A stable code for APIs and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            OverrideRefusal::Disabled => "break-glass-disabled",
            OverrideRefusal::LevelTooLow { .. } => "level-too-low",
            OverrideRefusal::ReasonRequired => "reason-required",
        }
    }
}

impl std::fmt::Display for OverrideRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverrideRefusal::Disabled => write!(f, "break-glass is not enabled: policy.toml has no [break_glass]"),
            OverrideRefusal::LevelTooLow { person, level, needed } => {
                write!(f, "{person} is {level}; break-glass needs {needed} or above (break_glass.min_level)")
            }
            OverrideRefusal::ReasonRequired => {
                write!(f, "break-glass needs a reason, and break_glass.reason_required is on")
            }
        }
    }
}

/// Whether the person (by position in the directory) may override with this reason. Break-glass
/// is for whoever is on call, the author included; a second person's review keeps it honest.
pub fn override_refused(config: &Config, person: usize, reason: &str) -> Option<OverrideRefusal> {
    let Some(break_glass) = &config.policy.break_glass else {
        return Some(OverrideRefusal::Disabled);
    };
    let person = &config.directory.people()[person];
    if person.level < break_glass.min_level {
        let levels = config.directory.levels();
        return Some(OverrideRefusal::LevelTooLow {
            person: person.id.clone(),
            level: levels[person.level].clone(),
            needed: levels.get(break_glass.min_level).cloned().unwrap_or_default(),
        });
    }
    if break_glass.reason_required && reason.trim().is_empty() {
        return Some(OverrideRefusal::ReasonRequired);
    }
    None
}

/// One owner group of the touched paths: a CODEOWNERS line's owners or a service's owners.
#[derive(Clone, Debug)]
struct Group {
    label: String,
    paths: Vec<String>,
    /// Sorted positions of the group's people.
    members: Vec<usize>,
}

#[derive(PartialEq, Eq)]
enum GroupKey {
    CodeOwners(usize),
    Service(usize),
}

fn evaluate_rule(
    config: &Config,
    rule_idx: usize,
    rule: &Rule,
    analysis: &Analysis,
    approved: &[bool],
) -> (RuleOutcome, Vec<usize>) {
    let (applies, why) = analysis.applicability[rule_idx].clone();
    let mut outcome = RuleOutcome {
        name: rule.name.clone(),
        description: rule.description.clone(),
        applies,
        satisfied: true,
        why,
        approvals: Vec::new(),
        missing: 0,
        eligible: Vec::new(),
        suggested: Vec::new(),
        owner_groups: Vec::new(),
    };
    if !applies {
        return (outcome, Vec::new());
    }
    let people = config.directory.people();
    let requires = &rule.requires;
    let eligible: Vec<usize> =
        config.index.rule_candidates[rule_idx].iter().copied().filter(|idx| !analysis.excluded[*idx]).collect();
    let counted: Vec<usize> = eligible.iter().copied().filter(|idx| approved[*idx]).collect();
    outcome.approvals = counted.iter().map(|idx| people[*idx].id.clone()).collect();

    let groups: &[Group] = if requires.owners { &analysis.groups } else { &[] };
    let mut uncovered: Vec<&Group> = Vec::new();
    for group in groups {
        let covered_by =
            counted.iter().find(|idx| group.members.binary_search(idx).is_ok()).map(|idx| people[*idx].id.clone());
        if covered_by.is_none() {
            uncovered.push(group);
        }
        outcome.owner_groups.push(OwnerGroup { owners: group.label.clone(), paths: group.paths.clone(), covered_by });
    }
    if requires.owners && groups.is_empty() {
        outcome.why.push("no owners are defined for the touched paths".to_owned());
    }

    // Greedy cover of uncovered owner groups by eligible people who have not approved yet.
    let candidates: Vec<usize> = eligible.iter().copied().filter(|idx| !approved[*idx]).collect();
    let mut picks: Vec<usize> = Vec::new();
    let mut remaining = uncovered.clone();
    let mut impossible = 0u32;
    while !remaining.is_empty() {
        let best = candidates
            .iter()
            .filter(|idx| !picks.contains(idx))
            .map(|idx| (remaining.iter().filter(|group| group.members.binary_search(idx).is_ok()).count(), *idx))
            .filter(|(covers, _)| *covers > 0)
            .max_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| people[b.1].level.cmp(&people[a.1].level))
                    .then_with(|| people[b.1].id.cmp(&people[a.1].id))
            });
        match best {
            Some((_, idx)) => {
                remaining.retain(|group| group.members.binary_search(&idx).is_err());
                picks.push(idx);
            }
            None => {
                for group in &remaining {
                    outcome.why.push(format!(
                        "no eligible approver owns {} ({})",
                        group.paths.first().map_or("", String::as_str),
                        group.label
                    ));
                }
                impossible = remaining.len() as u32;
                remaining.clear();
            }
        }
    }
    let by_count = requires.count.saturating_sub(counted.len() as u32);
    let by_owners = picks.len() as u32 + impossible;
    outcome.missing = by_count.max(by_owners);
    outcome.satisfied = outcome.missing == 0;
    outcome.why.push(describe_requirement(config, requires, counted.len()));

    // Suggest owners first, then the least senior eligible people: seniors are the scarce ones.
    let mut others: Vec<(bool, usize, usize)> = candidates
        .iter()
        .filter(|idx| !picks.contains(idx))
        .map(|idx| (!groups.iter().any(|group| group.members.binary_search(idx).is_ok()), people[*idx].level, *idx))
        .collect();
    // Only the first `missing` are suggested: select them rather than sort everyone.
    let wanted = (outcome.missing as usize).saturating_sub(picks.len()).min(others.len());
    if wanted > 0 && wanted < others.len() {
        others.select_nth_unstable(wanted - 1);
        others.truncate(wanted);
    }
    others.sort_unstable();
    let others: Vec<usize> = others.into_iter().take(wanted).map(|(_, _, idx)| idx).collect();
    outcome.suggested =
        picks.iter().chain(others.iter()).take(outcome.missing as usize).map(|idx| people[*idx].id.clone()).collect();
    // When only owners can lower what is missing, only they can unblock the rule.
    let owners_decide = !uncovered.is_empty() && by_owners >= by_count;
    let unblockers: Vec<usize> = candidates
        .into_iter()
        .filter(|idx| !owners_decide || uncovered.iter().any(|group| group.members.binary_search(idx).is_ok()))
        .collect();
    outcome.eligible = unblockers.iter().map(|idx| people[*idx].id.clone()).collect();
    (outcome, unblockers)
}

fn describe_requirement(config: &Config, requires: &Requirement, counted: usize) -> String {
    let mut from = Vec::new();
    if let Some(level) = requires.min_level {
        from.push(format!("at least {}", config.directory.levels()[level]));
    }
    if !requires.teams.is_empty() {
        from.push(format!("in {}", requires.teams.join(" or ")));
    }
    if !requires.people.is_empty() {
        from.push(format!("one of {}", requires.people.join(", ")));
    }
    if requires.owners {
        from.push("covering every owner group".to_owned());
    }
    let who = if from.is_empty() { "eligible reviewers".to_owned() } else { format!("reviewers {}", from.join(", ")) };
    format!("{counted} of {} approvals from {who}", requires.count)
}

/// Owner groups of the touched paths: the CODEOWNERS owners of each path and the owners of each
/// touched service, computed once per evaluation from the index built at load time.
fn owner_groups(config: &Config, paths: &[String], path_services: &[Vec<usize>]) -> Vec<Group> {
    let mut keys: Vec<GroupKey> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut add = |key: GroupKey, path: &str, label: &dyn Fn() -> String, members: &[usize]| match keys
        .iter()
        .position(|known| *known == key)
    {
        Some(idx) => groups[idx].paths.push(path.to_owned()),
        None => {
            keys.push(key);
            groups.push(Group { label: label(), paths: vec![path.to_owned()], members: members.to_vec() });
        }
    };
    for (path, services) in paths.iter().zip(path_services) {
        if let Some(rule) = config.codeowners.rule_for(path)
            && let Some(members) = config.index.codeowners_members.get(&rule.line)
        {
            let label = || rule.owners.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
            add(GroupKey::CodeOwners(rule.line), path, &label, members);
        }
        for &service_idx in services {
            let service = &config.services.all()[service_idx];
            if service.owners.is_empty() {
                continue;
            }
            let label = || format!("service {} ({})", service.name, service.owners.join(", "));
            add(GroupKey::Service(service_idx), path, &label, &config.index.service_members[service_idx]);
        }
    }
    groups
}

/// The directory people a list of CODEOWNERS owners stands for.
pub fn owner_members(config: &Config, owners: &[Owner]) -> BTreeSet<String> {
    owners
        .iter()
        .flat_map(|owner| crate::config::resolve_owner(&config.directory, owner))
        .map(|idx| config.directory.people()[idx].id.clone())
        .collect()
}

fn holds(config: &Config, predicate: &Predicate, facts: &Analysis, why: &mut Vec<String>) -> bool {
    let levels = config.directory.levels();
    let (result, reason) = match predicate {
        Predicate::All(all) => {
            let mut inner = Vec::new();
            let result = all.iter().all(|predicate| holds(config, predicate, facts, &mut inner));
            why.extend(inner);
            return result;
        }
        Predicate::Any(any) => {
            let mut matched = Vec::new();
            let mut unmatched = Vec::new();
            for predicate in any {
                let mut inner = Vec::new();
                if holds(config, predicate, facts, &mut inner) {
                    matched.extend(inner);
                } else {
                    unmatched.extend(inner);
                }
            }
            let result = !matched.is_empty();
            why.push(if result {
                format!("any of: {}", matched.join("; "))
            } else {
                format!("none of: {}", unmatched.join("; "))
            });
            return result;
        }
        Predicate::Not(inner) => {
            let mut inner_why = Vec::new();
            let result = !holds(config, inner, facts, &mut inner_why);
            why.push(format!("not ({})", inner_why.join("; ")));
            return result;
        }
        Predicate::AiAssisted(wanted) => (
            facts.ai_assisted == *wanted,
            if facts.ai_assisted {
                format!("AI-assisted ({})", plural(facts.n_signals, "signal"))
            } else {
                "not AI-assisted".to_owned()
            },
        ),
        Predicate::AgentAuthored(wanted) => (
            facts.agent_authored == *wanted,
            if facts.agent_authored {
                "authored by an agent".to_owned()
            } else {
                "no commit authored by an agent".to_owned()
            },
        ),
        Predicate::AuthorLevelBelow(level) => {
            let (id, rank) =
                facts.least.as_ref().map_or(("(no human)", Rank::Unknown), |(id, rank)| (id.as_str(), *rank));
            let result = rank < Rank::Level(*level);
            let relation = if result { "<" } else { ">=" };
            (
                result,
                format!(
                    "least senior author {id} is {} {relation} {}",
                    config.directory.level_name(rank),
                    levels[*level]
                ),
            )
        }
        Predicate::AuthorLevelAtLeast(level) => {
            let (id, rank) =
                facts.least.as_ref().map_or(("(no human)", Rank::Unknown), |(id, rank)| (id.as_str(), *rank));
            let result = rank >= Rank::Level(*level);
            let relation = if result { ">=" } else { "<" };
            (
                result,
                format!(
                    "least senior author {id} is {} {relation} {}",
                    config.directory.level_name(rank),
                    levels[*level]
                ),
            )
        }
        Predicate::AuthorInTeams(teams) => {
            let members: Vec<&str> = facts
                .responsible_people
                .iter()
                .map(|idx| &config.directory.people()[*idx])
                .filter(|person| teams.iter().any(|team| person.in_team(team)))
                .map(|person| person.id.as_str())
                .collect();
            let result = !members.is_empty();
            (
                result,
                if result {
                    format!("{} in {}", members.join(", "), teams.join(", "))
                } else {
                    format!("no author in {}", teams.join(", "))
                },
            )
        }
        Predicate::Paths(globs) => {
            let matched: Vec<&str> =
                facts.paths.iter().map(String::as_str).filter(|path| globs.matches(path)).collect();
            let result = !matched.is_empty();
            let reason = match matched.first() {
                Some(first) if matched.len() > 1 => {
                    format!("touches {first} and {} more matching {}", matched.len() - 1, globs.patterns.join(", "))
                }
                Some(first) => format!("touches {first} matching {}", globs.patterns.join(", ")),
                None => format!("no path matches {}", globs.patterns.join(", ")),
            };
            (result, reason)
        }
        Predicate::OnlyPaths(globs) => {
            let outside = facts.paths.iter().find(|path| !globs.matches(path));
            let result = outside.is_none() && !facts.paths.is_empty();
            (
                result,
                match outside {
                    Some(path) => format!("{path} is outside {}", globs.patterns.join(", ")),
                    None => format!("every path matches {}", globs.patterns.join(", ")),
                },
            )
        }
        Predicate::Services(names) => {
            let touched: Vec<&str> = facts
                .services
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| names.iter().any(|wanted| wanted == name))
                .collect();
            let result = !touched.is_empty();
            (
                result,
                if result {
                    format!("touches service {}", touched.join(", "))
                } else {
                    format!("touches none of {}", names.join(", "))
                },
            )
        }
        Predicate::TierAtMost(tier) => {
            let most_critical = facts.services.iter().min_by_key(|(_, service_tier)| *service_tier);
            match most_critical {
                Some((name, service_tier)) if service_tier <= tier => {
                    (true, format!("touches tier-{service_tier} service {name}"))
                }
                Some((name, service_tier)) => {
                    (false, format!("most critical service touched is {name}, tier {service_tier} > {tier}"))
                }
                None => (false, "touches no service of services.toml".to_owned()),
            }
        }
        Predicate::RiskAtLeast(level) => (
            facts.risk.level >= *level,
            format!("risk {} {} {level}", facts.risk.level, if facts.risk.level >= *level { ">=" } else { "<" }),
        ),
        Predicate::Destructive(wanted) => {
            let destructive = !facts.destructive.is_empty();
            (
                destructive == *wanted,
                if destructive {
                    let operations: Vec<String> = facts.destructive.iter().map(ToString::to_string).collect();
                    format!("destructive: {}", operations.join("; "))
                } else {
                    "no destructive operation found".to_owned()
                },
            )
        }
        Predicate::LinesChangedOver(limit) => (
            facts.lines_changed > *limit,
            format!(
                "{} lines changed ({} {limit})",
                facts.lines_changed,
                if facts.lines_changed > *limit { ">" } else { "<=" }
            ),
        ),
        Predicate::FilesChangedOver(limit) => {
            let files = facts.paths.len() as u64;
            (files > *limit, format!("{files} files changed ({} {limit})", if files > *limit { ">" } else { "<=" }))
        }
        Predicate::Environments(environments) => {
            let result = environments.contains(&facts.change.environment);
            (
                result,
                format!(
                    "environment {} {} {}",
                    facts.change.environment,
                    if result { "is in" } else { "is not in" },
                    environments.join(", ")
                ),
            )
        }
        Predicate::TargetBranches(globs) => match facts.target_branch.as_deref() {
            Some(branch) => {
                let result = globs.matches(branch);
                (
                    result,
                    format!(
                        "target branch {branch} {} {}",
                        if result { "matches" } else { "does not match" },
                        globs.patterns.join(", ")
                    ),
                )
            }
            // An unknown target branch cannot be shown not to match: the rule applies.
            None => (true, "target branch unknown (pass --target-branch); rule applied".to_owned()),
        },
    };
    why.push(reason);
    result
}

/// With `require_declaration`, every non-merge commit must declare AI use or its absence.
fn declaration_rule(commits: &[crate::model::Commit], scans: &[CommitScan]) -> RuleOutcome {
    let undeclared: Vec<String> = commits
        .iter()
        .zip(scans)
        .filter(|(commit, scan)| !commit.is_merge() && scan.signals.is_empty() && !scan.declared_none)
        .map(|(commit, _)| short(&commit.id).to_owned())
        .collect();
    let satisfied = undeclared.is_empty();
    RuleOutcome {
        name: "ai-declaration".to_owned(),
        description: Some(
            "Every commit declares AI assistance or `Assisted-by: none` (policy ai.require_declaration)".to_owned(),
        ),
        applies: true,
        satisfied,
        why: if satisfied {
            vec!["every commit declares".to_owned()]
        } else {
            vec![
                format!("commits without a declaration: {}", undeclared.join(", ")),
                "amend them with an `Assisted-by:` trailer; approvals cannot satisfy this rule".to_owned(),
            ]
        },
        approvals: Vec::new(),
        missing: u32::from(!satisfied),
        eligible: Vec::new(),
        suggested: Vec::new(),
        owner_groups: Vec::new(),
    }
}
