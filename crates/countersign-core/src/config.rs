//! The whole configuration of a gate, validated together because the files refer to each other.

use std::collections::HashMap;

use crate::codeowners::{CodeOwners, Owner};
use crate::detect::DetectConfig;
use crate::diagnostic::{ConfigError, SourceFile};
use crate::directory::{Directory, Member};
use crate::finding::{Finding, Severity};
use crate::policy::Policy;
use crate::services::Services;

/// The files, as read by an adapter. `services` and `codeowners` are optional.
pub struct ConfigFiles {
    pub people: SourceFile,
    pub services: Option<SourceFile>,
    pub policy: SourceFile,
    pub codeowners: Option<SourceFile>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub directory: Directory,
    pub services: Services,
    pub policy: Policy,
    pub codeowners: CodeOwners,
    /// Who is who, resolved once so that each evaluation only looks things up.
    pub index: Index,
}

/// People of the directory by position in `Directory::people()`, resolved at load time.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// For each rule, the people who meet its `min_level`, `teams` and `people`, before the
    /// change-specific exclusions.
    pub rule_candidates: Vec<Vec<usize>>,
    /// For each CODEOWNERS line with owners, the people those owners stand for.
    pub codeowners_members: HashMap<usize, Vec<usize>>,
    /// For each service (same order as `Services::all()`), the people of its owners.
    pub service_members: Vec<Vec<usize>>,
    pub detect: DetectConfig,
}

impl Index {
    fn build(
        directory: &Directory,
        services: &Services,
        policy: &Policy,
        codeowners: &CodeOwners,
        findings: &mut Vec<Finding>,
    ) -> Index {
        let people = directory.people();
        let rule_candidates = policy
            .rules
            .iter()
            .map(|rule| (0..people.len()).filter(|idx| rule.requires.admits(&people[*idx])).collect())
            .collect();
        let mut codeowners_members = HashMap::new();
        for rule in codeowners.rules().iter().filter(|rule| !rule.owners.is_empty()) {
            let mut members = Vec::new();
            for owner in &rule.owners {
                let resolved = resolve_owner(directory, owner);
                if resolved.is_empty() {
                    findings.push(
                        Finding::new(
                            Severity::Warning,
                            "unresolved-owner",
                            format!("CODEOWNERS owner {owner} matches nobody in people.toml"),
                        )
                        .at(codeowners.file().unwrap_or("CODEOWNERS"), rule.line),
                    );
                }
                members.extend(resolved);
            }
            members.sort_unstable();
            members.dedup();
            codeowners_members.insert(rule.line, members);
        }
        let service_members = services
            .all()
            .iter()
            .map(|service| {
                (0..people.len())
                    .filter(|idx| {
                        service.owners.iter().any(|owner| *owner == people[*idx].id || people[*idx].in_team(owner))
                    })
                    .collect()
            })
            .collect();
        let detect = DetectConfig::new(&policy.ai.trailers, &directory.agent_emails()).with_directory(directory);
        Index { rule_candidates, codeowners_members, service_members, detect }
    }
}

/// The positions of the people a CODEOWNERS owner stands for.
pub fn resolve_owner(directory: &Directory, owner: &Owner) -> Vec<usize> {
    let person_of = |member: Option<Member<'_>>| match member {
        Some(Member::Person(person)) => directory.person_index(&person.id).into_iter().collect(),
        _ => Vec::new(),
    };
    match owner {
        Owner::User(login) => person_of(directory.by_github(login)),
        Owner::Email(email) => person_of(directory.by_email(email)),
        Owner::Team { org, team } => {
            let full = format!("{org}/{team}");
            (0..directory.people().len()).filter(|idx| directory.people()[*idx].in_team(&full)).collect()
        }
    }
}

impl Config {
    /// Parses and validates every file; returns all mistakes of all files, or the configuration
    /// with findings (invalid CODEOWNERS lines are findings, as GitHub skips them too).
    pub fn load(files: &ConfigFiles) -> Result<(Config, Vec<Finding>), Vec<ConfigError>> {
        // Every file is checked even when another has mistakes, so one run reports them all.
        let mut errors = Vec::new();
        let directory = Directory::parse(&files.people).unwrap_or_else(|mut found| {
            errors.append(&mut found);
            Directory::unreadable()
        });
        let services = match &files.services {
            Some(source) => Services::parse(source, &directory).unwrap_or_else(|mut found| {
                errors.append(&mut found);
                Services::default()
            }),
            None => Services::default(),
        };
        let policy = Policy::parse(&files.policy, &directory, &services);
        let policy = match policy {
            Ok(policy) => policy,
            Err(mut found) => {
                errors.append(&mut found);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let (codeowners, mut findings) = match &files.codeowners {
            Some(source) => CodeOwners::parse(&source.name, &source.text),
            None => (CodeOwners::empty(), Vec::new()),
        };
        // A CODEOWNERS that gives no path an owner (too large, too complex) would drop every
        // owner requirement: the gate refuses to decide rather than decide without owners.
        if let Some(source) = &files.codeowners {
            let unusable: Vec<ConfigError> = findings
                .iter()
                .filter(|finding| finding.severity == Severity::Error)
                .map(|finding| {
                    ConfigError::new(&SourceFile::new(&source.name, ""), None, finding.message.clone())
                        .with_help("countersign will not decide without the owners CODEOWNERS names")
                })
                .collect();
            if !unusable.is_empty() {
                return Err(unusable);
            }
        }
        let index = Index::build(&directory, &services, &policy, &codeowners, &mut findings);
        findings.extend(coverage_findings(&policy, &files.policy.name));
        Ok((Config { directory, services, policy, codeowners, index }, findings))
    }
}

/// Who owns what, from whichever of people.toml, services.toml and CODEOWNERS exist: a
/// repository with only a CODEOWNERS still has owners to show.
pub struct Ownership {
    pub directory: Directory,
    pub services: Services,
    pub codeowners: CodeOwners,
}

impl Ownership {
    pub fn load(
        people: Option<&SourceFile>,
        services: Option<&SourceFile>,
        codeowners: Option<&SourceFile>,
    ) -> Result<(Ownership, Vec<Finding>), Vec<ConfigError>> {
        let directory = match people {
            Some(source) => Directory::parse(source)?,
            None => Directory::unreadable(),
        };
        let services = match services {
            Some(source) => Services::parse(source, &directory)?,
            None => Services::default(),
        };
        let (codeowners, findings) = match codeowners {
            Some(source) => CodeOwners::parse(&source.name, &source.text),
            None => (CodeOwners::empty(), Vec::new()),
        };
        Ok((Ownership { directory, services, codeowners }, findings))
    }
}

/// What a policy whose every rule has a condition does with a change none of them applies to:
/// said at load time, so `policy check` shows it before a tier-0 change finds out.
fn coverage_findings(policy: &Policy, file: &str) -> Vec<Finding> {
    if policy.rules.iter().any(|rule| rule.when.is_none()) {
        return Vec::new();
    }
    let (severity, consequence) = match policy.approvals.no_rule_applies {
        crate::policy::NoRuleApplies::Block => {
            (Severity::Info, "is blocked (no_rule_applies = \"block\"); add a rule without `when` to review it instead")
        }
        crate::policy::NoRuleApplies::Allow => (
            Severity::Warning,
            "is allowed with no review at all (no_rule_applies = \"allow\"); add a rule without `when` unless that is meant",
        ),
    };
    vec![Finding::new(
        severity,
        "rules-do-not-cover-every-change",
        format!("every rule of {file} has a `when` condition: a change none of them applies to {consequence}"),
    )]
}
