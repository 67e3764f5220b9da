//! `countersign serve`, `token` and `audit`: the approval service and its administration, over
//! the server crate's [`admin::Backend`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use countersign_server::admin::{self, with_backend};
use countersign_server::{Analyser, RepoAnalyser, Settings};

use crate::{EXIT_ALLOWED, EXIT_BAD_INPUT, EXIT_BLOCKED, Format, duration};

/// Where the service keeps its data.
#[derive(Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// `postgres://…` for PostgreSQL, or a SQLite file (created on first start).
    #[arg(long, env = "COUNTERSIGN_DATABASE_URL", default_value = "countersign.db")]
    pub database_url: String,
    /// Signed audit checkpoints, kept outside the database (default: beside a SQLite file,
    /// `countersign-checkpoints.jsonl` for PostgreSQL). Copy them somewhere the database's
    /// administrators cannot write: they are what reveals a rewritten or cut-off log.
    #[arg(long, env = "COUNTERSIGN_CHECKPOINTS")]
    pub checkpoints: Option<PathBuf>,
}

impl DatabaseArgs {
    pub fn checkpoints(&self) -> PathBuf {
        self.checkpoints.clone().unwrap_or_else(|| admin::default_checkpoints(&self.database_url))
    }
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
    /// How long reading one registered change may take before it fails closed (HTTP 422).
    #[arg(long, default_value = "2m", value_parser = duration)]
    pub analysis_budget: Duration,
    /// Where people reach the web interface, for links (default: the listening address); https marks cookies Secure.
    #[arg(long)]
    pub public_url: Option<String>,
    /// How long a web sign-in lasts.
    #[arg(long, default_value = "12h", value_parser = duration)]
    pub session_ttl: Duration,
    /// Post notifications (reviews assigned or escalated, break-glass, overdue reviews) as JSON here; repeatable.
    #[arg(long = "notify", value_name = "URL")]
    pub notify: Vec<String>,
    /// Post notifications as Slack-compatible incoming-webhook JSON to this URL; repeatable.
    #[arg(long = "notify-slack", value_name = "URL")]
    pub notify_slack: Vec<String>,
    /// The first retry's delay after a failed delivery; each later retry doubles it (at most 1h).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub notify_retry_after: Duration,
    /// A file holding the GitHub webhook secret (else COUNTERSIGN_GITHUB_WEBHOOK_SECRET).
    #[arg(long, value_name = "FILE")]
    pub github_webhook_secret: Option<PathBuf>,
    #[command(flatten)]
    pub github: GithubApiArgs,
    /// The GitHub App's id; with --github-app-key it acts as the app's installations.
    #[arg(long, requires = "github_app_key", conflicts_with = "github_token_file")]
    pub github_app_id: Option<String>,
    /// The GitHub App's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "github_app_id")]
    pub github_app_key: Option<PathBuf>,
    /// An environment pull requests get a check run for; repeatable (default: production).
    #[arg(long = "github-environment", value_name = "ENV")]
    pub github_environments: Vec<String>,
}

/// How to reach GitHub's API.
#[derive(Args, Clone, Debug)]
pub struct GithubApiArgs {
    /// https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
    #[arg(long, default_value = "https://api.github.com")]
    pub github_api_url: String,
    /// A file holding a token (else COUNTERSIGN_GITHUB_TOKEN), instead of an app.
    #[arg(long, value_name = "FILE")]
    pub github_token_file: Option<PathBuf>,
}

impl GithubApiArgs {
    pub fn options(&self) -> countersign_server::github::setup::Options<'_> {
        let token = std::env::var("COUNTERSIGN_GITHUB_TOKEN").ok();
        countersign_server::github::setup::Options::api(&self.github_api_url, self.github_token_file.as_deref(), token)
    }
}

/// What the flags and the environment say about GitHub.
fn github_options(args: &ServeArgs) -> countersign_server::github::setup::Options<'_> {
    countersign_server::github::setup::Options {
        secret_file: args.github_webhook_secret.as_deref(),
        secret: std::env::var("COUNTERSIGN_GITHUB_WEBHOOK_SECRET").ok(),
        app_id: args.github_app_id.as_deref(),
        app_key: args.github_app_key.as_deref(),
        environments: &args.github_environments,
        ..args.github.options()
    }
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
        /// The people.toml the id must be in (a person or an agent).
        #[arg(long, default_value = ".countersign/people.toml")]
        people: PathBuf,
        /// The id names a pipeline, not a member of people.toml: it may register changes and ask
        /// for deploy verdicts, and can never approve.
        #[arg(long)]
        pipeline: bool,
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
        /// The server's signing key, whose public half verifies the checkpoints.
        #[arg(long, default_value = "countersign-server.key")]
        signing_key: PathBuf,
        /// The server's public key (`ssh-ed25519 …`), instead of reading --signing-key.
        #[arg(long)]
        server_key: Option<String>,
        /// Check only the chain's own consistency: a re-chained or cut-off log goes unnoticed.
        #[arg(long)]
        no_checkpoints: bool,
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

fn report(message: &str) -> u8 {
    errln!("countersign: error: {message}");
    EXIT_BAD_INPUT
}

pub fn serve(args: &ServeArgs) -> u8 {
    let key = match countersign_server::load_or_create_key(&args.signing_key) {
        Ok(key) => key,
        Err(message) => return report(&message),
    };
    let webhooks = match countersign_server::notify::webhooks(&args.notify, &args.notify_slack) {
        Ok(webhooks) => webhooks,
        Err(message) => return report(&format!("--notify: {message}")),
    };
    let github = match countersign_server::github::setup::settings(&github_options(args)) {
        Ok(github) => github,
        Err(message) => return report(&message),
    };
    let settings = Settings {
        github,
        escalate_after: args.escalate_after,
        sweep_every: args.sweep_every,
        checkpoints: Some(args.database.checkpoints()),
        webhooks,
        public_url: args.public_url.clone().unwrap_or_default(),
        session_ttl: args.session_ttl,
        secure_cookies: args.public_url.as_deref().is_some_and(|url| url.starts_with("https://")),
        retry_base: args.notify_retry_after,
        ..Settings::default()
    };
    let analyser: Arc<dyn Analyser> = Arc::new(RepoAnalyser::new(args.repos.clone(), args.analysis_budget));
    let result = with_backend(&args.database.database_url, true, async |backend| {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
        let settings = settings.clone();
        let ready = |address: std::net::SocketAddr, public_key: &str| {
            errln!("countersign: listening on http://{address}");
            errln!("countersign: attestations are signed with this key; list it in policy.toml:");
            errln!("[server]\nkeys = [\"{public_key}\"]");
        };
        backend.serve(analyser, key, settings, listener, ready, admin::shutdown_signal()).await
    });
    match result {
        Ok(()) => EXIT_ALLOWED,
        Err(message) => report(&message),
    }
}

/// Prints a result as JSON or text and gives its exit code; an error is bad input.
fn finish<T>(
    format: Format,
    result: Result<T, String>,
    json: impl Fn(&T) -> serde_json::Value,
    text: impl Fn(&T) -> String,
    code: impl Fn(&T) -> u8,
) -> u8 {
    super::service::answer_as(format, result.map_err(crate::failure::input), json, text, code)
}

pub fn token(command: &TokenCommand) -> u8 {
    let at = jiff::Timestamp::now().as_millisecond();
    match command {
        TokenCommand::Create { database, person, people, pipeline, label, format } => {
            let people = (!pipeline).then_some(people.as_path());
            let created = admin::new_person_token(&database.database_url, person, people, label, at);
            if created.is_ok() && *format == Format::Text {
                errln!("countersign: token for {person} created; it is shown only this once");
            }
            let json = |(secret, _): &(String, _)| serde_json::json!({"person": person, "token": secret});
            finish(*format, created, json, |(secret, _)| format!("{secret}\n"), |_| EXIT_ALLOWED)
        }
        TokenCommand::Revoke { database, id } => {
            let revoked = admin::revoke(&database.database_url, id, at);
            finish(
                Format::Text,
                revoked,
                |_| serde_json::Value::Null,
                |id| format!("token {id} revoked\n"),
                |_| EXIT_ALLOWED,
            )
        }
        TokenCommand::List { database, format } => {
            let rows = with_backend(&database.database_url, false, async |backend| {
                backend.tokens().await.map_err(|e| e.to_string())
            });
            let text = |rows: &Vec<countersign_store::TokenRow>| countersign_server::text::tokens(rows);
            finish(*format, rows, |rows| serde_json::json!(rows), text, |_| EXIT_ALLOWED)
        }
    }
}

pub fn audit(command: &AuditCommand) -> u8 {
    match command {
        AuditCommand::Verify { database, signing_key, server_key, no_checkpoints, format } => {
            let checkpoints = database.checkpoints();
            let with =
                (!no_checkpoints).then_some((checkpoints.as_path(), signing_key.as_path(), server_key.as_deref()));
            let verified = admin::verify(&database.database_url, with);
            let (json, text) = (countersign_server::text::audit_json, countersign_server::text::audit_verified);
            finish(*format, verified, json, text, |verified| if verified.is_ok() { EXIT_ALLOWED } else { EXIT_BLOCKED })
        }
        AuditCommand::Export { database, output } => match admin::export(&database.database_url, output.as_deref()) {
            Ok(count) => {
                errln!("countersign: exported {count} audit entries");
                EXIT_ALLOWED
            }
            Err(message) => report(&message),
        },
    }
}
