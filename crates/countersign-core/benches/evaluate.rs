//! Policy evaluation in memory: decisions per second for a typical change against the documented
//! policy, with one verified approval.

use countersign_core::attestation::{Statement, Verdict};
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::SourceFile;
use countersign_core::evaluate::{FoundAttestation, analyze, check_attestations, decide, evaluate};
use countersign_core::model::{ChangeInput, Commit, FileChange, Identity, TreeChange};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ssh_key::PrivateKey;
use ssh_key::private::{Ed25519Keypair, KeypairData};

const POLICY: &str = include_str!("../../../examples/policy.toml");

fn key(seed: u8) -> PrivateKey {
    PrivateKey::new(KeypairData::Ed25519(Ed25519Keypair::from_seed(&[seed; 32])), "bench").expect("key")
}

fn config() -> Config {
    let mut people = String::from("levels = [\"intern\", \"junior\", \"mid\", \"senior\", \"staff\", \"principal\"]\n");
    for (idx, level) in ["junior", "mid", "senior", "staff", "principal"].iter().cycle().take(40).enumerate() {
        let public = key(idx as u8 + 1).public_key().to_openssh().expect("key");
        let team = if idx % 4 == 0 { "checkout" } else { "platform" };
        people.push_str(&format!(
            "[[person]]\nid = \"p{idx}\"\nemails = [\"p{idx}@shop.example\"]\nlevel = \"{level}\"\nteams = [\"{team}\"]\nkeys = [\"{public}\"]\n"
        ));
    }
    let services = "[[service]]\nname = \"checkout\"\ntier = 0\npaths = [\"services/checkout/**\"]\nowners = [\"checkout\"]\n[[service]]\nname = \"docs\"\ntier = 3\npaths = [\"docs/**\"]\n";
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people),
        services: Some(SourceFile::new("services.toml", services)),
        policy: SourceFile::new("policy.toml", POLICY),
        codeowners: Some(SourceFile::new(
            "CODEOWNERS",
            "* @shop/platform\n/services/checkout/ @shop/checkout\n/docs/\n",
        )),
    };
    Config::load(&files).expect("valid bench configuration").0
}

fn change() -> ChangeInput {
    let commits = (0..5)
        .map(|idx| Commit {
            id: format!("{idx:040x}"),
            parents: vec![format!("{:040x}", idx + 1)],
            author: Identity::new("P1", "p1@shop.example"),
            committer: Identity::new("P1", "p1@shop.example"),
            time: 1_795_000_000,
            message: format!(
                "Change {idx}\n\nSome explanation of the change.\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
            ),
            files: Vec::new(),
        })
        .collect();
    let paths: Vec<String> = (0..20)
        .map(|idx| if idx % 2 == 0 { format!("services/checkout/f{idx}.py") } else { format!("docs/f{idx}.md") })
        .collect();
    ChangeInput {
        repo: "bench".to_owned(),
        base: "0".repeat(40),
        head: "1".repeat(40),
        environment: "production".to_owned(),
        source_branch: Some("feature/x".to_owned()),
        target_branch: Some("main".to_owned()),
        requester: None,
        pull_request: None,
        commits,
        files: paths
            .iter()
            .map(|path| FileChange { path: path.clone(), added: 10, deleted: 2, deleted_file: false })
            .collect(),
        tree_changes: paths
            .iter()
            .map(|path| TreeChange {
                path_bytes: path.as_bytes().to_vec(),
                path: path.clone(),
                old_id: Some("a".repeat(40)),
                new_id: Some("b".repeat(40)),
                mode: "100644".to_owned(),
                digest: format!("sha256:{path}"),
            })
            .collect(),
        blast: Default::default(),
        history: None,
        rollback: None,
        plans: Vec::new(),
        config_origin: None,
        added_lines: Vec::new(),
        notes: Vec::new(),
        recent_fixes: None,
    }
}

fn bench(criterion: &mut Criterion) {
    let config = config();
    let change = change();
    let fingerprint = change.fingerprint();
    // p2 is senior and not an author: one approval that satisfies every rule but ownership.
    let envelope =
        Statement::new(Verdict::Approve, "p2", &fingerprint, "production", &change.head, 1_795_000_000, "ok")
            .sign(&key(3))
            .expect("sign");
    let with_approval = [FoundAttestation::new("bench", envelope.to_json().into_bytes())];
    let analysis = analyze(&config, &change);
    let checked = check_attestations(&config, &analysis.change.fingerprint, &with_approval);
    let mut group = criterion.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(1));
    // Policy evaluation proper, as the server runs it when an approval arrives: predicates,
    // requirements and suggestions over an analysed change and checked attestations.
    group.bench_function("decide_one_checked_approval", |bench| {
        bench.iter(|| decide(&config, &analysis, &checked, 1_795_000_100))
    });
    // The analysis of a change, once per head: detection, responsibility, services, owners, risk.
    group.bench_function("analyze", |bench| bench.iter(|| analyze(&config, &change)));
    // Everything, including the fingerprint and the Ed25519 signature check.
    group.bench_function("evaluate_no_attestations", |bench| {
        bench.iter(|| evaluate(&config, &change, &[], 1_795_000_100))
    });
    group.bench_function("evaluate_one_signed_approval", |bench| {
        bench.iter(|| evaluate(&config, &change, &with_approval, 1_795_000_100))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
