//! The configuration files, read at a revision or from a folder.

use std::path::Path;

use countersign_core::codeowners::CODEOWNERS_LOCATIONS;
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::SourceFile;
use countersign_core::finding::Finding;
use countersign_git::{ObjectId, Repo};

use crate::ReadError;
use crate::bounded::{BoundedError, MAX_CODEOWNERS_BYTES, MAX_CONFIG_BYTES, read_text};

/// The configuration files that exist, none of them required: what `owners` can work with.
pub struct PresentFiles {
    pub people: Option<SourceFile>,
    pub services: Option<SourceFile>,
    pub policy: Option<SourceFile>,
    pub codeowners: Option<SourceFile>,
}

/// Reads the configuration files at a revision, or from `config_dir` when given; CODEOWNERS is
/// always read from the revision, as GitHub reads it from the base branch.
pub fn config_files_at(repo: &Repo, rev: ObjectId, config_dir: Option<&Path>) -> Result<ConfigFiles, ReadError> {
    let short = &rev.to_string()[..10];
    let present = present_files_at(repo, rev, config_dir)?;
    let missing = |name: &str| match config_dir {
        Some(dir) => ReadError::MissingConfig(format!(
            "{} not found; the gate cannot decide without it",
            dir.join(name).display()
        )),
        None => ReadError::MissingConfig(format!(
            ".countersign/{name} not found at base revision {short}; commit it to the target branch or pass --config DIR"
        )),
    };
    Ok(ConfigFiles {
        people: present.people.ok_or_else(|| missing("people.toml"))?,
        services: present.services,
        policy: present.policy.ok_or_else(|| missing("policy.toml"))?,
        codeowners: present.codeowners,
    })
}

/// [`config_files_at`] without requiring any file.
pub fn present_files_at(repo: &Repo, rev: ObjectId, config_dir: Option<&Path>) -> Result<PresentFiles, ReadError> {
    let short = &rev.to_string()[..10];
    let read = |name: &str| -> Result<Option<SourceFile>, ReadError> {
        match config_dir {
            Some(dir) => read_dir_file(&dir.join(name)),
            None => {
                let path = format!(".countersign/{name}");
                Ok(repo
                    .read_file_at_most(rev, &path, MAX_CONFIG_BYTES)?
                    .map(|text| SourceFile::new(format!("{path}@{short}"), text)))
            }
        }
    };
    let people = read("people.toml")?;
    let policy = read("policy.toml")?;
    let services = read("services.toml")?;
    let mut codeowners = None;
    for location in CODEOWNERS_LOCATIONS {
        // GitHub ignores a CODEOWNERS of 3 MB or more; ignoring it here would drop every owner
        // requirement, so countersign refuses to decide instead (exit 2).
        if let Some(text) =
            repo.read_file_at_most(rev, location, MAX_CODEOWNERS_BYTES - 1).map_err(codeowners_too_large)?
        {
            codeowners = Some(SourceFile::new(format!("{location}@{short}"), text));
            break;
        }
    }
    Ok(PresentFiles { people, services, policy, codeowners })
}

fn read_dir_file(path: &Path) -> Result<Option<SourceFile>, ReadError> {
    read_dir_file_at_most(path, MAX_CONFIG_BYTES, "")
}

fn read_dir_file_at_most(path: &Path, limit: u64, hint: &str) -> Result<Option<SourceFile>, ReadError> {
    match read_text(path, limit, hint) {
        Ok(text) => Ok(Some(SourceFile::new(path.display().to_string(), text))),
        Err(BoundedError::Missing(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Reads the configuration files of a plain folder, CODEOWNERS from its parent's usual places.
pub fn config_files_in_dir(dir: &Path) -> Result<ConfigFiles, ReadError> {
    let missing = |name: &str| ReadError::MissingConfig(format!("{} not found", dir.join(name).display()));
    let people = read_dir_file(&dir.join("people.toml"))?.ok_or_else(|| missing("people.toml"))?;
    let policy = read_dir_file(&dir.join("policy.toml"))?.ok_or_else(|| missing("policy.toml"))?;
    let services = read_dir_file(&dir.join("services.toml"))?;
    let root = dir.parent().unwrap_or(Path::new("."));
    let mut codeowners = None;
    for location in CODEOWNERS_LOCATIONS {
        if let Some(file) = read_dir_file_at_most(&root.join(location), MAX_CODEOWNERS_BYTES - 1, CODEOWNERS_HINT)? {
            codeowners = Some(file);
            break;
        }
    }
    Ok(ConfigFiles { people, services, policy, codeowners })
}

const CODEOWNERS_HINT: &str = "; GitHub ignores a CODEOWNERS of 3 MB or more, and countersign will not decide without its owners: split it or shorten it";

fn codeowners_too_large(error: countersign_git::Error) -> ReadError {
    match error {
        countersign_git::Error::TooLarge { path, commit, size, .. } => ReadError::input(format!(
            "{path} at {commit} is {size} bytes; GitHub ignores a CODEOWNERS of 3 MB or more, and countersign will \
             not decide without its owners: split it or shorten it"
        )),
        other => other.into(),
    }
}

pub fn load_config(files: &ConfigFiles) -> Result<(Config, Vec<Finding>), ReadError> {
    Config::load(files).map_err(ReadError::Config)
}
