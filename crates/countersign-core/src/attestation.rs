//! Attestations: signed statements "person P approves (or rejects) change F for environment E".
//!
//! The signed bytes are the statement's JSON exactly as stored, never a re-serialization, so a
//! verifier does not depend on how a JSON library orders or escapes fields.

use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::directory::{Directory, Member, Person};

/// SSHSIG namespace: a signature made for anything else (git commits, files) never verifies.
pub const NAMESPACE: &str = "countersign-attestation";

/// Larger envelopes are refused before parsing, and never written: [`Statement::sign`] refuses a
/// statement whose envelope would exceed it, so every reader can read what any writer wrote.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

named! {
    /// What a statement says about a change.
    Verdict {
        Approve = "approve",
        Reject = "reject",
        /// Break-glass: the person lets a blocked change through; the comment is the reason.
        Override = "override",
        /// The person's earlier approvals no longer count (their review was dismissed on
        /// GitHub); their rejections stand, as only their own approval withdraws one.
        Withdraw = "withdraw",
    }
}

/// What a reviewer signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Always `countersign/attestation/v1`.
    #[serde(rename = "type")]
    pub kind: String,
    pub verdict: Verdict,
    pub person: String,
    pub fingerprint: String,
    pub environment: String,
    /// The head commit reviewed; binding when the policy sets `keep_on_rebase = false`.
    pub head: String,
    /// Seconds since the epoch.
    pub time: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Digests (`sha256:<hex>`) of the infrastructure plans the reviewer saw: an approval counts
    /// for a decision that depends on plans only when it names each of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<String>,
    /// The branch the reviewed change came from, when known: a rejection stands for later
    /// pushes to that branch until its author approves.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// What the fingerprint is made of, path by path, for changes of at most
    /// [`MAX_LISTED_FILES`] files: when a later version is not approved, the files that differ
    /// from this one can be named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDigest>,
    /// The paths the reviewer opened in the web interface before this statement: a rule that
    /// requires an informed review counts the approval only when it names every changed path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opened: Vec<String>,
    /// Instead of `opened`, for a change too large to list: [`paths_digest`] of every changed
    /// path, when the reviewer opened them all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub opened_all: String,
}

/// The paths a statement may list as opened before it names them by digest instead.
pub const MAX_OPENED_LISTED: usize = 200;

/// `sha256:<hex>` of a set of paths, in any order.
pub fn paths_digest(paths: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&str> = paths.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut hasher = Sha256::new();
    for path in sorted {
        hasher.update(path.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Statements list their files' digests up to this many files (the envelope must stay small).
pub const MAX_LISTED_FILES: usize = 256;

/// One path of a reviewed change and the digest of what changed there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub path: String,
    pub digest: String,
}

pub const STATEMENT_TYPE: &str = "countersign/attestation/v1";

/// The stored form: the exact statement text and its SSHSIG signature (PEM armoured).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub statement: String,
    pub signature: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot encode the statement: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot sign: {0}")]
    Sign(ssh_key::Error),
    #[error("ssh-agent could not sign: {0}")]
    Agent(String),
    #[error(
        "the signed statement would take {0} bytes, more than the {MAX_ENVELOPE_BYTES} every reader accepts; shorten the comment"
    )]
    TooLarge(usize),
}

impl Statement {
    pub fn new(
        verdict: Verdict,
        person: &str,
        fingerprint: &str,
        environment: &str,
        head: &str,
        time: i64,
        comment: &str,
    ) -> Statement {
        Statement {
            kind: STATEMENT_TYPE.to_owned(),
            verdict,
            person: person.to_owned(),
            fingerprint: fingerprint.to_owned(),
            environment: environment.to_owned(),
            head: head.to_owned(),
            time,
            comment: comment.to_owned(),
            plans: Vec::new(),
            branch: String::new(),
            files: Vec::new(),
            opened: Vec::new(),
            opened_all: String::new(),
        }
    }

    /// The same statement, listing the reviewed change's files when there are few enough.
    pub fn with_files(mut self, changes: &[crate::model::TreeChange]) -> Statement {
        if changes.len() <= MAX_LISTED_FILES {
            self.files = changes
                .iter()
                .map(|change| FileDigest { path: change.path.clone(), digest: change.digest.clone() })
                .collect();
        }
        self
    }

    /// The listed files, when they are exactly what the fingerprint was made of.
    pub fn listed_files(&self) -> Option<&[FileDigest]> {
        let changes: Vec<crate::model::TreeChange> = self
            .files
            .iter()
            .map(|file| crate::model::TreeChange {
                path_bytes: file.path.as_bytes().to_vec(),
                path: file.path.clone(),
                old_id: None,
                new_id: None,
                mode: String::new(),
                digest: file.digest.clone(),
            })
            .collect();
        let honest = !changes.is_empty() && crate::fingerprint::fingerprint(&changes, &self.head) == self.fingerprint;
        honest.then_some(self.files.as_slice())
    }

    /// The same statement, naming the branch the reviewed change came from.
    pub fn with_branch(mut self, branch: Option<&str>) -> Statement {
        self.branch = branch.unwrap_or_default().to_owned();
        self
    }

    /// The same statement, naming the plans the reviewer saw.
    pub fn with_plans(mut self, plans: Vec<String>) -> Statement {
        self.plans = plans;
        self
    }

    pub fn sign(&self, key: &PrivateKey) -> Result<Envelope, SignError> {
        let statement = serde_json::to_string(self)?;
        let signature = key.sign(NAMESPACE, HashAlg::Sha512, statement.as_bytes()).map_err(SignError::Sign)?;
        Self::enveloped(statement, &signature)
    }

    /// Signs with a key held elsewhere (an ssh-agent): `sign` receives the exact bytes an
    /// SSHSIG signature covers and returns the key's raw signature of them.
    pub fn sign_with(
        &self,
        key: &PublicKey,
        sign: impl FnOnce(&[u8]) -> Result<ssh_key::Signature, String>,
    ) -> Result<Envelope, SignError> {
        let statement = serde_json::to_string(self)?;
        let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, statement.as_bytes()).map_err(SignError::Sign)?;
        let raw = sign(&data).map_err(SignError::Agent)?;
        let signature =
            SshSig::new(key.key_data().clone(), NAMESPACE, HashAlg::Sha512, raw).map_err(SignError::Sign)?;
        Self::enveloped(statement, &signature)
    }

    fn enveloped(statement: String, signature: &SshSig) -> Result<Envelope, SignError> {
        let signature = signature.to_pem(LineEnding::LF).map_err(SignError::Sign)?;
        let envelope = Envelope { statement, signature };
        let size = envelope.to_json().len();
        if size > MAX_ENVELOPE_BYTES {
            return Err(SignError::TooLarge(size));
        }
        Ok(envelope)
    }
}

/// Whose key a verified signature is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// One of the person's own keys in people.toml.
    Person,
    /// An approval server's key from policy.toml's `[server] keys`.
    Server,
}

/// Why an attestation was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("is not a valid attestation: {0}")]
    Malformed(String),
    #[error("names `{0}`, who is not in people.toml")]
    UnknownPerson(String),
    #[error("names `{0}`, an agent; agents cannot approve")]
    Agent(String),
    #[error("names `{0}`, who has no key in people.toml, and no [server] key is configured")]
    NoKey(String),
    #[error("has a signature that verifies with no key of `{0}` in people.toml and no [server] key of policy.toml")]
    BadSignature(String),
}

impl Envelope {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, Rejected> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(Rejected::Malformed(format!("larger than {MAX_ENVELOPE_BYTES} bytes")));
        }
        serde_json::from_slice(bytes).map_err(|error| Rejected::Malformed(error.to_string()))
    }

    /// The statement, without checking the signature; for listing only.
    pub fn statement_unverified(&self) -> Result<Statement, Rejected> {
        let statement: Statement =
            serde_json::from_str(&self.statement).map_err(|error| Rejected::Malformed(error.to_string()))?;
        if statement.kind != STATEMENT_TYPE {
            return Err(Rejected::Malformed(format!("unknown type `{}`", statement.kind)));
        }
        Ok(statement)
    }

    /// Checks the signature against the named person's keys in the directory, or the keys of the
    /// approval servers, which sign for people they have authenticated.
    pub fn verify<'d>(
        &self,
        directory: &'d Directory,
        server_keys: &[PublicKey],
    ) -> Result<(Statement, &'d Person, Signer), Rejected> {
        let statement = self.statement_unverified()?;
        let person = match directory.by_id(&statement.person) {
            Some(Member::Person(person)) => person,
            Some(Member::Agent(agent)) => return Err(Rejected::Agent(agent.id.clone())),
            None => return Err(Rejected::UnknownPerson(statement.person.clone())),
        };
        if person.keys.is_empty() && server_keys.is_empty() {
            return Err(Rejected::NoKey(person.id.clone()));
        }
        // A signature that does not even parse is as unverifiable as a wrong one.
        let Ok(signature) = self.signature.parse::<SshSig>() else {
            return Err(Rejected::BadSignature(person.id.clone()));
        };
        let verifies = |key: &PublicKey| key.verify(NAMESPACE, self.statement.as_bytes(), &signature).is_ok();
        if person.keys.iter().any(verifies) {
            Ok((statement, person, Signer::Person))
        } else if server_keys.iter().any(verifies) {
            Ok((statement, person, Signer::Server))
        } else {
            Err(Rejected::BadSignature(person.id.clone()))
        }
    }
}
