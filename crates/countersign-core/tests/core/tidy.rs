//! Architecture invariants of the workspace (ARCHITECTURE.md), checked by walking the sources and
//! manifests, so a new file or crate is covered without anyone listing it.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under a folder, recursively.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source folder") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("UTF-8 source");
                found.push((path, text));
            }
        }
    }
    assert!(!found.is_empty(), "no sources under {}", dir.display());
    found
}

/// The names of a manifest's `[dependencies]` (not dev- or build-dependencies).
fn dependencies(krate: &str) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).expect("manifest");
    let table: toml::Table = manifest.parse().expect("valid manifest");
    table
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|deps| deps.keys().cloned().collect())
        .unwrap_or_default()
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("crates"))
        .expect("crates folder")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const PURE: [&str; 2] = ["countersign-core", "countersign-blast"];

/// The pure crates depend on no git, SQL, HTTP, async runtime or terminal crate.
#[test]
fn pure_crates_have_no_io_dependencies() {
    for krate in PURE {
        for forbidden in [
            "gix",
            "git2",
            "sqlx",
            "tokio",
            "reqwest",
            "ureq",
            "axum",
            "hyper",
            "clap",
            "indicatif",
            "rusqlite",
            "tempfile",
        ] {
            assert!(!dependencies(krate).iter().any(|dep| dep == forbidden), "{krate} must not depend on {forbidden}");
        }
    }
}

/// No source file of a pure crate touches the file system, processes, the network, the
/// environment or the clock.
#[test]
fn pure_crates_do_no_io() {
    for krate in PURE {
        for (path, text) in sources(&workspace().join("crates").join(krate).join("src")) {
            for forbidden in
                ["std::fs", "std::process", "std::net", "std::env", "SystemTime", "Instant::now", "std::io::stdin"]
            {
                assert!(!text.contains(forbidden), "{} uses {forbidden}; {krate} must stay pure", path.display());
            }
        }
    }
}

/// Each outside world has one adapter: gix only in the git adapter, SQL only in the store, clap
/// and the terminal only in the binary, HTTP serving only in the server.
#[test]
fn each_adapter_owns_its_dependency() {
    let owners = [
        ("gix", &["countersign-git"][..]),
        ("sqlx", &["countersign-store"][..]),
        ("clap", &["countersign"][..]),
        ("indicatif", &["countersign"][..]),
        ("axum", &["countersign-server"][..]),
        ("ureq", &["countersign-server"][..]),
    ];
    for krate in crates() {
        let deps = dependencies(&krate);
        for (dependency, allowed) in owners {
            if deps.iter().any(|dep| dep == dependency) {
                assert!(allowed.contains(&krate.as_str()), "{krate} depends on {dependency}; only {allowed:?} may");
            }
        }
    }
}

/// Only the binary reads the process environment: a server or a library that did would judge
/// changes by whatever its process happened to be started with.
#[test]
fn only_the_binary_reads_the_environment() {
    // The testkit is test support: it reads where the tests' database is.
    for krate in crates().into_iter().filter(|krate| krate != "countersign" && krate != "countersign-testkit") {
        for (path, text) in sources(&workspace().join("crates").join(&krate).join("src")) {
            for forbidden in ["env::var", "env::vars", "env::args"] {
                assert!(!text.contains(forbidden), "{} reads the environment ({forbidden})", path.display());
            }
        }
    }
}

/// Library and binary code never uses `#[allow]`: `#[expect]` says why and fails once the
/// reason is gone (the workspace lints deny it too; this keeps tests honest).
#[test]
fn no_allow_attributes() {
    for krate in crates() {
        for (path, text) in sources(&workspace().join("crates").join(&krate).join("src")) {
            assert!(!text.contains("#[allow(") && !text.contains("#![allow("), "{} uses #[allow]", path.display());
        }
    }
}
