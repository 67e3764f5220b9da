//! Calibration on labelled changes: which thresholds it proposes, within which budget, and that
//! the `[risk]` block it writes is a policy countersign accepts and rates the same way.

use countersign_core::calibrate::{Calibration, ChangeFeatures, Factor, Shares, calibrate};
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::SourceFile;
use countersign_core::risk::{self, RiskInput, RiskLevel, RiskSettings};

/// A plain change: small, one file in one directory, experienced author.
fn change(index: usize) -> ChangeFeatures {
    ChangeFeatures {
        change: format!("{index:040x}"),
        lines: 10.0 + (index % 7) as f64,
        files: 1.0,
        directories: 1.0,
        services: 1.0,
        entropy_bits: 0.0,
        least_experience: 5,
        ai_share: 0.0,
        recent_fixes: (index % 3) as u32,
        untested: index.is_multiple_of(2),
        tier0: false,
        destructive: false,
        ai_assisted: false,
        later_fixed: index.is_multiple_of(5),
    }
}

/// 200 changes: 20% later fixed at random, except the 20 largest (600+ lines), of which 17 were
/// fixed (not the two smallest nor the largest), the 10 touching many directories (all fixed), and 2 destructive ones.
fn history() -> Vec<ChangeFeatures> {
    let mut changes: Vec<ChangeFeatures> = (0..200).map(change).collect();
    for (rank, change) in changes.iter_mut().skip(100).take(20).enumerate() {
        change.lines = 600.0 + rank as f64 * 10.0;
        change.later_fixed = rank >= 2 && rank != 19;
    }
    for change in changes.iter_mut().skip(150).take(10) {
        change.directories = 9.0;
        change.later_fixed = true;
    }
    changes[7].destructive = true;
    changes[9].destructive = true;
    changes
}

fn calibrated() -> Calibration {
    calibrate(&history(), Shares { critical: 0.06, high: 0.2 }, &RiskSettings::default())
}

#[test]
fn it_proposes_the_thresholds_that_hold_the_later_fixed_changes_within_the_budget() {
    let calibration = calibrated();
    assert_eq!((calibration.changes, calibration.later_fixed), (200, 61));
    // Critical first, within 12 changes: the 2 destructive ones, then the 10 spread over 9
    // directories (all fixed); the 14 largest were all fixed too but do not fit.
    let critical: Vec<(Factor, f64)> =
        calibration.chosen_critical.iter().map(|cut| (cut.factor, cut.threshold)).collect();
    assert_eq!(critical, [(Factor::Directories, 9.0)], "{:#?}", calibration.chosen_critical);
    assert_eq!((calibration.critical, calibration.critical_fixed), (12, 10));
    // Then high: the largest changes, then the next ones, fixed more often than the rest.
    let high: Vec<(Factor, f64, u64, u64)> =
        calibration.chosen.iter().map(|cut| (cut.factor, cut.threshold, cut.flagged, cut.flagged_fixed)).collect();
    assert_eq!(high, [(Factor::Lines, 660.0, 14, 13), (Factor::Lines, 600.0, 6, 4)], "{:#?}", calibration.chosen);
    assert_eq!((calibration.high, calibration.high_fixed), (32, 27));
    assert!(
        calibration.risk_toml.contains("lines_changed = { medium = 1000, high = 600 }")
            || calibration.risk_toml.contains("lines_changed = { high = 600 }"),
        "{}",
        calibration.risk_toml
    );
    assert!(calibration.risk_toml.contains("directories = { high = 9, critical = 9 }"), "{}", calibration.risk_toml);
    // Factors unrelated to fixes are said to be so.
    let relation =
        |factor| calibration.factors.iter().find(|report| report.factor == factor).map(|report| report.relation);
    assert_eq!(relation(Factor::Lines), Some("strong"));
    assert_eq!(relation(Factor::Untested), Some("none"));
    assert_eq!(relation(Factor::RecentFixes), Some("none"));
}

#[test]
fn the_proposed_block_is_a_policy_that_rates_the_same_changes() {
    let calibration = calibrated();
    let people = "levels = [\"junior\", \"senior\"]\n";
    let policy =
        format!("version = 1\n\n[[rule]]\nname = \"review\"\nrequires = {{ count = 1 }}\n\n{}", calibration.risk_toml);
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people),
        services: None,
        policy: SourceFile::new("policy.toml", &policy),
        codeowners: None,
    };
    let (config, _) = Config::load(&files).unwrap_or_else(|errors| panic!("{errors:?}\n{policy}"));
    let settings = &config.policy.risk;
    // Rate each change with the proposal: high or critical exactly where calibration counted.
    let (mut high, mut critical) = (0, 0);
    for change in history() {
        let files: Vec<(String, u64)> = (0..change.directories as usize)
            .map(|directory| (format!("src/d{directory}/f.rs"), (change.lines / change.directories).round() as u64))
            .collect();
        let files: Vec<(&str, u64)> = files.iter().map(|(path, lines)| (path.as_str(), *lines)).collect();
        let destructive = if change.destructive {
            vec![countersign_core::model::Operation {
                source: countersign_core::model::OperationSource::Migration,
                file: "db/1.sql".to_owned(),
                line: None,
                target: "orders".to_owned(),
                action: "drop table".to_owned(),
                reason: None,
            }]
        } else {
            Vec::new()
        };
        let level = risk::assess(
            settings,
            &RiskInput {
                services: &[],
                touches_gate_config: false,
                destructive: &destructive,
                hazards: &[],
                files: &files,
                experience: Vec::new(),
                ai_share: Some((change.ai_share, false)),
                recent_fixes: Ok(change.recent_fixes),
            },
        )
        .level;
        high += u64::from(level >= RiskLevel::High);
        critical += u64::from(level == RiskLevel::Critical);
    }
    assert_eq!((high, critical), (calibration.high, calibration.critical), "{policy}");
}

#[test]
fn a_history_without_a_signal_proposes_nothing_but_destructive() {
    let changes: Vec<ChangeFeatures> = (0..100).map(change).collect();
    let calibration = calibrate(&changes, Shares { critical: 0.03, high: 0.15 }, &RiskSettings::default());
    assert!(calibration.chosen.is_empty() && calibration.chosen_critical.is_empty(), "{calibration:#?}");
    assert!(calibration.risk_toml.contains("destructive = \"critical\""), "{}", calibration.risk_toml);
    assert!(!calibration.risk_toml.contains("high = "), "{}", calibration.risk_toml);
}
