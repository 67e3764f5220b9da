//! `simulate` on a small generated history whose answers are worked out by hand.

use crate::util::{POLICY, TestRepo, stderr};

const CLAUDE: &str = "Co-Authored-By: Claude <noreply@anthropic.com>";

/// Four changes land on `main` after the configuration:
/// 1. day 1 09:00, bob, AI-assisted, checkout (tier 0);
/// 2. day 1 09:00, dave, docs;
/// 3. day 2 09:00, alice, docs;
/// 4. day 3 09:00, carol merges two commits of bob to checkout, one AI-assisted.
fn history() -> (TestRepo, String) {
    let repo = TestRepo::new();
    let start = repo.git(&["rev-parse", "HEAD"]);
    repo.commit_at("bob", "2026-11-02T09:00:00Z", "services/checkout/a.py", "A = 1\n", &format!("Add a\n\n{CLAUDE}\n"));
    repo.commit_at("dave", "2026-11-02T09:00:00Z", "docs/x.md", "# X\n", "Document x");
    repo.commit_at("alice", "2026-11-03T09:00:00Z", "docs/y.md", "# Y\n", "Document y");
    repo.branch("topic");
    repo.commit_at("bob", "2026-11-03T12:00:00Z", "services/checkout/b.py", "B = 1\n", "Add b");
    repo.commit_at("bob", "2026-11-03T13:00:00Z", "services/checkout/c.py", "C = 1\n", &format!("Add c\n\n{CLAUDE}\n"));
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(
        ("Carol Diaz", "carol@shop.example"),
        "2026-11-04T09:00:00Z",
        &["merge", "-q", "--no-ff", "-m", "Merge topic", "topic"],
    );
    (repo, start)
}

fn simulate(repo: &TestRepo, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["simulate", "--repo", ".", "--format", "json"];
    all.extend_from_slice(args);
    let output = repo.countersign(&all);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn replays_each_merged_change_and_compares_policies() {
    let (repo, start) = history();
    let lenient = repo.temp.path().join("lenient");
    std::fs::create_dir_all(&lenient).expect("dir");
    std::fs::copy(repo.path().join(".countersign/people.toml"), lenient.join("people.toml")).expect("copy");
    let two_person_only = POLICY.split("\n[[rule]]\nname = \"ai-senior-signoff\"").next().expect("policy head");
    std::fs::write(lenient.join("policy.toml"), two_person_only).expect("write");

    let range = format!("{start}..main");
    let chart = repo.temp.path().join("chart.svg");
    let report = simulate(
        &repo,
        &[
            "--range",
            &range,
            "--reviewers-per-day",
            "1",
            "--compare",
            lenient.to_str().expect("utf-8"),
            "--chart",
            chart.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(report["changes"], 4);
    let strict = &report["policies"][0];
    let caught: Vec<(String, u64)> = strict["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| (rule["name"].as_str().expect("name").to_owned(), rule["caught"].as_u64().expect("count")))
        .collect();
    let expected = [("two-person", 4), ("ai-senior-signoff", 2), ("tier0-owners", 2), ("gate-config", 0)];
    assert_eq!(caught, expected.map(|(name, count)| (name.to_owned(), count)));
    assert_eq!((strict["ai_assisted"].as_u64(), strict["need_review"].as_u64()), (Some(2), Some(4)));
    assert_eq!(strict["need_senior"], 2, "changes 1 and 4 need a senior");
    // Everyone reviews one change a day, and each change waits for one day.
    assert_eq!(strict["delay"]["p50_hours"], 24.0);
    assert_eq!(strict["delay"]["max_hours"], 24.0);

    let lenient = &report["policies"][1];
    assert_eq!(lenient["need_senior"], 0);
    assert_eq!(lenient["rules"].as_array().expect("rules").len(), 1);
    assert_eq!(lenient["reviews"], 4, "one review per change");

    insta::assert_json_snapshot!("simulate", report, {
        ".range" => "[range]",
        ".policies[].name" => "[name]",
    });
    let svg = std::fs::read_to_string(&chart).expect("chart written");
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert_eq!(svg.matches("<polyline").count(), 4, "two panels, two policies");
    assert_eq!(svg.matches("later-fixed changes (").count(), 2, "what each policy caught: {svg}");
}

#[test]
fn queue_delay_grows_when_reviewers_are_scarce() {
    let (repo, start) = history();
    let range = format!("{start}..main");
    let slow = simulate(&repo, &["--range", &range, "--reviewers-per-day", "0.5"]);
    assert_eq!(slow["policies"][0]["delay"]["max_hours"], 48.0);
    let text = repo.countersign(&["simulate", "--repo", ".", "--range", &range]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("simulated 4 changes"), "{text}");
    assert!(text.contains("  rule ai-senior-signoff"), "{text}");
}

#[test]
fn calibration_shares_outside_zero_to_one_are_bad_input() {
    let (repo, start) = history();
    let range = format!("{start}..main");
    for (flag, value) in [("--share", "1.5"), ("--critical-share", "0"), ("--share", "NaN")] {
        let output = repo.countersign(&["risk", "calibrate", "--repo", ".", "--range", &range, flag, value]);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        assert!(stderr(&output).contains(&format!("{flag} must be a share of the changes")), "{}", stderr(&output));
    }
}

#[test]
fn unknown_senior_level_is_bad_input() {
    let (repo, start) = history();
    let output = repo.countersign(&[
        "simulate",
        "--repo",
        ".",
        "--range",
        &format!("{start}..main"),
        "--senior-level",
        "wizard",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--senior-level `wizard` is not a level"), "{}", stderr(&output));
}

/// Reverted and fixed changes are the later-fixed ones; the policy's reviews are counted
/// against them.
/// 1. bob's AI-assisted checkout change (needs a senior), later reverted with `git revert`;
/// 2. dave's docs change, later reverted as GitHub squashes it: `Revert "Document z (#12)"`;
/// 3. alice's docs change, whose line a later fix corrects (traced by blame);
/// 4. carol's docs change, which a later "fix" only re-indents: no evidence.
#[test]
fn efficacy_counts_the_reviews_of_changes_later_reverted() {
    let repo = TestRepo::new();
    let start = repo.git(&["rev-parse", "HEAD"]);
    let ai = repo.commit_at(
        "bob",
        "2026-11-02T09:00:00Z",
        "services/checkout/d.py",
        "D = 1\n",
        &format!("Add d\n\n{CLAUDE}\n"),
    );
    repo.commit_at("dave", "2026-11-02T10:00:00Z", "docs/z.md", "# Z\n", "Document z (#12)");
    repo.commit_at("alice", "2026-11-03T09:00:00Z", "docs/w.md", "# W\nSee the wiki.\n", "Document w");
    repo.commit_at("carol", "2026-11-03T10:00:00Z", "docs/v.md", "# V\n", "Document v");
    repo.commit_at("carol", "2026-11-04T09:00:00Z", "docs/z.md", "", "Revert \"Document z (#12)\" (#13)");
    let message = format!("Revert \"Add d\"\n\nThis reverts commit {}.\n", &ai[..12]);
    repo.commit_at("carol", "2026-11-05T09:00:00Z", "services/checkout/d.py", "", &message);
    repo.commit_at("erin", "2026-11-06T09:00:00Z", "docs/w.md", "# W\nSee the handbook.\n", "Fix the pointer in w");
    repo.commit_at("erin", "2026-11-06T10:00:00Z", "docs/v.md", "  # V\n", "Fix the spacing of v");
    let report = simulate(&repo, &["--range", &format!("{start}..main")]);
    let efficacy = &report["policies"][0]["efficacy"];
    assert_eq!(efficacy["all"]["later_fixed"], 3, "{efficacy:#}");
    assert_eq!(efficacy["all"]["fixed_with_senior"], 1, "the AI-assisted change needed a senior: {efficacy:#}");
    assert_eq!(
        efficacy["all"]["fixed_with_review"], 2,
        "dave's and alice's docs changes needed a review: {efficacy:#}"
    );
    assert_eq!(efficacy["all"]["fixed_without_review"], 0);
    assert_eq!(efficacy["ai_assisted"]["later_fixed"], 1);
    assert_eq!(efficacy["ai_assisted"]["fixed_with_senior"], 1);
}

/// A fix inside a merged pull request is traced through the merge's base, whitespace-only changes
/// are looked through, and lines the pull request itself wrote before its fix are no evidence:
/// 1. alice writes docs/u.md;
/// 2. dave only re-indents its last line;
/// 3. a pull request adds a line, then fixes alice's first line and its own new line.
#[test]
fn fixes_in_merged_pull_requests_label_the_change_that_wrote_the_line() {
    let repo = TestRepo::new();
    let start = repo.git(&["rev-parse", "HEAD"]);
    let written =
        repo.commit_at("alice", "2026-11-02T09:00:00Z", "docs/u.md", "# U\nline one\nline two\n", "Document u");
    repo.commit_at("dave", "2026-11-03T09:00:00Z", "docs/u.md", "# U\nline one\n  line two\n", "Indent u");
    repo.branch("topic");
    repo.commit_at("erin", "2026-11-04T09:00:00Z", "docs/u.md", "# U\nline one\n  line two\nline three\n", "Add to u");
    let fix = repo.commit_at(
        "erin",
        "2026-11-04T10:00:00Z",
        "docs/u.md",
        "# U\nline 1\n  line 2\nline 3\n",
        "Fix the numbers in u",
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.git_at(
        ("Carol Diaz", "carol@shop.example"),
        "2026-11-05T09:00:00Z",
        &["merge", "-q", "--no-ff", "-m", "Merge topic u", "topic"],
    );
    let report = simulate(&repo, &["--range", &format!("{start}..main")]);
    let labelled = report["later_fixed"].as_array().expect("later_fixed");
    assert_eq!(labelled.len(), 1, "only alice's change: {labelled:#?}");
    assert_eq!(labelled[0]["change"], written.as_str());
    assert_eq!(labelled[0]["fixed_by"]["how"], "fix");
    assert_eq!(labelled[0]["fixed_by"]["by"], fix.as_str());
    assert_eq!(labelled[0]["fixed_by"]["lines"], serde_json::json!(["docs/u.md:2", "docs/u.md:3"]));
    assert_eq!(report["policies"][0]["efficacy"]["all"]["later_fixed"], 1, "{report:#}");
}

/// `risk calibrate` on a history where the large checkout changes were the ones later fixed:
/// it labels them, finds size related to fixes, and proposes a block `policy check` accepts.
#[test]
fn calibrate_finds_what_the_later_fixed_changes_share_and_proposes_a_valid_block() {
    let repo = TestRepo::new();
    let start = repo.git(&["rev-parse", "HEAD"]);
    let mut large = Vec::new();
    for day in 0..24 {
        let date = |hour: u32| format!("2026-10-{:02}T{hour:02}:00:00Z", day + 1);
        repo.commit_at("dave", &date(9), &format!("docs/page{day}.md"), "# Page\n", &format!("Document page {day}"));
        if day % 4 == 0 {
            let body: String = (0..40).map(|line| format!("STEP_{line} = {day}\n")).collect();
            let path = format!("services/checkout/flow{day}.py");
            large.push(repo.commit_at("bob", &date(10), &path, &body, &format!("Add flow {day}")));
            let fixed = body.replace("STEP_3 =", "STEP_3 = 1 +");
            repo.commit_at("alice", &date(11), &path, &fixed, &format!("Fix step 3 of flow {day}"));
        }
    }
    let args = ["risk", "calibrate", "--repo", ".", "--range", &format!("{start}..main"), "--share", "0.2"];
    let output = repo.countersign(&[&args[..], &["--critical-share", "0.05", "--format", "json"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let labelled: Vec<&str> =
        report["later_fixed"].as_array().expect("labels").iter().filter_map(|label| label["change"].as_str()).collect();
    assert_eq!(labelled, large.iter().map(String::as_str).collect::<Vec<_>>());
    let calibration = &report["calibration"];
    assert_eq!((calibration["changes"].as_u64(), calibration["later_fixed"].as_u64()), (Some(36), Some(6)));
    let lines = calibration["factors"].as_array().expect("factors").iter().find(|factor| factor["factor"] == "lines");
    assert_eq!(lines.expect("lines")["relation"], "strong", "{calibration:#}");
    assert!(calibration["high_fixed"].as_u64() >= Some(5), "{calibration:#}");

    // The block is a policy countersign accepts.
    let dir = repo.temp.path().join("calibrated");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("people.toml"), crate::util::people_toml()).expect("people");
    std::fs::write(dir.join("services.toml"), crate::util::SERVICES).expect("services");
    let block = calibration["risk_toml"].as_str().expect("block");
    std::fs::write(dir.join("policy.toml"), format!("{POLICY}\n{block}")).expect("policy");
    let checked = repo.countersign(&["policy", "check", "--config", dir.to_str().expect("utf-8")]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{block}\n{}{}",
        stderr(&checked),
        String::from_utf8_lossy(&checked.stdout)
    );

    let text = repo.countersign(&args);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("calibrated on 36 changes"), "{text}");
    assert!(text.contains("6 later needed a fix"), "{text}");
    assert!(text.contains("[risk]\n"), "{text}");
}
