//! The approval service's client, blocking: typed requests and answers from [`crate::contract`],
//! so the CLI and the server cannot disagree on a field, and the CLI's flows against the service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use countersign_core::deployment::Deployment;
use countersign_core::evaluate::FoundAttestation;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::{
    AttestationList, ChangeView, ErrorBody, LastDeployment, OverrideBody, OverrideResult, PlanUpload, RegisterBody,
    RegisterPurpose, ReviewBody, ReviewResult,
};

/// Comments and reasons longer than this would not fit the server's request limit (64 KiB);
/// said here rather than as a broken connection.
const MAX_COMMENT_BYTES: usize = 32 * 1024;

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A request method and its body, if it has one.
pub enum Call<'a, B> {
    Get(&'a [(&'a str, &'a str)]),
    Delete,
    Post(&'a B),
    Put(&'a B),
}

impl Client {
    pub fn new(server: &str, token: Option<&str>) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Client {
            base: server.trim_end_matches('/').to_owned(),
            token: token.map(str::to_owned),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// A client calling as the holder of `token`: every call but the public reads needs one.
    pub fn authenticated(server: &str, token: Option<&str>) -> Result<Client, String> {
        match token.filter(|token| !token.is_empty()) {
            Some(token) => Ok(Client::new(server, Some(token))),
            None => Err("no API token: pass --token or set COUNTERSIGN_TOKEN (an administrator creates one with \
                 `countersign token create --person YOUR_ID`)"
                .to_owned()),
        }
    }

    /// One call whose answer must be a success of type `T`; the server's error otherwise.
    pub fn ask<B: Serialize, T: DeserializeOwned>(&self, path: &str, call: Call<'_, B>) -> Result<T, String> {
        let (status, text) = self.send(path, call)?;
        self.decode(path, status, &text)
    }

    /// [`Client::ask`] where "not found" (404) is an answer too: `None`.
    pub fn ask_optional<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        call: Call<'_, B>,
    ) -> Result<Option<T>, String> {
        let (status, text) = self.send(path, call)?;
        if status == 404 {
            return Ok(None);
        }
        self.decode(path, status, &text).map(Some)
    }

    fn send<B: Serialize>(&self, path: &str, call: Call<'_, B>) -> Result<(u16, String), String> {
        let url = format!("{}{path}", self.base);
        let unreachable = |error: ureq::Error| format!("cannot reach {url}: {error}");
        let authorization = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let mut response = match call {
            Call::Get(query) => {
                let mut request = self.agent.get(&url).query_pairs(query.iter().copied());
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.call().map_err(unreachable)?
            }
            Call::Delete => {
                let mut request = self.agent.delete(&url);
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.call().map_err(unreachable)?
            }
            Call::Post(body) | Call::Put(body) => {
                let mut request =
                    if matches!(call, Call::Put(_)) { self.agent.put(&url) } else { self.agent.post(&url) };
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.send_json(body).map_err(unreachable)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| format!("cannot read the answer of {url}: {error}"))?;
        Ok((status, text))
    }

    fn decode<T: DeserializeOwned>(&self, path: &str, status: u16, text: &str) -> Result<T, String> {
        let url = format!("{}{path}", self.base);
        if (200..300).contains(&status) {
            return serde_json::from_str(text).map_err(|error| {
                format!("{url} answered {status} with something countersign does not understand: {error}")
            });
        }
        let what = if status == 403 { "refused" } else { "failed" };
        match serde_json::from_str::<ErrorBody>(text) {
            Ok(ErrorBody { error }) => {
                Err(format!("{} {what} ({status}, {}): {}", self.base, error.code, error.message))
            }
            Err(_) => Err(format!(
                "{url} answered {status} with something that is not an error body: {}",
                text.lines().next().unwrap_or_default()
            )),
        }
    }
}

/// What runs in `environment` of `repository` by the server's record, as the base of the next
/// check; without it, an error that says how to start.
pub fn deployed_base(server: &str, repository: &str, environment: &str) -> Result<Deployment, String> {
    let query = [("repository", repository), ("environment", environment)];
    let last: Option<LastDeployment> =
        Client::new(server, None).ask_optional("/api/deployments/last", Call::<()>::Get(&query))?;
    let last = last.ok_or_else(|| {
        format!(
            "no --base given, and the approval service {server} has allowed no deployment of {repository} to \
             {environment} yet; pass --base with the commit {environment} runs now (the first time)"
        )
    })?;
    Ok(last.into())
}

/// A change to register with the service, for a pipeline or a deployment.
pub struct Registration {
    pub repository: String,
    pub base: String,
    pub head: String,
    pub environment: String,
    pub requester: Option<String>,
    /// A newer head registered under the same name supersedes the older ones.
    pub name: Option<String>,
    pub purpose: RegisterPurpose,
    /// Plan files, uploaded with the registration.
    pub plans: Vec<PathBuf>,
}

impl Registration {
    /// The request, with the plan files read.
    fn body(&self) -> Result<RegisterBody, String> {
        let plans = self
            .plans
            .iter()
            .map(|path| {
                let content = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read plan {}: {error}", path.display()))?;
                Ok(PlanUpload { name: path.display().to_string(), content })
            })
            .collect::<Result<_, String>>()?;
        Ok(RegisterBody {
            repository: self.repository.clone(),
            base: self.base.clone(),
            head: self.head.clone(),
            environment: self.environment.clone(),
            requester: self.requester.clone(),
            name: self.name.clone(),
            purpose: self.purpose,
            plans,
        })
    }
}

/// Registers a change: the server decides it with its own clone and routes its reviews.
pub fn register(server: &str, token: Option<&str>, registration: &Registration) -> Result<ChangeView, String> {
    let body = registration.body()?;
    Client::authenticated(server, token)?.ask("/api/changes", Call::Post(&body))
}

/// Registers a deployment and asks for the final verdict: the server audits it and, when it
/// allows, records the head as deployed.
pub fn deploy(server: &str, token: Option<&str>, registration: &Registration) -> Result<ChangeView, String> {
    let body = registration.body()?;
    let client = Client::authenticated(server, token)?;
    let registered: ChangeView = client.ask("/api/changes", Call::Post(&body))?;
    client.ask(&format!("/api/changes/{}/deploy", registered.change.id), Call::Post(&()))
}

/// Approves or rejects a change; the server signs the statement with its key.
pub fn review(server: &str, token: Option<&str>, body: &ReviewBody) -> Result<ReviewResult, String> {
    if body.comment.len() > MAX_COMMENT_BYTES {
        return Err(format!(
            "the comment has {} bytes; the server signs statements of at most 64 KiB, so shorten it to under {MAX_COMMENT_BYTES}",
            body.comment.len()
        ));
    }
    Client::authenticated(server, token)?.ask("/api/approvals", Call::Post(body))
}

/// Break-glass: lets a blocked change through, owing an after-the-fact review.
pub fn override_change(server: &str, token: Option<&str>, body: &OverrideBody) -> Result<OverrideResult, String> {
    if body.reason.len() > MAX_COMMENT_BYTES {
        return Err(format!("the reason has {} bytes; shorten it to under {MAX_COMMENT_BYTES}", body.reason.len()));
    }
    Client::authenticated(server, token)?.ask("/api/overrides", Call::Post(body))
}

/// The repository's name on the server: given, or the name of the local clone's folder.
pub fn repository_name(given: Option<&str>, repo: &Path) -> Result<String, String> {
    match given {
        Some(name) => Ok(name.to_owned()),
        None => std::fs::canonicalize(repo)
            .ok()
            .and_then(|path| path.file_name().map(|name| name.to_string_lossy().trim_end_matches(".git").to_owned()))
            .ok_or_else(|| "cannot tell the repository's name; pass --repository NAME".to_owned()),
    }
}

/// The approval service as the read stage sees it: its public signed statements, which need no
/// token.
pub struct Remote;

impl countersign_read::RemoteStatements for Remote {
    fn statements(
        &self,
        server: &str,
        repository: &str,
        fingerprint: &str,
        environment: &str,
    ) -> Result<Vec<FoundAttestation>, String> {
        let client = Client::new(server, None);
        let query = [("repository", repository), ("fingerprint", fingerprint), ("environment", environment)];
        let list: AttestationList = client.ask("/api/attestations", Call::<()>::Get(&query))?;
        Ok(list
            .attestations
            .iter()
            .enumerate()
            .map(|(index, envelope)| {
                FoundAttestation::new(
                    format!("{server} #{}", index + 1),
                    serde_json::to_vec(envelope).unwrap_or_default(),
                )
            })
            .collect())
    }
}

/// A time, or a date meaning its start in UTC (`away --until`).
pub fn time_or_date(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("`{text}` is neither a time like 2026-12-01T09:00:00Z nor a date like 2026-12-01"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|zoned| zoned.timestamp()).map_err(|error| error.to_string())
}
