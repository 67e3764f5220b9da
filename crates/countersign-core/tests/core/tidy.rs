//! Architecture invariants that are cheap to check as ordinary tests.

/// The core does no IO: it must not depend on git, SQL, HTTP, async runtimes or the terminal.
#[test]
fn core_has_no_io_dependencies() {
    let manifest = include_str!("../../Cargo.toml");
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for forbidden in ["gix", "git2", "sqlx", "tokio", "reqwest", "axum", "hyper", "clap", "indicatif", "rusqlite"] {
        let listed = dependencies.lines().any(|line| line.split(['=', '.', ' ']).next() == Some(forbidden));
        assert!(!listed, "countersign-core must not depend on {forbidden}");
    }
}

/// No source file of the core touches the file system, processes or the network.
#[test]
fn core_sources_do_no_io() {
    let sources = [
        include_str!("../../src/attestation.rs"),
        include_str!("../../src/codeowners.rs"),
        include_str!("../../src/config.rs"),
        include_str!("../../src/detect.rs"),
        include_str!("../../src/diagnostic.rs"),
        include_str!("../../src/directory.rs"),
        include_str!("../../src/evaluate.rs"),
        include_str!("../../src/finding.rs"),
        include_str!("../../src/fingerprint.rs"),
        include_str!("../../src/lib.rs"),
        include_str!("../../src/model.rs"),
        include_str!("../../src/policy.rs"),
        include_str!("../../src/risk.rs"),
        include_str!("../../src/services.rs"),
    ];
    for source in sources {
        for forbidden in ["std::fs", "std::process", "std::net", "std::env", "SystemTime"] {
            assert!(!source.contains(forbidden), "the core must not use {forbidden}");
        }
    }
}
