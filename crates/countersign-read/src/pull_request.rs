//! What a CI system says about a change: the branches and the pull request, from explicit flags
//! or the CI's own variables. The caller hands in a lookup for the variables; this module never
//! reads the process environment itself, so it is tested with a map.

use std::path::Path;

use countersign_core::model::PullRequest;

use crate::{Ambient, ReadError};

/// What the caller was told explicitly; each field wins over the CI's variables.
#[derive(Clone, Debug, Default)]
pub struct AmbientFlags {
    pub source_branch: Option<String>,
    pub target_branch: Option<String>,
    /// A file with the pull request's description.
    pub pr_body: Option<std::path::PathBuf>,
    pub pr_author: Option<String>,
}

/// The ambient context from flags, then GitHub Actions' and GitLab CI's variables.
pub fn ambient_from_ci(flags: &AmbientFlags, variable: impl Fn(&str) -> Option<String>) -> Result<Ambient, ReadError> {
    let first = |names: &[&str]| names.iter().find_map(|name| variable(name).filter(|value| !value.is_empty()));
    let pull_request = match &flags.pr_body {
        Some(path) => Some(pull_request_body(path, flags.pr_author.clone())?),
        None => match (first(&["GITHUB_EVENT_NAME"]), first(&["GITHUB_EVENT_PATH"])) {
            (Some(event), Some(path)) if event.starts_with("pull_request") => {
                Some(pull_request_from_github_event(Path::new(&path), flags.pr_author.clone())?)
            }
            _ => flags.pr_author.clone().map(|author| PullRequest { author: Some(author), body: String::new() }),
        },
    };
    let pull_request_event = first(&["GITHUB_EVENT_NAME"]).is_some_and(|event| event.starts_with("pull_request"))
        || first(&["CI_MERGE_REQUEST_IID"]).is_some();
    Ok(Ambient {
        purpose: pull_request_event.then_some(crate::Purpose::PullRequest),
        source_branch: flags
            .source_branch
            .clone()
            .or_else(|| first(&["GITHUB_HEAD_REF", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"])),
        target_branch: flags
            .target_branch
            .clone()
            .or_else(|| first(&["GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"])),
        pull_request,
    })
}

/// A pull request description or GitHub event file larger than this is refused. (GitHub caps a
/// description at 65,536 characters; an event file holds more.)
pub const MAX_PR_BODY_BYTES: u64 = 16 * 1024 * 1024;

/// Descriptions and event files over the limit are refused, not cut: a cut description could
/// drop exactly the marker that matters.
fn read_bounded(path: &Path) -> Result<String, ReadError> {
    Ok(crate::bounded::read_text(path, MAX_PR_BODY_BYTES, "")?)
}

/// A pull request whose description is in a file.
pub fn pull_request_body(path: &Path, author: Option<String>) -> Result<PullRequest, ReadError> {
    Ok(PullRequest { author, body: read_bounded(path)? })
}

/// The pull request of a GitHub Actions `pull_request*` event file (`GITHUB_EVENT_PATH`); an
/// explicit author wins over the event's.
pub fn pull_request_from_github_event(path: &Path, author: Option<String>) -> Result<PullRequest, ReadError> {
    let event: serde_json::Value = serde_json::from_str(&read_bounded(path)?)
        .map_err(|error| ReadError::input(format!("cannot parse the GitHub event {}: {error}", path.display())))?;
    let pull_request = &event["pull_request"];
    Ok(PullRequest {
        author: author.or_else(|| pull_request["user"]["login"].as_str().map(str::to_owned)),
        body: pull_request["body"].as_str().unwrap_or_default().to_owned(),
    })
}
