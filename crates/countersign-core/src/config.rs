//! The whole configuration of a gate, validated together because the files refer to each other.

use crate::codeowners::CodeOwners;
use crate::diagnostic::{ConfigError, SourceFile};
use crate::directory::Directory;
use crate::finding::Finding;
use crate::policy::Policy;
use crate::services::Services;

/// The files, as read by an adapter. `services` and `codeowners` are optional.
pub struct ConfigFiles {
    pub people: SourceFile,
    pub services: Option<SourceFile>,
    pub policy: SourceFile,
    pub codeowners: Option<SourceFile>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub directory: Directory,
    pub services: Services,
    pub policy: Policy,
    pub codeowners: CodeOwners,
}

impl Config {
    /// Parses and validates every file; returns all mistakes of all files, or the configuration
    /// with findings (invalid CODEOWNERS lines are findings, as GitHub skips them too).
    pub fn load(files: &ConfigFiles) -> Result<(Config, Vec<Finding>), Vec<ConfigError>> {
        let directory = Directory::parse(&files.people)?;
        let mut errors = Vec::new();
        let services = match &files.services {
            Some(source) => Services::parse(source, &directory).unwrap_or_else(|mut found| {
                errors.append(&mut found);
                Services::default()
            }),
            None => Services::default(),
        };
        let policy = Policy::parse(&files.policy, &directory, &services);
        let policy = match policy {
            Ok(policy) => policy,
            Err(mut found) => {
                errors.append(&mut found);
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let (codeowners, findings) = match &files.codeowners {
            Some(source) => CodeOwners::parse(&source.name, &source.text),
            None => (CodeOwners::empty(), Vec::new()),
        };
        Ok((Config { directory, services, policy, codeowners }, findings))
    }
}
