//! Reading configuration and attestations from a revision or a folder, and rendering failures.

use std::path::Path;

use countersign_core::codeowners::CODEOWNERS_LOCATIONS;
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::{ConfigError, SourceFile};
use countersign_core::evaluate::FoundAttestation;
use countersign_core::finding::Finding;
use countersign_core::model::PullRequest;
use countersign_git::{ObjectId, Repo};

use crate::Format;

/// Everything that makes a command answer "bad input" (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("configuration is invalid")]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Git(#[from] countersign_git::Error),
    #[error("{0}")]
    Input(String),
    #[error("{} file(s) could not be analysed", .0.len())]
    Analysis(Vec<countersign_blast::AnalysisError>),
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure::Input(message.into())
    }

    /// Prints the failure once: diagnostics on stderr, and a JSON object on stdout for pipelines.
    pub fn report(&self, format: Format) -> u8 {
        match self {
            Failure::Config(errors) => {
                for error in errors {
                    eprintln!("{:?}", miette::Report::new(error.clone()));
                }
                eprintln!(
                    "countersign: {} configuration error(s); the gate fails closed until they are fixed",
                    errors.len()
                );
            }
            Failure::Analysis(errors) => {
                for error in errors {
                    eprintln!("{:?}", miette::Report::new(error.clone()));
                }
                eprintln!(
                    "countersign: {} file(s) could not be analysed; the gate fails closed until they can be",
                    errors.len()
                );
            }
            other => eprintln!("countersign: error: {other}"),
        }
        if format == Format::Json {
            let errors: Vec<serde_json::Value> = match self {
                Failure::Config(errors) => {
                    errors.iter().map(|error| serde_json::to_value(error.summary()).unwrap_or_default()).collect()
                }
                Failure::Analysis(errors) => errors
                    .iter()
                    .map(|error| {
                        serde_json::json!({
                            "file": error.file,
                            "line": error.location.map(|(line, _)| line),
                            "column": error.location.map(|(_, column)| column),
                            "message": error.message,
                            "help": error.help,
                        })
                    })
                    .collect(),
                other => vec![serde_json::json!({ "message": other.to_string() })],
            };
            outln!("{}", serde_json::json!({ "verdict": "error", "errors": errors }));
        }
        crate::EXIT_BAD_INPUT
    }
}

/// Reads the configuration files at a revision, or from `config_dir` when given; CODEOWNERS is
/// always read from the revision, as GitHub reads it from the base branch.
pub fn config_files_at(repo: &Repo, rev: ObjectId, config_dir: Option<&Path>) -> Result<ConfigFiles, Failure> {
    let short = &rev.to_string()[..10];
    let read = |name: &str| -> Result<Option<SourceFile>, Failure> {
        match config_dir {
            Some(dir) => read_dir_file(&dir.join(name)),
            None => {
                let path = format!(".countersign/{name}");
                Ok(repo.read_file_at(rev, &path)?.map(|text| SourceFile::new(format!("{path}@{short}"), text)))
            }
        }
    };
    let missing = |name: &str| match config_dir {
        Some(dir) => {
            Failure::input(format!("{} not found; the gate cannot decide without it", dir.join(name).display()))
        }
        None => Failure::input(format!(
            ".countersign/{name} not found at base revision {short}; commit it to the target branch or pass --config DIR"
        )),
    };
    let people = read("people.toml")?.ok_or_else(|| missing("people.toml"))?;
    let policy = read("policy.toml")?.ok_or_else(|| missing("policy.toml"))?;
    let services = read("services.toml")?;
    let mut codeowners = None;
    for location in CODEOWNERS_LOCATIONS {
        if let Some(text) = repo.read_file_at(rev, location)? {
            codeowners = Some(SourceFile::new(format!("{location}@{short}"), text));
            break;
        }
    }
    Ok(ConfigFiles { people, services, policy, codeowners })
}

fn read_dir_file(path: &Path) -> Result<Option<SourceFile>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(SourceFile::new(path.display().to_string(), text))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Failure::input(format!("cannot read {}: {error}", path.display()))),
    }
}

/// Reads the configuration files of a plain folder, CODEOWNERS from its parent's usual places.
pub fn config_files_in_dir(dir: &Path) -> Result<ConfigFiles, Failure> {
    let missing = |name: &str| Failure::input(format!("{} not found", dir.join(name).display()));
    let people = read_dir_file(&dir.join("people.toml"))?.ok_or_else(|| missing("people.toml"))?;
    let policy = read_dir_file(&dir.join("policy.toml"))?.ok_or_else(|| missing("policy.toml"))?;
    let services = read_dir_file(&dir.join("services.toml"))?;
    let root = dir.parent().unwrap_or(Path::new("."));
    let mut codeowners = None;
    for location in CODEOWNERS_LOCATIONS {
        if let Some(file) = read_dir_file(&root.join(location))? {
            codeowners = Some(file);
            break;
        }
    }
    Ok(ConfigFiles { people, services, policy, codeowners })
}

pub fn load_config(files: &ConfigFiles) -> Result<(Config, Vec<Finding>), Failure> {
    Config::load(files).map_err(Failure::Config)
}

/// Every `*.json` file of an attestation folder.
pub fn attestations_in_dir(dir: &Path) -> Result<Vec<FoundAttestation>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Failure::input(format!("cannot read attestation folder {}: {error}", dir.display()))),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| Failure::input(format!("cannot read {}: {error}", dir.display())))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            let bytes = std::fs::read(&path)
                .map_err(|error| Failure::input(format!("cannot read {}: {error}", path.display())))?;
            found.push(FoundAttestation { origin: path.display().to_string(), bytes });
        }
    }
    found.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok(found)
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Pull requests larger than this are read up to this size: a description is not a document.
const MAX_PR_BODY_BYTES: u64 = 1024 * 1024;

/// The pull request, from `--pr-body`/`--pr-author` or, in a GitHub Actions pull request job,
/// from the event file GitHub provides.
pub fn pull_request(body_file: Option<&Path>, author: Option<String>) -> Result<Option<PullRequest>, Failure> {
    let read = |path: &Path| -> Result<String, Failure> {
        let file = std::fs::File::open(path)
            .map_err(|error| Failure::input(format!("cannot read {}: {error}", path.display())))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_PR_BODY_BYTES), &mut text)
            .map_err(|error| Failure::input(format!("cannot read {} as UTF-8 text: {error}", path.display())))?;
        Ok(text)
    };
    if let Some(path) = body_file {
        return Ok(Some(PullRequest { author, body: read(path)? }));
    }
    let from_event = std::env::var("GITHUB_EVENT_NAME").is_ok_and(|name| name.starts_with("pull_request"));
    if let (true, Ok(event_path)) = (from_event, std::env::var("GITHUB_EVENT_PATH")) {
        let event: serde_json::Value = serde_json::from_str(&read(Path::new(&event_path))?)
            .map_err(|error| Failure::input(format!("cannot parse the GitHub event {event_path}: {error}")))?;
        let pull_request = &event["pull_request"];
        return Ok(Some(PullRequest {
            author: author.or_else(|| pull_request["user"]["login"].as_str().map(str::to_owned)),
            body: pull_request["body"].as_str().unwrap_or_default().to_owned(),
        }));
    }
    Ok(author.map(|author| PullRequest { author: Some(author), body: String::new() }))
}
