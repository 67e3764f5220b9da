//! The approval service: a JSON API over one database. Pipelines register changes and read
//! decisions; people approve, reject and override with bearer tokens; every write that can change
//! a decision goes through one writer per process, which batches concurrent requests into one
//! transaction (one lock, one fsync) and appends each to the audit chain in that transaction.
//!
//! The server reaches git only through an [`Analyser`]; the real one, [`RepoAnalyser`], fetches
//! and reads a change with the read stage `countersign check` uses, filled from the request alone.
//!
//! For the CLI: [`client`] calls the service, [`text`] words its answers for people and [`admin`]
//! administers its database.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use countersign_core::config::Config;
use countersign_core::evaluate::Analysis;
use countersign_core::finding::Finding;
use countersign_store::Store;
use ssh_key::PrivateKey;

pub mod admin;
mod api;
mod auth;
mod batch;
pub mod client;
pub mod contract;
pub mod github;
mod logic;
mod metrics_names;
pub mod notify;
pub mod openapi;
mod repos;
pub mod text;
mod web;
mod writer;

pub use admin::Backend;
pub use api::router;
pub use auth::{TOKEN_PREFIX, new_token};
pub use repos::RepoAnalyser;

/// What a pipeline asks the server to evaluate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChangeRequest {
    /// A directory name under `--repos`.
    pub repository: String,
    pub base: String,
    pub head: String,
    pub environment: String,
    pub requester: Option<String>,
    pub purpose: contract::RegisterPurpose,
    pub plans: Vec<contract::PlanUpload>,
    /// The pull request the change came from, when the server learnt of it from GitHub.
    pub context: Option<PullContext>,
}

/// A pull request as the gate sees it: its branches and description are contextual AI signals
/// (`claude/…` branches, "Generated with …" lines), its author is the requester.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PullContext {
    pub number: u64,
    pub author: Option<String>,
    pub source_branch: String,
    pub target_branch: String,
    pub body: String,
}

/// A change read and analysed at one base and head: everything but its approvals.
pub struct Prepared {
    pub config: Config,
    pub analysis: Analysis,
    /// Findings about the configuration, shown with every decision.
    pub findings: Vec<Finding>,
    /// The request with its revisions resolved to commit ids: preparing it again gives the same.
    pub request: ChangeRequest,
    /// For a deployment range of several merged changes: each, analysed, to be decided by the
    /// statements about its own content (see `countersign_core::evaluate::combine`).
    pub parts: Vec<PreparedPart>,
}

/// One merged change of a deployment range.
pub struct PreparedPart {
    pub facts: countersign_core::evaluate::MergedChangeFacts,
    pub analysis: Analysis,
}

/// Why a change could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnalysisFailure {
    /// The request names something that does not exist or cannot be read (HTTP 400).
    BadRequest(String),
    /// The repository or its configuration is broken; the change cannot be judged (HTTP 422).
    Unjudgeable(String),
}

/// Reads changes from the repositories on the server's disk. Blocking; called off the runtime.
pub trait Analyser: Send + Sync + 'static {
    /// Fetches when `fetch` is set, then reads and analyses the change.
    fn prepare(&self, request: &ChangeRequest, fetch: bool) -> Result<Prepared, AnalysisFailure>;
    /// The change's diff, file by file, for these paths (the request's base and head are
    /// commit ids, as [`Prepared::request`] has them).
    fn diff(
        &self,
        request: &ChangeRequest,
        paths: &[String],
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>, AnalysisFailure>;
    /// What changed from an earlier version's head to this request's head: the files of this
    /// change and of the earlier one (each from its merge base with the base), hunk by hunk.
    fn changed_since(
        &self,
        request: &ChangeRequest,
        earlier_head: &str,
        paths: &[String],
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>, AnalysisFailure>;
}

/// How the server behaves, beyond where its data lives.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A review nobody picked up within this time goes to the next person.
    pub escalate_after: Duration,
    /// How often the escalation sweep runs.
    pub sweep_every: Duration,
    /// The most writes committed in one transaction.
    pub max_batch: usize,
    /// Where signed audit checkpoints are appended, outside the database; `None` writes none.
    pub checkpoints: Option<std::path::PathBuf>,
    /// Where notifications go.
    pub webhooks: Vec<notify::Webhook>,
    /// The address people reach the web interface at, for links in notifications.
    pub public_url: String,
    /// How long a web sign-in lasts.
    pub session_ttl: Duration,
    /// Marks the session cookie `Secure`: set when the server is reached over TLS.
    pub secure_cookies: bool,
    /// How often due webhook deliveries are sent.
    pub deliver_every: Duration,
    /// The first retry's delay after a failed delivery; each later one doubles it.
    pub retry_base: Duration,
    /// The GitHub App, when configured.
    pub github: Option<github::GithubSettings>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            escalate_after: Duration::from_secs(4 * 3600),
            sweep_every: Duration::from_secs(60),
            max_batch: 256,
            checkpoints: None,
            webhooks: Vec::new(),
            public_url: "http://localhost:8080".to_owned(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            deliver_every: Duration::from_secs(1),
            retry_base: Duration::from_secs(10),
            github: None,
        }
    }
}

/// Shared by every request handler.
pub struct AppState<S: Store> {
    store: S,
    analyser: Arc<dyn Analyser>,
    key: Arc<PrivateKey>,
    public_key: String,
    writer: writer::Handle,
    prepared: Mutex<HashMap<ChangeRequest, Arc<Prepared>>>,
    /// Diffs shown by the web interface, by repository, base and head.
    diffs: Mutex<HashMap<(String, String, String), Diff>>,
    /// Wakes the GitHub worker when a delivery is queued.
    github_wakeup: tokio::sync::Notify,
    /// The audit page's last verification of the whole chain: when, at which head, and its result.
    chain_status: Mutex<Option<(std::time::Instant, i64, web::ChainStatus)>>,
    recent: Mutex<api::Recent>,
    live_tokens: Mutex<auth::LiveTokens>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Reviewers whose queue depth was ever reported, so an emptied queue reads 0, not stale.
    reviewers_seen: Mutex<BTreeSet<String>>,
    settings: Settings,
}

/// A change's diff, file by file.
pub(crate) type Diff = Arc<Vec<countersign_core::evaluate::Interdiff>>;

/// Analyses kept in memory; beyond this many the cache starts over.
const PREPARED_CACHE: usize = 1024;

impl<S: Store> AppState<S> {
    /// Starts the writer and the escalation sweep on the current runtime.
    pub fn start(store: S, analyser: Arc<dyn Analyser>, key: PrivateKey, settings: Settings) -> Arc<AppState<S>> {
        let public_key = key.public_key().to_openssh().unwrap_or_default();
        let key = Arc::new(key);
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
                &[
                    60.0,
                    300.0,
                    900.0,
                    1800.0,
                    3600.0,
                    4.0 * 3600.0,
                    8.0 * 3600.0,
                    86_400.0,
                    3.0 * 86_400.0,
                    7.0 * 86_400.0,
                ],
            )
            .ok()
            .and_then(|builder| builder.install_recorder().ok());
        metrics_names::describe();
        let writer = writer::spawn(store.clone(), Arc::clone(&key), settings.clone());
        let state = Arc::new(AppState {
            store,
            analyser,
            key,
            public_key,
            writer,
            prepared: Mutex::new(HashMap::new()),
            diffs: Mutex::new(HashMap::new()),
            chain_status: Mutex::new(None),
            github_wakeup: tokio::sync::Notify::new(),
            recent: Mutex::new(HashMap::new()),
            live_tokens: Mutex::new(HashMap::new()),
            metrics,
            reviewers_seen: Mutex::new(BTreeSet::new()),
            settings,
        });
        writer::spawn_sweeper(Arc::clone(&state));
        notify::spawn_deliverer(Arc::clone(&state));
        github::spawn_worker(Arc::clone(&state));
        state
    }

    /// The server's public key, as `[server] keys` in policy.toml lists it.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// The server's signing key from an existing file.
pub fn load_key(path: &std::path::Path) -> Result<PrivateKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read the signing key {}: {error}", path.display()))?;
    let key = PrivateKey::from_openssh(&text)
        .map_err(|error| format!("{} is not an OpenSSH private key: {error}", path.display()))?;
    if key.algorithm() != ssh_key::Algorithm::Ed25519 || key.is_encrypted() {
        return Err(format!("{} must be an unencrypted ed25519 key", path.display()));
    }
    Ok(key)
}

/// The server's signing key from `path`, created (mode 0600) when the file does not exist yet.
pub fn load_or_create_key(path: &std::path::Path) -> Result<PrivateKey, String> {
    match std::fs::metadata(path) {
        Ok(_) => load_key(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
                .map_err(|error| format!("cannot generate a signing key: {error}"))?;
            let mut key = key;
            key.set_comment("countersign-server");
            key.write_openssh_file(path, ssh_key::LineEnding::LF)
                .map_err(|error| format!("cannot write the new signing key to {}: {error}", path.display()))?;
            Ok(key)
        }
        Err(error) => Err(format!("cannot read the signing key {}: {error}", path.display())),
    }
}
