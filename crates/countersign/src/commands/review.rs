//! `countersign approve` and `reject`: sign a review with your SSH key, or record it through the
//! approval service.

use std::path::PathBuf;

use clap::Args;
use countersign_core::attestation::Verdict;
use countersign_read::signing::{self, Review, Signed};
use countersign_read::{Ambient, ChangeSpec, ConfigSource, Gate, Purpose};
use countersign_server::client;

use crate::failure::{self, Failure, input};
use crate::{EXIT_ALLOWED, Format};

#[derive(Args, Clone, Debug)]
pub struct ReviewArgs {
    /// The repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// The revision deployed today; configuration is read here.
    #[arg(long, required_unless_present = "fingerprint")]
    pub base: Option<String>,
    /// The revision to deploy.
    #[arg(long, required_unless_present = "fingerprint")]
    pub head: Option<String>,
    #[arg(long = "env", default_value = "production", value_parser = crate::environment_name)]
    pub environment: String,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read and write attestations as files in this folder instead of the attestation ref.
    #[arg(long, conflicts_with = "server")]
    pub attestations: Option<PathBuf>,
    /// Your directory id (default: the person whose e-mail is git's user.email).
    #[arg(long = "as", conflicts_with = "server")]
    pub person: Option<String>,
    /// Your SSH key: an unencrypted private key file, or a public key (or passphrase-protected
    /// private key) whose private key ssh-agent holds. Default: git's user.signingkey, else
    /// your key in the running ssh-agent.
    #[arg(long, conflicts_with = "server")]
    pub key: Option<PathBuf>,
    /// Push the attestation ref to this remote afterwards (e.g. origin), merging what others
    /// pushed meanwhile; nobody has to sign again.
    #[arg(long, value_name = "REMOTE", conflicts_with_all = ["server", "attestations"])]
    pub push: Option<String>,
    /// Record the review with the approval service instead; it signs for you after checking
    /// your token.
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: Option<String>,
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The repository's name on the server (default: the name of --repo's folder).
    #[arg(long, requires = "server")]
    pub repository: Option<String>,
    /// The change's fingerprint, as `check` or the server shows it (instead of --base/--head).
    #[arg(long, requires = "server")]
    pub fingerprint: Option<String>,
    #[arg(long, default_value = "")]
    pub comment: String,
    /// An infrastructure plan you reviewed (repeatable): the approval names its digest, and
    /// counts for a `check --plan` of that same plan only.
    #[arg(long = "plan", value_name = "FILE")]
    pub plans: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

impl ReviewArgs {
    /// The change as `check` reads it; base and head are present unless a fingerprint was given.
    fn spec(&self) -> ChangeSpec {
        ChangeSpec {
            repo: self.repo.clone(),
            base: self.base.clone().unwrap_or_default(),
            head: self.head.clone().unwrap_or_default(),
            environment: self.environment.clone(),
            config: self.config.clone().map_or(ConfigSource::AtBase, ConfigSource::Dir),
            requester: None,
            plans: Vec::new(),
            uploaded_plans: Vec::new(),
            // The fingerprint does not depend on it; a pull request's merge-base..head is read
            // without counting what the head lacks of the base.
            purpose: Some(Purpose::PullRequest),
            deadline: None,
        }
    }
}

pub fn run(args: &ReviewArgs, verdict: Verdict) -> u8 {
    if let Some(server) = &args.server {
        return with_server(args, server, verdict);
    }
    match sign(args, verdict) {
        Ok(output) => {
            match args.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&output).unwrap_or_default()),
                Format::Text => {
                    let verb = if verdict == Verdict::Approve { "approved" } else { "rejected" };
                    outln!("{} {verb} {} for {}", output.person, output.fingerprint, output.environment);
                    outln!("stored in {}", output.stored);
                    if let Some(pushed) = &output.pushed {
                        outln!("{pushed}");
                    } else if args.attestations.is_none() {
                        outln!(
                            "share it with: countersign approve … --push origin, or git push origin {}",
                            countersign_git::ATTESTATION_REF
                        );
                    }
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, args.format),
    }
}

/// Through the approval service: the fingerprint is given, or computed from the local checkout
/// so the reviewer approves exactly what they looked at.
fn with_server(args: &ReviewArgs, server: &str, verdict: Verdict) -> u8 {
    let located = || -> Result<(String, String, Vec<String>), Failure> {
        let repository = client::repository_name(args.repository.as_deref(), &args.repo).map_err(input)?;
        let fingerprint = match &args.fingerprint {
            Some(fingerprint) => fingerprint.clone(),
            None => {
                let spec = args.spec();
                let gate = Gate::open(&spec)?;
                gate.read_change(&spec, Ambient::default())?.fingerprint()
            }
        };
        let plans = countersign_read::plan_digests(&args.plans)?.into_iter().map(|plan| plan.digest).collect();
        Ok((repository, fingerprint, plans))
    };
    match located() {
        Ok((repository, fingerprint, plans)) => crate::commands::service::review(
            &crate::commands::service::ServerArgs { server: server.to_owned(), token: args.token.clone() },
            &repository,
            &fingerprint,
            &args.environment,
            verdict,
            (&args.comment, plans),
            args.format,
        ),
        Err(failure) => failure::report(&failure, args.format),
    }
}

fn sign(args: &ReviewArgs, verdict: Verdict) -> Result<Signed, Failure> {
    let review = Review {
        verdict,
        person: args.person.as_deref(),
        key: args.key.as_deref(),
        agent: std::env::var_os("SSH_AUTH_SOCK").filter(|socket| !socket.is_empty()).map(PathBuf::from),
        home: std::env::var_os("HOME").map(PathBuf::from),
        comment: &args.comment,
        plans: &args.plans,
        attestations: args.attestations.as_deref(),
        push: args.push.as_deref(),
        now: crate::commands::check::now(),
    };
    signing::review(&args.spec(), &review)
}
