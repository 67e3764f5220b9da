//! Evaluation: a change, the configuration and the attestations in; a decision with every reason out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::attestation::{Envelope, Statement, Verdict};
use crate::codeowners::Owner;
use crate::config::Config;
use crate::detect::{self, CommitScan, DetectConfig, IdentityKind, Signal};
use crate::directory::{Member, Person, Rank};
use crate::finding::{Finding, Severity};
use crate::fingerprint::fingerprint;
use crate::model::{ChangeInput, Identity};
use crate::policy::{Predicate, Requirement, Rule};
use crate::risk::{self, Risk, RiskInput};

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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branch_signals: Vec<Signal>,
    pub responsible: Vec<Responsible>,
    pub risk: Risk,
    pub rules: Vec<RuleOutcome>,
    /// Rejections that block the change until their authors approve.
    pub rejections: Vec<ApprovalRef>,
    /// Every approval that counts for this change, whatever rule it satisfies.
    pub approvals: Vec<ApprovalRef>,
    /// The fewest reviewers who, approving, would satisfy every unmet rule (greedy), best first.
    pub suggested_reviewers: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.verdict == GateVerdict::Allowed
    }
}

/// Facts about the change that predicates are judged on.
struct Facts<'a> {
    ai_assisted: bool,
    n_signals: usize,
    agent_authored: bool,
    least: Option<(&'a str, Rank)>,
    responsible_people: Vec<&'a Person>,
    paths: Vec<&'a str>,
    services: Vec<(String, u32)>,
    environment: &'a str,
    target_branch: Option<&'a str>,
    lines_changed: u64,
    files_changed: usize,
    risk: &'a Risk,
    destructive: &'a [String],
}

/// Reads every part of the decision from its inputs; never stops at the first problem.
pub fn evaluate(config: &Config, change: &ChangeInput, attestations: &[FoundAttestation], now: i64) -> Decision {
    let mut findings = Vec::new();
    let directory = &config.directory;
    let policy = &config.policy;
    let detect_config = DetectConfig::new(&policy.ai.trailers, &directory.agent_emails());

    let scans: Vec<CommitScan> = change.commits.iter().map(|commit| detect::scan_commit(commit, &detect_config)).collect();
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
    let branch_signals: Vec<Signal> = change.source_branch.as_deref().and_then(detect::scan_branch).into_iter().collect();
    let ai_assisted = commits.iter().any(|commit| commit.ai_assisted) || (policy.ai.contextual_counts && !branch_signals.is_empty());
    let n_signals = commits.iter().map(|commit| commit.signals.len()).sum::<usize>() + branch_signals.len();
    let agent_authored = change.commits.iter().any(|commit| {
        !matches!(classify(&commit.author, &detect_config), IdentityKind::Human | IdentityKind::Bot)
            || commit.author.name.trim_end().to_ascii_lowercase().ends_with(" (aider)")
    });

    let responsible = responsible_humans(config, change, &scans, &detect_config, &mut findings);
    let responsible_ids: BTreeSet<&str> = responsible.iter().filter(|entry| entry.known).map(|entry| entry.id.as_str()).collect();
    let responsible_people: Vec<&Person> = responsible_ids.iter().filter_map(|id| directory.person(id)).collect();
    let least = responsible.iter().map(|entry| (entry.id.as_str(), rank_of(config, entry))).min_by_key(|(_, rank)| *rank);

    let services = touched_services(config, change);
    let paths: Vec<&str> = change.files.iter().map(|file| file.path.as_str()).collect();
    let lines_added: u64 = change.files.iter().map(|file| u64::from(file.added)).sum();
    let lines_deleted: u64 = change.files.iter().map(|file| u64::from(file.deleted)).sum();
    let destructive: Vec<String> = Vec::new();
    let risk = risk::assess(&RiskInput {
        services: &services,
        touches_gate_config: paths.iter().any(|path| is_gate_config(path)),
        destructive: &destructive,
        lines_changed: lines_added + lines_deleted,
        files_changed: paths.len(),
    });
    let facts = Facts {
        ai_assisted,
        n_signals,
        agent_authored,
        least,
        responsible_people,
        paths,
        services: services.clone(),
        environment: &change.environment,
        target_branch: change.target_branch.as_deref(),
        lines_changed: lines_added + lines_deleted,
        files_changed: change.files.len(),
        risk: &risk,
        destructive: &destructive,
    };

    let fingerprint = fingerprint(&change.tree_changes);
    let latest = accepted_attestations(config, change, &fingerprint, &responsible_ids, attestations, now, &mut findings);
    let approvers: BTreeMap<&str, &Statement> = latest
        .iter()
        .filter(|(_, statement)| statement.verdict == Verdict::Approve)
        .map(|(id, statement)| (id.as_str(), statement))
        .collect();
    let rejections: Vec<ApprovalRef> = if policy.approvals.rejections_block {
        latest.values().filter(|statement| statement.verdict == Verdict::Reject).map(approval_ref).collect()
    } else {
        Vec::new()
    };

    let mut rules: Vec<RuleOutcome> =
        policy.rules.iter().map(|rule| evaluate_rule(config, rule, &facts, &responsible_ids, &approvers, &mut findings)).collect();
    if policy.ai.require_declaration {
        rules.push(declaration_rule(&change.commits, &scans));
    }

    let blocked = rules.iter().any(|rule| rule.applies && !rule.satisfied) || !rejections.is_empty();
    let suggested_reviewers = suggest_reviewers(&rules);
    Decision {
        verdict: if blocked { GateVerdict::Blocked } else { GateVerdict::Allowed },
        change: ChangeSummary {
            repo: change.repo.clone(),
            base: change.base.clone(),
            head: change.head.clone(),
            fingerprint,
            environment: change.environment.clone(),
            commits: change.commits.len(),
            files: change.files.len(),
            lines_added,
            lines_deleted,
            services: services.iter().map(|(name, tier)| ServiceRef { name: name.clone(), tier: *tier }).collect(),
        },
        ai_assisted,
        commits,
        branch_signals,
        responsible,
        risk,
        rules,
        rejections,
        approvals: approvers.values().map(|statement| approval_ref(statement)).collect(),
        suggested_reviewers,
        findings,
    }
}

/// Greedy cover: repeatedly pick the eligible person who counts for the most still-missing
/// approvals, preferring the order of each rule's own suggestions.
fn suggest_reviewers(rules: &[RuleOutcome]) -> Vec<String> {
    let mut missing: Vec<(u32, &RuleOutcome)> =
        rules.iter().filter(|rule| rule.applies && rule.missing > 0).map(|rule| (rule.missing, rule)).collect();
    let mut picks: Vec<String> = Vec::new();
    loop {
        let mut best: Option<(usize, usize, &str)> = None;
        for (rule_idx, (_, rule)) in missing.iter().enumerate().filter(|(_, (left, _))| *left > 0) {
            for (rank, person) in rule.suggested.iter().chain(&rule.eligible).enumerate() {
                if picks.contains(person) {
                    continue;
                }
                let covers = missing.iter().filter(|(left, other)| *left > 0 && other.eligible.contains(person)).count();
                let order = rule_idx * 1000 + rank;
                if best.is_none_or(|(best_covers, best_order, _)| covers > best_covers || (covers == best_covers && order < best_order)) {
                    best = Some((covers, order, person));
                }
            }
        }
        let Some((_, _, person)) = best else { break };
        for (left, rule) in &mut missing {
            if *left > 0 && rule.eligible.iter().any(|eligible| eligible == person) {
                *left -= 1;
            }
        }
        picks.push(person.to_owned());
    }
    picks
}

fn classify(identity: &Identity, detect_config: &DetectConfig) -> IdentityKind {
    detect::classify_identity(identity, detect_config)
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

/// Paths whose change alters the gate itself.
pub fn is_gate_config(path: &str) -> bool {
    path.starts_with(".countersign/") || crate::codeowners::CODEOWNERS_LOCATIONS.contains(&path)
}

fn touched_services(config: &Config, change: &ChangeInput) -> Vec<(String, u32)> {
    config
        .services
        .all()
        .iter()
        .filter(|service| change.files.iter().any(|file| service.matches(&file.path)))
        .map(|service| (service.name.clone(), service.tier))
        .collect()
}

/// The responsible humans of a change, for callers that only need to know who cannot review it.
pub fn responsible(config: &Config, change: &ChangeInput) -> Vec<Responsible> {
    let detect_config = DetectConfig::new(&config.policy.ai.trailers, &config.directory.agent_emails());
    let scans: Vec<CommitScan> = change.commits.iter().map(|commit| detect::scan_commit(commit, &detect_config)).collect();
    responsible_humans(config, change, &scans, &detect_config, &mut Vec::new())
}

/// Authors, committers and co-authors who are humans, and the requester. Agents and bots are not
/// responsible; their work falls on the humans around them, or on an unknown human.
fn responsible_humans(
    config: &Config,
    change: &ChangeInput,
    scans: &[CommitScan],
    detect_config: &DetectConfig,
    findings: &mut Vec<Finding>,
) -> Vec<Responsible> {
    let mut entries: Vec<Responsible> = Vec::new();
    let add = |entries: &mut Vec<Responsible>, id: String, level: String, known: bool, role: &'static str| {
        match entries.iter_mut().find(|entry| entry.id == id) {
            Some(entry) if !entry.roles.contains(&role) => entry.roles.push(role),
            Some(_) => {}
            None => entries.push(Responsible { id, level, known, roles: vec![role] }),
        }
    };
    let mut unknown_reported = BTreeSet::new();
    for (commit, scan) in change.commits.iter().zip(scans) {
        let identities = [(&commit.author, "author"), (&commit.committer, "committer")]
            .into_iter()
            .chain(scan.human_co_authors.iter().map(|identity| (identity, "co-author")));
        for (identity, role) in identities {
            if !classify(identity, detect_config).is_human() {
                continue;
            }
            match config.directory.by_identity(identity) {
                Some(Member::Person(person)) => {
                    add(&mut entries, person.id.clone(), config.directory.level_name(person.rank()).to_owned(), true, role)
                }
                Some(Member::Agent(_)) => {}
                None => {
                    let email = identity.email.trim().to_ascii_lowercase();
                    if unknown_reported.insert(email.clone()) {
                        findings.push(Finding::new(
                            Severity::Warning,
                            "unknown-person",
                            format!("{role} {identity} of commit {} is not in people.toml; treated as below every level", short(&commit.id)),
                        ));
                    }
                    add(&mut entries, email, "unknown".to_owned(), false, role);
                }
            }
        }
    }
    if let Some(requester) = &change.requester {
        match config.directory.lookup(requester) {
            Some(Member::Person(person)) => {
                add(&mut entries, person.id.clone(), config.directory.level_name(person.rank()).to_owned(), true, "requester")
            }
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

/// Verifies attestations and keeps the latest verdict of each eligible person for this change.
fn accepted_attestations(
    config: &Config,
    change: &ChangeInput,
    fingerprint: &str,
    responsible: &BTreeSet<&str>,
    found: &[FoundAttestation],
    now: i64,
    findings: &mut Vec<Finding>,
) -> BTreeMap<String, Statement> {
    let mut latest: BTreeMap<String, Statement> = BTreeMap::new();
    let mut other_changes = 0usize;
    for attestation in found {
        let origin = &attestation.origin;
        let checked = Envelope::from_bytes(&attestation.bytes).and_then(|envelope| {
            let statement = envelope.statement_unverified()?;
            if statement.fingerprint != fingerprint {
                return Ok(None);
            }
            envelope.verify(&config.directory).map(|(statement, person)| Some((statement, person.id.clone())))
        });
        let (statement, person) = match checked {
            Ok(Some(verified)) => verified,
            Ok(None) => {
                other_changes += 1;
                continue;
            }
            Err(rejected) => {
                findings.push(Finding::new(Severity::Warning, "attestation-ignored", format!("attestation {origin} ignored: it {rejected}")));
                continue;
            }
        };
        let ignore = |reason: String| Finding::new(Severity::Warning, "attestation-ignored", format!("attestation {origin} by {person} ignored: {reason}"));
        if statement.environment != change.environment {
            findings.push(ignore(format!("it is for environment `{}`, not `{}`", statement.environment, change.environment)));
            continue;
        }
        if !config.policy.approvals.keep_on_rebase && statement.head != change.head {
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
        if responsible.contains(person.as_str()) {
            findings.push(ignore("a responsible human of the change cannot approve or reject it".to_owned()));
            continue;
        }
        if latest.get(&person).is_none_or(|previous| previous.time <= statement.time) {
            latest.insert(person, statement);
        }
    }
    if other_changes > 0 {
        findings.push(Finding::new(
            Severity::Info,
            "attestations-for-other-changes",
            format!("{other_changes} attestations name other fingerprints and were not considered"),
        ));
    }
    latest
}

fn evaluate_rule(
    config: &Config,
    rule: &Rule,
    facts: &Facts<'_>,
    responsible: &BTreeSet<&str>,
    approvers: &BTreeMap<&str, &Statement>,
    findings: &mut Vec<Finding>,
) -> RuleOutcome {
    let mut why = Vec::new();
    let applies = match &rule.when {
        None => {
            why.push("applies to every change".to_owned());
            true
        }
        Some(predicate) => holds(config, predicate, facts, &mut why),
    };
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
        return outcome;
    }
    let requires = &rule.requires;
    let eligible: Vec<&Person> =
        config.directory.people().iter().filter(|person| !responsible.contains(person.id.as_str()) && meets(person, requires)).collect();
    let counted: Vec<&Person> = eligible.iter().copied().filter(|person| approvers.contains_key(person.id.as_str())).collect();
    outcome.approvals = counted.iter().map(|person| person.id.clone()).collect();

    let groups = if requires.owners { owner_groups(config, facts, findings) } else { Vec::new() };
    let mut uncovered: Vec<&(String, Vec<String>, BTreeSet<String>)> = Vec::new();
    for group in &groups {
        let covered_by = counted.iter().find(|person| group.2.contains(&person.id)).map(|person| person.id.clone());
        if covered_by.is_none() {
            uncovered.push(group);
        }
        outcome.owner_groups.push(OwnerGroup { owners: group.0.clone(), paths: group.1.clone(), covered_by });
    }
    if requires.owners && groups.is_empty() {
        outcome.why.push("no owners are defined for the touched paths".to_owned());
    }

    // Greedy cover of uncovered owner groups by eligible people who have not approved yet.
    let candidates: Vec<&Person> = eligible.iter().copied().filter(|person| !approvers.contains_key(person.id.as_str())).collect();
    let mut picks: Vec<&Person> = Vec::new();
    let mut remaining = uncovered.clone();
    let mut impossible = 0u32;
    while !remaining.is_empty() {
        let best = candidates
            .iter()
            .filter(|person| !picks.iter().any(|pick| pick.id == person.id))
            .map(|person| (remaining.iter().filter(|group| group.2.contains(&person.id)).count(), *person))
            .filter(|(covers, _)| *covers > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.level.cmp(&a.1.level)).then_with(|| b.1.id.cmp(&a.1.id)));
        match best {
            Some((_, person)) => {
                remaining.retain(|group| !group.2.contains(&person.id));
                picks.push(person);
            }
            None => {
                for group in &remaining {
                    outcome.why.push(format!("no eligible approver owns {} ({})", group.1.first().map_or("", String::as_str), group.0));
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
    let owning: BTreeSet<&str> = groups.iter().flat_map(|group| group.2.iter().map(String::as_str)).collect();
    let mut others: Vec<&Person> = candidates.iter().copied().filter(|person| !picks.iter().any(|pick| pick.id == person.id)).collect();
    others.sort_by(|a, b| {
        owning.contains(b.id.as_str()).cmp(&owning.contains(a.id.as_str())).then(a.level.cmp(&b.level)).then(a.id.cmp(&b.id))
    });
    outcome.suggested = picks.iter().chain(others.iter()).take(outcome.missing as usize).map(|person| person.id.clone()).collect();
    // When only owners can lower what is missing, only they can unblock the rule.
    let owners_decide = !uncovered.is_empty() && by_owners >= by_count;
    outcome.eligible = candidates
        .iter()
        .filter(|person| !owners_decide || uncovered.iter().any(|group| group.2.contains(&person.id)))
        .map(|person| person.id.clone())
        .collect();
    outcome
}

fn meets(person: &Person, requires: &Requirement) -> bool {
    requires.min_level.is_none_or(|level| person.level >= level)
        && (requires.teams.is_empty() || requires.teams.iter().any(|team| person.in_team(team)))
        && (requires.people.is_empty() || requires.people.contains(&person.id))
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
/// touched service. Each group is `(label, paths, member ids)`.
fn owner_groups(config: &Config, facts: &Facts<'_>, findings: &mut Vec<Finding>) -> Vec<(String, Vec<String>, BTreeSet<String>)> {
    let mut groups: Vec<(String, Vec<String>, BTreeSet<String>)> = Vec::new();
    let mut add = |label: String, path: &str, members: BTreeSet<String>| match groups.iter_mut().find(|group| group.0 == label) {
        Some(group) => group.1.push(path.to_owned()),
        None => groups.push((label, vec![path.to_owned()], members)),
    };
    let mut unresolved = BTreeSet::new();
    for path in &facts.paths {
        if let Some(rule) = config.codeowners.rule_for(path)
            && !rule.owners.is_empty()
        {
            let mut members = BTreeSet::new();
            for owner in &rule.owners {
                let resolved = resolve_owner(config, owner);
                if resolved.is_empty() && unresolved.insert(owner.to_string()) {
                    findings.push(
                        Finding::new(Severity::Warning, "unresolved-owner", format!("CODEOWNERS owner {owner} matches nobody in people.toml"))
                            .at(config.codeowners.file().unwrap_or("CODEOWNERS"), rule.line),
                    );
                }
                members.extend(resolved);
            }
            let label = rule.owners.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
            add(label, path, members);
        }
        for service in config.services.of_path(path) {
            if service.owners.is_empty() {
                continue;
            }
            let members: BTreeSet<String> = config
                .directory
                .people()
                .iter()
                .filter(|person| service.owners.iter().any(|owner| *owner == person.id || person.in_team(owner)))
                .map(|person| person.id.clone())
                .collect();
            add(format!("service {} ({})", service.name, service.owners.join(", ")), path, members);
        }
    }
    groups
}

/// The directory people a list of CODEOWNERS owners stands for.
pub fn owner_members(config: &Config, owners: &[Owner]) -> BTreeSet<String> {
    owners.iter().flat_map(|owner| resolve_owner(config, owner)).collect()
}

fn resolve_owner(config: &Config, owner: &Owner) -> BTreeSet<String> {
    let directory = &config.directory;
    match owner {
        Owner::User(login) => match directory.by_github(login) {
            Some(Member::Person(person)) => BTreeSet::from([person.id.clone()]),
            _ => BTreeSet::new(),
        },
        Owner::Email(email) => match directory.by_email(email) {
            Some(Member::Person(person)) => BTreeSet::from([person.id.clone()]),
            _ => BTreeSet::new(),
        },
        Owner::Team { org, team } => {
            let full = format!("{org}/{team}");
            directory.people().iter().filter(|person| person.in_team(&full)).map(|person| person.id.clone()).collect()
        }
    }
}

fn holds(config: &Config, predicate: &Predicate, facts: &Facts<'_>, why: &mut Vec<String>) -> bool {
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
            why.push(if result { format!("any of: {}", matched.join("; ")) } else { format!("none of: {}", unmatched.join("; ")) });
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
            if facts.ai_assisted { format!("AI-assisted ({})", plural(facts.n_signals, "signal")) } else { "not AI-assisted".to_owned() },
        ),
        Predicate::AgentAuthored(wanted) => (
            facts.agent_authored == *wanted,
            if facts.agent_authored { "authored by an agent".to_owned() } else { "no commit authored by an agent".to_owned() },
        ),
        Predicate::AuthorLevelBelow(level) => {
            let (id, rank) = facts.least.unwrap_or(("(no human)", Rank::Unknown));
            let result = rank < Rank::Level(*level);
            let relation = if result { "<" } else { ">=" };
            (result, format!("least senior author {id} is {} {relation} {}", config.directory.level_name(rank), levels[*level]))
        }
        Predicate::AuthorLevelAtLeast(level) => {
            let (id, rank) = facts.least.unwrap_or(("(no human)", Rank::Unknown));
            let result = rank >= Rank::Level(*level);
            let relation = if result { ">=" } else { "<" };
            (result, format!("least senior author {id} is {} {relation} {}", config.directory.level_name(rank), levels[*level]))
        }
        Predicate::AuthorInTeams(teams) => {
            let members: Vec<&str> = facts
                .responsible_people
                .iter()
                .filter(|person| teams.iter().any(|team| person.in_team(team)))
                .map(|person| person.id.as_str())
                .collect();
            let result = !members.is_empty();
            (result, if result { format!("{} in {}", members.join(", "), teams.join(", ")) } else { format!("no author in {}", teams.join(", ")) })
        }
        Predicate::Paths(globs) => {
            let matched: Vec<&str> = facts.paths.iter().copied().filter(|path| globs.matches(path)).collect();
            let result = !matched.is_empty();
            let reason = match matched.first() {
                Some(first) if matched.len() > 1 => format!("touches {first} and {} more matching {}", matched.len() - 1, globs.patterns.join(", ")),
                Some(first) => format!("touches {first} matching {}", globs.patterns.join(", ")),
                None => format!("no path matches {}", globs.patterns.join(", ")),
            };
            (result, reason)
        }
        Predicate::OnlyPaths(globs) => {
            let outside = facts.paths.iter().find(|path| !globs.matches(path));
            let result = outside.is_none() && !facts.paths.is_empty();
            (result, match outside {
                Some(path) => format!("{path} is outside {}", globs.patterns.join(", ")),
                None => format!("every path matches {}", globs.patterns.join(", ")),
            })
        }
        Predicate::Services(names) => {
            let touched: Vec<&str> = facts.services.iter().map(|(name, _)| name.as_str()).filter(|name| names.iter().any(|wanted| wanted == name)).collect();
            let result = !touched.is_empty();
            (result, if result { format!("touches service {}", touched.join(", ")) } else { format!("touches none of {}", names.join(", ")) })
        }
        Predicate::TierAtMost(tier) => {
            let most_critical = facts.services.iter().min_by_key(|(_, service_tier)| *service_tier);
            match most_critical {
                Some((name, service_tier)) if service_tier <= tier => (true, format!("touches tier-{service_tier} service {name}")),
                Some((name, service_tier)) => (false, format!("most critical service touched is {name}, tier {service_tier} > {tier}")),
                None => (false, "touches no service of services.toml".to_owned()),
            }
        }
        Predicate::RiskAtLeast(level) => {
            (facts.risk.level >= *level, format!("risk {} {} {level}", facts.risk.level, if facts.risk.level >= *level { ">=" } else { "<" }))
        }
        Predicate::Destructive(wanted) => {
            let destructive = !facts.destructive.is_empty();
            (destructive == *wanted, if destructive { format!("destructive: {}", facts.destructive.join(", ")) } else { "no destructive operation found".to_owned() })
        }
        Predicate::LinesChangedOver(limit) => (facts.lines_changed > *limit, format!("{} lines changed ({} {limit})", facts.lines_changed, if facts.lines_changed > *limit { ">" } else { "<=" })),
        Predicate::FilesChangedOver(limit) => {
            let files = facts.files_changed as u64;
            (files > *limit, format!("{files} files changed ({} {limit})", if files > *limit { ">" } else { "<=" }))
        }
        Predicate::Environments(environments) => {
            let result = environments.iter().any(|env| env == facts.environment);
            (result, format!("environment {} {} {}", facts.environment, if result { "is in" } else { "is not in" }, environments.join(", ")))
        }
        Predicate::TargetBranches(globs) => match facts.target_branch {
            Some(branch) => {
                let result = globs.matches(branch);
                (result, format!("target branch {branch} {} {}", if result { "matches" } else { "does not match" }, globs.patterns.join(", ")))
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
        description: Some("Every commit declares AI assistance or `Assisted-by: none` (policy ai.require_declaration)".to_owned()),
        applies: true,
        satisfied,
        why: if satisfied {
            vec!["every commit declares".to_owned()]
        } else {
            vec![format!("commits without a declaration: {}", undeclared.join(", ")), "amend them with an `Assisted-by:` trailer; approvals cannot satisfy this rule".to_owned()]
        },
        approvals: Vec::new(),
        missing: u32::from(!satisfied),
        eligible: Vec::new(),
        suggested: Vec::new(),
        owner_groups: Vec::new(),
    }
}
