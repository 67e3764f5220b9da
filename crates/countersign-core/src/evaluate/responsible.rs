//! Responsible humans: who answers for a change, and so who may never review it.

use std::collections::BTreeSet;

use crate::config::Config;
use crate::detect::{self, CommitScan};
use crate::directory::Member;
use crate::finding::{Finding, Severity};
use crate::model::ChangeInput;

use super::output::{Responsible, Role};
use super::short;

/// The responsible humans of a change, for callers that only need to know who cannot review it.
pub fn responsible(config: &Config, change: &ChangeInput) -> Vec<Responsible> {
    let scans: Vec<CommitScan> =
        change.commits.iter().map(|commit| detect::scan_commit(commit, &config.index.detect)).collect();
    responsible_humans(config, change, &scans, &mut Vec::new())
}

/// Authors, committers and co-authors who are humans, the operators of directory agents, and
/// the requester. Agents and bots are not responsible; their work falls on the humans around
/// them, or on an unknown human.
pub(super) fn responsible_humans(
    config: &Config,
    change: &ChangeInput,
    scans: &[CommitScan],
    findings: &mut Vec<Finding>,
) -> Vec<Responsible> {
    let directory = &config.directory;
    let mut entries = Entries::default();
    let add =
        |entries: &mut Entries, id: String, level: String, known: bool, role: Role| entries.add(id, level, known, role);
    let add_person = |entries: &mut Entries, person: &crate::directory::Person, role: Role| {
        add(entries, person.id.clone(), directory.level_name(person.rank()).to_owned(), true, role);
    };
    let add_operators = |entries: &mut Entries, agent: &crate::directory::Agent| {
        for operator in agent.operators.iter().filter_map(|id| directory.person(id)) {
            add_person(entries, operator, Role::Operator);
        }
    };
    let mut unknown_reported = BTreeSet::new();
    for (commit, scan) in change.commits.iter().zip(scans) {
        let identities = [
            (&commit.author, scan.author_kind.is_human(), Role::Author),
            (&commit.committer, scan.committer_kind.is_human(), Role::Committer),
        ]
        .into_iter()
        .chain(scan.human_co_authors.iter().map(|identity| (identity, true, Role::CoAuthor)));
        for (identity, is_human, role) in identities {
            match directory.by_identity(identity) {
                Some(Member::Person(person)) => add_person(&mut entries, person, role),
                Some(Member::Agent(agent)) => add_operators(&mut entries, agent),
                None if !is_human => {}
                None => {
                    let email = identity.email.trim().to_ascii_lowercase();
                    if unknown_reported.insert(email.clone()) {
                        let hint = match directory.resembled(&email) {
                            Some(person) => {
                                format!(" (it looks like {}'s address, but only listed addresses count)", person.id)
                            }
                            None => String::new(),
                        };
                        findings.push(Finding::new(
                            Severity::Warning,
                            "unknown-person",
                            format!(
                                "{role} {identity} of commit {} is not in people.toml{hint}; add the address to the \
                                 person's `emails`",
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
        match directory.requester(requester) {
            Ok(Member::Person(person)) => add_person(&mut entries, person, Role::Requester),
            Ok(Member::Agent(agent)) => {
                findings.push(Finding::new(
                    Severity::Info,
                    "agent-requester",
                    format!(
                        "the deployment was requested by agent `{}`; its operators and the humans of the change \
                         answer for it",
                        agent.id
                    ),
                ));
                add_operators(&mut entries, agent);
            }
            Err(error) => {
                findings.push(Finding::new(Severity::Warning, "unknown-person", error.to_string()));
                add(&mut entries, requester.clone(), "unknown".to_owned(), false, Role::Requester);
            }
        }
    }
    if entries.list.is_empty() {
        findings.push(Finding::new(
            Severity::Warning,
            "no-human",
            "no human author, committer, co-author, operator or requester: the change is treated as coming from an \
             unknown human",
        ));
        add(&mut entries, "(no human)".to_owned(), "unknown".to_owned(), false, Role::None);
    }
    entries.list
}

/// Responsible humans in the order first met, indexed by id: adding is constant time, so a
/// commit with a million co-authors costs a million steps, not a million squared.
#[derive(Default)]
struct Entries {
    list: Vec<Responsible>,
    index: std::collections::HashMap<String, usize>,
}

impl Entries {
    fn add(&mut self, id: String, level: String, known: bool, role: Role) {
        match self.index.get(&id) {
            Some(&position) => {
                let entry = &mut self.list[position];
                if !entry.roles.contains(&role) {
                    entry.roles.push(role);
                }
            }
            None => {
                self.index.insert(id.clone(), self.list.len());
                self.list.push(Responsible { id, level, known, roles: vec![role] });
            }
        }
    }
}

/// Why a person may not approve or reject a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewRefusal {
    /// Not a person of the directory at the change's base.
    UnknownPerson(String),
    /// An agent: never a reviewer.
    Agent(String),
    /// A responsible human of the change, in these roles.
    Responsible { person: String, roles: Vec<Role> },
}

impl ReviewRefusal {
    /// A stable code for APIs and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            ReviewRefusal::UnknownPerson(_) => "unknown-person",
            ReviewRefusal::Agent(_) => "agent",
            ReviewRefusal::Responsible { roles, .. } if roles.iter().all(|role| *role == Role::CoAuthor) => "co-author",
            ReviewRefusal::Responsible { .. } => "own-change",
        }
    }
}

impl std::fmt::Display for ReviewRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewRefusal::UnknownPerson(person) => write!(
                f,
                "{person} is not a person of people.toml at the change's base; only people of the directory may review"
            ),
            ReviewRefusal::Agent(person) => {
                write!(f, "{person} is an agent; agents cannot approve, reject or override")
            }
            ReviewRefusal::Responsible { person, roles } => {
                let roles: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
                write!(
                    f,
                    "{person} is a responsible human of this change ({}); they cannot review it",
                    roles.join(", ")
                )
            }
        }
    }
}

/// Whether a person (by directory id) may approve or reject a change with these responsible
/// humans: the one rule, used by `check`, `approve` and the server alike. Only known people who
/// are neither agents nor responsible for the change may.
pub fn review_refused(config: &Config, responsible: &[Responsible], person: &str) -> Option<ReviewRefusal> {
    match config.directory.by_id(person) {
        None => return Some(ReviewRefusal::UnknownPerson(person.to_owned())),
        Some(Member::Agent(agent)) => return Some(ReviewRefusal::Agent(agent.id.clone())),
        Some(Member::Person(_)) => {}
    }
    let entry = responsible.iter().find(|entry| entry.known && entry.id == person)?;
    Some(ReviewRefusal::Responsible { person: person.to_owned(), roles: entry.roles.clone() })
}
