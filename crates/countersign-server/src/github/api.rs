//! GitHub's REST API behind a trait: the real client (a token for one repository, or a GitHub
//! App's installation tokens from a JWT signed with its key), and whatever a test puts in its
//! place. Blocking: called off the runtime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

/// A check run as the gate posts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRun {
    pub name: String,
    pub head_sha: String,
    /// `success`, `failure` or `action_required`.
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
    pub details_url: String,
}

/// Why a call failed, and when it may be tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiFailure {
    pub message: String,
    /// Milliseconds since the epoch GitHub asked to wait until (rate limits).
    pub retry_at: Option<i64>,
    /// A refusal that will not change by retrying (a 4xx other than rate limits).
    pub permanent: bool,
}

impl ApiFailure {
    fn transient(message: String) -> ApiFailure {
        ApiFailure { message, retry_at: None, permanent: false }
    }
}

pub trait GitHubApi: Send + Sync + 'static {
    fn create_check_run(&self, installation: Option<i64>, repository: &str, run: &CheckRun) -> Result<i64, ApiFailure>;
    fn update_check_run(
        &self,
        installation: Option<i64>,
        repository: &str,
        id: i64,
        run: &CheckRun,
    ) -> Result<(), ApiFailure>;
    /// Answers a deployment protection rule at the callback GitHub gave.
    fn answer_protection_rule(
        &self,
        installation: Option<i64>,
        callback_url: &str,
        environment: &str,
        approved: bool,
        comment: &str,
    ) -> Result<(), ApiFailure>;
}

/// How the client authenticates.
pub enum Credentials {
    /// A token for the repositories it may see (a fine-grained token, say).
    Token(String),
    /// A GitHub App: a JWT signed with the app's private key buys installation tokens.
    App { app_id: String, key: Box<jsonwebtoken::EncodingKey> },
}

impl Credentials {
    /// A GitHub App from its id and its private key (PEM, as GitHub hands it out).
    pub fn app(app_id: &str, pem: &str) -> Result<Credentials, String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|error| error.to_string())?;
        Ok(Credentials::App { app_id: app_id.to_owned(), key: Box::new(key) })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::App { app_id, .. } => write!(f, "App {{ app_id: {app_id}, key: <redacted> }}"),
        }
    }
}

/// The real client over `base` (`https://api.github.com`, or `https://HOST/api/v3` for GitHub
/// Enterprise Server).
pub struct Client {
    base: String,
    credentials: Credentials,
    agent: ureq::Agent,
    /// Installation tokens with their expiry (milliseconds), reused until a minute before it.
    tokens: Mutex<HashMap<i64, (String, i64)>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("credentials", &self.credentials).finish()
    }
}

fn now_millis() -> i64 {
    crate::now_millis()
}

impl Client {
    pub fn new(base: &str, credentials: Credentials) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Client { base: base.trim_end_matches('/').to_owned(), credentials, agent, tokens: Mutex::new(HashMap::new()) }
    }

    /// The token to act in an installation with.
    fn token(&self, installation: Option<i64>) -> Result<String, ApiFailure> {
        let (app_id, key) = match &self.credentials {
            Credentials::Token(token) => return Ok(token.clone()),
            Credentials::App { app_id, key } => (app_id, key),
        };
        let Some(installation) = installation else {
            return Err(ApiFailure {
                message: "no installation is named, so the app cannot act (give a token for this)".to_owned(),
                retry_at: None,
                permanent: true,
            });
        };
        let now = now_millis();
        if let Some((token, expires)) =
            self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&installation)
            && *expires - 60_000 > now
        {
            return Ok(token.clone());
        }
        let seconds = now / 1000;
        // Backdated a minute for clock drift; GitHub accepts at most ten minutes of life.
        let claims = json!({"iat": seconds - 60, "exp": seconds + 540, "iss": app_id});
        let jwt = jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, key)
            .map_err(|error| ApiFailure {
                message: format!("cannot sign the app's JWT: {error}"),
                retry_at: None,
                permanent: true,
            })?;
        let url = format!("{}/app/installations/{installation}/access_tokens", self.base);
        let answer = self.call("POST", &url, &jwt, Some(&json!({})))?;
        let token = answer["token"].as_str().ok_or_else(|| ApiFailure::transient(format!("{url} gave no token")))?;
        let expires = answer["expires_at"]
            .as_str()
            .and_then(|text| text.parse::<jiff::Timestamp>().ok())
            .map_or(now + 3_000_000, |at| at.as_millisecond());
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(installation, (token.to_owned(), expires));
        Ok(token.to_owned())
    }

    /// One call; GitHub's rate limits become a `retry_at`.
    fn call(&self, method: &str, url: &str, token: &str, body: Option<&Value>) -> Result<Value, ApiFailure> {
        self.call_paged(method, url, token, body).map(|(value, _)| value)
    }

    /// Every page of a listing, following the `Link` header's `rel="next"` (at most 100 pages).
    fn list(&self, url: &str) -> Result<Vec<Value>, ApiFailure> {
        let token = self.token(None)?;
        let mut items = Vec::new();
        let mut next = Some(format!("{url}{}per_page=100", if url.contains('?') { '&' } else { '?' }));
        for _ in 0..100 {
            let Some(page) = next.take() else { break };
            if !page.starts_with(&self.base) {
                return Err(ApiFailure::transient(format!("the next page {page} is not under {}", self.base)));
            }
            let (value, link) = self.call_paged("GET", &page, &token, None)?;
            items.extend(value.as_array().cloned().unwrap_or_default());
            next = link;
        }
        Ok(items)
    }

    /// The organisation's members: login and numeric id.
    pub fn org_members(&self, org: &str) -> Result<Vec<(String, u64)>, ApiFailure> {
        let members = self.list(&format!("{}/orgs/{}/members", self.base, path_part(org)?))?;
        Ok(members
            .iter()
            .filter_map(|member| Some((member["login"].as_str()?.to_owned(), member["id"].as_u64()?)))
            .collect())
    }

    /// The organisation's teams, by slug.
    pub fn org_teams(&self, org: &str) -> Result<Vec<String>, ApiFailure> {
        let teams = self.list(&format!("{}/orgs/{}/teams", self.base, path_part(org)?))?;
        Ok(teams.iter().filter_map(|team| Some(team["slug"].as_str()?.to_owned())).collect())
    }

    /// The logins of a team's members (child teams' members included).
    pub fn team_members(&self, org: &str, team: &str) -> Result<Vec<String>, ApiFailure> {
        let url = format!("{}/orgs/{}/teams/{}/members", self.base, path_part(org)?, path_part(team)?);
        Ok(self.list(&url)?.iter().filter_map(|member| Some(member["login"].as_str()?.to_owned())).collect())
    }

    /// A user's public name and e-mail address.
    pub fn user(&self, login: &str) -> Result<Profile, ApiFailure> {
        let token = self.token(None)?;
        let user = self.call("GET", &format!("{}/users/{}", self.base, path_part(login)?), &token, None)?;
        let text = |field: &str| user[field].as_str().filter(|value| !value.is_empty()).map(str::to_owned);
        Ok(Profile { name: text("name"), email: text("email") })
    }

    /// One call and the address of the next page, if the answer has one.
    fn call_paged(
        &self,
        method: &str,
        url: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>), ApiFailure> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("countersign/", env!("CARGO_PKG_VERSION")))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .body(body.map(Value::to_string).unwrap_or_default())
            .map_err(|error| ApiFailure::transient(format!("cannot build the request to {url}: {error}")))?;
        let mut response =
            self.agent.run(request).map_err(|error| ApiFailure::transient(format!("{method} {url}: {error}")))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let retry_after = header("retry-after").and_then(|value| value.parse::<i64>().ok());
        let remaining = header("x-ratelimit-remaining");
        let reset = header("x-ratelimit-reset").and_then(|value| value.parse::<i64>().ok());
        let next = header("link").and_then(|link| {
            link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
                let start = part.find('<')? + 1;
                let end = part.find('>')?;
                Some(part[start..end].to_owned())
            })
        });
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            let value =
                if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
            return Ok((value, next));
        }
        let limited = status == 429 || (status == 403 && (retry_after.is_some() || remaining.as_deref() == Some("0")));
        let retry_at = match (limited, retry_after, reset) {
            (true, Some(seconds), _) => Some(now_millis() + seconds * 1000),
            (true, None, Some(reset)) => Some(reset * 1000),
            (true, None, None) => Some(now_millis() + 60_000),
            _ => None,
        };
        let excerpt: String = text.chars().take(300).collect();
        Err(ApiFailure {
            message: format!("{method} {url} answered {status}: {excerpt}"),
            retry_at,
            permanent: !limited && (400..500).contains(&status),
        })
    }

    fn check_run_body(run: &CheckRun) -> Value {
        json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "status": "completed",
            "conclusion": run.conclusion,
            "details_url": run.details_url,
            "output": {"title": run.title, "summary": run.summary},
        })
    }
}

/// A user's public profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// One segment of an API path: a login, an organisation or a team slug.
fn path_part(value: &str) -> Result<&str, ApiFailure> {
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && value != ".." {
        Ok(value)
    } else {
        Err(ApiFailure { message: format!("`{value}` is not a GitHub name"), retry_at: None, permanent: true })
    }
}

/// `owner/name`, and nothing that could leave the repository's path.
fn repository_path(repository: &str) -> Result<&str, ApiFailure> {
    let valid = repository.split('/').count() == 2
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if valid {
        Ok(repository)
    } else {
        Err(ApiFailure { message: format!("`{repository}` is not owner/name"), retry_at: None, permanent: true })
    }
}

impl GitHubApi for Client {
    fn create_check_run(&self, installation: Option<i64>, repository: &str, run: &CheckRun) -> Result<i64, ApiFailure> {
        let token = self.token(installation)?;
        let url = format!("{}/repos/{}/check-runs", self.base, repository_path(repository)?);
        let answer = self.call("POST", &url, &token, Some(&Client::check_run_body(run)))?;
        answer["id"].as_i64().ok_or_else(|| ApiFailure::transient(format!("{url} gave no check run id")))
    }

    fn update_check_run(
        &self,
        installation: Option<i64>,
        repository: &str,
        id: i64,
        run: &CheckRun,
    ) -> Result<(), ApiFailure> {
        let token = self.token(installation)?;
        let url = format!("{}/repos/{}/check-runs/{id}", self.base, repository_path(repository)?);
        self.call("PATCH", &url, &token, Some(&Client::check_run_body(run))).map(|_| ())
    }

    fn answer_protection_rule(
        &self,
        installation: Option<i64>,
        callback_url: &str,
        environment: &str,
        approved: bool,
        comment: &str,
    ) -> Result<(), ApiFailure> {
        // The callback comes in a signed delivery, but the token goes wherever it points: only
        // to this API's own address.
        if !callback_url.starts_with(&format!("{}/repos/", self.base)) {
            return Err(ApiFailure {
                message: format!("the callback {callback_url} is not under {}", self.base),
                retry_at: None,
                permanent: true,
            });
        }
        let token = self.token(installation)?;
        let comment: String = comment.chars().take(1024).collect();
        let body = json!({
            "environment_name": environment,
            "state": if approved { "approved" } else { "rejected" },
            "comment": comment,
        });
        self.call("POST", callback_url, &token, Some(&body)).map(|_| ())
    }
}
