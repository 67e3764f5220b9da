//! `countersign serve`, `token` and `audit`: the glue between the server crate, the store and the
//! git adapter.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use countersign_core::audit::ChainVerifier;
use countersign_server::{Analyser, AnalysisFailure, AppState, ChangeRequest, Prepared, Settings};
use countersign_store::{Location, PostgresStore, SqliteStore, Store, WriteTx};

use crate::commands::{self, CheckContext};
use crate::load::Failure;
use crate::{ChangeArgs, EXIT_ALLOWED, EXIT_BAD_INPUT, Format};

/// Where the service keeps its data.
#[derive(Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// `postgres://…` for PostgreSQL, or a SQLite file (created on first start).
    #[arg(long, env = "COUNTERSIGN_DATABASE_URL", default_value = "countersign.db")]
    pub database_url: String,
}

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// One clone per repository (`git clone --mirror URL DIR/NAME`); fetched before each
    /// registration.
    #[arg(long, default_value = "repos")]
    pub repos: PathBuf,
    /// The server's ed25519 signing key (OpenSSH format), created when missing. Every node of
    /// one deployment must share it.
    #[arg(long, default_value = "countersign-server.key")]
    pub signing_key: PathBuf,
    /// How long a routed review may wait unpicked before it goes to the next person, e.g. 4h.
    #[arg(long, default_value = "4h", value_parser = duration)]
    pub escalate_after: Duration,
    /// How often to look for reviews to escalate.
    #[arg(long, default_value = "1m", value_parser = duration)]
    pub sweep_every: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration =
        text.parse().map_err(|error| format!("`{text}` is not a duration like 30s, 15m or 4h: {error}"))?;
    Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

/// Reads changes from the clones under `--repos` with the same code as `check`.
struct RepoAnalyser {
    repos: PathBuf,
    /// Two fetches into one clone at once fail on git's ref locks; one at a time.
    fetching: std::sync::Mutex<()>,
}

impl RepoAnalyser {
    fn clone_of(&self, name: &str) -> Result<PathBuf, AnalysisFailure> {
        let simple = !name.is_empty()
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !simple {
            return Err(AnalysisFailure::BadRequest(format!(
                "`{name}` is not a repository name: use the clone's directory name under --repos"
            )));
        }
        let path = self.repos.join(name);
        if !path.is_dir() {
            return Err(AnalysisFailure::BadRequest(format!(
                "the server has no repository `{name}`: clone it with `git clone --mirror URL {}`",
                path.display()
            )));
        }
        Ok(path)
    }

    fn fetch(&self, path: &Path) -> Result<(), AnalysisFailure> {
        let _one_at_a_time = self.fetching.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let remotes = Command::new("git").arg("-C").arg(path).arg("remote").output();
        let has_remote = remotes.as_ref().is_ok_and(|output| output.status.success() && !output.stdout.is_empty());
        if !has_remote {
            return Ok(());
        }
        let output = Command::new("git")
            .arg("-C")
            .arg(path)
            .args(["fetch", "--quiet", "--prune", "--all"])
            .output()
            .map_err(|error| AnalysisFailure::Unjudgeable(format!("cannot run git fetch: {error}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(AnalysisFailure::Unjudgeable(format!(
                "git fetch in {} failed, so the change cannot be judged on current data: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    fn read(&self, path: &Path, request: &ChangeRequest) -> Result<Prepared, Failure> {
        let args = ChangeArgs {
            repo: path.to_path_buf(),
            base: request.base.clone(),
            head: request.head.clone(),
            environment: request.environment.clone(),
            config: None,
            attestations: None,
        };
        let context = CheckContext { requester: request.requester.clone(), ..CheckContext::default() };
        let prepared = commands::prepare(&args, context)?;
        let head = prepared.repo.resolve(&request.head)?;
        let analysis = countersign_core::evaluate::analyze(&prepared.config, &prepared.change);
        Ok(Prepared {
            config: prepared.config,
            analysis,
            findings: prepared.findings,
            request: ChangeRequest {
                repository: request.repository.clone(),
                base: prepared.base.to_string(),
                head: head.to_string(),
                environment: request.environment.clone(),
                requester: request.requester.clone(),
            },
        })
    }
}

fn describe(failure: &Failure) -> AnalysisFailure {
    match failure {
        Failure::Config(errors) => AnalysisFailure::Unjudgeable(format!(
            "the configuration at the base is invalid, so the gate fails closed: {}",
            errors
                .iter()
                .map(|error| {
                    let summary = error.summary();
                    format!("{}:{}:{}: {}", summary.file, summary.line, summary.column, summary.message)
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Failure::Analysis(errors) => AnalysisFailure::Unjudgeable(format!(
            "the change could not be analysed, so the gate fails closed: {}",
            errors.iter().map(|error| format!("{}: {}", error.file, error.message)).collect::<Vec<_>>().join("; ")
        )),
        other => AnalysisFailure::BadRequest(other.to_string()),
    }
}

impl Analyser for RepoAnalyser {
    fn prepare(&self, request: &ChangeRequest, fetch: bool) -> Result<Prepared, AnalysisFailure> {
        let path = self.clone_of(&request.repository)?;
        if fetch {
            self.fetch(&path)?;
        }
        match self.read(&path, request) {
            Ok(prepared) => Ok(prepared),
            // Another node may have registered a head this clone has not fetched yet.
            Err(Failure::Git(_)) if !fetch => {
                self.fetch(&path)?;
                self.read(&path, request).map_err(|failure| describe(&failure))
            }
            Err(failure) => Err(describe(&failure)),
        }
    }
}

pub fn serve(args: &ServeArgs) -> u8 {
    let key = match countersign_server::load_or_create_key(&args.signing_key) {
        Ok(key) => key,
        Err(message) => {
            eprintln!("countersign: error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    let settings =
        Settings { escalate_after: args.escalate_after, sweep_every: args.sweep_every, ..Settings::default() };
    let analyser: Arc<dyn Analyser> =
        Arc::new(RepoAnalyser { repos: args.repos.clone(), fetching: std::sync::Mutex::new(()) });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("countersign: error: cannot start the runtime: {error}");
            return EXIT_BAD_INPUT;
        }
    };
    let result = runtime.block_on(async {
        match Location::parse(&args.database.database_url) {
            Location::SqliteFile(path) => {
                let store = SqliteStore::open(&path).await.map_err(|error| format!("{}: {error}", path.display()))?;
                run(store, analyser, key, settings, &args.listen).await
            }
            Location::Postgres(url) => {
                let store = PostgresStore::open(&url).await.map_err(|error| format!("PostgreSQL: {error}"))?;
                run(store, analyser, key, settings, &args.listen).await
            }
        }
    });
    match result {
        Ok(()) => EXIT_ALLOWED,
        Err(message) => {
            eprintln!("countersign: error: {message}");
            EXIT_BAD_INPUT
        }
    }
}

async fn run<S: Store>(
    store: S,
    analyser: Arc<dyn Analyser>,
    key: ssh_key::PrivateKey,
    settings: Settings,
    listen: &str,
) -> Result<(), String> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let state = AppState::start(store, analyser, key, settings);
    eprintln!("countersign: listening on http://{address}");
    eprintln!("countersign: attestations are signed with this key; list it in policy.toml:");
    eprintln!("[server]\nkeys = [\"{}\"]", state.public_key());
    let app = countersign_server::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let interrupt = tokio::signal::ctrl_c();
            #[cfg(unix)]
            let terminate = async {
                if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    signal.recv().await;
                }
            };
            #[cfg(not(unix))]
            let terminate = std::future::pending::<()>();
            tokio::select! {
                _ = interrupt => {},
                () = terminate => {},
            }
        })
        .await
        .map_err(|error| format!("the server stopped: {error}"))
}

#[derive(Subcommand, Clone, Debug)]
pub enum TokenCommand {
    /// Create an API token for a person or a pipeline; it is printed once and stored as a hash.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The directory id the token acts as.
        #[arg(long)]
        person: String,
        /// What the token is for, e.g. "laptop" or "deploy pipeline".
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Revoke a token by its id (the part after `cst_` and before the next `_`).
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        id: String,
    },
    /// List tokens: id, person, label, created and revoked times. Never the secrets.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

#[derive(Subcommand, Clone, Debug)]
pub enum AuditCommand {
    /// Prove the audit chain intact; names the first bad entry when it is not (exit 1).
    Verify {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Write the audit log as JSON lines, one entry each, in order.
    Export {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

/// Runs a store operation on a fresh runtime, for the administrative commands.
fn with_store<T>(database: &DatabaseArgs, work: impl AsyncStoreFn<T>) -> Result<T, String> {
    with_store_creating(database, false, work)
}

/// Like [`with_store`]; with `create`, a missing SQLite file is created (tokens can be made
/// before the first start).
fn with_store_creating<T>(database: &DatabaseArgs, create: bool, work: impl AsyncStoreFn<T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async {
        match Location::parse(&database.database_url) {
            Location::SqliteFile(path) => {
                if !create && !path.exists() {
                    return Err(format!(
                        "{} does not exist; start `countersign serve` once, or pass --database-url",
                        path.display()
                    ));
                }
                let store = SqliteStore::open(&path).await.map_err(|error| format!("{}: {error}", path.display()))?;
                work.run(store).await
            }
            Location::Postgres(url) => {
                let store = PostgresStore::open(&url).await.map_err(|error| format!("PostgreSQL: {error}"))?;
                work.run(store).await
            }
        }
    })
}

/// Work over either backend; a trait because a closure cannot be generic over the store.
pub trait AsyncStoreFn<T> {
    fn run<S: Store>(self, store: S) -> impl std::future::Future<Output = Result<T, String>>;
}

fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub fn token(command: &TokenCommand) -> u8 {
    match command {
        TokenCommand::Create { database, person, label, format } => {
            if !countersign_core::directory::is_simple_name(person) {
                eprintln!("countersign: error: `{person}` is not a directory id (letters, digits, `.`, `_`, `-`)");
                return EXIT_BAD_INPUT;
            }
            struct Create<'a>(&'a str, &'a str);
            impl AsyncStoreFn<String> for Create<'_> {
                async fn run<S: Store>(self, store: S) -> Result<String, String> {
                    let at = now_millis();
                    let (secret, row) = countersign_server::new_token(self.0, self.1, at);
                    let mut tx = store.begin().await.map_err(|error| error.to_string())?;
                    tx.insert_token(&row).await.map_err(|error| error.to_string())?;
                    let detail = serde_json::json!({"token": row.id, "person": row.person, "label": row.label});
                    tx.audit("admin", "token.created", &format!("token/{}", row.id), &detail.to_string(), at)
                        .await
                        .map_err(|error| error.to_string())?;
                    tx.commit().await.map_err(|error| error.to_string())?;
                    Ok(secret)
                }
            }
            match with_store_creating(database, true, Create(person, label)) {
                Ok(secret) => {
                    match format {
                        Format::Json => outln!("{}", serde_json::json!({"person": person, "token": secret})),
                        Format::Text => {
                            outln!("{secret}");
                            eprintln!("countersign: token for {person} created; it is shown only this once");
                        }
                    }
                    EXIT_ALLOWED
                }
                Err(message) => report(&message),
            }
        }
        TokenCommand::Revoke { database, id } => {
            struct Revoke<'a>(&'a str);
            impl AsyncStoreFn<bool> for Revoke<'_> {
                async fn run<S: Store>(self, store: S) -> Result<bool, String> {
                    let at = now_millis();
                    let mut tx = store.begin().await.map_err(|error| error.to_string())?;
                    let revoked = tx.revoke_token(self.0, at).await.map_err(|error| error.to_string())?;
                    if revoked {
                        let detail = serde_json::json!({"token": self.0});
                        tx.audit("admin", "token.revoked", &format!("token/{}", self.0), &detail.to_string(), at)
                            .await
                            .map_err(|error| error.to_string())?;
                    }
                    tx.commit().await.map_err(|error| error.to_string())?;
                    Ok(revoked)
                }
            }
            let id = id.strip_prefix(countersign_server::TOKEN_PREFIX).unwrap_or(id);
            let id = id.split('_').next().unwrap_or(id);
            match with_store(database, Revoke(id)) {
                Ok(true) => {
                    outln!("token {id} revoked");
                    EXIT_ALLOWED
                }
                Ok(false) => report(&format!("no live token {id}; `countersign token list` shows the ids")),
                Err(message) => report(&message),
            }
        }
        TokenCommand::List { database, format } => {
            struct List;
            impl AsyncStoreFn<Vec<countersign_store::TokenRow>> for List {
                async fn run<S: Store>(self, store: S) -> Result<Vec<countersign_store::TokenRow>, String> {
                    store.tokens().await.map_err(|error| error.to_string())
                }
            }
            match with_store(database, List) {
                Ok(rows) => {
                    let list: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|row| {
                            serde_json::json!({
                                "id": row.id,
                                "person": row.person,
                                "label": row.label,
                                "created_at": row.created_at,
                                "revoked_at": row.revoked_at,
                            })
                        })
                        .collect();
                    match format {
                        Format::Json => outln!("{}", serde_json::to_string_pretty(&list).unwrap_or_default()),
                        Format::Text => {
                            for row in &rows {
                                let state = if row.revoked_at.is_some() { "revoked" } else { "live" };
                                outln!("{}  {:<16} {:<8} {}", row.id, row.person, state, row.label);
                            }
                        }
                    }
                    EXIT_ALLOWED
                }
                Err(message) => report(&message),
            }
        }
    }
}

struct Export(Box<dyn Write>);
impl AsyncStoreFn<(u64, Box<dyn Write>)> for Export {
    async fn run<S: Store>(mut self, store: S) -> Result<(u64, Box<dyn Write>), String> {
        let mut after = 0;
        let mut count = 0;
        loop {
            let page = store.audit_page(after, AUDIT_PAGE).await.map_err(|error| error.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                let line = serde_json::to_string(entry).map_err(|error| error.to_string())?;
                writeln!(self.0, "{line}").map_err(|error| format!("cannot write: {error}"))?;
                count += 1;
            }
        }
        Ok((count, self.0))
    }
}

/// Exports into a temporary file beside `path`, renamed into place only when complete.
fn export_to(database: &DatabaseArgs, path: &Path) -> Result<u64, String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = tempfile::NamedTempFile::new_in(dir)
        .map_err(|error| format!("cannot create a file in {}: {error}", dir.display()))?;
    let handle = file.as_file().try_clone().map_err(|error| error.to_string())?;
    let (count, mut sink) = with_store(database, Export(Box::new(std::io::BufWriter::new(handle))))?;
    sink.flush().map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    drop(sink);
    file.persist(path).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(count)
}

fn report(message: &str) -> u8 {
    eprintln!("countersign: error: {message}");
    EXIT_BAD_INPUT
}

/// Entries read per database round trip while verifying or exporting.
const AUDIT_PAGE: i64 = 5000;

pub fn audit(command: &AuditCommand) -> u8 {
    match command {
        AuditCommand::Verify { database, format } => {
            struct Verify;
            impl AsyncStoreFn<Result<(u64, String), countersign_core::audit::Broken>> for Verify {
                async fn run<S: Store>(
                    self,
                    store: S,
                ) -> Result<Result<(u64, String), countersign_core::audit::Broken>, String> {
                    let mut verifier = ChainVerifier::default();
                    let mut after = 0;
                    loop {
                        let page = store.audit_page(after, AUDIT_PAGE).await.map_err(|error| error.to_string())?;
                        let Some(last) = page.last() else { break };
                        after = last.seq;
                        for entry in &page {
                            if let Err(broken) = verifier.push(entry) {
                                return Ok(Err(broken));
                            }
                        }
                    }
                    Ok(Ok(verifier.finish()))
                }
            }
            match with_store(database, Verify) {
                Ok(Ok((entries, head))) => {
                    match format {
                        Format::Json => {
                            outln!("{}", serde_json::json!({"intact": true, "entries": entries, "head": head}));
                        }
                        Format::Text => {
                            outln!("audit chain intact: {entries} entries, head {head}");
                        }
                    }
                    EXIT_ALLOWED
                }
                Ok(Err(broken)) => {
                    match format {
                        Format::Json => outln!(
                            "{}",
                            serde_json::json!({"intact": false, "first_bad_entry": broken.seq, "problem": broken.problem})
                        ),
                        Format::Text => outln!("audit chain BROKEN: {broken}"),
                    }
                    crate::EXIT_BLOCKED
                }
                Err(message) => report(&message),
            }
        }
        AuditCommand::Export { database, output } => {
            let result = match output {
                None => with_store(database, Export(Box::new(std::io::BufWriter::new(std::io::stdout()))))
                    .and_then(|(count, mut sink)| sink.flush().map(|()| count).map_err(|error| error.to_string())),
                Some(path) => export_to(database, path),
            };
            match result {
                Ok(count) => {
                    eprintln!("countersign: exported {count} audit entries");
                    EXIT_ALLOWED
                }
                Err(message) => report(&message),
            }
        }
    }
}
