use countersign_core::codeowners::{CODEOWNERS_LOCATIONS, CodeOwners, Owner};
use countersign_core::finding::Severity;
use proptest::prelude::*;
use proptest::sample::select;

/// The example file from GitHub's "About code owners" documentation.
const DOC_EXAMPLE: &str = "\
# This is a comment.
# Each line is a file pattern followed by one or more owners.

# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence. When someone opens a pull request that only
# modifies JS files, only @js-owner and not the global
# owner(s) will be requested for a review.
*.js    @js-owner #This is an inline comment.

# You can also use email addresses if you prefer. They'll be
# used to look up users just like we do for commit author
# emails.
*.go docs@example.com

# Teams can be specified as code owners as well. Teams should
# be identified in the format @org/team-name. Teams must have
# explicit write access to the repository. In this example,
# the octocats team in the octo-org organization owns all .txt files.
*.txt @octo-org/octocats

# In this example, @doctocat owns any files in the build/logs
# directory at the root of the repository and any of its
# subdirectories.
/build/logs/ @doctocat

# The `docs/*` pattern will match files like
# `docs/getting-started.md` but not further nested files like
# `docs/build-app/troubleshooting.md`.
docs/* docs@example.com

# In this example, @octocat owns any file in an apps directory
# anywhere in your repository.
apps/ @octocat

# In this example, @doctocat owns any file in the `/docs`
# directory in the root of your repository and any of its
# subdirectories.
/docs/ @doctocat

# In this example, any change inside the `/scripts` directory
# will require approval from @doctocat or @octocat.
/scripts/ @doctocat @octocat

# In this example, @octocat owns any file in a `/logs` directory such as
# `/build/logs`, `/scripts/logs`, and `/deeply/nested/logs`. Any changes
# in a `/logs` directory will require approval from @octocat.
**/logs @octocat

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as its owners are left empty. Without an owner, changes
# to `apps/github` can be made with the approval of any user who has
# write access to the repository.
/apps/ @octocat
/apps/github

# In this example, @octocat owns any file in the `/apps`
# directory in the root of your repository except for the `/apps/github`
# subdirectory, as this subdirectory has its own owner @doctocat
/apps/ @octocat
/apps/github @doctocat
";

fn owners_of(codeowners: &CodeOwners, path: &str) -> Option<String> {
    let rule = codeowners.rule_for(path)?;
    Some(rule.owners.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
}

/// Expects `text` to parse cleanly and `path` to have `expected` owners: space-separated,
/// `Some("")` for explicitly unowned, None for no matching line.
#[track_caller]
fn check(text: &str, path: &str, expected: Option<&str>) {
    let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", text);
    assert_eq!(findings, [], "findings for\n{text}");
    assert_eq!(owners_of(&codeowners, path).as_deref(), expected, "`{path}` under\n{text}");
}

/// Parses `text`, expecting exactly one finding with `code` on `line`.
#[track_caller]
fn parse_with_finding(text: &str, code: &str, line: usize) -> CodeOwners {
    let (codeowners, findings) = CodeOwners::parse(".github/CODEOWNERS", text);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding.code, code);
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.file.as_deref(), Some(".github/CODEOWNERS"));
    assert_eq!(finding.line, Some(line));
    codeowners
}

#[test]
fn doc_global_owners() {
    let text = "*       @global-owner1 @global-owner2";
    check(text, "README.md", Some("@global-owner1 @global-owner2"));
    check(text, "src/deep/lib.rs", Some("@global-owner1 @global-owner2"));
    check(text, ".github/CODEOWNERS", Some("@global-owner1 @global-owner2"));
}

#[test]
fn doc_js_with_inline_comment() {
    let text = "*.js    @js-owner #This is an inline comment.";
    check(text, "index.js", Some("@js-owner"));
    check(text, "a/b/c.js", Some("@js-owner"));
    check(text, "c.jsx", None);
    check(text, "c.ts", None);
}

#[test]
fn doc_email_owner() {
    let text = "*.go docs@example.com";
    check(text, "main.go", Some("docs@example.com"));
    check(text, "cmd/tool/main.go", Some("docs@example.com"));
    check(text, "main.gox", None);
}

#[test]
fn doc_team_owner() {
    let text = "*.txt @octo-org/octocats";
    check(text, "notes.txt", Some("@octo-org/octocats"));
    check(text, "docs/notes.txt", Some("@octo-org/octocats"));
}

#[test]
fn doc_rooted_directory_covers_subdirectories() {
    let text = "/build/logs/ @doctocat";
    check(text, "build/logs/today.log", Some("@doctocat"));
    check(text, "build/logs/deep/b.log", Some("@doctocat"));
    check(text, "build/logs", None);
    check(text, "build/logsx/a.log", None);
    check(text, "src/build/logs/a.log", None);
}

#[test]
fn doc_star_does_not_descend() {
    let text = "docs/* docs@example.com";
    check(text, "docs/getting-started.md", Some("docs@example.com"));
    check(text, "docs/build-app/troubleshooting.md", None);
    check(text, "src/docs/getting-started.md", None);
}

#[test]
fn doc_unanchored_directory_matches_anywhere() {
    let text = "apps/ @octocat";
    check(text, "apps/x", Some("@octocat"));
    check(text, "a/b/apps/x/y", Some("@octocat"));
    check(text, "apps", None);
    check(text, "myapps/x", None);
}

#[test]
fn doc_rooted_docs_directory() {
    let text = "/docs/ @doctocat";
    check(text, "docs/getting-started.md", Some("@doctocat"));
    check(text, "docs/build-app/troubleshooting.md", Some("@doctocat"));
    check(text, "src/docs/a.md", None);
}

#[test]
fn doc_several_owners() {
    let text = "/scripts/ @doctocat @octocat";
    check(text, "scripts/deploy.sh", Some("@doctocat @octocat"));
    check(text, "scripts/ci/test.sh", Some("@doctocat @octocat"));
    check(text, "tools/scripts/x.sh", None);
}

#[test]
fn doc_double_star_logs() {
    let text = "**/logs @octocat";
    check(text, "build/logs/x.log", Some("@octocat"));
    check(text, "scripts/logs/x.log", Some("@octocat"));
    check(text, "deeply/nested/logs/y.log", Some("@octocat"));
    check(text, "logs/x.log", Some("@octocat"));
    check(text, "logs", Some("@octocat"));
    check(text, "logsx/y", None);
    check(text, "build/catalogs/x", None);
}

#[test]
fn doc_empty_owners_leave_subdirectory_unowned() {
    let text = "/apps/ @octocat\n/apps/github\n";
    check(text, "apps/github/x.rb", Some(""));
    check(text, "apps/github", Some(""));
    check(text, "apps/web/x.rb", Some("@octocat"));
    check(text, "apps/githubber/x.rb", Some("@octocat"));
    check(text, "lib/x.rb", None);
}

#[test]
fn doc_later_owner_for_subdirectory() {
    let text = "/apps/ @octocat\n/apps/github @doctocat\n";
    check(text, "apps/github/x.rb", Some("@doctocat"));
    check(text, "apps/github/deep/x.rb", Some("@doctocat"));
    check(text, "apps/web/x.rb", Some("@octocat"));
}

#[test]
fn doc_file_last_match_wins() {
    let cases = [
        ("README.md", "@global-owner1 @global-owner2"),
        ("src/index.js", "@js-owner"),
        ("main.go", "docs@example.com"),
        ("notes.txt", "@octo-org/octocats"),
        // `**/logs` comes after `/build/logs/`.
        ("build/logs/today.log", "@octocat"),
        ("build/other.log", "@global-owner1 @global-owner2"),
        // `/docs/` comes after `docs/*`.
        ("docs/getting-started.md", "@doctocat"),
        ("docs/build-app/troubleshooting.md", "@doctocat"),
        ("docs/app.js", "@doctocat"),
        ("src/docs/guide.md", "@global-owner1 @global-owner2"),
        ("src/docs/guide.txt", "@octo-org/octocats"),
        ("web/apps/main.js", "@octocat"),
        ("apps/web/main.go", "@octocat"),
        ("apps/github/app.rb", "@doctocat"),
        ("scripts/deploy.sh", "@doctocat @octocat"),
        ("scripts/logs/out.txt", "@octocat"),
        ("deeply/nested/logs/y.log", "@octocat"),
    ];
    for (path, expected) in cases {
        check(DOC_EXAMPLE, path, Some(expected));
    }
}

#[test]
fn doc_file_is_case_sensitive() {
    let global = Some("@global-owner1 @global-owner2");
    check(DOC_EXAMPLE, "Apps/x.rb", global);
    check(DOC_EXAMPLE, "DOCS/guide.md", global);
    check(DOC_EXAMPLE, "Build/Logs/x", global);
    check(DOC_EXAMPLE, "app.JS", global);
    check("/Docs/ @doctocat", "docs/a.md", None);
}

#[test]
fn doc_file_rules() {
    let (codeowners, findings) = CodeOwners::parse(".github/CODEOWNERS", DOC_EXAMPLE);
    assert_eq!(findings, []);
    assert_eq!(codeowners.file(), Some(".github/CODEOWNERS"));
    let rules: Vec<_> = codeowners.rules().iter().map(|r| (r.line, r.pattern.as_str())).collect();
    assert_eq!(
        rules,
        [
            (8, "*"),
            (14, "*.js"),
            (19, "*.go"),
            (25, "*.txt"),
            (30, "/build/logs/"),
            (35, "docs/*"),
            (39, "apps/"),
            (44, "/docs/"),
            (48, "/scripts/"),
            (53, "**/logs"),
            (60, "/apps/"),
            (61, "/apps/github"),
            (66, "/apps/"),
            (67, "/apps/github"),
        ]
    );
}

#[test]
fn rule_serializes_owners_as_written() {
    let (codeowners, _) = CodeOwners::parse("CODEOWNERS", "\n*.go @octocat @octo-org/ops a@b.io");
    let json = serde_json::to_value(&codeowners.rules()[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "line": 2,
            "pattern": "*.go",
            "owners": ["@octocat", "@octo-org/ops", "a@b.io"],
        })
    );
}

#[test]
fn owner_forms() {
    let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", "* @octocat @octo-org/ops a@b.io");
    assert_eq!(findings, []);
    assert_eq!(
        codeowners.rules()[0].owners,
        [
            Owner::User("octocat".to_owned()),
            Owner::Team { org: "octo-org".to_owned(), team: "ops".to_owned() },
            Owner::Email("a@b.io".to_owned()),
        ]
    );
}

#[test]
fn wildcards() {
    check("?.rs @a", "x.rs", Some("@a"));
    check("?.rs @a", "src/x.rs", Some("@a"));
    check("?.rs @a", "xy.rs", None);
    check("/src/*.rs @a", "src/lib.rs", Some("@a"));
    check("/src/*.rs @a", "src/bin/main.rs", None);
    check("/src/**/test.rs @a", "src/test.rs", Some("@a"));
    check("/src/**/test.rs @a", "src/a/b/test.rs", Some("@a"));
    check("/src/** @a", "src/a/b.rs", Some("@a"));
    check("/src/** @a", "src", None);
    check("src/**/ @a", "src/a/b.rs", Some("@a"));
    check("src/**/ @a", "src/b.rs", Some("@a"));
}

/// Pattern semantics as GitHub applies them, checked against the cases of an independent
/// implementation's test data (hmarr/codeowners, `testdata/patterns.json`) and GitHub's
/// documented examples. Each case: pattern, path, whether the pattern owns the path.
#[test]
fn patterns_match_as_github_matches_them() {
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "foo",
            &[
                ("foo", true),
                ("foo.txt", false),
                ("foo/bar", true),
                ("bar/foo", true),
                ("bar/foo.txt", false),
                ("bar/baz", false),
                ("bar/foo/baz", true),
            ],
        ),
        (
            "/foo",
            &[
                ("foo", true),
                ("fool.txt", false),
                ("foo/bar", true),
                ("bar/foo", false),
                ("foo/bar/baz", true),
                ("bar/foo/baz", false),
            ],
        ),
        (
            "foo/",
            &[
                ("foo", false),
                ("foo/bar", true),
                ("foo/bar/baz", true),
                ("bar/foo", false),
                ("bar/foo/baz", true),
                ("bar/foo/baz/qux", true),
            ],
        ),
        ("/foo/", &[("foo", false), ("foo/bar", true), ("foo/bar/baz", true), ("bar/foo/baz", false)]),
        (
            "foo/bar",
            &[
                ("foo/bar", true),
                ("foo/bart", false),
                ("foo/bar/baz", true),
                ("baz/foo/bar", false),
                ("baz/foo/bar/qux", false),
            ],
        ),
        ("/foo/bar", &[("foo/bar", true), ("foo/bar/baz", true), ("baz/foo/bar", false)]),
        ("foo/bar/", &[("foo/bar", false), ("foo/bart", false), ("foo/bar/baz", true), ("baz/foo/bar/qux", false)]),
        ("*", &[("foo", true), ("foo/bar", true), ("bar/foo/baz", true), ("xfoo", true)]),
        // A wildcard segment that matches a directory owns everything below it …
        (
            "f*",
            &[
                ("foo", true),
                ("foo/bar", true),
                ("foo/bar/baz", true),
                ("bar/foo", true),
                ("bar/foo/baz", true),
                ("bar/baz", false),
                ("xfoo", false),
            ],
        ),
        (
            "/f*",
            &[
                ("foo", true),
                ("foo/bar", true),
                ("foo/bar/baz", true),
                ("bar/foo", false),
                ("bar/foo/baz", false),
                ("xfoo", false),
            ],
        ),
        // … except a lone `*` after a slash: `docs/*` owns only the files directly in `docs`.
        ("/*", &[("foo", true), ("bar", true), ("foo/bar", false), ("foo/bar/baz", false)]),
        ("docs/*", &[("docs/getting-started.md", true), ("docs/build-app/troubleshooting.md", false)]),
        ("foo/*", &[("foo", false), ("foo/bar", true), ("foo/bar/baz", false), ("bar/foo", false)]),
        ("f*/", &[("foo", false), ("foo/bar", true), ("bar/foo", false), ("bar/foo/baz", true), ("xfoo", false)]),
        ("/*/", &[("foo", false), ("foo/bar", true), ("bar/foo", true), ("bar/foo/baz", true)]),
        ("/f*/", &[("foo", false), ("foo/bar", true), ("bar/foo/baz", false)]),
        ("f\\*o", &[("foo", false), ("f*o", true)]),
        ("foo/*.txt", &[("foo", false), ("foo/bar.txt", true), ("foo/bar/baz.txt", false), ("qux/foo/bar.txt", false)]),
        (
            "foo/*/baz",
            &[("foo", false), ("foo/bar", false), ("foo/baz", false), ("foo/bar/baz", true), ("foo/bar/baz/qux", true)],
        ),
        ("f?o", &[("foo", true), ("fo", false), ("fooo", false)]),
        ("f\\?o", &[("foo", false), ("f?o", true)]),
        ("**/foo/bar", &[("foo/bar", true), ("qux/foo/bar", true), ("qux/foo/bar/baz", true), ("foo/baz/bar", false)]),
        (
            "**/*bar*",
            &[("bar", true), ("foo/bar", true), ("foo/rebar", true), ("foo/barrio", true), ("foo/qux/bar", true)],
        ),
        (
            "foo/bar/**",
            &[("foo/bar", false), ("foo/bar/baz", true), ("foo/bar/baz/qux", true), ("qux/foo/bar/baz", false)],
        ),
        (
            "foo/**/bar",
            &[
                ("foo/bar", true),
                ("foo/bar/baz", true),
                ("foo/qux/bar/baz", true),
                ("foo/qux/quux/bar/baz", true),
                ("qux/foo/bar", false),
            ],
        ),
        // `foo/**/` owns everything below `foo`.
        ("foo/**/", &[("foo", false), ("foo/bar", true), ("foo/bar/baz", true)]),
        (
            "foo/**/bar/b*",
            &[
                ("foo/bar", false),
                ("foo/bar/baz", true),
                ("foo/bar/qux", false),
                ("foo/qux/bar/baz", true),
                ("foo/qux/bar/qux", false),
            ],
        ),
        // Brackets are a folder's name (Next.js route segments), not a character range.
        (
            "/apps/[param]/file.ts",
            &[
                ("apps/[param]/file.ts", true),
                ("apps/other/file.ts", false),
                ("apps/[other]/file.ts", false),
                ("apps/param/file.ts", false),
            ],
        ),
        ("*.[ch]", &[("a.[ch]", true), ("a.c", false)]),
        ("services/foo:bar/**/*", &[("services/foo:bar/baz.json", true), ("services/foo-bar/baz.json", false)]),
        ("vllm/v1/worker/^cpu", &[("vllm/v1/worker/^cpu", true), ("vllm/v1/worker/cpu", false)]),
    ];
    let mut wrong = Vec::new();
    for (pattern, paths) in cases {
        let text = format!("{pattern} @owner\n");
        let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", &text);
        assert_eq!(findings, [], "{pattern}");
        for (path, owned) in paths.iter() {
            if codeowners.rule_for(path).is_some() != *owned {
                wrong.push(format!("{pattern} on {path}: expected {owned}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn plain_name_matches_file_or_directory_at_any_depth() {
    check("Makefile @a", "Makefile", Some("@a"));
    check("Makefile @a", "sub/Makefile", Some("@a"));
    check("vendor @a", "third/vendor/lib/x.c", Some("@a"));
    check("vendor @a", "vendored/x.c", None);
    check("/vendor @a", "third/vendor/x.c", None);
}

#[test]
fn braces_and_hash_are_literal() {
    check("{a,b}.txt @a", "{a,b}.txt", Some("@a"));
    check("{a,b}.txt @a", "a.txt", None);
    check("notes#1.md @a", "notes#1.md", Some("@a"));
}

#[test]
fn comments_blank_lines_and_crlf() {
    let text = "# owners\r\n\r\n   # indented comment\r\n* @a # trailing @b\r\n*.js @c\r\n";
    check(text, "x.rs", Some("@a"));
    check(text, "x.js", Some("@c"));
}

#[test]
fn empty_file() {
    let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", "");
    assert_eq!(findings, []);
    assert_eq!(codeowners.rules(), []);
    assert_eq!(codeowners.file(), Some("CODEOWNERS"));
    assert!(codeowners.rule_for("a").is_none());
    check("# only comments\n\n", "a", None);
}

#[test]
fn empty_codeowners() {
    let codeowners = CodeOwners::empty();
    assert_eq!(codeowners.file(), None);
    assert_eq!(codeowners.rules(), []);
    assert!(codeowners.rule_for("README.md").is_none());
}

#[test]
fn too_large_file_is_ignored() {
    let limit = 3 * 1024 * 1024;
    let head = "* @octocat\n";
    let fits = format!("{head}#{}", "x".repeat(limit - head.len() - 2));
    assert_eq!(fits.len(), limit - 1);
    check(&fits, "a", Some("@octocat"));

    let too_large = fits + "x";
    let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", &too_large);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "codeowners-too-large");
    assert_eq!(findings[0].severity, Severity::Error);
    assert_eq!(findings[0].file.as_deref(), Some("CODEOWNERS"));
    assert_eq!(codeowners.file(), None);
    assert!(codeowners.rule_for("a").is_none());
}

#[test]
fn invalid_patterns_are_skipped() {
    let cases = [("!*.js @js", "a.js"), ("\\#notes @notes", "#notes"), ("/ @root", "a"), ("foo\\ @foo", "foo\\")];
    for (line, path) in cases {
        let text = format!("# fallback\n* @fallback\n{line}\n");
        let codeowners = parse_with_finding(&text, "codeowners-invalid-pattern", 3);
        assert_eq!(owners_of(&codeowners, path).as_deref(), Some("@fallback"), "{line}");
        assert_eq!(codeowners.rules().len(), 1, "{line}");
    }
}

#[test]
fn invalid_owner_is_dropped() {
    let codeowners = parse_with_finding("* @fallback\n*.js @js-owner js-owner\n", "codeowners-invalid-owner", 2);
    assert_eq!(owners_of(&codeowners, "a.js").as_deref(), Some("@js-owner"));
}

#[test]
fn owner_glued_to_hash_is_invalid() {
    let codeowners = parse_with_finding("*.js @js-owner @x#comment\n", "codeowners-invalid-owner", 1);
    assert_eq!(owners_of(&codeowners, "a.js").as_deref(), Some("@js-owner"));
}

#[test]
fn line_with_only_invalid_owners_is_skipped() {
    let text = "* @fallback\n*.js octocat\n";
    let codeowners = parse_with_finding(text, "codeowners-invalid-owner", 2);
    assert_eq!(owners_of(&codeowners, "a.js").as_deref(), Some("@fallback"));
    assert_eq!(codeowners.rules().len(), 1);
}

#[test]
fn every_invalid_owner_form_is_reported() {
    let invalid = ["octocat", "@", "@org/", "@/team", "@org/team/sub", "docs@", "a@b@c", "@user!"];
    for token in invalid {
        let text = format!("* @fallback\n*.js {token}\n");
        let codeowners = parse_with_finding(&text, "codeowners-invalid-owner", 2);
        assert_eq!(owners_of(&codeowners, "a.js").as_deref(), Some("@fallback"), "{token}");
    }
}

#[test]
fn locations_in_github_order() {
    assert_eq!(CODEOWNERS_LOCATIONS, [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"]);
}

/// The matching rules applied segment by segment, without globset.
fn reference_matches(pattern: &str, path: &str) -> bool {
    let (pattern, dir_only) = match pattern.strip_suffix('/') {
        Some(pattern) => (pattern, true),
        None => (pattern, false),
    };
    let anchored = pattern.contains('/');
    let mut segments: Vec<&str> = pattern.strip_prefix('/').unwrap_or(pattern).split('/').collect();
    if !anchored {
        segments.insert(0, "**");
    }
    // `x/**/` owns everything below `x`, like `x/**`.
    let dir_only = dir_only && segments.last() != Some(&"**");
    // Only a lone `*` after a slash stops at files: every other segment that matches a
    // directory owns what is below it.
    let stops_at_files = anchored && segments.last() == Some(&"*");
    let path: Vec<&str> = path.split('/').collect();
    (1..=path.len()).any(|len| {
        // The pattern matched a directory that holds the path.
        let below = len < path.len();
        let applies = if dir_only { below } else { !below || !stops_at_files };
        applies && segments_match(&segments, &path[..len])
    })
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern {
        [] => path.is_empty(),
        // A trailing `**` matches everything inside, not the directory itself.
        ["**"] => !path.is_empty(),
        ["**", rest @ ..] => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        [first, rest @ ..] => match path {
            [name, tail @ ..] => segment_matches(first.as_bytes(), name.as_bytes()) && segments_match(rest, tail),
            [] => false,
        },
    }
}

fn segment_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern, name) {
        ([], _) => name.is_empty(),
        ([b'*', rest @ ..], _) => (0..=name.len()).any(|skip| segment_matches(rest, &name[skip..])),
        ([b'?', rest @ ..], [_, tail @ ..]) => segment_matches(rest, tail),
        ([c, rest @ ..], [d, tail @ ..]) => c == d && segment_matches(rest, tail),
        _ => false,
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let segments = prop::collection::vec(select(&["a", "b", "*", "?a", "**"][..]), 1..=3);
    (any::<bool>(), segments, any::<bool>()).prop_map(|(leading, segments, trailing)| {
        let leading = if leading { "/" } else { "" };
        let trailing = if trailing { "/" } else { "" };
        format!("{leading}{}{trailing}", segments.join("/"))
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(select(&["a", "b", "ab", "ba"][..]), 1..=4).prop_map(|segments| segments.join("/"))
}

proptest! {
    #[test]
    fn matches_reference(pattern in pattern(), paths in prop::collection::vec(path(), 1..8)) {
        let (codeowners, findings) = CodeOwners::parse("CODEOWNERS", &format!("{pattern} @octocat"));
        prop_assert_eq!(findings, []);
        for path in paths {
            prop_assert_eq!(
                codeowners.rule_for(&path).is_some(),
                reference_matches(&pattern, &path),
                "pattern `{}`, path `{}`", pattern, path
            );
        }
    }

    #[test]
    fn last_match_wins(first in pattern(), second in pattern(), path in path()) {
        let (codeowners, _) = CodeOwners::parse("CODEOWNERS", &format!("{first} @a\n{second} @b"));
        let expected = if reference_matches(&second, &path) {
            Some(2)
        } else if reference_matches(&first, &path) {
            Some(1)
        } else {
            None
        };
        prop_assert_eq!(codeowners.rule_for(&path).map(|rule| rule.line), expected);
    }
}
