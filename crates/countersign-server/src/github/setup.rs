//! The App's settings from files and values the binary hands in, and the directory import.

use std::path::Path;
use std::sync::Arc;

use super::GithubSettings;
use super::api::{Client, Credentials, GitHubApi};

/// What `serve` was told about GitHub. The binary reads the environment; this reads the files.
pub struct Options<'a> {
    pub secret_file: Option<&'a Path>,
    /// `COUNTERSIGN_GITHUB_WEBHOOK_SECRET`, when set.
    pub secret: Option<String>,
    pub api_url: &'a str,
    pub app_id: Option<&'a str>,
    pub app_key: Option<&'a Path>,
    pub token_file: Option<&'a Path>,
    /// `COUNTERSIGN_GITHUB_TOKEN`, when set.
    pub token: Option<String>,
    pub environments: &'a [String],
}

impl<'a> Options<'a> {
    /// Only the API: its address and a token (a file, else the environment's value).
    pub fn api(api_url: &'a str, token_file: Option<&'a Path>, token: Option<String>) -> Options<'a> {
        Options {
            secret_file: None,
            secret: None,
            api_url,
            app_id: None,
            app_key: None,
            token_file,
            token,
            environments: &[],
        }
    }
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|error| format!("cannot read the {what} {}: {error}", path.display()))
}

/// The client for the API at `api_url` with the given credentials, if there are any.
pub fn client(options: &Options<'_>) -> Result<Option<Client>, String> {
    if !(options.api_url.starts_with("https://") || options.api_url.starts_with("http://")) {
        return Err(format!("--github-api-url {} is not an http(s) URL", options.api_url));
    }
    let credentials = match (options.app_id, options.app_key, options.token_file) {
        (Some(app_id), Some(key), _) => Some(
            Credentials::app(app_id, &read(key, "GitHub App key")?)
                .map_err(|error| format!("{} is not the app's private key: {error}", key.display()))?,
        ),
        (_, _, Some(path)) => Some(Credentials::Token(read(path, "GitHub token")?)),
        _ => options.token.clone().filter(|token| !token.is_empty()).map(Credentials::Token),
    };
    Ok(credentials.map(|credentials| Client::new(options.api_url, credentials)))
}

/// The App's settings; `None` when no webhook secret is given (the endpoint then answers 404).
pub fn settings(options: &Options<'_>) -> Result<Option<GithubSettings>, String> {
    let secret = match options.secret_file {
        Some(path) => Some(read(path, "GitHub webhook secret")?),
        None => options.secret.clone(),
    };
    let Some(secret) = secret.filter(|secret| !secret.is_empty()) else { return Ok(None) };
    let api = client(options)?.map(|client| Arc::new(client) as Arc<dyn GitHubApi>);
    let environments =
        if options.environments.is_empty() { vec!["production".to_owned()] } else { options.environments.to_vec() };
    Ok(Some(GithubSettings { webhook_secret: secret.into_bytes(), api, environments }))
}

/// A `people.toml` proposed from an organisation's members and teams: each person with their
/// GitHub login, name, public and noreply e-mail addresses and teams, and a level for a person
/// to fill in (until then the file does not load: nobody is senior by default).
pub fn propose_directory(client: &Client, org: &str) -> Result<String, String> {
    let members = client.org_members(org).map_err(|failure| failure.message)?;
    let mut people = Vec::new();
    let teams = client.org_teams(org).map_err(|failure| failure.message)?;
    let mut team_members = Vec::new();
    for team in &teams {
        team_members.push((team.clone(), client.team_members(org, team).map_err(|failure| failure.message)?));
    }
    for (login, id) in members {
        let profile = client.user(&login).map_err(|failure| failure.message)?;
        let mut emails = vec![format!("{id}+{login}@users.noreply.github.com")];
        emails.extend(profile.email);
        let teams = team_members
            .iter()
            .filter(|(_, members)| members.iter().any(|member| member.eq_ignore_ascii_case(&login)))
            .map(|(team, _)| team.clone())
            .collect();
        people.push(countersign_core::directory::Proposed { login, name: profile.name, emails, teams });
    }
    Ok(countersign_core::directory::proposal(org, &people))
}
