//! Clients of the approval service: register, approve, reject, override, queue, away, and the
//! attestations `check --server` verifies.

use std::time::Duration;

use clap::Args;
use countersign_core::evaluate::FoundAttestation;
use serde_json::{Value, json};

use crate::load::Failure;
use crate::{EXIT_ALLOWED, EXIT_BLOCKED, Format};

/// Where the server is and who is calling.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The approval service, e.g. https://countersign.example.
    #[arg(long, env = "COUNTERSIGN_SERVER")]
    pub server: String,
    /// Your API token (from `countersign token create`).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// An answer of the server: its status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Client {
    fn new(server: &str, token: Option<&str>) -> Client {
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

    fn from_args(args: &ServerArgs) -> Result<Client, Failure> {
        if args.token.as_deref().is_none_or(str::is_empty) {
            return Err(Failure::input(
                "no API token: pass --token or set COUNTERSIGN_TOKEN (an administrator creates one with \
                 `countersign token create --person YOUR_ID`)",
            ));
        }
        Ok(Client::new(&args.server, args.token.as_deref()))
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Answer, Failure> {
        self.call_with_query(method, path, &[], body)
    }

    fn call_with_query(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let unreachable = |error: ureq::Error| Failure::input(format!("cannot reach {url}: {error}"));
        let authorization = self.token.as_ref().map(|token| format!("Bearer {token}"));
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url).query_pairs(query.iter().copied());
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.call().map_err(unreachable)?
            }
            ("DELETE", _) => {
                let mut request = self.agent.delete(&url);
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.call().map_err(unreachable)?
            }
            (method, body) => {
                let mut request = if method == "PUT" { self.agent.put(&url) } else { self.agent.post(&url) };
                if let Some(value) = &authorization {
                    request = request.header("Authorization", value);
                }
                request.send_json(body.unwrap_or_else(|| json!({}))).map_err(unreachable)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| Failure::input(format!("cannot read the answer of {url}: {error}")))?;
        let body = serde_json::from_str(&text).map_err(|_| {
            Failure::input(format!("{url} answered {status} with something that is not JSON: {}", first_line(&text)))
        })?;
        Ok(Answer { status, body })
    }

    /// The body of a successful answer, or the server's error as a failure.
    fn expect_ok(&self, answer: Answer) -> Result<Value, Failure> {
        if (200..300).contains(&answer.status) {
            return Ok(answer.body);
        }
        let code = answer.body["error"]["code"].as_str().unwrap_or("error");
        let message = answer.body["error"]["message"].as_str().unwrap_or("no message");
        let what = if answer.status == 403 { "refused" } else { "failed" };
        Err(Failure::input(format!("{} {what} ({}, {code}): {message}", self.base, answer.status)))
    }
}

/// One authenticated call whose answer must be a success.
fn ask(server: &ServerArgs, method: &str, path: &str, body: Option<Value>) -> Result<Value, Failure> {
    let client = Client::from_args(server)?;
    let answer = client.call(method, path, body)?;
    client.expect_ok(answer)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The server's signed statements about a fingerprint, for `check --server`.
pub fn attestations(server: &str, fingerprint: &str, environment: &str) -> Result<Vec<FoundAttestation>, Failure> {
    let client = Client::new(server, std::env::var("COUNTERSIGN_TOKEN").ok().as_deref());
    let query = [("fingerprint", fingerprint), ("environment", environment)];
    let body =
        client.call_with_query("GET", "/api/attestations", &query, None).and_then(|answer| client.expect_ok(answer))?;
    let list = body["attestations"]
        .as_array()
        .ok_or_else(|| Failure::input(format!("{server} answered without an `attestations` list")))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(index, envelope)| FoundAttestation {
            origin: format!("{server} #{}", index + 1),
            bytes: envelope.to_string().into_bytes(),
        })
        .collect())
}

fn print(format: Format, value: &Value, text: impl FnOnce(&Value) -> String) {
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
        Format::Text => out!("{}", text(value)),
    }
}

fn exit_for_verdict(verdict: &str) -> u8 {
    if verdict == "allowed" || verdict == "overridden" { EXIT_ALLOWED } else { EXIT_BLOCKED }
}

fn change_line(change: &Value) -> String {
    format!(
        "change {} of {} for {}: {} ({})\n",
        change["id"],
        change["repository"].as_str().unwrap_or("?"),
        change["environment"].as_str().unwrap_or("?"),
        change["verdict"].as_str().unwrap_or("?").to_uppercase(),
        change["fingerprint"].as_str().unwrap_or("?"),
    )
}

fn decision_text(view: &Value) -> String {
    let mut text = change_line(view);
    for rule in view["decision"]["rules"].as_array().into_iter().flatten() {
        if rule["applies"] == true && rule["satisfied"] == false {
            text.push_str(&format!(
                "  unmet {}: {} more approval(s)\n",
                rule["name"].as_str().unwrap_or("?"),
                rule["missing"]
            ));
        }
    }
    for assignment in view["assignments"].as_array().into_iter().flatten().filter(|a| a["state"] == "open") {
        text.push_str(&format!(
            "  review routed to {} for {}\n",
            assignment["person"].as_str().unwrap_or("?"),
            assignment["rule"].as_str().unwrap_or("?")
        ));
    }
    text
}

/// `countersign register`: a pipeline asks the server to evaluate a change.
#[derive(Args, Clone, Debug)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The repository's directory name under the server's --repos.
    #[arg(long)]
    pub repository: String,
    #[arg(long)]
    pub base: String,
    #[arg(long)]
    pub head: String,
    #[arg(long = "env", default_value = "production")]
    pub environment: String,
    #[arg(long, env = "COUNTERSIGN_REQUESTER")]
    pub requester: Option<String>,
    /// A name for the change, e.g. its branch: a newer head supersedes the older ones.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn register(args: &RegisterArgs) -> u8 {
    let body = json!({
        "repository": args.repository,
        "base": args.base,
        "head": args.head,
        "environment": args.environment,
        "requester": args.requester,
        "name": args.name,
    });
    let view = match ask(&args.server, "POST", "/api/changes", Some(body)) {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &view, decision_text);
    exit_for_verdict(view["verdict"].as_str().unwrap_or_default())
}

/// `countersign deploy`: the final verdict before deploying, recorded in the audit log.
#[derive(Args, Clone, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The change id `register` printed.
    #[arg(long)]
    pub change: i64,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn deploy(args: &DeployArgs) -> u8 {
    let view = match ask(&args.server, "POST", &format!("/api/changes/{}/deploy", args.change), None) {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &view, decision_text);
    exit_for_verdict(view["verdict"].as_str().unwrap_or_default())
}

/// Approves or rejects through the server, which signs the statement with its key.
pub fn review(
    server: &ServerArgs,
    repository: &str,
    fingerprint: &str,
    environment: &str,
    verdict: &str,
    comment: &str,
    format: Format,
) -> u8 {
    let body = json!({
        "repository": repository,
        "fingerprint": fingerprint,
        "environment": environment,
        "verdict": verdict,
        "comment": comment,
    });
    let answer = match ask(server, "POST", "/api/approvals", Some(body)) {
        Ok(value) => value,
        Err(failure) => return failure.report(format),
    };
    print(format, &answer, |answer| {
        let verb = if verdict == "approve" { "approved" } else { "rejected" };
        let again = if answer["duplicate"] == true { " (already recorded)" } else { "" };
        format!(
            "{} {verb} {fingerprint} for {environment}{again}\n{}",
            answer["statement"]["person"].as_str().unwrap_or("?"),
            change_line(&answer["change"])
        )
    });
    EXIT_ALLOWED
}

/// `countersign override`: break-glass through the server.
#[derive(Args, Clone, Debug)]
pub struct OverrideArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long)]
    pub repository: String,
    #[arg(long)]
    pub fingerprint: String,
    #[arg(long = "env", default_value = "production")]
    pub environment: String,
    /// Why the change must go out now; kept with the override and shown to its reviewer.
    #[arg(long, default_value = "")]
    pub reason: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn override_change(args: &OverrideArgs) -> u8 {
    let body = json!({
        "repository": args.repository,
        "fingerprint": args.fingerprint,
        "environment": args.environment,
        "reason": args.reason,
    });
    let answer = match ask(&args.server, "POST", "/api/overrides", Some(body)) {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &answer, |answer| {
        format!(
            "{}override {} recorded; a second person must review it by {} (ms since epoch)\n",
            change_line(&answer["change"]),
            answer["override"]["id"],
            answer["override"]["review_due_at"]
        )
    });
    EXIT_ALLOWED
}

/// `countersign review-override`: the mandatory after-the-fact review of a break-glass.
#[derive(Args, Clone, Debug)]
pub struct ReviewOverrideArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The override's id.
    pub id: i64,
    #[arg(long, default_value = "")]
    pub comment: String,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn review_override(args: &ReviewOverrideArgs) -> u8 {
    let answer = match ask(
        &args.server,
        "POST",
        &format!("/api/overrides/{}/review", args.id),
        Some(json!({"comment": args.comment})),
    ) {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &answer, |answer| {
        let late = if answer["override"]["late"] == true { " (late)" } else { "" };
        format!(
            "override {} reviewed by {}{late}\n",
            args.id,
            answer["override"]["reviewed_by"].as_str().unwrap_or("?")
        )
    });
    EXIT_ALLOWED
}

/// `countersign queue`: the reviews routed to me, and overrides awaiting review.
#[derive(Args, Clone, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn queue(args: &QueueArgs) -> u8 {
    let answer = match ask(&args.server, "GET", "/api/queue", None) {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &answer, |answer| {
        let reviews = answer["reviews"].as_array().cloned().unwrap_or_default();
        let mut text = format!("{} review(s) for {}\n", reviews.len(), answer["person"].as_str().unwrap_or("?"));
        for review in &reviews {
            text.push_str(&format!(
                "  #{} {} rule {}, waiting {} s: {}",
                review["id"],
                review["change"]["repository"].as_str().unwrap_or("?"),
                review["rule"].as_str().unwrap_or("?"),
                review["waiting_seconds"],
                change_line(&review["change"])
            ));
        }
        for pending in answer["after_the_fact"].as_array().into_iter().flatten() {
            let overdue = if pending["overdue"] == true { " OVERDUE" } else { "" };
            text.push_str(&format!(
                "  override {} of change {} by {} awaits review{overdue}: {}\n",
                pending["id"],
                pending["change"],
                pending["person"].as_str().unwrap_or("?"),
                pending["reason"].as_str().unwrap_or("")
            ));
        }
        text
    });
    EXIT_ALLOWED
}

/// `countersign away`: stop (or resume) getting reviews routed to me.
#[derive(Args, Clone, Debug)]
pub struct AwayArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Until when, e.g. 2026-12-01T09:00:00Z (default: until `--back`).
    #[arg(long)]
    pub until: Option<jiff::Timestamp>,
    #[arg(long, default_value = "")]
    pub note: String,
    /// I am back: route reviews to me again.
    #[arg(long, conflicts_with_all = ["until", "note"])]
    pub back: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn away(args: &AwayArgs) -> u8 {
    let result = if args.back {
        ask(&args.server, "DELETE", "/api/away", None)
    } else {
        let body = json!({"until": args.until.map(|until| until.as_millisecond()), "note": args.note});
        ask(&args.server, "PUT", "/api/away", Some(body))
    };
    let answer = match result {
        Ok(value) => value,
        Err(failure) => return failure.report(args.format),
    };
    print(args.format, &answer, |answer| {
        let state = if answer["away"] == true { "away" } else { "back" };
        format!(
            "{} is {state}
",
            answer["person"].as_str().unwrap_or("?")
        )
    });
    EXIT_ALLOWED
}
