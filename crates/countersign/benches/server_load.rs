//! Load on the approval service: 64 clients recording approvals, then 64 clients reading
//! decisions, then 64 signed-in clients reading change pages of the web interface, against a
//! real `countersign serve` over SQLite or PostgreSQL on loopback.
//!
//! `bench/server-load.sh` runs it for both backends. Settings come from the environment:
//! `LOAD_BACKEND` (sqlite | postgres), `LOAD_SECONDS` per phase (default 10), `LOAD_CLIENTS`
//! (default 64) and, for PostgreSQL, `LOAD_POSTGRES` (an admin URL; a scratch database is made).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@shop.example")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@shop.example")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn countersign(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_countersign")).args(args).output().expect("countersign runs");
    assert!(output.status.success(), "countersign {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn psql(url: &str, statement: &str) {
    let output = Command::new("psql").args([url, "-q", "-c", statement]).output().expect("psql runs");
    assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
}

/// A repository with `changes` branches by one junior, reviewed by `reviewers` seniors.
fn fixture(dir: &Path, reviewers: usize, changes: usize) {
    let repo = dir.join("origin");
    std::fs::create_dir_all(repo.join(".countersign")).expect("dirs");
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut people = String::from(
        "levels = [\"junior\", \"senior\"]\n\n[[person]]\nid = \"dev\"\nemails = [\"dev@shop.example\"]\ngithub = \"dev-gh\"\nlevel = \"junior\"\n",
    );
    for index in 0..reviewers {
        people.push_str(&format!(
            "\n[[person]]\nid = \"r{index:02}\"\nemails = [\"r{index:02}@shop.example\"]\nlevel = \"senior\"\n"
        ));
    }
    std::fs::write(repo.join(".countersign/people.toml"), people).expect("people");
    std::fs::write(
        repo.join(".countersign/policy.toml"),
        "version = 1\n\n[[rule]]\nname = \"two-seniors\"\nrequires = { count = 2, min_level = \"senior\" }\n",
    )
    .expect("policy");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "Gate"]);
    for index in 0..changes {
        git(&repo, &["checkout", "-q", "-b", &format!("change-{index}"), "main"]);
        std::fs::write(repo.join("app.txt"), format!("version {index}\n")).expect("change");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("Change {index}")]);
    }
    // Pull requests of 50 commits each, for the GitHub App's webhook-to-check-run latency.
    for pull in 0..PULLS {
        git(&repo, &["checkout", "-q", "-b", &format!("pull-{pull}"), "main"]);
        for commit in 0..50 {
            std::fs::write(repo.join(format!("pull-{pull}-{commit}.txt")), format!("line {commit}\n")).expect("file");
            git(&repo, &["add", "-A"]);
            git(&repo, &["commit", "-q", "-m", &format!("Pull {pull}, step {commit}")]);
        }
    }
    git(&repo, &["checkout", "-q", "main"]);
    std::fs::create_dir_all(dir.join("repos")).expect("repos");
    let output = Command::new("git")
        .args(["clone", "-q", "--mirror"])
        .arg(&repo)
        .arg(dir.join("repos/shop"))
        .output()
        .expect("clone");
    assert!(output.status.success());
}

/// Pull requests the GitHub phases open.
const PULLS: usize = 20;

const WEBHOOK_SECRET: &str = "bench secret";

/// GitHub's API on loopback: check runs are answered at once, and when each head's arrived is kept.
struct MockGithub {
    url: String,
    arrived: std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
}

fn mock_github() -> MockGithub {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let arrived = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&arrived);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let kept = std::sync::Arc::clone(&kept);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if let Some(head) = body["head_sha"].as_str() {
                        kept.lock().expect("lock").push((head.to_owned(), Instant::now()));
                    }
                    let answer = r#"{"id":1}"#;
                    let written = write!(
                        stream,
                        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if written.is_err() {
                        return;
                    }
                }
            });
        }
    });
    MockGithub { url, arrived }
}

fn signature(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn pull_request(number: usize, action: &str, head: &str, base: &str) -> String {
    json!({
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": format!("Pull {number}"),
            "body": "",
            "head": {"sha": head, "ref": format!("pull-{number}")},
            "base": {"sha": base, "ref": "main"},
            "user": {"login": "dev-gh", "type": "User"},
        },
        "repository": {"name": "shop", "full_name": "bench/shop"},
    })
    .to_string()
}

fn deliver(agent: &ureq::Agent, server: &str, delivery: &str, body: &str) -> bool {
    agent
        .post(format!("{server}/webhooks/github"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", &signature(body.as_bytes()))
        .send(body.as_bytes())
        .is_ok_and(|response| response.status().as_u16() == 202)
}

fn rev_parse(dir: &Path, rev: &str) -> String {
    let output = Command::new("git").arg("-C").arg(dir).args(["rev-parse", rev]).output().expect("git runs");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, database_url: &str, github: &str) -> Server {
    std::fs::write(dir.join("webhook-secret"), WEBHOOK_SECRET).expect("secret");
    std::fs::write(dir.join("github-token"), "bench-token").expect("token");
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", database_url, "--github-api-url", github])
        .arg("--github-webhook-secret")
        .arg(dir.join("webhook-secret"))
        .arg("--github-token-file")
        .arg(dir.join("github-token"))
        .arg("--checkpoints")
        .arg(dir.join("checkpoints.jsonl"))
        .arg("--repos")
        .arg(dir.join("repos"))
        .arg("--signing-key")
        .arg(dir.join("server.key"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its address").expect("line");
        if let Some(url) = line.strip_prefix("countersign: listening on ") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server(child, url)
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build(),
    )
}

/// Signs in to the web interface as a browser would; returns the session cookie.
fn sign_in(agent: &ureq::Agent, base: &str, token: &str) -> String {
    let page = agent.get(format!("{base}/sign-in")).call().expect("sign-in page");
    let cookie = page.headers().get("set-cookie").and_then(|value| value.to_str().ok()).expect("a cookie");
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let csrf = pair.split_once('=').expect("value").1.to_owned();
    let no_redirects: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).build().into();
    let answer = no_redirects
        .post(format!("{base}/sign-in"))
        .header("Cookie", &pair)
        .send_form([("token", token), ("csrf", csrf.as_str())])
        .expect("sign in");
    let session = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("countersign_session="))
        .expect("a session cookie");
    session.split(';').next().expect("name=value").to_owned()
}

struct Phase {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

/// Runs `clients` threads for `seconds`, each calling `request(client, n)` in a loop.
fn phase(clients: usize, seconds: u64, request: impl Fn(&ureq::Agent, usize, usize) -> bool + Sync) -> Phase {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(clients + 1);
    let (results, elapsed) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let (stop, barrier, request) = (&stop, &barrier, &request);
                scope.spawn(move || {
                    let agent = agent();
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    barrier.wait();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        if request(&agent, client, n) {
                            latencies.push(started.elapsed());
                        } else {
                            errors += 1;
                        }
                        n += 1;
                    }
                    (latencies, errors)
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        let results: Vec<_> = handles.into_iter().map(|handle| handle.join().expect("client")).collect();
        (results, started.elapsed())
    });
    let mut latencies: Vec<Duration> = results.iter().flat_map(|(latencies, _)| latencies.iter().copied()).collect();
    latencies.sort_unstable();
    Phase { latencies, errors: results.iter().map(|(_, errors)| errors).sum(), elapsed }
}

fn report(backend: &str, what: &str, clients: usize, phase: &Phase) {
    let quantile = |q: f64| {
        let index = ((phase.latencies.len() as f64 * q) as usize).min(phase.latencies.len().saturating_sub(1));
        phase.latencies.get(index).map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    println!(
        "{backend:<8} {what:<18} clients {clients:>3}  {:>7} ok  {:>4} errors  {:>8.0}/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
        phase.latencies.len(),
        phase.errors,
        phase.latencies.len() as f64 / phase.elapsed.as_secs_f64(),
        quantile(0.50),
        quantile(0.90),
        quantile(0.99),
        quantile(1.0),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` passes nothing to run.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let backend = env_or("LOAD_BACKEND", "sqlite");
    let seconds: u64 = env_or("LOAD_SECONDS", "10").parse().expect("LOAD_SECONDS is a number");
    let clients: usize = env_or("LOAD_CLIENTS", "64").parse().expect("LOAD_CLIENTS is a number");
    let changes = 256;
    let temp = tempfile::tempdir().expect("temp dir");
    fixture(temp.path(), clients, changes);
    let admin = env_or("LOAD_POSTGRES", "postgres://postgres@127.0.0.1:5432/test");
    let scratch = format!("countersign_load_{}", std::process::id());
    let database_url = match backend.as_str() {
        "sqlite" => temp.path().join("countersign.db").display().to_string(),
        "postgres" => {
            psql(&admin, &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"));
            psql(&admin, &format!("CREATE DATABASE {scratch}"));
            admin.rsplit_once('/').map(|(server, _)| format!("{server}/{scratch}")).expect("URL with a database")
        }
        other => panic!("LOAD_BACKEND must be sqlite or postgres, not {other}"),
    };
    let github = mock_github();
    let server = serve(temp.path(), &database_url, &github.url);
    let pipeline = countersign(&["token", "create", "--database-url", &database_url, "--person", "ci", "--pipeline"]);
    let people = temp.path().join("origin/.countersign/people.toml").display().to_string();
    let tokens: Vec<String> = (0..clients)
        .map(|index| {
            let person = format!("r{index:02}");
            countersign(&["token", "create", "--database-url", &database_url, "--person", &person, "--people", &people])
        })
        .collect();
    let setup = agent();
    let mut fingerprints = Vec::new();
    let mut ids = Vec::new();
    for index in 0..changes {
        let body = json!({"repository": "shop", "base": "main", "head": format!("change-{index}"), "requester": "dev"});
        let change: Value = setup
            .post(format!("{}/api/changes", server.1))
            .header("Authorization", format!("Bearer {pipeline}"))
            .send_json(body)
            .expect("register")
            .body_mut()
            .read_json()
            .expect("json");
        fingerprints.push(change["fingerprint"].as_str().expect("fingerprint").to_owned());
        ids.push(change["id"].as_i64().expect("id"));
    }

    // Every request records a new signed statement: each client is one reviewer, who approves
    // each change once and then keeps flipping between reject and approve.
    let approvals = phase(clients, seconds, |agent, client, n| {
        let change = (client + n) % changes;
        let verdict = if (n / changes) % 2 == 0 { "approve" } else { "reject" };
        let body = json!({"repository": "shop", "fingerprint": fingerprints[change], "verdict": verdict});
        agent
            .post(format!("{}/api/approvals", server.1))
            .header("Authorization", format!("Bearer {}", tokens[client]))
            .send_json(body)
            .is_ok_and(|response| response.status().as_u16() == 201)
    });
    report(&backend, "record approvals", clients, &approvals);

    let reads = phase(clients, seconds, |agent, client, n| {
        let id = ids[(client + n) % changes];
        agent
            .get(format!("{}/api/changes/{id}", server.1))
            .header("Authorization", format!("Bearer {}", tokens[client]))
            .call()
            .is_ok_and(|mut response| {
                response.status().as_u16() == 200
                    && response.body_mut().read_to_string().is_ok_and(|text| !text.is_empty())
            })
    });
    report(&backend, "read decisions", clients, &reads);

    // The web interface: each client signs in once, then reads change pages as HTML.
    let sessions: Vec<String> = tokens.iter().map(|token| sign_in(&setup, &server.1, token)).collect();
    let pages = phase(clients, seconds, |agent, client, n| {
        let id = ids[(client + n) % changes];
        agent.get(format!("{}/changes/{id}", server.1)).header("Cookie", &sessions[client]).call().is_ok_and(
            |mut response| {
                response.status().as_u16() == 200
                    && response.body_mut().read_to_string().is_ok_and(|html| html.contains("id=\"verdict\""))
            },
        )
    });
    report(&backend, "web change pages", clients, &pages);

    // The GitHub App: a pull request of 50 commits is opened; how long until its check run is
    // posted, one at a time (fetch, read, analyse, decide, record, post).
    let origin = temp.path().join("origin");
    let base = rev_parse(&origin, "main");
    let mut latencies = Vec::new();
    for pull in 0..PULLS {
        let head = rev_parse(&origin, &format!("pull-{pull}"));
        let sent = Instant::now();
        assert!(deliver(&setup, &server.1, &format!("open-{pull}"), &pull_request(pull, "opened", &head, &base)));
        let deadline = sent + Duration::from_secs(30);
        loop {
            if let Some((_, at)) = github.arrived.lock().expect("lock").iter().find(|(sha, _)| *sha == head) {
                latencies.push(at.duration_since(sent));
                break;
            }
            assert!(Instant::now() < deadline, "no check run for pull {pull}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    latencies.sort();
    report(&backend, "webhook to check run", 1, &Phase { latencies, errors: 0, elapsed: Duration::from_secs(1) });

    // Sustained: clients send signed deliveries (an edited description, each a new delivery);
    // how many are accepted per second, and how fast the queue is worked off.
    let before = github.arrived.lock().expect("lock").len();
    let heads: Vec<String> = (0..PULLS).map(|pull| rev_parse(&origin, &format!("pull-{pull}"))).collect();
    let started = Instant::now();
    let intake = phase(clients, seconds, |agent, client, n| {
        let pull = (client + n) % PULLS;
        let body = pull_request(pull, "edited", &heads[pull], &base);
        deliver(agent, &server.1, &format!("edit-{client}-{n}"), &body)
    });
    report(&backend, "webhooks accepted", clients, &intake);
    let accepted = intake.latencies.len();
    let deadline = Instant::now() + Duration::from_secs(600);
    while github.arrived.lock().expect("lock").len() < before + accepted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let processed = github.arrived.lock().expect("lock").len() - before;
    println!(
        "{backend:<8} webhooks processed {processed} of {accepted} in {:.1} s: {:.0}/s sustained",
        started.elapsed().as_secs_f64(),
        processed as f64 / started.elapsed().as_secs_f64()
    );
    drop(server);
    let checkpoints = temp.path().join("checkpoints.jsonl").display().to_string();
    let key = temp.path().join("server.key").display().to_string();
    let verified = countersign(&[
        "audit",
        "verify",
        "--database-url",
        &database_url,
        "--checkpoints",
        &checkpoints,
        "--signing-key",
        &key,
    ]);
    println!("{backend:<8} {verified}");
    if backend == "postgres" {
        psql(&admin, &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"));
    }
}
