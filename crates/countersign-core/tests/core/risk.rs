//! Risk scenarios: the level and every reason, snapshot-tested so a change in wording or
//! threshold is reviewed.

use countersign_core::model::{Operation, OperationSource};
use countersign_core::risk::{self, Experience, RiskInput, RiskLevel, RiskSettings};

struct Scenario<'a> {
    services: &'a [(&'a str, u32)],
    gate_config: bool,
    destructive: &'a [Operation],
    hazards: &'a [Operation],
    files: Vec<(String, u64)>,
    experience: &'a [(&'a str, Option<u32>)],
    ai_share: Option<(f64, bool)>,
    recent_fixes: Result<u32, String>,
}

impl Default for Scenario<'_> {
    fn default() -> Self {
        Scenario {
            services: &[],
            gate_config: false,
            destructive: &[],
            hazards: &[],
            files: vec![("docs/guide.md".to_owned(), 12)],
            experience: &[("bob", Some(4))],
            ai_share: Some((0.0, false)),
            recent_fixes: Ok(0),
        }
    }
}

#[track_caller]
fn check(name: &str, settings: &RiskSettings, scenario: Scenario<'_>, level: RiskLevel) {
    let services: Vec<(String, u32)> =
        scenario.services.iter().map(|(name, tier)| ((*name).to_owned(), *tier)).collect();
    let files: Vec<(&str, u64)> = scenario.files.iter().map(|(path, lines)| (path.as_str(), *lines)).collect();
    let experience = scenario
        .experience
        .iter()
        .map(|(person, commits)| Experience {
            person: (*person).to_owned(),
            commits: *commits,
            unknown: commits.is_none().then(|| "not in the directory".to_owned()),
        })
        .collect();
    let assessed = risk::assess(
        settings,
        &RiskInput {
            services: &services,
            touches_gate_config: scenario.gate_config,
            destructive: scenario.destructive,
            hazards: scenario.hazards,
            files: &files,
            experience,
            ai_share: scenario.ai_share,
            recent_fixes: scenario.recent_fixes,
        },
    );
    assert_eq!(assessed.level, level, "{name}: {:#?}", assessed.reasons);
    insta::assert_json_snapshot!(name, assessed);
}

fn operation(source: OperationSource, target: &str, action: &str) -> Operation {
    Operation {
        source,
        file: "plan.json".to_owned(),
        line: None,
        target: target.to_owned(),
        action: action.to_owned(),
        reason: None,
    }
}

/// `count` files spread over `directories` directories, `lines` each.
fn spread(count: usize, directories: usize, lines: u64) -> Vec<(String, u64)> {
    (0..count).map(|idx| (format!("src/module{}/file{idx}.rs", idx % directories), lines)).collect()
}

#[test]
fn small_docs_change_by_an_experienced_author_is_low() {
    check("low_docs", &RiskSettings::default(), Scenario::default(), RiskLevel::Low);
}

#[test]
fn tier_zero_service_is_high_and_tier_one_medium() {
    let settings = RiskSettings::default();
    check("tier0", &settings, Scenario { services: &[("checkout", 0)], ..Scenario::default() }, RiskLevel::High);
    check("tier1", &settings, Scenario { services: &[("search", 1)], ..Scenario::default() }, RiskLevel::Medium);
}

#[test]
fn destructive_operation_is_critical_whatever_else() {
    let destructive =
        [operation(OperationSource::Terraform, "aws_db_instance.orders", "replace (delete before create)")];
    check(
        "destructive",
        &RiskSettings::default(),
        Scenario { destructive: &destructive, ..Scenario::default() },
        RiskLevel::Critical,
    );
}

#[test]
fn locking_migration_is_a_hazard() {
    let hazards =
        [operation(OperationSource::Migration, "CREATE INDEX i ON orders (c)", "require-concurrent-index-creation")];
    check("hazard", &RiskSettings::default(), Scenario { hazards: &hazards, ..Scenario::default() }, RiskLevel::High);
}

#[test]
fn gate_configuration_change_is_high() {
    check(
        "gate_config",
        &RiskSettings::default(),
        Scenario { gate_config: true, ..Scenario::default() },
        RiskLevel::High,
    );
}

#[test]
fn large_and_diffuse_change() {
    check(
        "large_diffuse",
        &RiskSettings::default(),
        Scenario { files: spread(240, 80, 25), ..Scenario::default() },
        RiskLevel::High,
    );
}

#[test]
fn large_but_concentrated_change_is_only_large() {
    // 2000 lines in one file and a one-line touch elsewhere: big, but not spread.
    let files = vec![("src/generated/schema.rs".to_owned(), 2000), ("src/lib.rs".to_owned(), 1)];
    check("large_concentrated", &RiskSettings::default(), Scenario { files, ..Scenario::default() }, RiskLevel::Medium);
}

#[test]
fn several_services_together() {
    check(
        "services",
        &RiskSettings::default(),
        Scenario { services: &[("login", 2), ("pricing", 2), ("search", 3)], ..Scenario::default() },
        RiskLevel::High,
    );
}

#[test]
fn inexperienced_and_unknown_authors() {
    check(
        "experience",
        &RiskSettings::default(),
        Scenario {
            experience: &[("alice", Some(12)), ("bob", Some(0)), ("stranger@example.com", None)],
            ..Scenario::default()
        },
        RiskLevel::Medium,
    );
}

#[test]
fn configured_thresholds_change_the_outcome() {
    let settings = RiskSettings {
        tiers: vec![Some(RiskLevel::Critical)],
        inexperienced: None,
        lines_changed: risk::Thresholds { medium: Some(10.0), high: None, critical: None },
        ..RiskSettings::default()
    };
    check(
        "configured",
        &settings,
        Scenario { services: &[("checkout", 0)], experience: &[("bob", Some(0))], ..Scenario::default() },
        RiskLevel::Critical,
    );
}

#[test]
fn entropy_measures_spread() {
    assert_eq!(risk::entropy_bits([10]), 0.0);
    assert_eq!(risk::entropy_bits([5, 5]), 1.0);
    assert_eq!(risk::entropy_bits([7; 16]), 4.0);
    // A mostly one-file change is close to 0 bits however many files it grazes.
    assert!(risk::entropy_bits([1000, 1, 1, 1]) < 0.05);
    // Files without line changes count as one line each.
    assert_eq!(risk::entropy_bits([0, 0]), 1.0);
}

/// The factors calibration can switch on: AI-written share, recent fixes, code without tests. Off
/// by default, so the same change stays low until a policy sets them.
#[test]
fn calibrated_factors_raise_the_level_only_when_set() {
    let code = vec![("src/cart.rs".to_owned(), 40)];
    let touched =
        || Scenario { files: code.clone(), ai_share: Some((0.9, true)), recent_fixes: Ok(4), ..Scenario::default() };
    check("calibrated_off", &RiskSettings::default(), touched(), RiskLevel::Low);
    let settings = RiskSettings {
        ai_share: risk::Thresholds { medium: Some(0.5), high: Some(0.8), critical: None },
        recent_fixes: risk::Thresholds::new(2.0, 4.0),
        untested: Some(RiskLevel::Medium),
        ..RiskSettings::default()
    };
    check("calibrated_on", &settings, touched(), RiskLevel::High);
    let tested = vec![("src/cart.rs".to_owned(), 40), ("tests/cart_test.rs".to_owned(), 10)];
    check(
        "calibrated_quiet",
        &settings,
        Scenario { files: tested, ai_share: Some((0.1, false)), recent_fixes: Ok(1), ..Scenario::default() },
        RiskLevel::Low,
    );
    // Unknown recent fixes reach every threshold set: the gate fails closed.
    check(
        "calibrated_unknown_fixes",
        &settings,
        Scenario {
            files: code.clone(),
            ai_share: None,
            recent_fixes: Err("history read only in part".to_owned()),
            ..Scenario::default()
        },
        RiskLevel::High,
    );
}

#[track_caller]
fn check_untested(paths: &[&str], expected: bool) {
    assert_eq!(risk::untested_code(paths), expected, "{paths:?}");
}

#[test]
fn code_without_tests() {
    check_untested(&["src/cart.rs"], true);
    check_untested(&["src/cart.rs", "src/cart_test.go"], false);
    check_untested(&["pkg/cart.go", "pkg/cart_test.go"], false);
    check_untested(&["web/cart.tsx", "web/__tests__/cart.tsx"], false);
    check_untested(&["web/cart.ts", "web/cart.spec.ts"], false);
    check_untested(&["app/cart.py", "tests/test_cart.py"], false);
    check_untested(&["docs/cart.md", "README.md"], false);
    check_untested(&["tests/test_cart.py"], false);
    check_untested(&["Cargo.toml", "src/lib.rs"], true);
    check_untested(&["latest/cart.rs"], true);
}

#[track_caller]
fn check_recent(fixes: &[(i64, &str, &[&str])], paths: &[&str], at: i64, days: u32, expected: u32) {
    let mut history = risk::FixHistory::default();
    for (time, message, files) in fixes {
        let commit = countersign_core::model::Commit {
            id: format!("{time}"),
            parents: Vec::new(),
            author: countersign_core::model::Identity::new("A".to_owned(), "a@shop.example".to_owned()),
            committer: countersign_core::model::Identity::new("A".to_owned(), "a@shop.example".to_owned()),
            time: *time,
            message: (*message).to_owned(),
            files: files
                .iter()
                .map(|path| countersign_core::model::FileChange {
                    path: (*path).to_owned(),
                    added: 1,
                    deleted: 1,
                    deleted_file: false,
                })
                .collect(),
        };
        history.add(&commit);
    }
    assert_eq!(history.count(paths.iter().copied(), at, days), expected, "{fixes:?} {paths:?}");
}

#[test]
fn recent_fixes_count_distinct_fixes_of_the_files_within_the_window() {
    const DAY: i64 = 86_400;
    let fix_both: &[&str] = &["a.rs", "b.rs"];
    check_recent(&[(10 * DAY, "Fix totals", fix_both)], &["a.rs", "b.rs"], 20 * DAY, 30, 1);
    check_recent(&[(10 * DAY, "Add totals", fix_both)], &["a.rs"], 20 * DAY, 30, 0);
    check_recent(&[(10 * DAY, "Revert \"Add totals\"", fix_both)], &["a.rs"], 20 * DAY, 30, 1);
    check_recent(&[(10 * DAY, "Fix totals", fix_both)], &["a.rs"], 50 * DAY, 30, 0);
    check_recent(&[(10 * DAY, "Fix totals", fix_both)], &["c.rs"], 20 * DAY, 30, 0);
    // A fix after the change is not its past.
    check_recent(&[(30 * DAY, "Fix totals", fix_both)], &["a.rs"], 20 * DAY, 30, 0);
    check_recent(
        &[(10 * DAY, "fix: a", &["a.rs"]), (11 * DAY, "bug 12: b", &["b.rs"]), (12 * DAY, "hotfix", &["a.rs"])],
        &["a.rs", "b.rs"],
        20 * DAY,
        30,
        3,
    );
}
