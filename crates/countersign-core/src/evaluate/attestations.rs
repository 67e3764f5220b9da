//! Which attestations count: signatures checked once, then each statement weighed against the
//! change (environment, age, who made it).

use crate::attestation::{Envelope, Rejected, Statement, Verdict};
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

/// Keeps the latest verdict of each eligible person for this change, by person position.
pub(super) fn accepted_attestations<'a>(
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
        if review_refused(config, &analysis.responsible, person).is_some() {
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
            format!(
                "{} {} other fingerprints and were not considered",
                plural(attestations.other_changes, "attestation"),
                if attestations.other_changes == 1 { "names" } else { "name" }
            ),
        ));
    }
    latest.sort_by_key(|(idx, _)| *idx);
    (latest, overrides)
}
