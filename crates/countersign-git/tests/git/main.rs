//! The git adapter against real repositories built with the git CLI.

use std::path::Path;
use std::process::Command;

use countersign_core::model::Identity;
use countersign_git::{ChangeContext, Repo};

struct Fixture {
    temp: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let fixture = Fixture { temp: tempfile::tempdir().expect("temp dir") };
        fixture.git(&["init", "-q", "-b", "main"]);
        fixture
    }

    fn path(&self) -> &Path {
        self.temp.path()
    }

    fn git(&self, args: &[&str]) -> String {
        self.git_at("2026-11-20T10:00:00Z", args)
    }

    /// Runs git with author and committer dates set to `date`.
    fn git_at(&self, date: &str, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "Bob Tran")
            .env("GIT_AUTHOR_EMAIL", "bob@shop.example")
            .env("GIT_COMMITTER_NAME", "Bob Tran")
            .env("GIT_COMMITTER_EMAIL", "bob@shop.example")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn write(&self, path: &str, contents: &[u8]) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("a file in a folder")).expect("create folders");
        std::fs::write(full, contents).expect("write file");
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn repo(&self) -> Repo {
        Repo::open(self.path()).expect("opens")
    }

    fn change(&self, base: &str, head: &str) -> countersign_core::model::ChangeInput {
        self.repo()
            .read_change(base, head, ChangeContext { environment: "production".to_owned(), ..ChangeContext::default() })
            .expect("reads change")
    }
}

/// Our per-file line counts must equal `git diff --numstat` (binary files are `-` there, 0 here).
#[track_caller]
fn check_numstat(fixture: &Fixture, base: &str, head: &str) {
    let change = fixture.change(base, head);
    let ours: Vec<String> =
        change.files.iter().map(|file| format!("{}\t{}\t{}", file.added, file.deleted, file.path)).collect();
    let merge_base = fixture.git(&["merge-base", base, head]);
    let mut theirs: Vec<String> = fixture
        .git(&["diff", "--numstat", "--no-renames", merge_base.trim(), head])
        .lines()
        // git counts nothing for a binary file; countersign counts all its lines, so that size
        // predicates cannot be evaded by a NUL byte (here: one line before, one after).
        .map(|line| line.replace("-\t-\t", "1\t1\t"))
        .collect();
    theirs.sort_by(|a, b| a.rsplit('\t').next().cmp(&b.rsplit('\t').next()));
    assert_eq!(ours, theirs);
}

#[test]
fn line_counts_match_git_numstat() {
    let fixture = Fixture::new();
    fixture.write("a.txt", b"one\ntwo\nthree\nfour\n");
    fixture.write("gone.txt", b"x\ny\n");
    fixture.write("dir/deep/b.rs", b"fn main() {}\n");
    fixture.write("image.bin", b"\x00\x01\x02");
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "feature"]);
    fixture.write("a.txt", b"one\n2\nthree\nfour\nfive\n");
    std::fs::remove_file(fixture.path().join("gone.txt")).unwrap();
    fixture.write("dir/deep/b.rs", b"fn main() {\n    println!(\"hi\");\n}\n");
    fixture.write("image.bin", b"\x00\x09");
    fixture.write("new/c.md", b"# c\n\nno newline at end");
    fixture.commit("Change");
    check_numstat(&fixture, "main", "feature");
}

#[test]
fn commits_of_the_range_are_read_with_their_files_and_identities() {
    let fixture = Fixture::new();
    fixture.write("a", b"1\n");
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "feature"]);
    fixture.write("a", b"2\n");
    fixture.commit("Second\n\nCo-Authored-By: Claude <noreply@anthropic.com>");
    fixture.write("b", b"b\n");
    let head = fixture.commit("Third");
    // Main moves on: its new commit is not part of the change.
    fixture.git(&["checkout", "-q", "main"]);
    fixture.write("c", b"c\n");
    fixture.commit("Main moves");
    let change = fixture.change("main", "feature");
    assert_eq!(change.head, head);
    let subjects: Vec<&str> = change.commits.iter().map(|commit| commit.message.lines().next().unwrap()).collect();
    assert_eq!(subjects, ["Third", "Second"]);
    assert_eq!(change.commits[1].message, "Second\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n");
    assert_eq!(change.commits[0].author, Identity::new("Bob Tran", "bob@shop.example"));
    assert_eq!(change.commits[0].files.iter().map(|file| file.path.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(change.files.iter().map(|file| file.path.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(change.base, fixture.git(&["merge-base", "main", "feature"]).trim());
}

#[test]
fn fingerprint_follows_content_not_commits() {
    let fixture = Fixture::new();
    fixture.write("a", b"1\n");
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "feature"]);
    fixture.write("a", b"2\n");
    fixture.commit("Change a");
    let before = fixture.change("main", "feature").fingerprint();
    // Same content in two commits instead of one, on a rebased base.
    fixture.git(&["checkout", "-q", "main"]);
    fixture.write("z", b"unrelated\n");
    fixture.commit("Unrelated");
    fixture.git(&["checkout", "-q", "-b", "other"]);
    fixture.write("a", b"1.5\n");
    fixture.commit("Step");
    fixture.write("a", b"2\n");
    fixture.commit("Step");
    assert_eq!(fixture.change("main", "other").fingerprint(), before);
    // A mode change alone is new content.
    fixture.git(&["update-index", "--chmod=+x", "a"]);
    fixture.git(&["commit", "-q", "-m", "Executable"]);
    assert_ne!(fixture.change("main", "other").fingerprint(), before);
}

#[test]
fn files_are_read_at_a_revision() {
    let fixture = Fixture::new();
    fixture.write(".countersign/policy.toml", b"version = 1\n");
    let base = fixture.commit("Base");
    fixture.write(".countersign/policy.toml", b"version = 1\n# weakened\n");
    fixture.commit("Weaken");
    let repo = fixture.repo();
    let base = repo.resolve(&base).unwrap();
    assert_eq!(repo.read_file_at(base, ".countersign/policy.toml").unwrap().as_deref(), Some("version = 1\n"));
    assert_eq!(repo.read_file_at(base, ".countersign/people.toml").unwrap(), None);
    assert_eq!(repo.read_file_at(base, ".countersign").unwrap(), None);
}

#[test]
fn unknown_revisions_and_unrelated_histories_are_errors() {
    let fixture = Fixture::new();
    fixture.write("a", b"1\n");
    fixture.commit("Base");
    let repo = fixture.repo();
    let error = repo.read_change("nope", "HEAD", ChangeContext::default()).expect_err("error");
    assert!(error.to_string().starts_with("cannot resolve revision `nope`"), "{error}");
    fixture.git(&["checkout", "-q", "--orphan", "island"]);
    fixture.write("b", b"2\n");
    fixture.commit("Island");
    let error = repo.read_change("main", "island", ChangeContext::default()).expect_err("error");
    assert_eq!(error.to_string(), "main and island have no common history");
}

#[test]
fn attestations_are_appended_to_the_ref_and_read_with_their_folder() {
    let fixture = Fixture::new();
    fixture.write("a", b"1\n");
    fixture.commit("Base");
    let repo = fixture.repo();
    let signer = Identity::new("Alice", "alice@shop.example");
    let fingerprint_a = format!("sha256:{}", "a".repeat(64));
    let fingerprint_b = format!("sha256:{}", "b".repeat(64));
    repo.append_attestation(&fingerprint_a, "production-alice-approve-1.json", "{\"one\":1}", &signer, 1_795_000_000)
        .unwrap();
    repo.append_attestation(&fingerprint_a, "production-carol-approve-2.json", "{\"two\":2}", &signer, 1_795_000_001)
        .unwrap();
    repo.append_attestation(&fingerprint_b, "production-alice-approve-3.json", "{\"three\":3}", &signer, 1_795_000_002)
        .unwrap();
    // The third commit is rewritten away, then everything is deleted in a new commit: what the
    // ref's history still holds is read, each statement with the fingerprint of its folder.
    let reference = countersign_git::ATTESTATION_REF;
    fixture.git(&["update-ref", reference, &format!("{reference}~1")]);
    let empty_tree = fixture.git(&["mktree"]);
    let emptied = fixture.git(&["commit-tree", "-p", reference, "-m", "Drop", empty_tree.trim()]);
    fixture.git(&["update-ref", reference, emptied.trim()]);
    let mut found: Vec<(Option<String>, String)> = repo
        .all_attestations(2, 1024)
        .unwrap()
        .into_iter()
        .map(|(folder, attestation)| (folder, String::from_utf8(attestation.bytes).unwrap()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (Some(fingerprint_a.clone()), "{\"one\":1}".to_owned()),
            (Some(fingerprint_a.clone()), "{\"two\":2}".to_owned())
        ]
    );
    assert_eq!(fixture.git(&["rev-list", "--count", reference]).trim(), "3");
    // One more statement than the reader's limit fails the read instead of filling memory.
    for (limit, byte_limit) in [(1, 1024), (2, 10)] {
        let error = repo.all_attestations(limit, byte_limit).expect_err("over the limit");
        assert!(error.to_string().contains(&format!("more than {limit} statements or {byte_limit} bytes")), "{error}");
    }
}

#[test]
fn walk_map_streams_a_range_newest_first_in_order() {
    let fixture = Fixture::new();
    for idx in 0..5 {
        fixture.write("a", format!("{idx}\n").as_bytes());
        fixture.commit(&format!("Commit {idx}"));
    }
    let repo = fixture.repo();
    let (tips, hidden) = repo.resolve_range("HEAD~3..HEAD").unwrap();
    let mut subjects = Vec::new();
    repo.walk_map(
        &tips,
        &hidden,
        2,
        |commit| commit.message.trim().to_owned(),
        |subject| {
            subjects.push(subject);
            std::ops::ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(subjects, ["Commit 4", "Commit 3", "Commit 2"]);
    // The sink can stop the walk.
    let mut seen = 0;
    repo.walk_map(
        &tips,
        &hidden,
        2,
        |commit| commit,
        |_| {
            seen += 1;
            std::ops::ControlFlow::Break(())
        },
    )
    .unwrap();
    assert_eq!(seen, 1);
    assert!(repo.resolve_range("a...b").is_err());
}

/// A whole history without a commit-graph (a fresh clone) comes out in `git rev-list`'s order,
/// with commits stored as deltas, loose commits made after the repack, and without the
/// unreachable commits a pack still holds.
#[test]
fn a_whole_history_without_a_commit_graph_comes_out_in_rev_list_order() {
    let fixture = Fixture::new();
    // Long, nearly equal messages make git store some commits as deltas of others.
    let message =
        |index: usize| format!("Change {index}\n\n{}", "The same long description of the change. ".repeat(60));
    let commit_on = |index: usize, day: usize| {
        let file = if (40..50).contains(&index) { format!("side{index}") } else { format!("f{}", index % 7) };
        fixture.write(&file, format!("{index}\n").as_bytes());
        fixture.git(&["add", "-A"]);
        fixture.git_at(&format!("2026-01-{day:02}T{:02}:00:00Z", index % 24), &["commit", "-q", "-m", &message(index)]);
    };
    for index in 0..40 {
        commit_on(index, 1 + index / 24);
    }
    fixture.git(&["checkout", "-q", "-b", "side", "HEAD~10"]);
    for index in 40..50 {
        commit_on(index, 3);
    }
    fixture.git(&["checkout", "-q", "-b", "gone"]);
    commit_on(50, 4);
    fixture.git(&["checkout", "-q", "main"]);
    fixture.git_at("2026-01-05T00:00:00Z", &["merge", "-q", "--no-ff", "side", "-m", "Merge side"]);
    fixture.git(&["repack", "-adf", "--window=50", "--depth=50"]);
    // Still in the pack, reachable from nothing.
    let gone = fixture.git(&["rev-parse", "gone"]).trim().to_owned();
    fixture.git(&["branch", "-D", "gone"]);
    commit_on(51, 6);
    commit_on(52, 7);

    let packed = fixture.git(&["verify-pack", "-v", &format!("{}", pack_index(&fixture).display())]);
    let delta_commits =
        packed.lines().filter(|line| line.contains(" commit ") && line.split_whitespace().count() > 5).count();
    assert!(delta_commits > 0, "no commit was stored as a delta:\n{packed}");

    let repo = fixture.repo();
    let ours = walked_ids(&repo, "main", usize::MAX);
    let expected: Vec<String> = fixture.git(&["rev-list", "main"]).lines().map(str::to_owned).collect();
    assert_eq!(ours, expected);
    assert_eq!(ours.len(), 40 + 10 + 1 + 2);
    assert!(!ours.contains(&gone));
    // Stopping early stops the walk.
    assert_eq!(walked_ids(&repo, "main", 3), expected[..3]);
}

/// Names and e-mails are trimmed of Unicode whitespace (a no-break space, a tab, a vertical tab)
/// and of nothing else, whether a commit is read alone, by the walk or by the pack-order workers.
#[test]
fn signatures_are_trimmed_of_unicode_whitespace_on_every_path() {
    let fixture = Fixture::new();
    let root = fixture.commit("Root");
    let tree = fixture.git(&["rev-parse", "HEAD^{tree}"]).trim().to_owned();
    let raw = format!(
        "tree {tree}\nparent {root}\nauthor \u{a0}Ann \u{1f916}\u{a0} <ann@shop.example\u{b}> 1700000000 +0000\n\
         committer Bob <bob@shop.example> 1700000000 +0000\n\nOdd spaces\n"
    );
    let mut written = Command::new("git")
        .arg("-C")
        .arg(fixture.path())
        .args(["hash-object", "-t", "commit", "--literally", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git hash-object runs");
    std::io::Write::write_all(&mut written.stdin.take().expect("stdin"), raw.as_bytes()).expect("commit written");
    let output = written.wait_with_output().expect("hash-object ends");
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    fixture.git(&["update-ref", "refs/heads/main", &id]);
    let expected = Identity::new("Ann \u{1f916}", "ann@shop.example");
    let walked = |fixture: &Fixture| {
        let repo = fixture.repo();
        let (tips, hidden) = repo.resolve_range("main").expect("main resolves");
        let mut authors = Vec::new();
        repo.walk_map(
            &tips,
            &hidden,
            2,
            |commit| commit.author,
            |author| {
                authors.push(author);
                std::ops::ControlFlow::Continue(())
            },
        )
        .expect("walks");
        authors
    };
    let parsed = countersign_git::ObjectId::from_hex(id.as_bytes()).expect("an id");
    assert_eq!(fixture.repo().read_commit(parsed).expect("reads").author, expected, "read alone");
    assert_eq!(walked(&fixture)[0], expected, "loose, read by the walk");
    fixture.git(&["repack", "-adf", "-q"]);
    assert_eq!(walked(&fixture)[0], expected, "packed, made by the workers");
}

/// The ids `walk_map` streams for `range` on two workers, until the sink has `at_most`.
fn walked_ids(repo: &Repo, range: &str, at_most: usize) -> Vec<String> {
    let (tips, hidden) = repo.resolve_range(range).expect("the range resolves");
    let mut ids = Vec::new();
    repo.walk_map(
        &tips,
        &hidden,
        2,
        |commit| commit.id,
        |id| {
            ids.push(id);
            if ids.len() == at_most { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
        },
    )
    .expect("walks");
    ids
}

/// The whole-history walk takes the packs' order as a hint only: a pack written oldest first (as
/// `git fast-import` writes one), loose commits, two packs, a commit-graph, a rewritten or cut
/// reverse index (`.rev`) and replace refs all give `git rev-list`'s order, and a sink that stops
/// early gets exactly the first commits.
#[test]
fn the_pack_order_is_only_a_hint_for_the_whole_history_walk() {
    let fixture = Fixture::new();
    // More commits than the walk keeps made ahead of it (48 chunks of 256), so that reading a
    // pack backwards drops made commits and reads them again; the clock goes back now and then.
    let mut stream = String::new();
    let mut mark = 0;
    let mut commit = |stream: &mut String, branch: &str, from: Option<usize>, merge: Option<usize>, index: usize| {
        mark += 1;
        let time = 1_700_000_000 + index * 60 - if index.is_multiple_of(97) { 7_200 } else { 0 };
        let message = format!("Change {index} on {branch}\n");
        let content = format!("{index}\n");
        stream.push_str(&format!("commit refs/heads/{branch}\nmark :{mark}\n"));
        stream.push_str(&format!("author Ann <ann@shop.example> {time} +0000\n"));
        stream.push_str(&format!("committer Ann <ann@shop.example> {time} +0000\n"));
        stream.push_str(&format!("data {}\n{message}", message.len()));
        if let Some(from) = from {
            stream.push_str(&format!("from :{from}\n"));
        }
        if let Some(merge) = merge {
            stream.push_str(&format!("merge :{merge}\n"));
        }
        stream.push_str(&format!("M 644 inline f{}\ndata {}\n{content}\n", index % 5, content.len()));
        mark
    };
    let mut main = None;
    let mut fork = 0;
    for index in 0..13_000 {
        main = Some(commit(&mut stream, "main", main, None, index));
        if index == 6_000 {
            fork = main.unwrap_or_default();
        }
    }
    let mut side = Some(fork);
    for index in 6_001..6_400 {
        side = Some(commit(&mut stream, "side", side, None, index));
    }
    commit(&mut stream, "main", main, side, 13_000);
    let mut import = Command::new("git")
        .arg("-C")
        .arg(fixture.path())
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    std::io::Write::write_all(&mut import.stdin.take().expect("stdin"), stream.as_bytes()).expect("stream written");
    assert!(import.wait().expect("fast-import ends").success());

    let check = |case: &str| {
        let repo = fixture.repo();
        let ours = walked_ids(&repo, "main", usize::MAX);
        let expected: Vec<String> = fixture.git(&["rev-list", "main"]).lines().map(str::to_owned).collect();
        assert_eq!(ours.len(), expected.len(), "{case}");
        assert!(
            ours == expected,
            "{case}: first difference at {:?}",
            ours.iter().zip(&expected).position(|(a, b)| a != b)
        );
        assert_eq!(walked_ids(&repo, "main", 300), expected[..300], "{case}: stopped early");
        expected.len()
    };
    assert_eq!(check("a pack written oldest first"), 13_000 + 399 + 1);
    fixture.git(&["checkout", "-q", "main"]);
    for index in 0..3 {
        fixture.write("loose", format!("{index}").as_bytes());
        fixture.commit(&format!("Loose {index}"));
    }
    check("loose commits on top");
    fixture.git(&["repack", "-d", "-q"]);
    let packs = std::fs::read_dir(fixture.path().join(".git/objects/pack"))
        .expect("packs")
        .filter(|entry| entry.as_ref().is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "pack")))
        .count();
    assert_eq!(packs, 2);
    check("two packs");
    fixture.git(&["repack", "-adf", "-q"]);
    check("one pack as git writes it");
    fixture.git(&["commit-graph", "write", "--reachable"]);
    check("one pack and a commit-graph");

    let reverse_index = pack_index(&fixture).with_extension("rev");
    let written = std::fs::read(&reverse_index).expect("git writes a reverse index");
    let count = (written.len() - 12 - 40) / 4;
    let rewrite = |positions: &[u32]| {
        let mut bytes = written[..12].to_vec();
        bytes.extend(positions.iter().flat_map(|position| position.to_be_bytes()));
        std::fs::remove_file(&reverse_index).expect("old reverse index removed");
        std::fs::write(&reverse_index, bytes).expect("reverse index written");
    };
    let mut backwards: Vec<u32> = written[12..12 + 4 * count]
        .chunks_exact(4)
        .map(|word| u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
        .collect();
    backwards.reverse();
    rewrite(&backwards);
    check("a reverse index listing the pack backwards");
    rewrite(&[backwards[count - 1], backwards[count - 2], u32::MAX]);
    check("a reverse index cut short by a position out of range");
    rewrite(&backwards.iter().rev().copied().collect::<Vec<_>>());
    check("the reverse index git wrote");

    let replaced = fixture.git(&["rev-parse", "main~5"]).trim().to_owned();
    let replacement = fixture.git(&["rev-parse", "main~7"]).trim().to_owned();
    fixture.git(&["replace", &replaced, &replacement]);
    check("a replace ref");
}

fn pack_index(fixture: &Fixture) -> std::path::PathBuf {
    let packs = fixture.path().join(".git/objects/pack");
    std::fs::read_dir(&packs)
        .expect("a pack folder")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| path.extension().is_some_and(|extension| extension == "idx"))
        .expect("a pack")
}

/// The commits of a range are exactly those of `git rev-list`, with and without a commit-graph.
#[test]
fn walk_map_agrees_with_git_rev_list_on_merged_histories() {
    let fixture = Fixture::new();
    let commit_at = |file: &str, date: &str| {
        fixture.write(file, date.as_bytes());
        fixture.git(&["add", "-A"]);
        fixture.git_at(date, &["commit", "-q", "-m", file]);
    };
    commit_at("root", "2026-01-01T00:00:00Z");
    commit_at("m1", "2026-01-02T00:00:00Z");
    fixture.git(&["checkout", "-q", "-b", "side"]);
    commit_at("s1", "2026-01-03T00:00:00Z");
    commit_at("s2", "2026-01-05T00:00:00Z");
    fixture.git(&["checkout", "-q", "main"]);
    commit_at("m2", "2026-01-04T00:00:00Z");
    fixture.git(&["merge", "-q", "--no-ff", "side", "-m", "merge side"]);
    fixture.git(&["tag", "release"]);
    commit_at("m3", "2026-01-06T00:00:00Z");
    fixture.git(&["checkout", "-q", "side"]);
    commit_at("s3", "2026-01-07T00:00:00Z");

    let check = |range: &str| {
        let repo = fixture.repo();
        let (tips, hidden) = repo.resolve_range(range).unwrap();
        let mut ours = Vec::new();
        repo.walk_map(
            &tips,
            &hidden,
            2,
            |commit| (commit.id, commit.message),
            |commit| {
                ours.push(commit);
                std::ops::ControlFlow::Continue(())
            },
        )
        .unwrap();
        let mut ids: Vec<String> = ours.iter().map(|(id, _)| id.clone()).collect();
        let mut expected: Vec<String> = fixture.git(&["rev-list", range]).lines().map(str::to_owned).collect();
        assert_eq!(ids.len(), expected.len(), "{range}: {ours:?}");
        ids.sort();
        expected.sort();
        assert_eq!(ids, expected, "{range}");
    };
    for range in ["main", "side", "release..main", "main..side", "side..main", "release", "main~1..side"] {
        check(range);
    }
    fixture.git(&["commit-graph", "write", "--reachable"]);
    for range in ["main", "side", "release..main", "main..side", "side..main", "release", "main~1..side"] {
        check(range);
    }
}

/// A file of `n` numbered lines.
fn numbered(n: usize) -> String {
    (1..=n).map(|line| format!("line {line}\n")).collect()
}

/// Builds `base` on main, applies `approved` on a branch, then moves main by `moved` and
/// applies `deployed` on top of it; says whether the two changes share their fingerprint, and
/// whether `git patch-id --verbatim` thinks the two diffs are the same patch.
fn same_identity(
    base: &[(&str, &[u8])],
    approved: &[(&str, &[u8])],
    moved: &[(&str, &[u8])],
    deployed: &[(&str, &[u8])],
) -> (bool, bool) {
    let fixture = Fixture::new();
    for (path, content) in base {
        fixture.write(path, content);
    }
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "approved"]);
    for (path, content) in approved {
        fixture.write(path, content);
    }
    fixture.commit("Approved");
    fixture.git(&["checkout", "-q", "main"]);
    for (path, content) in moved {
        fixture.write(path, content);
    }
    fixture.commit("Main moves");
    fixture.git(&["checkout", "-q", "-b", "deployed"]);
    for (path, content) in deployed {
        fixture.write(path, content);
    }
    fixture.commit("Deployed");
    let ours = fixture.change("main~1", "approved").fingerprint() == fixture.change("main", "deployed").fingerprint();
    let patch_id = |base: &str, head: &str| {
        let diff = fixture.git(&["diff", "--no-renames", "--full-index", base, head]);
        let mut child = Command::new("git")
            .args(["patch-id", "--verbatim"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("git patch-id runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), diff.as_bytes()).expect("write diff");
        let output = child.wait_with_output().expect("git patch-id ends");
        String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
    };
    let git = patch_id("main~1", "approved") == patch_id("main", "deployed");
    (ours, git)
}

#[test]
fn content_identity_survives_a_rebase_and_nothing_else() {
    let twenty = numbered(20);
    let edited_at_15 = twenty.replace("line 15\n", "line fifteen\n");
    let moved_at_2 = twenty.replace("line 2\n", "line two\n");
    let both = moved_at_2.replace("line 15\n", "line fifteen\n");
    let moved_at_13 = twenty.replace("line 13\n", "line thirteen\n");
    let both_near = moved_at_13.replace("line 15\n", "line fifteen\n");
    let spaced = moved_at_2.replace("line 15\n", "line  fifteen\n");
    let crlf = moved_at_2.replace("line 15\n", "line fifteen\r\n");
    let unterminated = "a\nb";
    let cases: Vec<(&str, bool, (bool, bool))> = vec![
        (
            "main changed the file far from the hunk",
            true,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("f", moved_at_2.as_bytes())],
                &[("f", both.as_bytes())],
            ),
        ),
        (
            "main changed another file",
            true,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("g", b"other\n")],
                &[("f", edited_at_15.as_bytes())],
            ),
        ),
        (
            "main changed a line of the hunk's context",
            false,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("f", moved_at_13.as_bytes())],
                &[("f", both_near.as_bytes())],
            ),
        ),
        (
            "one more space in the added line",
            false,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("f", moved_at_2.as_bytes())],
                &[("f", spaced.as_bytes())],
            ),
        ),
        (
            "a CRLF line ending",
            false,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("f", moved_at_2.as_bytes())],
                &[("f", crlf.as_bytes())],
            ),
        ),
        (
            "a final newline added",
            false,
            same_identity(&[("f", b"a\n")], &[("f", unterminated.as_bytes())], &[("g", b"x\n")], &[("f", b"a\nb\n")]),
        ),
        (
            "one more file",
            false,
            same_identity(
                &[("f", twenty.as_bytes())],
                &[("f", edited_at_15.as_bytes())],
                &[("g", b"x\n")],
                &[("f", edited_at_15.as_bytes()), ("h", b"extra\n")],
            ),
        ),
        (
            "the same new file",
            true,
            same_identity(
                &[("f", b"a\n")],
                &[("new.rs", b"fn main() {}\n")],
                &[("f", b"b\n")],
                &[("new.rs", b"fn main() {}\n")],
            ),
        ),
        (
            "the same binary file",
            true,
            same_identity(
                &[("f", b"a\n")],
                &[("logo.png", b"\x89PNG\x00\x01")],
                &[("f", b"b\n")],
                &[("logo.png", b"\x89PNG\x00\x01")],
            ),
        ),
        (
            "another binary file",
            false,
            same_identity(
                &[("f", b"a\n")],
                &[("logo.png", b"\x89PNG\x00\x01")],
                &[("f", b"b\n")],
                &[("logo.png", b"\x89PNG\x00\x02")],
            ),
        ),
    ];
    let mut wrong = Vec::new();
    for (name, expected, (ours, git)) in cases {
        if ours != expected || git != expected {
            wrong.push(format!("{name}: expected {expected}, countersign {ours}, git patch-id --verbatim {git}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn patches_render_as_git_prints_their_hunks() {
    let before = numbered(20);
    let after = before.replace("line 3\n", "line three\n").replace("line 17\n", "").replace("line 20\n", "line 20");
    let patch = countersign_git::patch::patch(before.as_bytes(), after.as_bytes());
    let (text, cut) = countersign_git::patch::unified(&patch, 100);
    assert!(!cut);
    let fixture = Fixture::new();
    fixture.write("f", before.as_bytes());
    fixture.commit("Before");
    fixture.write("f", after.as_bytes());
    fixture.commit("After");
    let git = fixture.git(&["diff", "--diff-algorithm=histogram", "HEAD~1", "HEAD"]);
    let git_hunks = &git[git.find("@@").expect("a hunk")..];
    let strip_headers = |text: &str| {
        text.lines()
            .map(|line| {
                if line.starts_with("@@") {
                    line.split(" @@").next().unwrap_or(line).to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_headers(&text), strip_headers(git_hunks));
    assert_eq!((patch.added, patch.removed), (2, 3));
    let (short, cut) = countersign_git::patch::unified(&patch, 4);
    assert!(cut);
    assert_eq!(short.lines().count(), 4);
}

/// The commit (by subject) that wrote each line a change adds, as `line:subject`.
fn origins(fixture: &Fixture, base: &str, head: &str, path: &str) -> Vec<String> {
    let change = fixture.change(base, head);
    let subject_of = |id: &str| {
        change
            .commits
            .iter()
            .find(|commit| commit.id == id)
            .map_or("?".to_owned(), |commit| commit.message.lines().next().unwrap_or_default().to_owned())
    };
    let file = change.added_lines.iter().find(|file| file.path == path).expect("the file gains lines");
    file.lines
        .iter()
        .map(|(line, origin)| format!("{line}:{}", origin.as_ref().map_or("-".to_owned(), |(id, _)| subject_of(id))))
        .collect()
}

#[test]
fn each_added_line_is_attributed_to_the_commit_that_wrote_it() {
    let fixture = Fixture::new();
    fixture.write("f", b"one\ntwo\nthree\n");
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "feature"]);
    fixture.write("f", b"one\nAI line\ntwo\nthree\n");
    fixture.commit("First");
    fixture.write("f", b"one\nAI line\ntwo\nhuman line\nthree\n");
    fixture.commit("Second");
    // A line the second commit rewrites is the second commit's.
    fixture.write("f", b"one\nAI line, fixed\ntwo\nhuman line\nthree\n");
    fixture.commit("Third");
    assert_eq!(origins(&fixture, "main", "feature", "f"), ["2:Third", "4:Second"]);

    // A line removed and written again later is the later commit's.
    fixture.write("f", b"one\ntwo\nhuman line\nthree\n");
    fixture.commit("Drop");
    fixture.write("f", b"one\nAI line, fixed\ntwo\nhuman line\nthree\n");
    fixture.commit("Restore");
    assert_eq!(origins(&fixture, "main", "feature", "f"), ["2:Restore", "4:Second"]);
}

#[test]
fn a_merge_keeps_the_lines_of_each_parent_and_owns_what_it_writes() {
    let fixture = Fixture::new();
    fixture.write("f", b"a\nb\nc\nd\ne\nf\ng\nh\n");
    fixture.commit("Base");
    fixture.git(&["checkout", "-q", "-b", "feature"]);
    fixture.git(&["checkout", "-q", "-b", "side"]);
    fixture.write("f", b"a\nb\nc\nd\ne\nf\ng\nh\nside line\n");
    fixture.commit("Side");
    fixture.git(&["checkout", "-q", "feature"]);
    fixture.write("f", b"feature line\na\nb\nc\nd\ne\nf\ng\nh\n");
    fixture.commit("Feature");
    fixture.git(&["merge", "-q", "--no-ff", "side", "-m", "Merge side"]);
    assert_eq!(origins(&fixture, "main", "feature", "f"), ["1:Feature", "10:Side"]);
    // A merge that resolves by writing new text owns that text.
    fixture.git(&["checkout", "-q", "-b", "other", "main"]);
    fixture.write("f", b"a\nb\nc\nd\ne\nf\ng\nh\nother line\n");
    fixture.commit("Other");
    fixture.git(&["checkout", "-q", "feature"]);
    let merged = fixture.path().join("f");
    let conflict = Command::new("git")
        .arg("-C")
        .arg(fixture.path())
        .args(["merge", "-q", "other"])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", fixture.path())
        .output()
        .expect("git runs");
    assert!(!conflict.status.success(), "the two last lines conflict");
    std::fs::write(&merged, b"feature line\na\nb\nc\nd\ne\nf\ng\nh\nresolved line\n").expect("resolve");
    fixture.commit("Merge other");
    assert_eq!(origins(&fixture, "main", "feature", "f"), ["1:Feature", "10:Merge other"]);
}
