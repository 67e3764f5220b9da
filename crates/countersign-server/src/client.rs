//! The approval service's client, blocking: typed requests and answers from [`crate::contract`],
//! so the CLI and the server cannot disagree on a field.

use std::time::Duration;

use countersign_core::evaluate::FoundAttestation;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::{AttestationList, ErrorBody, LastDeployment};

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

/// What runs in `environment` of `repository` by the server's record, if anything.
pub fn last_deployment(server: &str, repository: &str, environment: &str) -> Result<Option<LastDeployment>, String> {
    let query = [("repository", repository), ("environment", environment)];
    Client::new(server, None).ask_optional("/api/deployments/last", Call::<()>::Get(&query))
}

/// The approval service as the read stage sees it: its public signed statements, which need no
/// token.
pub struct Remote;

impl countersign_read::RemoteStatements for Remote {
    fn statements(&self, server: &str, fingerprint: &str, environment: &str) -> Result<Vec<FoundAttestation>, String> {
        let client = Client::new(server, None);
        let query = [("fingerprint", fingerprint), ("environment", environment)];
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
