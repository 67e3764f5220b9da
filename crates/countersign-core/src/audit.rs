//! The audit log's hash chain: each entry carries the SHA-256 of the one before it, so an edit,
//! an insertion or a deletion anywhere but the very end breaks every later link.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as stored and exported (one JSON line each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1, 2, 3 … without gaps.
    pub seq: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The person (or token holder) the write is attributed to.
    pub actor: String,
    /// e.g. `change.registered`, `approval.recorded`, `approval.refused`.
    pub action: String,
    /// What it is about, e.g. `change/12`.
    pub subject: String,
    /// A JSON object with the particulars.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry's content and its predecessor's hash. Fields are length-prefixed, so no
/// choice of text in one field can imitate another split.
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"countersign-audit-v1");
    hasher.update(seq.to_be_bytes());
    hasher.update(at.to_be_bytes());
    for field in [actor, action, subject, detail, prev_hash] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

impl Entry {
    /// A new entry after `prev` (`None` for the first).
    pub fn next(prev: Option<(i64, &str)>, at: i64, actor: &str, action: &str, subject: &str, detail: &str) -> Entry {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS.to_owned()),
        };
        let hash = entry_hash(seq, at, actor, action, subject, detail, &prev_hash);
        Entry {
            seq,
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail: detail.to_owned(),
            prev_hash,
            hash,
        }
    }

    fn computed_hash(&self) -> String {
        entry_hash(self.seq, self.at, &self.actor, &self.action, &self.subject, &self.detail, &self.prev_hash)
    }
}

/// The first entry that breaks the chain, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq} {problem}")]
pub struct Broken {
    pub seq: i64,
    pub problem: String,
}

/// Checks entries one at a time, in `seq` order, so a verifier can stream a large log.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last: Option<(i64, String)>,
    entries: u64,
}

impl ChainVerifier {
    pub fn push(&mut self, entry: &Entry) -> Result<(), Broken> {
        let broken = |problem: String| Err(Broken { seq: entry.seq, problem });
        let (expected_seq, expected_prev) = match &self.last {
            Some((seq, hash)) => (seq + 1, hash.as_str()),
            None => (1, GENESIS),
        };
        if entry.seq != expected_seq {
            return broken(format!(
                "follows entry {}: entries {expected_seq}..{} are missing or reordered",
                expected_seq - 1,
                entry.seq - 1
            ));
        }
        if entry.prev_hash != expected_prev {
            return broken(format!(
                "names previous hash {} but entry {} hashes to {expected_prev}",
                entry.prev_hash,
                expected_seq - 1
            ));
        }
        let computed = entry.computed_hash();
        if entry.hash != computed {
            return broken(format!("was altered: its content hashes to {computed}, not the stored {}", entry.hash));
        }
        self.last = Some((entry.seq, entry.hash.clone()));
        self.entries += 1;
        Ok(())
    }

    /// How many entries verified, and the hash of the last: publish it elsewhere to detect a
    /// truncated tail, which no chain can show on its own.
    pub fn finish(self) -> (u64, String) {
        (self.entries, self.last.map_or_else(|| GENESIS.to_owned(), |(_, hash)| hash))
    }
}

/// SSHSIG namespace of checkpoints: a signature made for anything else never verifies as one.
pub const CHECKPOINT_NAMESPACE: &str = "countersign-audit-checkpoint";

/// "The chain had `seq` entries and its last hash was `hash` at `at`", signed by the server's
/// key and kept outside the database: whoever can write the database can re-chain it, but
/// cannot sign a checkpoint, so a rewritten or cut-off log no longer matches the checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// SSHSIG (PEM) over [`Checkpoint::signed_text`].
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes a checkpoint's signature covers.
    pub fn signed_text(seq: i64, hash: &str, at: i64) -> String {
        format!("countersign audit checkpoint\nseq {seq}\nhash {hash}\nat {at}\n")
    }

    pub fn sign(seq: i64, hash: &str, at: i64, key: &ssh_key::PrivateKey) -> Result<Checkpoint, ssh_key::Error> {
        let text = Checkpoint::signed_text(seq, hash, at);
        let signature = key.sign(CHECKPOINT_NAMESPACE, ssh_key::HashAlg::Sha512, text.as_bytes())?;
        Ok(Checkpoint { seq, hash: hash.to_owned(), at, signature: signature.to_pem(ssh_key::LineEnding::LF)? })
    }

    pub fn verifies(&self, key: &ssh_key::PublicKey) -> bool {
        let text = Checkpoint::signed_text(self.seq, &self.hash, self.at);
        self.signature
            .parse::<ssh_key::SshSig>()
            .is_ok_and(|signature| key.verify(CHECKPOINT_NAMESPACE, text.as_bytes(), &signature).is_ok())
    }
}

/// Checks a chain against signed checkpoints: each checkpoint's signature, that the entry at its
/// `seq` has its hash, and that the chain reaches the latest one. `hash_at` gives the stored
/// hash of an entry, or `None` when the chain has no such entry.
pub fn check_checkpoints(
    checkpoints: &[Checkpoint],
    key: &ssh_key::PublicKey,
    chain_length: u64,
    hash_at: impl Fn(i64) -> Option<String>,
) -> Result<usize, Broken> {
    for checkpoint in checkpoints {
        if !checkpoint.verifies(key) {
            return Err(Broken {
                seq: checkpoint.seq,
                problem: "a checkpoint's signature does not verify with the server's key".to_owned(),
            });
        }
        if u64::try_from(checkpoint.seq).is_ok_and(|seq| seq > chain_length) {
            return Err(Broken {
                seq: checkpoint.seq,
                problem: format!(
                    "the log ends at entry {chain_length}, but a signed checkpoint saw {} entries: entries were cut off",
                    checkpoint.seq
                ),
            });
        }
        match hash_at(checkpoint.seq) {
            Some(hash) if hash == checkpoint.hash => {}
            _ => {
                return Err(Broken {
                    seq: checkpoint.seq,
                    problem: "differs from what a signed checkpoint saw: the log was rewritten".to_owned(),
                });
            }
        }
    }
    Ok(checkpoints.len())
}
