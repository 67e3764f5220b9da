//! Signing a review: [`review`] reads the change, finds who signs and with which key, signs the
//! statement and stores it. Who and which key: the flags first, then git's own configuration
//! (`user.email`, `user.signingkey`, as for `git commit -S` with `gpg.format = ssh`), then the
//! keys an ssh-agent holds. A key behind a passphrase or on hardware signs through the agent. The
//! caller says where the agent's socket and the home folder are: nothing here reads the process
//! environment.

use std::path::{Path, PathBuf};

use countersign_core::attestation::{Envelope, Statement, Verdict};
use countersign_core::directory::{Directory, Member, Person};
use countersign_core::evaluate;
use countersign_core::model::Identity;
use countersign_git::Repo;
use serde::Serialize;
use ssh_key::{PrivateKey, PublicKey};

use crate::{Ambient, ChangeSpec, Gate, ReadError};

/// Key files are small; anything larger is not one.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// A review to sign: who, with which key, what they say, and where the statement goes.
pub struct Review<'a> {
    pub verdict: Verdict,
    /// The reviewer's directory id (`--as`); else the person whose e-mail is git's `user.email`.
    pub person: Option<&'a str>,
    /// The key (`--key`); else git's `user.signingkey`, else the reviewer's key in the agent.
    pub key: Option<&'a Path>,
    /// The socket of the running ssh-agent, if any.
    pub agent: Option<PathBuf>,
    /// What a leading `~/` of a key path stands for.
    pub home: Option<PathBuf>,
    pub comment: &'a str,
    /// The plans reviewed: the statement names their digests.
    pub plans: &'a [PathBuf],
    /// Store the statement as a file in this folder instead of the attestation ref.
    pub attestations: Option<&'a Path>,
    /// Push the attestation ref to this remote afterwards.
    pub push: Option<&'a str>,
    /// Seconds since the epoch: the statement's time.
    pub now: i64,
}

/// A signed and stored review: what `approve` and `reject` report.
#[derive(Serialize)]
pub struct Signed {
    pub verdict: Verdict,
    pub person: String,
    pub fingerprint: String,
    pub environment: String,
    pub head: String,
    /// Where the statement was stored.
    pub stored: String,
    /// What the push said, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
}

/// Reads the change as `check` does, refuses a reviewer who may not review it (its authors, by
/// the same rule as the server's), then signs, stores and, if asked, pushes the statement.
pub fn review(spec: &ChangeSpec, review: &Review<'_>) -> Result<Signed, ReadError> {
    let gate = Gate::open(spec)?;
    let person_id = person(review.person, &gate.repo, &gate.config.directory)?;
    let Some(Member::Person(named)) = gate.config.directory.by_id(&person_id) else {
        return Err(ReadError::input(format!("`{person_id}` is not a person of people.toml; agents cannot review")));
    };
    let signing_key = key(review.key, &gate.repo, named, review.agent.clone(), review.home.as_deref())?;
    let shown_key = review.key.map_or_else(|| "the key found".to_owned(), |path| path.display().to_string());
    let person = gate
        .config
        .directory
        .signer(&person_id, signing_key.public())
        .map_err(|refusal| ReadError::input(format!("{refusal} ({shown_key})")))?;
    let change = gate.read_change(spec, Ambient::default())?;
    let responsible = evaluate::responsible(&gate.config, &change);
    if let Some(refusal) = evaluate::review_refused(&gate.config, &responsible, &person.id) {
        return Err(ReadError::input(refusal.to_string()));
    }
    let (verdict, now) = (review.verdict, review.now);
    let fingerprint = change.fingerprint();
    let plans = crate::plan_digests(review.plans)?.into_iter().map(|plan| plan.digest).collect();
    let statement =
        Statement::new(verdict, &person.id, &fingerprint, &change.environment, &change.head, now, review.comment)
            .with_plans(plans)
            .with_branch(change.source_branch.as_deref())
            .with_files(&change.tree_changes);
    let envelope = signing_key.sign(&statement)?;
    let file_name = format!("{}-{}-{}-{now}.json", change.environment, person.id, verdict.as_str());
    let signer = Identity::new(
        person.name.clone(),
        person.emails.first().cloned().unwrap_or_else(|| format!("{}@countersign", person.id)),
    );
    let stored = crate::record(&gate.repo, review.attestations, &fingerprint, &file_name, &envelope, &signer, now)?;
    let pushed = match review.push {
        Some(remote) => {
            Some(gate.repo.push_countersign_ref(remote, countersign_git::ATTESTATION_REF).map_err(|error| {
                ReadError::input(format!(
                    "the {} is stored in this clone ({stored}) but was not pushed: {error}",
                    verdict.as_str()
                ))
            })?)
        }
        None => None,
    };
    Ok(Signed {
        verdict,
        person: person.id.clone(),
        fingerprint,
        environment: change.environment,
        head: change.head,
        stored,
        pushed,
    })
}

/// A key that can sign.
enum SigningKey {
    /// An unencrypted private key read from a file.
    File(Box<PrivateKey>),
    /// A key an ssh-agent holds: it signs, the private key never leaves it.
    Agent { public: Box<PublicKey>, socket: PathBuf },
}

impl SigningKey {
    fn public(&self) -> &PublicKey {
        match self {
            SigningKey::File(key) => key.public_key(),
            SigningKey::Agent { public, .. } => public,
        }
    }

    fn sign(&self, statement: &Statement) -> Result<Envelope, ReadError> {
        let signed = match self {
            SigningKey::File(key) => statement.sign(key),
            SigningKey::Agent { public, socket } => statement.sign_with(public, |data| {
                let mut agent = ssh_agent_client_rs::Client::connect(socket).map_err(|error| error.to_string())?;
                agent.sign(public.as_ref().clone(), data).map_err(|error| error.to_string())
            }),
        };
        signed.map_err(|error| ReadError::input(error.to_string()))
    }
}

/// The directory id of the reviewer: `--as`, else the person whose e-mail is git's `user.email`.
fn person(flag: Option<&str>, repo: &Repo, directory: &Directory) -> Result<String, ReadError> {
    if let Some(id) = flag {
        return Ok(id.to_owned());
    }
    let Some(email) = repo.config_value("user.email") else {
        return Err(ReadError::input(
            "no --as given and git has no user.email: pass --as YOUR_ID (your id in people.toml)",
        ));
    };
    match directory.by_email(&email) {
        Some(Member::Person(person)) => Ok(person.id.clone()),
        Some(Member::Agent(agent)) => Err(ReadError::input(format!(
            "git's user.email {email} belongs to agent `{}`, and agents cannot review; pass --as YOUR_ID",
            agent.id
        ))),
        None => Err(ReadError::input(format!(
            "git's user.email {email} is nobody's in people.toml: pass --as YOUR_ID, or add the address to your entry"
        ))),
    }
}

/// The key to sign with: `--key`, else git's `user.signingkey`, else the first key of `person`
/// that the ssh-agent at `agent` holds. `home` is what a leading `~/` of a key path stands for.
fn key(
    flag: Option<&Path>,
    repo: &Repo,
    person: &Person,
    agent: Option<PathBuf>,
    home: Option<&Path>,
) -> Result<SigningKey, ReadError> {
    let configured = repo.config_value("user.signingkey");
    let source = match (flag, &configured) {
        (Some(path), _) => Some(path.display().to_string()),
        (None, Some(value)) => Some(value.clone()),
        (None, None) => None,
    };
    let Some(source) = source else {
        let socket = agent.ok_or_else(|| {
            ReadError::input(
                "no --key given, git has no user.signingkey, and no ssh-agent runs (SSH_AUTH_SOCK is not set): pass \
                 --key with your private key file, or load it with ssh-add",
            )
        })?;
        let held = agent_keys(&socket)?;
        let public = held
            .into_iter()
            .find(|held| person.keys.iter().any(|listed| listed.key_data() == held.key_data()))
            .ok_or_else(|| {
                ReadError::input(format!(
                    "the ssh-agent holds none of {}'s keys in people.toml: ssh-add your key, or pass --key",
                    person.id
                ))
            })?;
        return Ok(SigningKey::Agent { public: Box::new(public), socket });
    };
    // git writes a literal public key as `key::ssh-ed25519 AAAA…`.
    if let Some(literal) = source.strip_prefix("key::") {
        let public = PublicKey::from_openssh(literal.trim())
            .map_err(|error| ReadError::input(format!("user.signingkey is not an SSH public key: {error}")))?;
        return through_agent(public, &source, agent);
    }
    let path = expand_home(&source, home);
    let text = crate::bounded::read_text(&path, MAX_KEY_BYTES, "")?;
    if let Ok(private) = PrivateKey::from_openssh(&text) {
        if private.is_encrypted() {
            return through_agent(private.public_key().clone(), &source, agent);
        }
        return Ok(SigningKey::File(Box::new(private)));
    }
    match PublicKey::from_openssh(text.trim()) {
        Ok(public) => through_agent(public, &source, agent),
        Err(_) => Err(ReadError::input(format!(
            "{} is not an OpenSSH key; pass your private key (e.g. ~/.ssh/id_ed25519), or its public key with the \
             private key loaded in ssh-agent",
            path.display()
        ))),
    }
}

/// A public key (or an encrypted private key) signs only through an agent that holds it.
fn through_agent(public: PublicKey, source: &str, agent: Option<PathBuf>) -> Result<SigningKey, ReadError> {
    let Some(socket) = agent else {
        return Err(ReadError::input(format!(
            "{source} is a public key or a passphrase-protected private key, which countersign signs with through \
             ssh-agent, but no agent runs (SSH_AUTH_SOCK is not set): run `eval \"$(ssh-agent)\"` and `ssh-add` your \
             private key, or pass an unencrypted private key with --key"
        )));
    };
    if !agent_keys(&socket)?.iter().any(|held| held.key_data() == public.key_data()) {
        return Err(ReadError::input(format!(
            "the ssh-agent does not hold the key of {source}: ssh-add its private key first"
        )));
    }
    Ok(SigningKey::Agent { public: Box::new(public), socket })
}

fn agent_keys(socket: &Path) -> Result<Vec<PublicKey>, ReadError> {
    let failed = |error: &dyn std::fmt::Display| {
        ReadError::input(format!("cannot ask the ssh-agent at {}: {error}", socket.display()))
    };
    let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(|error| failed(&error))?;
    let identities = client.list_all_identities().map_err(|error| failed(&error))?;
    Ok(identities
        .into_iter()
        .filter_map(|identity| match identity {
            ssh_agent_client_rs::Identity::PublicKey(key) => Some(key.into_owned()),
            ssh_agent_client_rs::Identity::Certificate(_) => None,
        })
        .collect())
}

fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}
