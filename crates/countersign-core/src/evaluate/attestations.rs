//! Which attestations count: signatures checked once, then each statement weighed against the
//! change (environment, age, who made it).

use crate::attestation::{Envelope, Rejected, Signer, Statement, Verdict};
use crate::config::Config;
use crate::finding::{Finding, Severity};

use super::analysis::Analysis;
use super::break_glass::override_refused;
use super::review_refused;
use super::{plural, short};

/// Seconds an attestation may be dated ahead of the verifier's clock.
const CLOCK_SKEW_SECS: i64 = 300;

/// An attestation as found by an adapter, with where it came from for messages.
#[derive(Clone, Debug)]
pub struct FoundAttestation {
    pub origin: String,
    pub bytes: Vec<u8>,
    /// Why the adapter could not read it (too large, not a regular file …): it is in scope and
    /// may be a rejection, so it blocks the change.
    pub problem: Option<String>,
    /// A statement about an earlier version of the change (the same branch before a push): its
    /// rejection still stands, its approval only withdraws its author's earlier rejection.
    pub earlier_version: bool,
}

impl FoundAttestation {
    pub fn new(origin: impl Into<String>, bytes: Vec<u8>) -> FoundAttestation {
        FoundAttestation { origin: origin.into(), bytes, problem: None, earlier_version: false }
    }

    pub fn unreadable(origin: impl Into<String>, problem: impl Into<String>) -> FoundAttestation {
        FoundAttestation {
            origin: origin.into(),
            bytes: Vec::new(),
            problem: Some(problem.into()),
            earlier_version: false,
        }
    }

    /// The same attestation, marked as being about an earlier version of the change.
    pub fn about_an_earlier_version(mut self) -> FoundAttestation {
        self.earlier_version = true;
        self
    }
}

/// A statement whose signature verified.
#[derive(Clone, Debug)]
pub struct Verified {
    pub statement: Statement,
    /// The directory id of the person it names.
    pub person: String,
    /// Signed by an approval server's key (after it authenticated the person), not the
    /// person's own: only such statements can break the glass.
    pub by_server: bool,
}

/// A verified statement, or why the attestation was refused.
pub type CheckOutcome = Result<Verified, Rejected>;

/// Attestations of one change with their signatures checked; the expensive, cacheable part.
#[derive(Clone, Debug)]
pub struct CheckedAttestations {
    pub fingerprint: String,
    /// Attestations naming this fingerprint: the statement and its signer, or why it was refused.
    pub checked: Vec<(String, CheckOutcome)>,
    /// Verified statements about earlier versions of the change (see
    /// [`FoundAttestation::earlier_version`]); those that do not verify are ignored.
    pub earlier: Vec<(String, Verified)>,
    /// How many attestations name other fingerprints.
    pub other_changes: usize,
}

/// Checks each attestation's signature against the directory; other changes' attestations are
/// only counted.
pub fn check_attestations(config: &Config, fingerprint: &str, found: &[FoundAttestation]) -> CheckedAttestations {
    let fingerprint = fingerprint.to_owned();
    let mut checked = Vec::new();
    let mut earlier = Vec::new();
    let mut other_changes = 0;
    for attestation in found {
        if attestation.earlier_version {
            let verified = Envelope::from_bytes(&attestation.bytes).and_then(|envelope| {
                envelope.verify(&config.directory, &config.policy.server_keys).map(|(statement, person, signer)| {
                    Verified { statement, person: person.id.clone(), by_server: signer == Signer::Server }
                })
            });
            if let Ok(verified) = verified
                && verified.statement.fingerprint != fingerprint
            {
                earlier.push((attestation.origin.clone(), verified));
            }
            continue;
        }
        if let Some(problem) = &attestation.problem {
            checked.push((attestation.origin.clone(), Err(Rejected::Malformed(problem.clone()))));
            continue;
        }
        let result = Envelope::from_bytes(&attestation.bytes).and_then(|envelope| {
            let statement = envelope.statement_unverified()?;
            if statement.fingerprint != fingerprint {
                return Ok(None);
            }
            envelope.verify(&config.directory, &config.policy.server_keys).map(|(statement, person, signer)| {
                Some(Verified { statement, person: person.id.clone(), by_server: signer == Signer::Server })
            })
        });
        match result {
            Ok(None) => other_changes += 1,
            Ok(Some(verified)) => checked.push((attestation.origin.clone(), Ok(verified))),
            Err(rejected) => checked.push((attestation.origin.clone(), Err(rejected))),
        }
    }
    CheckedAttestations { fingerprint, checked, earlier, other_changes }
}

/// What the attestations of a change amount to.
pub(super) struct Accepted<'a> {
    /// People (by position) whose approval counts, with the statement, where it was found and,
    /// when the approval was not an informed one, why.
    pub approvals: Vec<(usize, &'a Statement, &'a str, Option<String>)>,
    /// Standing rejections: each person's latest statement, when it rejects, on this version or
    /// an earlier one. A rejection counts whoever its author has become since (a later
    /// co-author's veto stands), never expires, survives new pushes, and ends only with that
    /// person's later approval.
    pub rejections: Vec<(&'a Statement, &'a str, bool)>,
    /// The latest approvals of earlier versions by people who have not approved this one.
    pub earlier_approvals: Vec<(&'a Statement, &'a str)>,
    /// Break-glass statements from an approval server by people allowed to break the glass.
    pub overrides: Vec<(&'a Statement, &'a str)>,
    /// Attestations in scope that cannot be read: each may be a rejection.
    pub unreadable: Vec<String>,
}

/// Weighs each verified statement against the change: environment, who made it, age, head and
/// plans. Never stops at the first problem; every ignored statement is a finding.
pub(super) fn accepted_attestations<'a>(
    config: &Config,
    analysis: &Analysis,
    attestations: &'a CheckedAttestations,
    now: i64,
    findings: &mut Vec<Finding>,
) -> Accepted<'a> {
    let mut accepted = Accepted {
        approvals: Vec::new(),
        rejections: Vec::new(),
        earlier_approvals: Vec::new(),
        overrides: Vec::new(),
        unreadable: Vec::new(),
    };
    // Each person's approve and reject statements for this environment, to find who stands
    // where; `true` marks statements about this version.
    let mut by_person: Vec<(usize, Vec<PersonStatement<'a>>)> = Vec::new();
    for (origin, result) in &attestations.checked {
        let Verified { statement, person, by_server } = match result {
            Ok(verified) => verified,
            Err(Rejected::Malformed(reason)) => {
                findings.push(Finding::new(
                    Severity::Error,
                    "attestation-unreadable",
                    format!("attestation {origin} cannot be read ({reason}); it may be a rejection, so the gate fails closed"),
                ));
                accepted.unreadable.push(origin.clone());
                continue;
            }
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
        let Some(idx) = config.directory.person_index(person) else { continue };
        if statement.verdict == Verdict::Override {
            if !by_server {
                findings.push(ignore(
                    "break-glass comes only from the approval service, which records it and tracks its after-the-fact \
                     review; an override signed with a person's own key never counts"
                        .to_owned(),
                ));
                continue;
            }
            if statement.time > now + CLOCK_SKEW_SECS {
                findings.push(ignore("it is dated in the future".to_owned()));
                continue;
            }
            match override_refused(config, idx, &statement.comment) {
                Some(refusal) => findings.push(ignore(refusal.to_string())),
                None => accepted.overrides.push((statement, origin.as_str())),
            }
            continue;
        }
        add_statement(&mut by_person, idx, (statement, origin.as_str(), true, *by_server));
    }
    for (origin, Verified { statement, person, by_server }) in &attestations.earlier {
        // Break-glass is for one version; other environments are other gates.
        if statement.verdict == Verdict::Override || statement.environment != analysis.change.environment {
            continue;
        }
        if let Some(idx) = config.directory.person_index(person) {
            add_statement(&mut by_person, idx, (statement, origin.as_str(), false, *by_server));
        }
    }
    by_person.sort_by_key(|(idx, _)| *idx);
    for (idx, mut statements) in by_person {
        statements.sort_by_key(|(statement, _, current, _)| (statement.time, *current));
        // A withdrawal cancels the person's approvals before it; their rejections stand.
        if let Some(last) = statements.iter().rposition(|(statement, ..)| statement.verdict == Verdict::Withdraw) {
            let mut position = 0;
            statements.retain(|(statement, ..)| {
                position += 1;
                position > last + 1 || statement.verdict == Verdict::Reject
            });
        }
        if statements.is_empty() {
            continue;
        }
        let since_rejection = statements.iter().rposition(|(statement, ..)| statement.verdict == Verdict::Reject);
        if let Some(last) = since_rejection.filter(|position| *position == statements.len() - 1) {
            let (statement, origin, current, _) = statements[last];
            accepted.rejections.push((statement, origin, current));
            continue;
        }
        // Approvals of this version after the person's last rejection (which they withdraw)
        // may count; an approval of an earlier version withdraws the rejection, nothing more.
        let first = since_rejection.map_or(0, |position| position + 1);
        let person = &config.directory.people()[idx].id;
        let mut counted = None;
        for (statement, origin, _, by_server) in statements[first..].iter().rev().filter(|(_, _, current, _)| *current)
        {
            match approval_refused(config, analysis, statement, person, now) {
                None => {
                    counted = Some((idx, *statement, *origin, uninformed(analysis, statement, *by_server)));
                    break;
                }
                Some(reason) => findings.push(Finding::new(
                    Severity::Warning,
                    "attestation-ignored",
                    format!("attestation {origin} by {person} ignored: {reason}"),
                )),
            }
        }
        match counted {
            Some(approval) => accepted.approvals.push(approval),
            None => {
                if let Some((statement, origin, ..)) = statements
                    .iter()
                    .rev()
                    .find(|(statement, _, current, _)| !current && statement.verdict == Verdict::Approve)
                {
                    accepted.earlier_approvals.push((statement, origin));
                }
            }
        }
    }
    if attestations.other_changes > 0 {
        findings.push(Finding::new(
            Severity::Info,
            "attestations-for-other-changes",
            format!(
                "{} {} other fingerprints and were not considered",
                plural(attestations.other_changes, "attestation"),
                if attestations.other_changes == 1 { "names" } else { "name" }
            ),
        ));
    }
    accepted
}

/// A person's statement, where it was found, whether it is about this version, and whether an
/// approval server signed it.
type PersonStatement<'a> = (&'a Statement, &'a str, bool, bool);

/// Why an approval is not an informed one, if it is not: it must come from the approval
/// service, which records what the reviewer opened (a statement signed with a person's own key
/// could claim anything), and name every changed path.
fn uninformed(analysis: &Analysis, statement: &Statement, by_server: bool) -> Option<String> {
    if !by_server {
        return Some("it was not given in the web interface, which records the files a reviewer opened".to_owned());
    }
    if !statement.opened_all.is_empty() && statement.opened_all == crate::attestation::paths_digest(&analysis.paths) {
        return None;
    }
    let opened: std::collections::HashSet<&str> = statement.opened.iter().map(String::as_str).collect();
    let unopened: Vec<&str> = analysis.paths.iter().map(String::as_str).filter(|path| !opened.contains(path)).collect();
    match unopened.as_slice() {
        [] => None,
        [only] => Some(format!("it was given without opening {only}")),
        [first, rest @ ..] => Some(format!(
            "it was given without opening {} of the {} changed files ({first} and {} more)",
            unopened.len(),
            analysis.paths.len(),
            rest.len()
        )),
    }
}

fn add_statement<'a>(by_person: &mut Vec<(usize, Vec<PersonStatement<'a>>)>, idx: usize, entry: PersonStatement<'a>) {
    match by_person.iter_mut().find(|(other, _)| *other == idx) {
        Some((_, statements)) => statements.push(entry),
        None => by_person.push((idx, vec![entry])),
    }
}

/// Why an approval does not count, if it does not.
fn approval_refused(
    config: &Config,
    analysis: &Analysis,
    statement: &Statement,
    person: &str,
    now: i64,
) -> Option<String> {
    if review_refused(config, &analysis.responsible, person).is_some() {
        return Some("a responsible human of the change cannot approve or reject it".to_owned());
    }
    if !config.policy.approvals.keep_on_rebase && statement.head != analysis.head {
        return Some(format!("it approved head {}, and keep_on_rebase is off", short(&statement.head)));
    }
    if statement.time > now + CLOCK_SKEW_SECS {
        return Some("it is dated in the future".to_owned());
    }
    if let Some(days) = config.policy.approvals.max_age_days
        && statement.time + i64::from(days) * 86_400 < now
    {
        return Some(format!("it is older than max_age_days = {days}"));
    }
    if let Some(plan) = analysis.plans.iter().find(|digest| !statement.plans.contains(digest)) {
        return Some(format!(
            "the decision depends on plan {plan}, which the approval does not name; approve with --plan for each plan"
        ));
    }
    None
}
