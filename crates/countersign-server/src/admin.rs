//! Administration of a service's database, for the CLI: which backend a URL names, tokens, and
//! the audit log's verification (against its signed checkpoints) and export. Token writes are
//! audited like every other write.

use std::io::Write;
use std::path::{Path, PathBuf};

use countersign_core::audit::{Broken, ChainVerifier, Checkpoint, Entry, check_checkpoints};
use countersign_core::lifecycle::AuditAction;
use countersign_store::{Location, PostgresStore, SqliteStore, Store, StoreError, TokenRow, WriteTx};

/// Entries read per database round trip while verifying or exporting.
const AUDIT_PAGE: i64 = 5000;

/// An open database of either kind.
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Calls the same generic function on whichever store a [`Backend`] holds.
macro_rules! dispatch {
    ($backend:expr, $store:ident => $body:expr) => {
        match $backend {
            Backend::Sqlite($store) => $body,
            Backend::Postgres($store) => $body,
        }
    };
}

impl Backend {
    /// Opens the database a URL names: `postgres://…`, or a SQLite file. A missing SQLite file is
    /// created only with `create`: administration of a server that never started is a mistake,
    /// except for tokens made before the first start.
    pub async fn open(url: &str, create: bool) -> Result<Backend, String> {
        match Location::parse(url) {
            Location::SqliteFile(path) => {
                if !create && !path.exists() {
                    return Err(format!(
                        "{} does not exist; start `countersign serve` once, or pass --database-url",
                        path.display()
                    ));
                }
                let store = SqliteStore::open(&path).await.map_err(|error| format!("{}: {error}", path.display()))?;
                Ok(Backend::Sqlite(store))
            }
            Location::Postgres(url) => {
                let store = PostgresStore::open(&url).await.map_err(|error| format!("PostgreSQL: {error}"))?;
                Ok(Backend::Postgres(store))
            }
        }
    }

    /// Creates a token for a person; returns the secret, shown once, and the stored row.
    pub async fn create_token(&self, person: &str, label: &str, at: i64) -> Result<(String, TokenRow), StoreError> {
        dispatch!(self, store => create_token(store, person, label, at).await)
    }

    /// Revokes a live token; false when there was none with this id.
    pub async fn revoke_token(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        dispatch!(self, store => revoke_token(store, id, at).await)
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        dispatch!(self, store => store.tokens().await)
    }

    /// Checks the whole chain, then the signed checkpoints against it: its length and head
    /// hash, or the first bad entry. Without checkpoints only the chain's own consistency is
    /// checked, which cannot reveal a re-chained or cut-off log.
    pub async fn verify_audit(
        &self,
        checkpoints: &[Checkpoint],
        server_key: Option<&ssh_key::PublicKey>,
    ) -> Result<Result<(u64, String), Broken>, StoreError> {
        let wanted: std::collections::HashSet<i64> = checkpoints.iter().map(|checkpoint| checkpoint.seq).collect();
        let mut hashes: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        let mut verifier = ChainVerifier::default();
        let mut broken = None;
        dispatch!(self, store => for_each_entry(store, |entry| {
            if wanted.contains(&entry.seq) {
                hashes.insert(entry.seq, entry.hash.clone());
            }
            if broken.is_none() && let Err(error) = verifier.push(entry) {
                broken = Some(error);
            }
            broken.is_none()
        }).await)?;
        if let Some(broken) = broken {
            return Ok(Err(broken));
        }
        let (length, head) = verifier.finish();
        if let Some(key) = server_key
            && let Err(broken) = check_checkpoints(checkpoints, key, length, |seq| hashes.get(&seq).cloned())
        {
            return Ok(Err(broken));
        }
        Ok(Ok((length, head)))
    }

    /// Writes every entry as a JSON line; returns how many.
    pub async fn export_audit(&self, out: &mut dyn Write) -> Result<u64, String> {
        let mut count = 0;
        let mut failure = None;
        dispatch!(self, store => for_each_entry(store, |entry| {
            let written = serde_json::to_string(entry)
                .map_err(|error| error.to_string())
                .and_then(|line| writeln!(out, "{line}").map_err(|error| format!("cannot write: {error}")));
            match written {
                Ok(()) => count += 1,
                Err(error) => failure = Some(error),
            }
            failure.is_none()
        }).await)
        .map_err(|error| error.to_string())?;
        match failure {
            Some(error) => Err(error),
            None => Ok(count),
        }
    }
}

/// Runs `work` over the database a URL names, on a runtime of its own: the CLI is not async.
pub fn with_backend<T>(
    url: &str,
    create: bool,
    work: impl AsyncFnOnce(Backend) -> Result<T, String>,
) -> Result<T, String> {
    // Parsers of hostile input run on these threads; they are guarded against deep nesting, and
    // a roomy stack is the second line of defence (it is reserved, not committed).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(64 * 1024 * 1024)
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async {
        let backend = Backend::open(url, create).await?;
        work(backend).await
    })
}

/// Where the signed audit checkpoints are kept unless said otherwise: beside a SQLite file,
/// `countersign-checkpoints.jsonl` for PostgreSQL.
pub fn default_checkpoints(url: &str) -> PathBuf {
    match Location::parse(url) {
        Location::SqliteFile(path) => {
            let mut name = path.into_os_string();
            name.push(".checkpoints.jsonl");
            PathBuf::from(name)
        }
        Location::Postgres(_) => PathBuf::from("countersign-checkpoints.jsonl"),
    }
}

/// The signed checkpoints of a file, and the key that must have signed them: `server_key`, else
/// the public half of the key at `signing_key`.
pub fn read_checkpoints(
    path: &Path,
    signing_key: &Path,
    server_key: Option<&str>,
) -> Result<(Vec<Checkpoint>, ssh_key::PublicKey), String> {
    let key = match server_key {
        Some(text) => ssh_key::PublicKey::from_openssh(text.trim())
            .map_err(|error| format!("--server-key is not an OpenSSH public key: {error}"))?,
        None => crate::load_key(signing_key)?.public_key().clone(),
    };
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read the checkpoints {}: {error}; without them a rewritten or cut-off log cannot be detected \
             (pass --checkpoints FILE, or --no-checkpoints to check the chain alone)",
            path.display()
        )
    })?;
    let mut checkpoints = Vec::new();
    for (line, content) in text.lines().enumerate().filter(|(_, content)| !content.trim().is_empty()) {
        let checkpoint = serde_json::from_str(content)
            .map_err(|error| format!("{}:{}: not a checkpoint: {error}", path.display(), line + 1))?;
        checkpoints.push(checkpoint);
    }
    Ok((checkpoints, key))
}

async fn create_token<S: Store>(
    store: &S,
    person: &str,
    label: &str,
    at: i64,
) -> Result<(String, TokenRow), StoreError> {
    let (secret, row) = crate::auth::new_token(person, label, at);
    let mut tx = store.begin().await?;
    tx.insert_token(&row).await?;
    let detail = serde_json::json!({"token": row.id, "person": row.person, "label": row.label});
    tx.audit("admin", AuditAction::TokenCreated, &format!("token/{}", row.id), &detail.to_string(), at).await?;
    tx.commit().await?;
    Ok((secret, row))
}

async fn revoke_token<S: Store>(store: &S, id: &str, at: i64) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let revoked = tx.revoke_token(id, at).await?;
    if revoked {
        let detail = serde_json::json!({"token": id});
        tx.audit("admin", AuditAction::TokenRevoked, &format!("token/{id}"), &detail.to_string(), at).await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// Hands every audit entry to `visit`, in order, a page at a time; stops when it says so.
async fn for_each_entry<S: Store>(store: &S, mut visit: impl FnMut(&Entry) -> bool) -> Result<(), StoreError> {
    let mut after = 0;
    loop {
        let page = store.audit_page(after, AUDIT_PAGE).await?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.seq;
        for entry in &page {
            if !visit(entry) {
                return Ok(());
            }
        }
    }
}

impl Backend {
    /// Serves the API on `listener` until `shutdown` completes. `ready` is told the address and
    /// the server's public key once the server accepts requests.
    pub async fn serve(
        self,
        analyser: std::sync::Arc<dyn crate::Analyser>,
        key: ssh_key::PrivateKey,
        mut settings: crate::Settings,
        listener: tokio::net::TcpListener,
        ready: impl FnOnce(std::net::SocketAddr, &str),
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        // Links in notifications point at the listening address unless told otherwise.
        if settings.public_url.is_empty() {
            settings.public_url = format!("http://{address}");
        }
        let app = dispatch!(self, store => {
            let state = crate::AppState::start(store, analyser, key, settings);
            ready(address, state.public_key());
            crate::router(state)
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|error| format!("the server stopped: {error}"))
    }
}

/// Completes on Ctrl-C or SIGTERM: the server finishes what it answers, then stops.
pub async fn shutdown_signal() {
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
}

/// `token create`: checks the id (a person or agent of `people`, unless it names a pipeline),
/// then stores the token; returns the secret, shown once.
pub fn new_person_token(
    database_url: &str,
    person: &str,
    people: Option<&Path>,
    label: &str,
    at: i64,
) -> Result<(String, TokenRow), String> {
    if !countersign_core::directory::is_simple_name(person) {
        return Err(format!("`{person}` is not a directory id (letters, digits, `.`, `_`, `-`)"));
    }
    if let Some(people) = people {
        countersign_read::known_id(person, people)
            .map_err(|problem| format!("{problem}; for a pipeline's token pass --pipeline"))?;
    }
    with_backend(database_url, true, async |backend| {
        backend.create_token(person, label, at).await.map_err(|e| e.to_string())
    })
}

/// `token revoke`: takes the id or the whole token; returns the id revoked.
pub fn revoke(database_url: &str, token: &str, at: i64) -> Result<String, String> {
    let id = token.strip_prefix(crate::TOKEN_PREFIX).unwrap_or(token);
    let id = id.split('_').next().unwrap_or(id).to_owned();
    let revoked = with_backend(database_url, false, async |backend| {
        backend.revoke_token(&id, at).await.map_err(|error| error.to_string())
    })?;
    if revoked { Ok(id) } else { Err(format!("no live token {id}; `countersign token list` shows the ids")) }
}

/// `audit verify`: the chain, then the checkpoints (unless there are none to read).
pub fn verify(
    database_url: &str,
    checkpoints: Option<(&Path, &Path, Option<&str>)>,
) -> Result<Result<(u64, String), Broken>, String> {
    let (checkpoints, key) = match checkpoints {
        None => (Vec::new(), None),
        Some((path, signing_key, server_key)) => {
            let (checkpoints, key) = read_checkpoints(path, signing_key, server_key)?;
            (checkpoints, Some(key))
        }
    };
    with_backend(database_url, false, async |backend| {
        backend.verify_audit(&checkpoints, key.as_ref()).await.map_err(|error| error.to_string())
    })
}

/// `audit export`: JSON lines to standard output, or to a file written whole or not at all.
pub fn export(database_url: &str, output: Option<&Path>) -> Result<u64, String> {
    match output {
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            with_backend(database_url, false, async |backend| backend.export_audit(&mut out).await)
                .and_then(|count| out.flush().map(|()| count).map_err(|error| error.to_string()))
        }
        Some(path) => countersign_read::write_atomically(path, false, |out| {
            with_backend(database_url, false, async |backend| backend.export_audit(out).await)
        })
        .map_err(|failure| failure.to_string()),
    }
}
