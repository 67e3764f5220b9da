//! Where attestations come from: the attestation ref, folders, and the approval service.

use std::path::{Path, PathBuf};

use countersign_core::attestation::Envelope;
use countersign_core::config::Config;
use countersign_core::evaluate::FoundAttestation;
use countersign_core::model::Identity;
use countersign_git::Repo;

use crate::ReadError;
use crate::bounded::read_bytes;
use countersign_core::attestation::MAX_ENVELOPE_BYTES;

/// One place to read attestations from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttestationSource {
    /// `refs/countersign/attestations` of the repository.
    Ref,
    /// Every `*.json` file of a folder.
    Dir(PathBuf),
    /// The approval service's signed statements, verified against policy.toml's `[server] keys`.
    Server(String),
}

/// The approval service, as far as the read stage needs it: its signed statements about a change.
/// Behind a trait so the read stage does no HTTP itself.
pub trait RemoteStatements {
    fn statements(&self, server: &str, fingerprint: &str, environment: &str) -> Result<Vec<FoundAttestation>, String>;
}

/// Reads the attestations about `fingerprint` from every source, in order.
pub fn gather(
    repo: &Repo,
    config: &Config,
    fingerprint: &str,
    environment: &str,
    sources: &[AttestationSource],
    remote: &dyn RemoteStatements,
) -> Result<Vec<FoundAttestation>, ReadError> {
    let mut found = Vec::new();
    for source in sources {
        match source {
            AttestationSource::Ref => found.extend(repo.read_attestations(fingerprint)?),
            AttestationSource::Dir(dir) => found.extend(in_dir(dir)?),
            AttestationSource::Server(url) => {
                if config.policy.server_keys.is_empty() {
                    return Err(ReadError::input(format!(
                        "--server {url} is given, but policy.toml lists no [server] keys to verify its attestations; \
                         add the key that `countersign serve` prints (also at {url}/api/server-key) under [server] keys"
                    )));
                }
                found.extend(remote.statements(url, fingerprint, environment).map_err(ReadError::Input)?);
            }
        }
    }
    Ok(found)
}

/// Every `*.json` file of an attestation folder; a missing folder holds none.
fn in_dir(dir: &Path) -> Result<Vec<FoundAttestation>, ReadError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(ReadError::input(format!("cannot read attestation folder {}: {error}", dir.display())));
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| ReadError::input(format!("cannot read {}: {error}", dir.display())))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            // A statement that cannot be read (too large, a FIFO, a link to a device) is in
            // scope and may be a rejection: it blocks, it does not stop the read.
            let origin = path.display().to_string();
            found.push(match read_bytes(&path, MAX_ENVELOPE_BYTES as u64, "") {
                Ok(bytes) => FoundAttestation::new(origin, bytes),
                Err(error) => FoundAttestation::unreadable(origin, error.to_string()),
            });
        }
    }
    found.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok(found)
}

/// Stores a signed attestation: as a new file of `dir`, or as a commit on the attestation ref.
/// Returns where it went.
pub fn record(
    repo: &Repo,
    dir: Option<&Path>,
    fingerprint: &str,
    file_name: &str,
    envelope: &Envelope,
    signer: &Identity,
    time: i64,
) -> Result<String, ReadError> {
    let json = envelope.to_json();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|error| ReadError::input(format!("cannot create {}: {error}", dir.display())))?;
            let hex = fingerprint.trim_start_matches("sha256:");
            let path = dir.join(format!("{}-{file_name}", &hex[..hex.len().min(16)]));
            write_atomically(&path, true, |out| out.write_all(json.as_bytes()).map_err(|error| error.to_string()))?;
            Ok(path.display().to_string())
        }
        None => Ok(repo.append_attestation(fingerprint, file_name, &json, signer, time)?),
    }
}

/// Writes a file whole or not at all: into a temporary file beside it, synced, then renamed into
/// place (refusing to replace an existing file with `keep_existing`).
pub fn write_atomically<T>(
    path: &std::path::Path,
    keep_existing: bool,
    write: impl FnOnce(&mut dyn std::io::Write) -> Result<T, String>,
) -> Result<T, ReadError> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let failed = |error: &dyn std::fmt::Display| ReadError::input(format!("cannot write {}: {error}", path.display()));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|error| failed(&error))?;
    let mut out = std::io::BufWriter::new(temp.as_file_mut());
    let value = write(&mut out).map_err(|error| failed(&error))?;
    std::io::Write::flush(&mut out).map_err(|error| failed(&error))?;
    drop(out);
    temp.as_file().sync_all().map_err(|error| failed(&error))?;
    let persisted = if keep_existing { temp.persist_noclobber(path) } else { temp.persist(path) };
    persisted.map_err(|error| failed(&error.error))?;
    Ok(value)
}
