//! The first stage: everything about a change that does not depend on its approvals.

use crate::config::Config;
use crate::detect::{self, CommitScan, IdentityKind, Signal};
use crate::directory::{Member, Rank};
use std::collections::HashMap;

use crate::finding::{Finding, Severity};
use crate::model::{ChangeInput, Operation, RecentHistory};
use crate::notes::AiNote;
use crate::risk::{self, Experience, Risk, RiskInput};

use super::attribution::{Attribution, attribute};
use super::output::{ChangeSummary, CommitReport, Responsible, RuleOutcome, ServiceRef};
use super::plural;
use super::predicates::Truth;
use super::responsible::responsible_humans;
use super::rules::{Group, owner_groups};
use super::{predicates, short};
use crate::model::Rollback;
use crate::policy::{NoRuleApplies, UnknownPeople};

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
    pub(super) head: String,
    pub(super) n_signals: usize,
    pub(super) agent_authored: bool,
    pub(super) least: Option<(String, Rank)>,
    /// Positions of the known responsible people, and the same as a mask over the directory.
    pub(super) responsible_people: Vec<usize>,
    pub(super) excluded: Vec<bool>,
    pub(super) paths: Vec<String>,
    pub(super) services: Vec<(String, u32)>,
    pub(super) target_branch: Option<String>,
    pub(super) lines_changed: u64,
    /// Which added lines AI wrote; `None` when the added lines were not read.
    pub(super) attribution: Option<Attribution>,
    /// Fix commits that recently touched the changed files; `Err` says why unknown.
    pub(super) recent_fixes: Result<u32, String>,
    /// The change changes code and no test.
    pub(super) untested: bool,
    /// Share of the added lines AI wrote, and whether it is estimated.
    pub(super) ai_share: (f64, bool),
    pub(super) groups: Vec<Group>,
    /// Rules the gate adds itself, which approvals cannot satisfy: AI declarations, unknown
    /// people, rollbacks, a change no rule speaks about.
    pub(super) builtin: Vec<RuleOutcome>,
    pub(super) rollback: Option<Rollback>,
    /// Digests of the plans the decision depends on.
    pub(super) plans: Vec<String>,
    /// For each rule of the policy: whether it applies to this change, and why.
    pub(super) applicability: Vec<(bool, Vec<String>)>,
}

impl Analysis {
    /// The share of the added lines AI wrote (estimated from files when not read line by line).
    pub fn ai_share(&self) -> f64 {
        self.ai_share.0
    }

    /// Fix commits that recently touched the changed files, when counted.
    pub fn recent_fixes(&self) -> Option<u32> {
        self.recent_fixes.as_ref().ok().copied()
    }

    /// Whether the change changes code and no test.
    pub fn untested(&self) -> bool {
        self.untested
    }

    /// The changed paths.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// People who own a touched path or service: routing prefers them.
    pub fn owners(&self, config: &Config) -> Vec<String> {
        let people = config.directory.people();
        let mut members: Vec<usize> = self.groups.iter().flat_map(|group| group.members.iter().copied()).collect();
        members.sort_unstable();
        members.dedup();
        members.into_iter().map(|idx| people[idx].id.clone()).collect()
    }
}

/// The authorship records (git-ai, Agent Trace) of the change's commits, merged per commit; one
/// that cannot be read is said, and ignored (a record only ever adds evidence).
fn read_notes(change: &ChangeInput, findings: &mut Vec<Finding>) -> (HashMap<String, AiNote>, Vec<(String, Signal)>) {
    let mut notes: HashMap<String, AiNote> = HashMap::new();
    let mut signals = Vec::new();
    for note in &change.notes {
        match note.text.as_deref().map_err(ToOwned::to_owned).and_then(|text| note.format.parse(text)) {
            Ok(parsed) => {
                signals.extend(
                    detect::scan_note(&parsed, note.format.reference()).map(|signal| (note.commit.clone(), signal)),
                );
                notes.entry(note.commit.clone()).or_default().merge(parsed);
            }
            Err(problem) => findings.push(Finding::new(
                Severity::Warning,
                "unreadable-ai-note",
                format!(
                    "the note in {} of commit {} cannot be read: {problem}",
                    note.format.reference(),
                    short(&note.commit)
                ),
            )),
        }
    }
    (notes, signals)
}

/// Detection, responsibility, services, ownership and risk of a change.
pub fn analyze(config: &Config, change: &ChangeInput) -> Analysis {
    let mut findings = Vec::new();
    let directory = &config.directory;
    let policy = &config.policy;
    let detect_config = &config.index.detect;

    let mut scans: Vec<CommitScan> =
        change.commits.iter().map(|commit| detect::scan_commit(commit, detect_config)).collect();
    let (notes, note_signals) = read_notes(change, &mut findings);
    for (commit, scan) in change.commits.iter().zip(&mut scans) {
        scan.signals.extend(note_signals.iter().filter(|(id, _)| *id == commit.id).map(|(_, signal)| signal.clone()));
    }
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
    let attribution = attribute(config, change, &commits, &notes);
    let ai_share = ai_share(change, &commits, attribution.as_ref());
    let recent_fixes = match &change.recent_fixes {
        Some(fixes) if fixes.complete => Ok(fixes.count),
        Some(fixes) => Err(format!("history read only in part (at least {})", fixes.count)),
        None => Err("the history of the files was not read".to_owned()),
    };
    let risk = risk::assess(
        &policy.risk,
        &RiskInput {
            services: &services,
            touches_gate_config: paths.iter().any(|path| is_gate_config(path)),
            destructive: &destructive,
            hazards: &hazards,
            files: &file_lines,
            experience: experience(config, &responsible, &paths, change.history.as_ref()),
            ai_share: Some(ai_share),
            recent_fixes: recent_fixes.clone(),
        },
    );
    let groups = owner_groups(config, &paths, &path_services);
    let declaration = policy.ai.require_declaration.then(|| declaration_rule(&change.commits, &scans));
    let untested = risk::untested_code(&paths.iter().map(String::as_str).collect::<Vec<_>>());
    let mut analysis = Analysis {
        change: ChangeSummary {
            repo: change.repo.clone(),
            base: change.base.clone(),
            head: change.head.clone(),
            fingerprint: change.fingerprint(),
            environment: change.environment.clone(),
            commits: change.commits.len(),
            files: change.files.len(),
            lines_added,
            lines_deleted,
            services: services.iter().map(|(name, tier)| ServiceRef { name: name.clone(), tier: *tier }).collect(),
            configuration: change.config_origin.clone(),
            rollback: change.rollback.clone(),
            plans: change.plans.clone(),
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
        attribution,
        recent_fixes,
        untested,
        ai_share,
        groups,
        builtin: declaration.into_iter().collect(),
        rollback: change.rollback.clone(),
        plans: change.plans.iter().map(|plan| plan.digest.clone()).collect(),
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
                Some(predicate) => predicates::holds(config, predicate, &analysis, &mut why) != Truth::False,
            };
            (applies, why)
        })
        .collect();
    let builtin = builtin_rules(config, &analysis);
    analysis.builtin.extend(builtin);
    analysis
}

/// The rules no policy can switch off (except where it says so explicitly), each a block that
/// only a change of the change, the directory or the policy lifts.
fn builtin_rules(config: &Config, analysis: &Analysis) -> Vec<RuleOutcome> {
    let policy = &config.policy;
    let mut rules = Vec::new();
    let unknown: Vec<&Responsible> = analysis.responsible.iter().filter(|entry| !entry.known).collect();
    if policy.approvals.unknown_people == UnknownPeople::Block && !unknown.is_empty() {
        let who: Vec<String> = unknown
            .iter()
            .map(|entry| {
                let roles: Vec<&str> = entry.roles.iter().map(|role| role.as_str()).collect();
                format!("{} ({})", entry.id, roles.join(", "))
            })
            .collect();
        rules.push(blocking(
            "unknown-people",
            "Everyone who answers for a change is known to the directory ([approvals] unknown_people = \"block\")",
            vec![
                format!("not in people.toml: {}", who.join(", ")),
                "add each address to the person's `emails` in people.toml at the base (or the requester's id), \
                 or set [approvals] unknown_people = \"lowest-level\"; approvals cannot satisfy this rule"
                    .to_owned(),
            ],
        ));
    }
    if let Some(rollback) = &analysis.rollback {
        let allowed_by = policy
            .rules
            .iter()
            .zip(&analysis.applicability)
            .any(|(rule, (applies, _))| *applies && rule.when.as_ref().is_some_and(|when| when.allows_rollback()));
        if !allowed_by {
            rules.push(blocking(
                "rollback",
                "A deployment does not drop what the base has, unless a rule allows rollbacks",
                vec![
                    format!(
                        "the head does not contain {} of the base {}: deploying it would revert them",
                        plural(rollback.dropped_commits as usize, "commit"),
                        short(&rollback.base)
                    ),
                    "deploy a head that contains the base, or add a rule with when = { rollback = true } and its own \
                     requirement"
                        .to_owned(),
                ],
            ));
        }
    }
    if policy.approvals.no_rule_applies == NoRuleApplies::Block
        && !analysis.applicability.iter().any(|(applies, _)| *applies)
    {
        rules.push(blocking(
            "no-rule-applies",
            "A change the policy says nothing about is not allowed ([approvals] no_rule_applies = \"block\")",
            vec![
                "no rule of policy.toml applies to this change".to_owned(),
                "add a rule that covers it, e.g. one without `when`, or set [approvals] no_rule_applies = \"allow\""
                    .to_owned(),
            ],
        ));
    }
    rules
}

/// A built-in rule that applies and is not satisfied.
pub(super) fn blocking(name: &str, description: &str, why: Vec<String>) -> RuleOutcome {
    RuleOutcome {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        applies: true,
        satisfied: false,
        why,
        approvals: Vec::new(),
        missing: 1,
        eligible: Vec::new(),
        suggested: Vec::new(),
        owner_groups: Vec::new(),
    }
}

pub(super) fn rank_of(config: &Config, entry: &Responsible) -> Rank {
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
    Responsible::judged_for_experience(responsible)
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

/// The share of the added lines AI wrote: read line by line when the attribution is there,
/// else estimated as the added lines of the files an AI-assisted commit touched.
pub(crate) fn ai_share(
    change: &ChangeInput,
    commits: &[CommitReport],
    attribution: Option<&Attribution>,
) -> (f64, bool) {
    if let Some(attribution) = attribution {
        let (ai, added) = attribution.counts(None);
        return (if added == 0 { 0.0 } else { ai as f64 / added as f64 }, false);
    }
    let ai_paths: std::collections::HashSet<&str> = change
        .commits
        .iter()
        .zip(commits)
        .filter(|(_, report)| report.ai_assisted)
        .flat_map(|(commit, _)| commit.files.iter().map(|file| file.path.as_str()))
        .collect();
    let added: u64 = change.files.iter().map(|file| u64::from(file.added)).sum();
    let ai: u64 = change
        .files
        .iter()
        .filter(|file| ai_paths.contains(file.path.as_str()))
        .map(|file| u64::from(file.added))
        .sum();
    (if added == 0 { 0.0 } else { ai as f64 / added as f64 }, true)
}
