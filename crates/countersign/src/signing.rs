//! Who signs a review, and with which key: the flags first, then git's own configuration
//! (`user.email`, `user.signingkey`, as for `git commit -S` with `gpg.format = ssh`), then the
//! keys an ssh-agent holds. A key behind a passphrase or on hardware signs through the agent.

use std::path::{Path, PathBuf};

use countersign_core::attestation::{Envelope, Statement};
use countersign_core::directory::{Directory, Member, Person};
use countersign_git::Repo;
use ssh_key::{PrivateKey, PublicKey};

use crate::failure::{Failure, input};

/// Key files are small; anything larger is not one.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// A key that can sign.
pub enum SigningKey {
    /// An unencrypted private key read from a file.
    File(Box<PrivateKey>),
    /// A key an ssh-agent holds: it signs, the private key never leaves it.
    Agent { public: Box<PublicKey>, socket: PathBuf },
}

impl SigningKey {
    pub fn public(&self) -> &PublicKey {
        match self {
            SigningKey::File(key) => key.public_key(),
            SigningKey::Agent { public, .. } => public,
        }
    }

    pub fn sign(&self, statement: &Statement) -> Result<Envelope, Failure> {
        let signed = match self {
            SigningKey::File(key) => statement.sign(key),
            SigningKey::Agent { public, socket } => statement.sign_with(public, |data| {
                let mut agent = ssh_agent_client_rs::Client::connect(socket).map_err(|error| error.to_string())?;
                agent.sign(public.as_ref().clone(), data).map_err(|error| error.to_string())
            }),
        };
        signed.map_err(|error| input(error.to_string()))
    }
}

/// The directory id of the reviewer: `--as`, else the person whose e-mail is git's `user.email`.
pub fn person(flag: Option<&str>, repo: &Repo, directory: &Directory) -> Result<String, Failure> {
    if let Some(id) = flag {
        return Ok(id.to_owned());
    }
    let Some(email) = repo.config_value("user.email") else {
        return Err(input("no --as given and git has no user.email: pass --as YOUR_ID (your id in people.toml)"));
    };
    match directory.by_email(&email) {
        Some(Member::Person(person)) => Ok(person.id.clone()),
        Some(Member::Agent(agent)) => Err(input(format!(
            "git's user.email {email} belongs to agent `{}`, and agents cannot review; pass --as YOUR_ID",
            agent.id
        ))),
        None => Err(input(format!(
            "git's user.email {email} is nobody's in people.toml: pass --as YOUR_ID, or add the address to your entry"
        ))),
    }
}

/// The key to sign with: `--key`, else git's `user.signingkey`, else the first key of `person`
/// that the ssh-agent holds.
pub fn key(flag: Option<&Path>, repo: &Repo, person: &Person, agent: Option<PathBuf>) -> Result<SigningKey, Failure> {
    let configured = repo.config_value("user.signingkey");
    let source = match (flag, &configured) {
        (Some(path), _) => Some(path.display().to_string()),
        (None, Some(value)) => Some(value.clone()),
        (None, None) => None,
    };
    let Some(source) = source else {
        let socket = agent.ok_or_else(|| {
            input(
                "no --key given, git has no user.signingkey, and no ssh-agent runs (SSH_AUTH_SOCK is not set): pass \
                 --key with your private key file, or load it with ssh-add",
            )
        })?;
        let held = agent_keys(&socket)?;
        let public = held
            .into_iter()
            .find(|held| person.keys.iter().any(|listed| listed.key_data() == held.key_data()))
            .ok_or_else(|| {
                input(format!(
                    "the ssh-agent holds none of {}'s keys in people.toml: ssh-add your key, or pass --key",
                    person.id
                ))
            })?;
        return Ok(SigningKey::Agent { public: Box::new(public), socket });
    };
    // git writes a literal public key as `key::ssh-ed25519 AAAA…`.
    if let Some(literal) = source.strip_prefix("key::") {
        let public = PublicKey::from_openssh(literal.trim())
            .map_err(|error| input(format!("user.signingkey is not an SSH public key: {error}")))?;
        return through_agent(public, &source, agent);
    }
    let path = expand_home(&source);
    let text = countersign_read::bounded::read_text(&path, MAX_KEY_BYTES, "")?;
    if let Ok(private) = PrivateKey::from_openssh(&text) {
        if private.is_encrypted() {
            return through_agent(private.public_key().clone(), &source, agent);
        }
        return Ok(SigningKey::File(Box::new(private)));
    }
    match PublicKey::from_openssh(text.trim()) {
        Ok(public) => through_agent(public, &source, agent),
        Err(_) => Err(input(format!(
            "{} is not an OpenSSH key; pass your private key (e.g. ~/.ssh/id_ed25519), or its public key with the \
             private key loaded in ssh-agent",
            path.display()
        ))),
    }
}

/// A public key (or an encrypted private key) signs only through an agent that holds it.
fn through_agent(public: PublicKey, source: &str, agent: Option<PathBuf>) -> Result<SigningKey, Failure> {
    let Some(socket) = agent else {
        return Err(input(format!(
            "{source} is a public key or a passphrase-protected private key, which countersign signs with through \
             ssh-agent, but no agent runs (SSH_AUTH_SOCK is not set): run `eval \"$(ssh-agent)\"` and `ssh-add` your \
             private key, or pass an unencrypted private key with --key"
        )));
    };
    if !agent_keys(&socket)?.iter().any(|held| held.key_data() == public.key_data()) {
        return Err(input(format!("the ssh-agent does not hold the key of {source}: ssh-add its private key first")));
    }
    Ok(SigningKey::Agent { public: Box::new(public), socket })
}

fn agent_keys(socket: &Path) -> Result<Vec<PublicKey>, Failure> {
    let failed =
        |error: &dyn std::fmt::Display| input(format!("cannot ask the ssh-agent at {}: {error}", socket.display()));
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

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}
