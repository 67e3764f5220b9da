//! Where attestations come from: the attestation ref, folders, and the approval service.

use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, BTreeSet};

use countersign_core::attestation::{Envelope, FileDigest, Statement, Verdict};
use countersign_core::config::Config;
use countersign_core::evaluate::ComparedWith;
use countersign_core::evaluate::FoundAttestation;
use countersign_core::finding::{Finding, Severity};
use countersign_core::model::Identity;
use countersign_core::model::TreeChange;
use countersign_git::{ATTESTATION_REF, Repo};

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
    /// The approval service's signed statements about changes of `repository` (its name there),
    /// verified against policy.toml's `[server] keys`. Only that repository's: the same patch
    /// approved in another repository says nothing about this one.
    Server { url: String, repository: String },
}

/// The approval service, as far as the read stage needs it: its signed statements about a change.
/// Behind a trait so the read stage does no HTTP itself.
pub trait RemoteStatements {
    fn statements(
        &self,
        server: &str,
        repository: &str,
        fingerprint: &str,
        environment: &str,
    ) -> Result<Vec<FoundAttestation>, String>;
}

/// Every attestation of every source, read once, for looking up the changes of a range and
/// the earlier versions of a change. Local sources (the ref, folders) are read whole; the
/// approval service is asked per fingerprint, once each.
pub struct Attestations<'r> {
    /// Readable statements, each once whatever the number of sources holding it.
    statements: Vec<Indexed>,
    /// Each statement's position in `statements`, by its signed text and signature.
    seen: std::collections::HashMap<(String, String), usize>,
    /// Attestations that cannot be read, with the fingerprint their place names (the ref's
    /// folder); `None` (a file of a folder) puts one in scope of every change.
    unreadable: Vec<(Option<String>, FoundAttestation)>,
    /// Each server with the repository's name there.
    servers: Vec<(String, String)>,
    remote: &'r dyn RemoteStatements,
    asked: std::cell::RefCell<std::collections::HashMap<String, Vec<FoundAttestation>>>,
    /// What the caller should know about the sources (a missing ref or folder).
    pub notes: Vec<Finding>,
}

/// A readable statement, with what is needed to find it without verifying it first.
struct Indexed {
    found: FoundAttestation,
    statement: Statement,
}

/// Statements read from the attestation ref's whole history, at most: a million approvals is
/// decades of a busy organisation.
pub const MAX_REF_STATEMENTS: usize = 1_000_000;
/// Bytes of statements read from the attestation ref's history, at most (a statement is
/// about 1 KiB).
pub const MAX_REF_BYTES: u64 = 2 << 30;

impl<'r> Attestations<'r> {
    /// Reads every local source; checks that a server can be verified before asking it.
    pub fn read(
        repo: &Repo,
        config: &Config,
        sources: &[AttestationSource],
        remote: &'r dyn RemoteStatements,
    ) -> Result<Attestations<'r>, ReadError> {
        let mut all = Vec::new();
        let mut notes = Vec::new();
        let mut servers = Vec::new();
        for source in sources {
            match source {
                AttestationSource::Ref => {
                    if !repo.has_attestation_ref()? {
                        notes.push(Finding::new(
                            Severity::Info,
                            "no-attestation-ref",
                            format!(
                                "this clone has no {ATTESTATION_REF}, so no approval stored in git was read; fetch it \
                                 with `git fetch origin '+{ATTESTATION_REF}:{ATTESTATION_REF}'`"
                            ),
                        ));
                    }
                    all.extend(repo.all_attestations(MAX_REF_STATEMENTS, MAX_REF_BYTES)?);
                }
                AttestationSource::Dir(dir) => {
                    if !dir.exists() {
                        notes.push(Finding::new(
                            Severity::Warning,
                            "no-attestation-folder",
                            format!(
                                "attestation folder {} does not exist; no approval was read from it",
                                dir.display()
                            ),
                        ));
                    }
                    all.extend(in_dir(dir)?.into_iter().map(|found| (None, found)));
                }
                AttestationSource::Server { url, repository } => {
                    if config.policy.server_keys.is_empty() {
                        return Err(ReadError::input(format!(
                            "--server {url} is given, but policy.toml lists no [server] keys to verify its attestations; \
                             add the key that `countersign serve` prints (also at {url}/api/server-key) under [server] keys"
                        )));
                    }
                    servers.push((url.clone(), repository.clone()));
                }
            }
        }
        let mut attestations = Attestations {
            statements: Vec::new(),
            seen: std::collections::HashMap::new(),
            unreadable: Vec::new(),
            servers,
            remote,
            asked: std::cell::RefCell::default(),
            notes,
        };
        for (folder, found) in all {
            attestations.add(folder, found);
        }
        Ok(attestations)
    }

    /// Adds an attestation, once: the same signed statement from a second source only adds
    /// that source to where it was found.
    fn add(&mut self, folder: Option<String>, found: FoundAttestation) {
        if found.problem.is_some() {
            self.unreadable.push((folder, found));
            return;
        }
        let parsed = Envelope::from_bytes(&found.bytes)
            .and_then(|envelope| envelope.statement_unverified().map(|statement| (envelope, statement)));
        match parsed {
            Ok((envelope, statement)) => match self.seen.entry((envelope.statement, envelope.signature)) {
                std::collections::hash_map::Entry::Occupied(entry) => {
                    let existing = &mut self.statements[*entry.get()].found;
                    existing.origin = format!("{} and {}", existing.origin, found.origin);
                }
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(self.statements.len());
                    self.statements.push(Indexed { found, statement });
                }
            },
            // Not a statement at all: in scope where its place says, and it blocks there.
            Err(rejected) => {
                self.unreadable.push((folder, FoundAttestation::unreadable(found.origin, rejected.to_string())))
            }
        }
    }

    /// The attestations about `fingerprint` from every source.
    pub fn about(&self, fingerprint: &str, environment: &str) -> Result<Vec<FoundAttestation>, ReadError> {
        let mut found: Vec<FoundAttestation> = self
            .statements
            .iter()
            .filter(|indexed| indexed.statement.fingerprint == fingerprint)
            .map(|indexed| indexed.found.clone())
            .collect();
        found.extend(
            self.unreadable
                .iter()
                .filter(|(folder, _)| folder.as_deref().is_none_or(|folder| folder == fingerprint))
                .map(|(_, found)| found.clone()),
        );
        for (server, repository) in &self.servers {
            let key = format!("{server}\n{repository}\n{fingerprint}\n{environment}");
            let cached = self.asked.borrow().get(&key).cloned();
            let from_server = match cached {
                Some(statements) => statements,
                None => {
                    let statements = self
                        .remote
                        .statements(server, repository, fingerprint, environment)
                        .map_err(ReadError::Input)?;
                    self.asked.borrow_mut().insert(key, statements.clone());
                    statements
                }
            };
            for statement in from_server {
                let duplicate = found.iter_mut().find(|other| same_envelope(&other.bytes, &statement.bytes));
                match duplicate {
                    Some(other) => other.origin = format!("{} and {}", other.origin, statement.origin),
                    None => found.push(statement),
                }
            }
        }
        Ok(found)
    }

    /// Whether any source holds a statement about `fingerprint` (for this environment).
    pub fn any_about(&self, fingerprint: &str, environment: &str) -> Result<bool, ReadError> {
        let local = self.statements.iter().any(|indexed| {
            indexed.statement.fingerprint == fingerprint && indexed.statement.environment == environment
        });
        Ok(local
            || (!self.servers.is_empty()
                && self.about(fingerprint, environment)?.iter().any(|found| found.problem.is_none())))
    }

    /// Whether any statement could be about a change touching `paths`: one that lists its
    /// files and shares one, one that does not list them, or any statement of a server.
    pub fn could_concern(&self, paths: &BTreeSet<&str>, environment: &str) -> bool {
        !self.servers.is_empty()
            || self.statements.iter().any(|indexed| {
                indexed.statement.environment == environment
                    && (indexed.statement.files.is_empty()
                        || indexed.statement.files.iter().any(|file| paths.contains(file.path.as_str())))
            })
    }

    /// Statements of local sources about other versions of a change, those `related` picks,
    /// marked as such.
    pub fn earlier_versions(
        &self,
        fingerprint: &str,
        environment: &str,
        related: impl Fn(&Statement) -> bool,
    ) -> Vec<FoundAttestation> {
        self.statements
            .iter()
            .filter(|indexed| {
                indexed.statement.fingerprint != fingerprint
                    && indexed.statement.environment == environment
                    && related(&indexed.statement)
            })
            .map(|indexed| indexed.found.clone().about_an_earlier_version())
            .collect()
    }
}

impl Attestations<'_> {
    /// The approved version (of a local source, signature verified) that shares the most files'
    /// content with `changes`, the paths where the two differ (what nobody approved), and
    /// whether `changes` touches every path of that version (it is that version, changed).
    pub fn closest_approved(
        &self,
        config: &Config,
        changes: &[TreeChange],
        environment: &str,
    ) -> Option<(ComparedWith, Vec<String>, bool)> {
        let ours: BTreeMap<&str, &str> =
            changes.iter().map(|change| (change.path.as_str(), change.digest.as_str())).collect();
        // Closest: the most files with the same content, then the most files in common.
        let mut best: Option<((usize, usize), &Statement, &[FileDigest])> = None;
        for indexed in &self.statements {
            let statement = &indexed.statement;
            if statement.verdict != Verdict::Approve || statement.environment != environment {
                continue;
            }
            let Some(files) = statement.listed_files() else { continue };
            let same = files.iter().filter(|file| ours.get(file.path.as_str()) == Some(&file.digest.as_str())).count();
            let shared = files.iter().filter(|file| ours.contains_key(file.path.as_str())).count();
            if shared == 0 || best.is_some_and(|(score, ..)| score >= (same, shared)) {
                continue;
            }
            if verifies(config, indexed) {
                best = Some(((same, shared), statement, files));
            }
        }
        let (_, statement, files) = best?;
        let theirs: BTreeMap<&str, &str> =
            files.iter().map(|file| (file.path.as_str(), file.digest.as_str())).collect();
        let differing: Vec<String> = ours
            .iter()
            .filter(|(path, digest)| theirs.get(*path) != Some(*digest))
            .map(|(path, _)| (*path).to_owned())
            .chain(theirs.keys().filter(|path| !ours.contains_key(*path)).map(|path| (*path).to_owned()))
            .collect();
        let people: BTreeSet<String> = self
            .statements
            .iter()
            .filter(|other| {
                other.statement.fingerprint == statement.fingerprint
                    && other.statement.verdict == Verdict::Approve
                    && verifies(config, other)
            })
            .map(|other| other.statement.person.clone())
            .collect();
        let covers = theirs.keys().all(|path| ours.contains_key(path));
        Some((
            ComparedWith { fingerprint: statement.fingerprint.clone(), people: people.into_iter().collect() },
            differing,
            covers,
        ))
    }
}

fn verifies(config: &Config, indexed: &Indexed) -> bool {
    Envelope::from_bytes(&indexed.found.bytes)
        .is_ok_and(|envelope| envelope.verify(&config.directory, &config.policy.server_keys).is_ok())
}

/// Whether two stored envelopes hold the same signed statement.
fn same_envelope(a: &[u8], b: &[u8]) -> bool {
    match (Envelope::from_bytes(a), Envelope::from_bytes(b)) {
        (Ok(a), Ok(b)) => a.statement == b.statement && a.signature == b.signature,
        _ => false,
    }
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
