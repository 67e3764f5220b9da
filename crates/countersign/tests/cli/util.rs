//! Test fixtures: real git repositories in temporary folders, keys, and the countersign binary.

use std::path::PathBuf;
use std::process::{Command, Output};

use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{LineEnding, PrivateKey};

pub const POLICY: &str = include_str!("../../../../examples/policy.toml");

pub const SERVICES: &str = include_str!("../../../../examples/services.toml");

/// People of the fixture directory with their key seeds.
pub const PEOPLE: [(&str, &str, &str, &str, u8); 5] = [
    ("alice", "Alice Moreau", "alice@shop.example", "senior", 1),
    ("bob", "Bob Tran", "bob@shop.example", "junior", 2),
    ("carol", "Carol Diaz", "carol@shop.example", "staff", 3),
    ("dave", "Dave Kim", "dave@shop.example", "mid", 4),
    ("erin", "Erin Vale", "erin@shop.example", "principal", 5),
];

pub fn key(seed: u8) -> PrivateKey {
    PrivateKey::new(KeypairData::Ed25519(Ed25519Keypair::from_seed(&[seed; 32])), "test").expect("valid ed25519 key")
}

pub fn people_toml() -> String {
    let mut text = String::from("levels = [\"intern\", \"junior\", \"mid\", \"senior\", \"staff\", \"principal\"]\n");
    for (id, name, email, level, seed) in PEOPLE {
        let public = key(seed).public_key().to_openssh().expect("encodable key");
        let teams = match id {
            "alice" | "bob" => "[\"checkout\"]",
            _ => "[\"platform\"]",
        };
        text.push_str(&format!(
            "\n[[person]]\nid = \"{id}\"\nname = \"{name}\"\nemails = [\"{email}\"]\nlevel = \"{level}\"\nteams = {teams}\nkeys = [\"{public}\"]\n"
        ));
    }
    text.push_str("\n[[agent]]\nid = \"ops-agent\"\nemails = [\"ops-agent@shop.example\"]\n");
    text
}

pub struct TestRepo {
    pub temp: tempfile::TempDir,
}

impl TestRepo {
    /// A repository whose `main` carries the gate configuration and a checkout service.
    pub fn new() -> TestRepo {
        let repo = TestRepo { temp: tempfile::tempdir().expect("temp dir") };
        std::fs::create_dir_all(repo.path()).expect("repo dir");
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write(".countersign/people.toml", &people_toml());
        repo.write(".countersign/services.toml", SERVICES);
        repo.write(".countersign/policy.toml", POLICY);
        repo.write(".github/CODEOWNERS", "* @shop/platform\n/services/checkout/ @shop/checkout\n");
        repo.commit_as("alice", "services/checkout/cart.py", "def total(items):\n    return 0\n", "Add checkout");
        repo.commit_as("alice", "docs/index.md", "# Docs\n", "Add docs");
        repo
    }

    pub fn path(&self) -> PathBuf {
        self.temp.path().join("repo")
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_as(("Alice Moreau", "alice@shop.example"), args)
    }

    pub fn git_as(&self, identity: (&str, &str), args: &[&str]) -> String {
        self.git_at(identity, "2026-11-20T10:00:00Z", args)
    }

    pub fn git_at(&self, (name, email): (&str, &str), date: &str, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.temp.path())
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    pub fn write(&self, path: &str, contents: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("dirs");
        std::fs::write(full, contents).expect("write");
    }

    /// Commits as a fixture person (by id) or as a raw `Name <email>` identity.
    pub fn commit_as(&self, who: &str, path: &str, contents: &str, message: &str) -> String {
        let identity = identity(who);
        self.write(path, contents);
        self.git_as((&identity.0, &identity.1), &["add", "-A"]);
        self.git_as((&identity.0, &identity.1), &["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Commits as a fixture person at a given date.
    pub fn commit_at(&self, who: &str, date: &str, path: &str, contents: &str, message: &str) -> String {
        let identity = identity(who);
        self.write(path, contents);
        self.git_at((&identity.0, &identity.1), date, &["add", "-A"]);
        self.git_at((&identity.0, &identity.1), date, &["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn branch(&self, name: &str) {
        self.git(&["checkout", "-q", "-b", name]);
    }

    pub fn countersign(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_countersign"))
            .current_dir(self.path())
            .args(args)
            .env_remove("GITHUB_HEAD_REF")
            .env_remove("GITHUB_BASE_REF")
            .env_remove("COUNTERSIGN_REQUESTER")
            .env_remove("GITHUB_EVENT_NAME")
            .env_remove("GITHUB_EVENT_PATH")
            .output()
            .expect("countersign runs")
    }

    /// `check` of `main..HEAD` in JSON; returns the exit code and the parsed decision.
    pub fn check(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let mut args = vec!["check", "--repo", ".", "--base", "main", "--head", "HEAD", "--format", "json"];
        args.extend_from_slice(extra);
        let output = self.countersign(&args);
        let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "check printed no JSON ({error}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().expect("exit code"), json)
    }

    pub fn key_file(&self, person: &str) -> PathBuf {
        let seed = PEOPLE.iter().find(|entry| entry.0 == person).map_or(99, |entry| entry.4);
        let path = self.temp.path().join(format!("{person}.key"));
        std::fs::write(&path, key(seed).to_openssh(LineEnding::LF).expect("encodable").as_bytes()).expect("write key");
        path
    }

    /// `approve`/`reject` of `main..HEAD` as a fixture person with their key.
    pub fn review(&self, verb: &str, person: &str, extra: &[&str]) -> Output {
        let key = self.key_file(person);
        let key = key.to_str().expect("utf-8 path");
        let mut args = vec![verb, "--repo", ".", "--base", "main", "--head", "HEAD", "--as", person, "--key", key];
        args.extend_from_slice(extra);
        self.countersign(&args)
    }
}

fn identity(who: &str) -> (String, String) {
    if let Some((name, email)) = who.split_once(" <") {
        return (name.to_owned(), email.trim_end_matches('>').to_owned());
    }
    let entry = PEOPLE.iter().find(|entry| entry.0 == who).unwrap_or_else(|| panic!("unknown fixture person {who}"));
    (entry.1.to_owned(), entry.2.to_owned())
}

/// The names of the rules that apply and are not satisfied.
pub fn unmet(decision: &serde_json::Value) -> Vec<String> {
    decision["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter(|rule| rule["applies"] == true && rule["satisfied"] == false)
        .map(|rule| rule["name"].as_str().expect("name").to_owned())
        .collect()
}

pub fn finding_codes(decision: &serde_json::Value) -> Vec<String> {
    decision["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|finding| finding["code"].as_str().expect("code").to_owned())
        .collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
