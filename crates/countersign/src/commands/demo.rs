//! `countersign demo`: a sample repository with a realistic history, and a walk through a blocked
//! and an approved deployment, printing each step.

use std::path::{Path, PathBuf};
use std::process::Command;

use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{LineEnding, PrivateKey};

use crate::{EXIT_ALLOWED, EXIT_BAD_INPUT, EXIT_BLOCKED};

const POLICY: &str = include_str!("../../../../examples/policy.toml");

const SERVICES: &str = include_str!("../../../../examples/services.toml");

const PEOPLE: &str = include_str!("../../../../examples/demo/people.toml");

const CODEOWNERS: &str =
    "# Checkout is owned by its team; docs by anyone.\n* @shop/platform\n/services/checkout/ @shop/checkout\n/docs/\n";

struct Demo {
    dir: PathBuf,
    repo: PathBuf,
}

impl Demo {
    fn git(&self, args: &[&str], who: (&str, &str), date: &str) -> Result<String, String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_COMMITTER_NAME", who.0)
            .env("GIT_COMMITTER_EMAIL", who.1)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.dir)
            .output()
            .map_err(|error| format!("cannot run git: {error}; the demo needs git on PATH"))?;
        if !output.status.success() {
            return Err(format!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr)));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim_end().to_owned())
    }

    fn write(&self, path: &str, contents: &str) -> Result<(), String> {
        let full = self.repo.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
        }
        std::fs::write(&full, contents).map_err(|error| format!("cannot write {}: {error}", full.display()))
    }

    fn commit(&self, path: &str, contents: &str, message: &str, who: (&str, &str), date: &str) -> Result<(), String> {
        self.write(path, contents)?;
        self.git(&["add", "-A"], who, date)?;
        self.git(&["commit", "-q", "-m", message], who, date).map(|_| ())
    }
}

/// A deterministic demo key, so the sample directory can list its public half.
fn demo_key(seed: u8, comment: &str) -> Result<PrivateKey, String> {
    let keypair = Ed25519Keypair::from_seed(&[seed; 32]);
    PrivateKey::new(KeypairData::Ed25519(keypair), comment).map_err(|error| error.to_string())
}

fn step(title: &str) {
    outln!("\n━━ {title}");
}

pub fn run(keep: Option<&Path>) -> u8 {
    let result =
        tempfile::tempdir().map_err(|error| format!("cannot create a temporary folder: {error}")).and_then(|temp| {
            let dir = keep.map_or_else(|| temp.path().to_owned(), Path::to_owned);
            walk_through(&dir)?;
            Ok(match keep {
                Some(_) => format!("The sample repository is kept in {}", dir.join("shop").display()),
                None => "The sample repository was temporary; run `countersign demo --keep DIR` to keep it.".to_owned(),
            })
        });
    match result {
        Ok(closing) => {
            outln!("\n{closing}");
            EXIT_ALLOWED
        }
        Err(message) => {
            errln!("countersign demo: {message}");
            EXIT_BAD_INPUT
        }
    }
}

fn walk_through(dir: &Path) -> Result<(), String> {
    let demo = Demo { dir: dir.to_owned(), repo: dir.join("shop") };
    std::fs::create_dir_all(&demo.repo).map_err(|error| error.to_string())?;
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).map_err(|error| error.to_string())?;
    let mut public_keys = Vec::new();
    for (person, seed) in [("alice", 1u8), ("carol", 2), ("bob", 3)] {
        let key = demo_key(seed, &format!("{person}@laptop"))?;
        let private = key.to_openssh(LineEnding::LF).map_err(|error| error.to_string())?;
        std::fs::write(keys.join(person), private.as_bytes()).map_err(|error| error.to_string())?;
        public_keys.push(key.public_key().to_openssh().map_err(|error| error.to_string())?);
    }
    let people = PEOPLE
        .replace("{alice}", &public_keys[0])
        .replace("{carol}", &public_keys[1])
        .replace("{bob}", &public_keys[2]);

    let alice = ("Alice Moreau", "alice@shop.example");
    let bob = ("Bob Tran", "bob@shop.example");
    step("1. A repository whose main branch carries the gate's configuration");
    demo.git(&["init", "-q", "-b", "main"], alice, "2026-11-02T09:00:00Z")?;
    demo.write(".countersign/people.toml", &people)?;
    demo.write(".countersign/services.toml", SERVICES)?;
    demo.write(".countersign/policy.toml", POLICY)?;
    demo.write(".github/CODEOWNERS", CODEOWNERS)?;
    demo.write("docs/index.md", "# Shop\n")?;
    demo.commit(
        "services/checkout/cart.py",
        "def total(items):\n    return sum(item.price for item in items)\n",
        "Add checkout service and countersign gate",
        alice,
        "2026-11-02T09:00:00Z",
    )?;
    outln!("{}", demo.repo.display());
    outln!("  .countersign/people.toml   alice (senior), carol (staff), bob (junior), agent ops-agent");
    outln!("  .countersign/services.toml checkout (tier 0), docs (tier 3)");
    outln!("  .countersign/policy.toml   two-person, ai-senior-signoff, tier0-owners, gate-config");

    step("2. Bob, a junior engineer, changes checkout with Claude Code");
    demo.git(&["checkout", "-q", "-b", "feature/faster-checkout"], bob, "2026-11-20T10:00:00Z")?;
    demo.commit(
        "services/checkout/cart.py",
        "def total(items):\n    return sum(item.price * item.quantity for item in items)\n",
        "Multiply price by quantity in cart total\n\nCo-Authored-By: Claude Opus 4.6 (1M context) <noreply@anthropic.com>\n",
        bob,
        "2026-11-20T10:00:00Z",
    )?;
    demo.commit(
        "services/checkout/discount.py",
        "def apply(total, percent):\n    return total * (100 - percent) / 100\n",
        "Add percentage discounts\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
        bob,
        "2026-11-20T11:00:00Z",
    )?;
    outln!("{}", demo.git(&["log", "--format=  %h %an: %s", "main..HEAD"], bob, "2026-11-20T11:00:00Z")?);

    let repo = demo.repo.display().to_string();
    let check = ["check", "--repo", &repo, "--base", "main", "--head", "feature/faster-checkout", "--requester", "bob"];
    step("3. The deploy job runs `countersign check`: blocked, and it says who can unblock it");
    expect(crate::run_line(&check), EXIT_BLOCKED, "check")?;

    step("4. Bob tries to approve his own change: refused");
    let comment = "Reviewed the quantity change and the discount maths";
    let approve = |person: &str| {
        let key = keys.join(person).display().to_string();
        let line = ["approve", "--repo", &repo, "--base", "main", "--head", "feature/faster-checkout"];
        crate::run_line(&[&line[..], &["--as", person, "--key", &key, "--comment", comment]].concat())
    };
    expect(approve("bob"), EXIT_BAD_INPUT, "bob's approval")?;

    step("5. Alice, a senior checkout owner, reviews and signs an approval with her SSH key");
    expect(approve("alice"), EXIT_ALLOWED, "alice's approval")?;

    step("6. The deploy job runs `countersign check` again: allowed");
    expect(crate::run_line(&check), EXIT_ALLOWED, "check")?;

    step("7. Bob pushes one more commit: the reviewed content changed, so the approval no longer counts");
    demo.commit(
        "services/checkout/discount.py",
        "def apply(total, percent):\n    return max(0, total * (100 - percent) / 100)\n",
        "Never discount below zero\n\nAssisted-by: Claude:claude-opus-4-6\n",
        bob,
        "2026-11-21T09:00:00Z",
    )?;
    expect(crate::run_line(&check), EXIT_BLOCKED, "check")?;

    step("8. Alice reviews what changed and approves again; Carol's docs fix, approved by Alice, merges too");
    expect(approve("alice"), EXIT_ALLOWED, "alice's approval")?;
    let carol = ("Carol Diaz", "carol@shop.example");
    let first_deploy = demo.git(&["rev-parse", "main"], carol, "2026-11-21T10:00:00Z")?;
    demo.git(&["checkout", "-q", "-b", "docs/returns", "main"], carol, "2026-11-21T10:00:00Z")?;
    demo.commit(
        "docs/returns.md",
        "# Returns

Within 30 days.
",
        "Document returns",
        carol,
        "2026-11-21T10:00:00Z",
    )?;
    let key = keys.join("alice").display().to_string();
    let docs = ["approve", "--repo", &repo, "--base", "main", "--head", "docs/returns", "--as", "alice", "--key", &key];
    expect(crate::run_line(&docs), EXIT_ALLOWED, "alice's approval of the docs")?;
    demo.git(&["checkout", "-q", "main"], alice, "2026-11-21T11:00:00Z")?;
    for branch in ["feature/faster-checkout", "docs/returns"] {
        let message = format!("Merge branch '{branch}'");
        demo.git(&["merge", "-q", "--no-ff", branch, "-m", &message], alice, "2026-11-21T11:00:00Z")?;
    }
    outln!(
        "{}",
        demo.git(
            &["log", "--first-parent", "--format=  %h %s", &format!("{first_deploy}..main")],
            alice,
            "2026-11-21T11:00:00Z"
        )?
    );

    step("9. The deploy job deploys main: each merged change by its own approvals; the deployment is recorded");
    let deploy = [
        "deploy",
        "--repo",
        &repo,
        "--env",
        "production",
        "--base",
        &first_deploy,
        "--head",
        "main",
        "--requester",
        "bob",
    ];
    expect(crate::run_line(&deploy), EXIT_ALLOWED, "deploy")?;

    step("10. The next run starts from the recorded deployment: nothing new, nothing to deploy");
    let again = ["check", "--repo", &repo, "--env", "production", "--head", "main"];
    expect(crate::run_line(&again), EXIT_ALLOWED, "check")?;
    outln!("\nDone. Signed approvals live in refs/countersign/attestations of the sample repository:");
    outln!(
        "{}",
        demo.git(&["log", "--format=  %h %an: %s", countersign_git::ATTESTATION_REF], bob, "2026-11-21T09:00:00Z")?
    );
    Ok(())
}

fn expect(code: u8, wanted: u8, what: &str) -> Result<(), String> {
    if code == wanted { Ok(()) } else { Err(format!("{what} exited {code}, expected {wanted}")) }
}
