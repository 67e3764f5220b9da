//! The gate's commands: check, approve/reject, owners and policy check.

use std::path::{Path, PathBuf};

use countersign_core::attestation::{Statement, Verdict};
use countersign_core::config::Config;
use countersign_core::directory::Member;
use countersign_core::evaluate::{self, Decision};
use countersign_core::finding::Finding;
use countersign_core::fingerprint::fingerprint;
use countersign_core::model::{ChangeInput, Identity};
use countersign_git::{ChangeContext, ObjectId, Repo};
use serde::Serialize;

use crate::load::{self, Failure};
use crate::{ChangeArgs, EXIT_ALLOWED, EXIT_BLOCKED, Format, ReviewArgs, render};

/// What `check` is told about a change beyond its revisions.
#[derive(Default)]
pub struct CheckContext {
    pub requester: Option<String>,
    pub branch: Option<String>,
    pub target_branch: Option<String>,
    pub pr_body: Option<PathBuf>,
    pub pr_author: Option<String>,
    /// Infrastructure plans of the deployment (Terraform, Pulumi, CloudFormation).
    pub plans: Vec<PathBuf>,
}

pub fn check(args: &ChangeArgs, context: CheckContext, server: Option<&str>, format: Format) -> u8 {
    match decide(args, context, server) {
        Ok(decision) => {
            match format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&decision).unwrap_or_default()),
                Format::Text => out!("{}", render::decision(&decision, args)),
            }
            if decision.allowed() { EXIT_ALLOWED } else { EXIT_BLOCKED }
        }
        Err(failure) => failure.report(format),
    }
}

/// A change read with its configuration at the base revision and analysed: everything a decision
/// needs except the attestations.
pub struct PreparedChange {
    pub repo: Repo,
    /// The base revision resolved: the configuration was read here.
    pub base: ObjectId,
    pub config: Config,
    pub change: ChangeInput,
    /// Findings about the configuration and the analysers, shown before the decision's own.
    pub findings: Vec<Finding>,
}

/// Reads the change and its configuration at the base revision and analyses its blast radius.
pub fn prepare(args: &ChangeArgs, context: CheckContext) -> Result<PreparedChange, Failure> {
    let repo = Repo::open(&args.repo)?;
    let base = repo.resolve(&args.base)?;
    let files = load::config_files_at(&repo, base, args.config.as_deref())?;
    let (config, mut findings) = load::load_config(&files)?;
    let pull_request = load::pull_request(context.pr_body.as_deref(), context.pr_author)?;
    let context_plans = context.plans;
    let context = ChangeContext {
        environment: args.environment.clone(),
        requester: context.requester,
        source_branch: context
            .branch
            .or_else(|| repo.branch_name(&args.head))
            .or_else(|| ci_env(&["GITHUB_HEAD_REF", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"])),
        target_branch: context
            .target_branch
            .or_else(|| repo.branch_name(&args.base))
            .or_else(|| ci_env(&["GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"])),
        pull_request,
    };
    let mut change = repo.read_change(&args.base, &args.head, context)?;
    crate::blast::analyse(&repo, &config, &mut change, &context_plans, &mut findings)?;
    Ok(PreparedChange { repo, base, config, change, findings })
}

/// Reads the change and evaluates it with the attestations of the folder, the ref or the server.
pub fn decide(args: &ChangeArgs, context: CheckContext, server: Option<&str>) -> Result<Decision, Failure> {
    let prepared = prepare(args, context)?;
    let fingerprint = fingerprint(&prepared.change.tree_changes);
    let attestations = match (&args.attestations, server) {
        (Some(dir), _) => load::attestations_in_dir(dir)?,
        (None, Some(url)) => {
            if prepared.config.policy.server_keys.is_empty() {
                return Err(Failure::input(format!(
                    "--server {url} is given, but policy.toml lists no [server] keys to verify its attestations; add \
                     the key that `countersign serve` prints (also at {url}/api/server-key) under [server] keys"
                )));
            }
            crate::client::attestations(url, &fingerprint, &args.environment)?
        }
        (None, None) => prepared.repo.read_attestations(&fingerprint)?,
    };
    let mut decision = evaluate::evaluate(&prepared.config, &prepared.change, &attestations, load::now());
    decision.findings.splice(0..0, prepared.findings);
    Ok(decision)
}

fn ci_env(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

#[derive(Serialize)]
struct ReviewOutput {
    verdict: Verdict,
    person: String,
    fingerprint: String,
    environment: String,
    head: String,
    stored: String,
}

pub fn review(args: &ReviewArgs, verdict: Verdict) -> u8 {
    if let Some(server) = &args.server {
        return review_with_server(args, server, verdict);
    }
    match sign_review(args, verdict) {
        Ok(output) => {
            match args.format {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&output).unwrap_or_default()),
                Format::Text => {
                    let verb = if verdict == Verdict::Approve { "approved" } else { "rejected" };
                    outln!("{} {verb} {} for {}", output.person, output.fingerprint, output.environment);
                    outln!("stored in {}", output.stored);
                    if args.attestations.is_none() {
                        outln!("share it with: git push origin {}", countersign_git::ATTESTATION_REF);
                    }
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure.report(args.format),
    }
}

/// Through the approval service: the fingerprint is given, or computed from the local checkout
/// so the reviewer approves exactly what they looked at.
fn review_with_server(args: &ReviewArgs, server: &str, verdict: Verdict) -> u8 {
    let located = || -> Result<(String, String), Failure> {
        let repository = match &args.repository {
            Some(name) => name.clone(),
            None => std::fs::canonicalize(&args.repo)
                .ok()
                .and_then(|path| {
                    path.file_name().map(|name| name.to_string_lossy().trim_end_matches(".git").to_owned())
                })
                .ok_or_else(|| Failure::input("cannot tell the repository's name; pass --repository NAME"))?,
        };
        let fingerprint = match &args.fingerprint {
            Some(fingerprint) => fingerprint.clone(),
            None => {
                let change_args = args.change();
                let repo = Repo::open(&change_args.repo)?;
                let change = repo.read_change(
                    &change_args.base,
                    &change_args.head,
                    ChangeContext { environment: change_args.environment.clone(), ..ChangeContext::default() },
                )?;
                fingerprint(&change.tree_changes)
            }
        };
        Ok((repository, fingerprint))
    };
    match located() {
        Ok((repository, fingerprint)) => crate::client::review(
            &crate::client::ServerArgs { server: server.to_owned(), token: args.token.clone() },
            &repository,
            &fingerprint,
            &args.environment,
            verdict.as_str(),
            &args.comment,
            args.format,
        ),
        Err(failure) => failure.report(args.format),
    }
}

fn sign_review(args: &ReviewArgs, verdict: Verdict) -> Result<ReviewOutput, Failure> {
    let change_args = &args.change();
    let person_id = args.person.clone().unwrap_or_default();
    let key_path = args.key.clone().unwrap_or_default();
    let repo = Repo::open(&change_args.repo)?;
    let base = repo.resolve(&change_args.base)?;
    let (config, _) = load::load_config(&load::config_files_at(&repo, base, change_args.config.as_deref())?)?;
    let person = match config.directory.by_id(&person_id) {
        Some(Member::Person(person)) => person,
        Some(Member::Agent(_)) => {
            return Err(Failure::input(format!("`{person_id}` is an agent; agents cannot approve or reject")));
        }
        None => return Err(Failure::input(format!("`{person_id}` is not a person of people.toml"))),
    };
    let key_text = std::fs::read_to_string(&key_path)
        .map_err(|error| Failure::input(format!("cannot read key {}: {error}", key_path.display())))?;
    let key = ssh_key::PrivateKey::from_openssh(&key_text)
        .map_err(|error| Failure::input(format!("{} is not an OpenSSH private key: {error}", key_path.display())))?;
    if key.is_encrypted() {
        return Err(Failure::input(format!(
            "{} is encrypted; use an unencrypted copy kept for signing",
            key_path.display()
        )));
    }
    if person.keys.is_empty() {
        return Err(Failure::input(format!(
            "{} has no keys in people.toml; add the public half of {} to their `keys`",
            person.id,
            key_path.display()
        )));
    }
    if !person.keys.iter().any(|listed| listed.key_data() == key.public_key().key_data()) {
        return Err(Failure::input(format!(
            "the key {} is not one of {}'s keys in people.toml; add its public half there first",
            key_path.display(),
            person.id
        )));
    }
    let change = repo.read_change(
        &change_args.base,
        &change_args.head,
        ChangeContext { environment: change_args.environment.clone(), ..ChangeContext::default() },
    )?;
    refuse_own_change(&config, &change, &person.id)?;
    let now = load::now();
    let fingerprint = fingerprint(&change.tree_changes);
    let statement =
        Statement::new(verdict, &person.id, &fingerprint, &change.environment, &change.head, now, &args.comment);
    let envelope = statement.sign(&key).map_err(|error| Failure::input(error.to_string()))?;
    let verb = if verdict == Verdict::Approve { "approve" } else { "reject" };
    let file_name = format!("{}-{}-{verb}-{now}.json", change.environment, person.id);
    let stored = match &change_args.attestations {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|error| Failure::input(format!("cannot create {}: {error}", dir.display())))?;
            let hex = fingerprint.trim_start_matches("sha256:");
            let path = dir.join(format!("{}-{file_name}", &hex[..16]));
            write_new_file(&path, &envelope.to_json())?;
            path.display().to_string()
        }
        None => {
            let signer = Identity::new(
                person.name.clone(),
                person.emails.first().cloned().unwrap_or_else(|| format!("{}@countersign", person.id)),
            );
            repo.append_attestation(&fingerprint, &file_name, &envelope.to_json(), &signer, now)?
        }
    };
    Ok(ReviewOutput {
        verdict,
        person: person.id.clone(),
        fingerprint,
        environment: change.environment,
        head: change.head,
        stored,
    })
}

/// Writes a file whole or not at all: to a temporary name first, then renamed into place.
fn write_new_file(path: &Path, contents: &str) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let write_error = |error: std::io::Error| Failure::input(format!("cannot write {}: {error}", path.display()));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    std::io::Write::write_all(&mut temp, contents.as_bytes()).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist_noclobber(path).map_err(|error| write_error(error.error))?;
    Ok(())
}

/// The author of a change signing their own approval is refused here already, not only by `check`.
fn refuse_own_change(
    config: &countersign_core::config::Config,
    change: &ChangeInput,
    person: &str,
) -> Result<(), Failure> {
    if evaluate::responsible(config, change).iter().any(|entry| entry.known && entry.id == person) {
        return Err(Failure::input(format!(
            "{person} is an author, committer or co-author of this change and cannot review it"
        )));
    }
    Ok(())
}

#[derive(Serialize)]
struct PathOwners {
    path: String,
    codeowners: Option<CodeOwnersMatch>,
    services: Vec<countersign_core::evaluate::ServiceRef>,
}

#[derive(Serialize)]
struct CodeOwnersMatch {
    file: String,
    line: usize,
    pattern: String,
    owners: Vec<String>,
    people: Vec<String>,
}

pub fn owners(repo_path: &Path, rev: &str, config_dir: Option<&Path>, format: Format, paths: &[String]) -> u8 {
    let result = (|| -> Result<(Vec<PathOwners>, Vec<countersign_core::finding::Finding>), Failure> {
        let repo = Repo::open(repo_path)?;
        let at = repo.resolve(rev)?;
        let (config, findings) = load::load_config(&load::config_files_at(&repo, at, config_dir)?)?;
        let answers = paths
            .iter()
            .map(|path| {
                let path = path.trim_start_matches("./").trim_start_matches('/');
                PathOwners {
                    path: path.to_owned(),
                    codeowners: config.codeowners.rule_for(path).map(|rule| CodeOwnersMatch {
                        file: config.codeowners.file().unwrap_or("CODEOWNERS").to_owned(),
                        line: rule.line,
                        pattern: rule.pattern.clone(),
                        owners: rule.owners.iter().map(ToString::to_string).collect(),
                        people: evaluate::owner_members(&config, &rule.owners).into_iter().collect(),
                    }),
                    services: config
                        .services
                        .of_path(path)
                        .map(|service| evaluate::ServiceRef { name: service.name.clone(), tier: service.tier })
                        .collect(),
                }
            })
            .collect();
        Ok((answers, findings))
    })();
    match result {
        Ok((answers, findings)) => {
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "paths": answers, "findings": findings }))
                        .unwrap_or_default()
                ),
                Format::Text => {
                    for answer in &answers {
                        outln!("{}", answer.path);
                        match &answer.codeowners {
                            Some(rule) if rule.owners.is_empty() => outln!(
                                "  owners:   none (explicitly unowned by {}:{} `{}`)",
                                rule.file,
                                rule.line,
                                rule.pattern
                            ),
                            Some(rule) => outln!(
                                "  owners:   {} ({}) from {}:{} `{}`",
                                rule.owners.join(" "),
                                rule.people.join(", "),
                                rule.file,
                                rule.line,
                                rule.pattern
                            ),
                            None => outln!("  owners:   none (no CODEOWNERS line matches)"),
                        }
                        let services: Vec<String> = answer
                            .services
                            .iter()
                            .map(|service| format!("{} (tier {})", service.name, service.tier))
                            .collect();
                        outln!(
                            "  services: {}",
                            if services.is_empty() { "none".to_owned() } else { services.join(", ") }
                        );
                    }
                    render::findings(&findings);
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure.report(format),
    }
}

pub fn policy_check(config_dir: &Path, format: Format) -> u8 {
    let result = load::config_files_in_dir(config_dir).and_then(|files| load::load_config(&files));
    match result {
        Ok((config, findings)) => {
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::json!({
                        "valid": true,
                        "rules": config.policy.rules.iter().map(|rule| &rule.name).collect::<Vec<_>>(),
                        "people": config.directory.people().len(),
                        "agents": config.directory.agents().len(),
                        "services": config.services.all().len(),
                        "findings": findings,
                    })
                ),
                Format::Text => {
                    outln!(
                        "policy ok: {} rules, {} people, {} agents, {} services",
                        config.policy.rules.len(),
                        config.directory.people().len(),
                        config.directory.agents().len(),
                        config.services.all().len()
                    );
                    render::findings(&findings);
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure.report(format),
    }
}
