//! Configuration diagnostics: every kind of mistake, rendered as a user sees it.

use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::SourceFile;
use miette::{GraphicalReportHandler, GraphicalTheme};

const PEOPLE: &str = r#"levels = ["intern", "junior", "mid", "senior", "staff", "principal"]

[[person]]
id = "alice"
name = "Alice Moreau"
emails = ["alice@shop.example"]
github = "alice-m"
level = "senior"
teams = ["checkout"]

[[person]]
id = "bob"
name = "Bob Tran"
emails = ["bob@shop.example", "1234+bobt@users.noreply.github.com"]
level = "junior"
teams = ["checkout"]

[[agent]]
id = "ops-agent"
emails = ["ops-agent@shop.example"]
"#;

const SERVICES: &str = r#"[[service]]
name = "checkout"
tier = 0
paths = ["services/checkout/**", "libs/payments/**"]
owners = ["checkout"]

[[service]]
name = "docs"
tier = 3
paths = ["docs/**"]
"#;

/// The documented policy of DESIGN §4, accepted exactly as written.
const POLICY: &str = include_str!("../../../../examples/policy.toml");

fn files(people: &str, services: &str, policy: &str) -> ConfigFiles {
    ConfigFiles {
        people: SourceFile::new("people.toml", people),
        services: Some(SourceFile::new("services.toml", services)),
        policy: SourceFile::new("policy.toml", policy),
        codeowners: None,
    }
}

/// Renders every diagnostic of a configuration the way the CLI prints it, without colours.
fn render(files: &ConfigFiles) -> String {
    let errors = match Config::load(files) {
        Ok(_) => return "ok".to_owned(),
        Err(errors) => errors,
    };
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for error in errors {
        handler.render_report(&mut out, &error).expect("render");
    }
    out
}

/// Renders the diagnostics of a policy, checks the parts a user must see, and snapshots the
/// whole rendering so the message as printed is reviewed.
#[track_caller]
fn check_policy(name: &str, policy: &str, expected: &[&str]) {
    let rendered = render(&files(PEOPLE, SERVICES, policy));
    for part in expected {
        assert!(rendered.contains(part), "expected to find {part:?} in:\n{rendered}");
    }
    insta::assert_snapshot!(name, rendered);
}

#[test]
fn the_documented_configuration_is_accepted() {
    let (config, findings) = Config::load(&files(PEOPLE, SERVICES, POLICY)).expect("valid");
    assert!(findings.is_empty());
    let names: Vec<&str> = config.policy.rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(names, ["two-person", "ai-senior-signoff", "tier0-owners", "gate-config"]);
    let break_glass = config.policy.break_glass.expect("break_glass parsed");
    assert_eq!((break_glass.min_level, break_glass.reason_required, break_glass.review_within_hours), (3, true, 24));
    assert_eq!(config.policy.approvals.max_age_days, Some(14));
    assert_eq!(config.policy.ai.trailers, ["ai-tool"]);
}

#[test]
fn every_predicate_and_requirement_is_accepted() {
    let policy = r#"version = 1
[[rule]]
name = "everything"
when = { ai_assisted = true, agent_authored = false, author_level_below = "staff", author_level_at_least = "intern", author_in_teams = ["checkout"], paths = ["services/**"], only_paths = ["**"], services = ["checkout"], tier_at_most = 1, risk_at_least = "medium", destructive = false, lines_changed_over = 10, files_changed_over = 2, ai_lines_over = 100, ai_share_over = 0.5, ai_lines_tier_at_most = 0, recent_fixes_at_least = 3, untested = true, environments = ["production"], target_branches = ["main", "release/*"], rollback = false, any = [{ ai_assisted = true }, { not = { paths = ["docs/**"] } }], not = { environments = ["staging"] } }
requires = { count = 2, min_level = "senior", teams = ["checkout"], people = ["alice"], owners = true }
"#;
    assert_eq!(render(&files(PEOPLE, SERVICES, policy)), "ok");
    let (_, findings) = Config::load(&files(PEOPLE, SERVICES, policy)).expect("valid");
    // Its one rule has a condition, so what it does not cover is said.
    let codes: Vec<&str> = findings.iter().map(|finding| finding.code.as_ref()).collect();
    assert_eq!(codes, ["rules-do-not-cover-every-change"], "{findings:?}");
    let allowing = policy.replace("version = 1\n", "version = 1\n[approvals]\nno_rule_applies = \"allow\"\n");
    let (_, findings) = Config::load(&files(PEOPLE, SERVICES, &allowing)).expect("valid");
    assert!(findings[0].message.contains("allowed with no review at all"), "{findings:?}");
    assert_eq!(findings[0].severity, countersign_core::finding::Severity::Warning);
}

#[test]
fn risk_rollout_and_destructive_tables_are_accepted() {
    let policy = format!(
        r#"{POLICY}
[risk]
tiers = {{ 0 = "critical", 1 = "high", 2 = "none" }}
destructive = "critical"
hazards = "medium"
gate_config = "high"
lines_changed = {{ medium = 500, high = 2000, critical = 10000 }}
files_changed = {{ high = 80 }}
directories = {{ medium = 10 }}
services = {{ medium = 2, high = 4 }}
entropy_bits = {{ medium = 3.5, high = 5 }}
experience_days = 60
experience_min_commits = 3
inexperienced = "none"
ai_share = {{ medium = 0.5, high = 0.9 }}
recent_fixes = {{ high = 5, critical = 20 }}
recent_fixes_days = 30
untested = "medium"

[rollout.high]
strategy = "canary"
stages = [{{ percent = 1, bake_minutes = 30 }}, {{ percent = 100 }}]
business_hours_only = false
notes = ["page the owning team before starting"]

[rollout.critical]
strategy = "manual"

[destructive]
migrations = ["db/migrations/**/*.sql"]
migrations_exclude = []
manifests = ["deploy/**/*.yaml"]
kinds = ["StatefulSet", "Namespace"]
postgres_version = "15.4"
"#
    );
    let (config, findings) = Config::load(&files(PEOPLE, SERVICES, &policy)).expect("valid");
    assert!(findings.is_empty(), "{findings:?}");
    let risk = &config.policy.risk;
    use countersign_core::risk::RiskLevel::*;
    assert_eq!(risk.tiers, [Some(Critical), Some(High), None]);
    assert_eq!(
        (risk.hazards, risk.experience_days, risk.experience_min_commits, risk.inexperienced),
        (Medium, 60, 3, None)
    );
    assert_eq!(risk.lines_changed.level_of(2000.0), Some((High, 2000.0)));
    assert_eq!(risk.files_changed.level_of(79.0), None);
    assert_eq!(risk.entropy_bits.level_of(5.5), Some((High, 5.0)));
    let high = config.policy.rollout_for(High);
    assert_eq!((high.stages.len(), high.business_hours_only, high.one_box_first), (2, false, true));
    assert_eq!(high.notes, ["page the owning team before starting"]);
    let critical = config.policy.rollout_for(Critical);
    assert_eq!((critical.strategy.as_str(), critical.manual_confirmation), ("manual", true));
    let destructive = &config.policy.destructive;
    assert!(destructive.migrations.matches("db/migrations/2026/001_init.sql"));
    assert!(!destructive.migrations.matches("migrations/001_init.sql"));
    assert_eq!(destructive.kinds, ["StatefulSet", "Namespace"]);
}

#[test]
fn default_migration_paths_skip_down_migrations() {
    let (config, _) = Config::load(&files(PEOPLE, SERVICES, POLICY)).expect("valid");
    let settings = &config.policy.destructive;
    let linted = |path: &str| settings.migrations.matches(path) && !settings.migrations_exclude.matches(path);
    assert!(linted("migrations/20261101_add_refunds.sql"));
    assert!(linted("services/checkout/db/migrations/V3__drop_flag.sql"));
    assert!(linted("db/migration/V1__init.sql"));
    assert!(linted("prisma/migrations/20261101_x/migration.sql"));
    assert!(!linted("migrations/000042_orders.down.sql"));
    assert!(!linted("migrations/2026-11-01-x/down.sql"));
    assert!(!linted("scripts/cleanup.sql"));
}

#[test]
fn ai_line_predicates_are_checked() {
    check_policy(
        "ai_line_predicates_are_checked",
        r#"version = 1
[[rule]]
name = "share"
when = { ai_share_over = 1.5 }
requires = { count = 1 }

[[rule]]
name = "scope"
when = { ai_lines_tier_at_most = 0 }
requires = { count = 1 }

[[rule]]
name = "lines"
when = { ai_lines_over = -1 }
requires = { count = 1 }
"#,
        &[
            "`ai_share_over` is 1.5; it is a share of the added lines",
            "`ai_lines_tier_at_most` alone says nothing",
            "`ai_lines_over` must be a whole number",
        ],
    );
}

#[test]
fn risk_and_rollout_mistakes() {
    check_policy(
        "risk_and_rollout_mistakes",
        &format!(
            r#"{POLICY}
[risk]
tiers = {{ zero = "high" }}
hazards = "severe"
lines_changed = {{ medium = 5000, high = 1000 }}
experience_days = -3

[rollout.medium]
strategy = "yolo"
stages = [{{ percent = 50 }}, {{ percent = 10 }}]

[destructive]
kinds = ["deployment"]
postgres_version = "latest"
"#
        ),
        &[
            "`zero` is not a tier",
            "unknown risk level `severe`",
            "thresholds must not decrease",
            "`experience_days` must be a whole number",
            "unknown rollout strategy `yolo`",
            "stage at 10% does not follow 50%",
            "the last stage must send 100% of traffic",
            "`deployment` is not a Kubernetes kind",
            "`latest` is not a PostgreSQL version",
        ],
    );
}

#[test]
fn unknown_key_names_the_valid_keys() {
    check_policy(
        "unknown_key_names_the_valid_keys",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, min_levle = \"senior\" }\n",
        &[
            "unknown field `min_levle`",
            "policy.toml:4:25",
            "help: remove or rename the key; valid keys are 'count', 'min_level', 'teams', 'people',",
        ],
    );
}

#[test]
fn unknown_predicate_is_reported_where_it_stands() {
    check_policy(
        "unknown_predicate_is_reported_where_it_stands",
        "version = 1\n[[rule]]\nname = \"x\"\nwhen = { ai_asisted = true }\nrequires = { count = 1 }\n",
        &["unknown field `ai_asisted`", "policy.toml:4:10"],
    );
}

#[test]
fn type_error_points_at_the_value() {
    check_policy(
        "type_error_points_at_the_value",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = \"two\" }\n",
        &["invalid type: string \"two\", expected i64", "policy.toml:4:22", "help: check the value's type"],
    );
}

#[test]
fn toml_syntax_error_is_located() {
    check_policy(
        "toml_syntax_error_is_located",
        "version = 1\n[[rule]\nname = \"x\"\n",
        &["unclosed array table", "policy.toml:2:8"],
    );
}

#[test]
fn unknown_level_lists_the_ladder() {
    check_policy(
        "unknown_level_lists_the_ladder",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, min_level = \"seniour\" }\n",
        &[
            "unknown level `seniour`",
            "policy.toml:4:37",
            "not a level of people.toml",
            "help: levels in people.toml are: intern, junior, mid, senior, staff, principal",
        ],
    );
}

#[test]
fn unknown_team_lists_the_teams() {
    check_policy(
        "unknown_team_lists_the_teams",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, teams = [\"sre\"] }\n",
        &["unknown team `sre`", "help: known teams are: checkout"],
    );
}

#[test]
fn unknown_person_and_agent_approvers_are_refused() {
    check_policy(
        "unknown_person_and_agent_approvers_are_refused",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, people = [\"zoe\", \"ops-agent\"] }\n",
        &["unknown person `zoe`", "`ops-agent` is an agent; agents can never approve"],
    );
}

#[test]
fn unknown_service_lists_the_services() {
    check_policy(
        "unknown_service_lists_the_services",
        "version = 1\n[[rule]]\nname = \"x\"\nwhen = { services = [\"billing\"] }\nrequires = { count = 1 }\n",
        &["unknown service `billing`", "help: services are: checkout, docs"],
    );
}

#[test]
fn bad_glob_is_explained() {
    check_policy(
        "bad_glob_is_explained",
        "version = 1\n[[rule]]\nname = \"x\"\nwhen = { paths = [\"src/[a\"] }\nrequires = { count = 1 }\n",
        &["bad glob `src/[a`", "policy.toml:4:19"],
    );
}

#[test]
fn bad_risk_level_and_counts() {
    check_policy(
        "bad_risk_level_and_counts",
        "version = 1\n[[rule]]\nname = \"x\"\nwhen = { risk_at_least = \"extreme\", tier_at_most = -1 }\nrequires = { count = 0 }\n",
        &[
            "unknown risk level `extreme`",
            "use one of: low, medium, high, critical",
            "`tier_at_most` must be a whole number",
            "`count = 0` is out of range",
        ],
    );
}

#[test]
fn duplicate_and_empty_rules() {
    check_policy(
        "duplicate_and_empty_rules",
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1 }\n[[rule]]\nname = \"x\"\nwhen = {}\nrequires = { count = 1 }\n",
        &["rule `x` is defined twice", "empty condition"],
    );
}

#[test]
fn unsupported_version() {
    check_policy(
        "unsupported_version",
        "version = 2\n[[rule]]\nname = \"x\"\nrequires = { count = 1 }\n",
        &["unsupported policy version 2", "policy.toml:1:11"],
    );
}

#[test]
fn missing_required_key() {
    check_policy("missing_required_key", "[ai]\ncontextual_counts = true\n", &["missing field `version`"]);
}

#[test]
fn bad_trailer_key() {
    check_policy(
        "bad_trailer_key",
        "version = 1\n[ai]\ntrailers = [\"AI Tool:\"]\n[[rule]]\nname = \"x\"\nrequires = { count = 1 }\n",
        &["`AI Tool:` is not a trailer key"],
    );
}

#[test]
fn people_mistakes_are_reported_together() {
    let people = r#"levels = ["junior", "senior", "junior"]
[[person]]
id = "alice"
emails = ["alice@shop.example"]
level = "principal"
keys = ["ssh-ed25519 not-base64"]
[[person]]
id = "alice"
emails = ["alice@shop.example", "nobody"]
level = "senior"
[[agent]]
id = "ops/agent"
"#;
    let rendered = render(&files(people, "", "version = 1\n"));
    for expected in [
        "level `junior` is listed twice",
        "unknown level `principal`",
        "people.toml:5:9",
        "cannot read SSH public key",
        "id `alice` is used twice",
        "e-mail `alice@shop.example` belongs to two entries",
        "`nobody` is not an e-mail address",
        "`ops/agent` is not a valid id",
    ] {
        assert!(rendered.contains(expected), "missing {expected:?} in:\n{rendered}");
    }
}

#[test]
fn service_mistakes_are_reported_together() {
    let services = "[[service]]\nname = \"a\"\ntier = -1\npaths = []\nowners = [\"nobody\"]\n[[service]]\nname = \"a\"\ntier = 1\npaths = [\"x/[\"]\n";
    let rendered = render(&files(PEOPLE, services, "version = 1\n"));
    for expected in [
        "tier must be 0 or more",
        "service `a` has no paths",
        "owner `nobody` is neither a team nor a person",
        "service `a` is defined twice",
        "bad glob `x/[`",
        "services.toml:9:10",
    ] {
        assert!(rendered.contains(expected), "missing {expected:?} in:\n{rendered}");
    }
}

#[test]
fn diagnostics_carry_file_line_and_column_for_json() {
    let errors = Config::load(&files(
        PEOPLE,
        SERVICES,
        "version = 1\n[[rule]]\nname = \"x\"\nrequires = { count = 1, min_level = \"boss\" }\n",
    ))
    .unwrap_err();
    let summary = errors[0].summary();
    assert_eq!((summary.file.as_str(), summary.line, summary.column), ("policy.toml", 4, 37));
    insta::assert_json_snapshot!(summary, @r###"
    {
      "file": "policy.toml",
      "line": 4,
      "column": 37,
      "message": "unknown level `boss`",
      "help": "levels in people.toml are: intern, junior, mid, senior, staff, principal"
    }
    "###);
}

#[test]
fn a_policy_without_rules_is_refused() {
    check_policy(
        "a_policy_without_rules_is_refused",
        "version = 1\n[approvals]\nmax_age_days = 7\n",
        &["the policy has no rules, so it would allow every change", "policy.toml:1:11", "add at least one [[rule]]"],
    );
}

#[test]
fn calibrated_risk_settings_are_read_and_checked() {
    let policy =
        format!("{POLICY}\n[risk]\nai_share = {{ high = 0.8 }}\nrecent_fixes = {{ high = 4 }}\nuntested = \"high\"\n");
    let (config, _) = Config::load(&files(PEOPLE, SERVICES, &policy)).expect("valid");
    let risk = &config.policy.risk;
    assert_eq!(risk.ai_share.high, Some(0.8));
    assert_eq!(risk.recent_fixes.high, Some(4.0));
    assert_eq!((risk.recent_fixes_days, risk.untested), (90, Some(countersign_core::risk::RiskLevel::High)));
    assert!(config.policy.reads_recent_fixes());
    let (config, _) = Config::load(&files(PEOPLE, SERVICES, POLICY)).expect("valid");
    assert!(!config.policy.reads_recent_fixes(), "off unless set");
    let shares = format!("{POLICY}\n[risk]\nai_share = {{ high = 80 }}\n");
    let rendered = render(&files(PEOPLE, SERVICES, &shares));
    assert!(rendered.contains("`ai_share` thresholds are shares of the added lines"), "{rendered}");
    let predicate = POLICY
        .replace("name = \"two-person\"", "name = \"two-person\"\nwhen = { not = { recent_fixes_at_least = 2 } }");
    let (config, _) = Config::load(&files(PEOPLE, SERVICES, &predicate)).expect("valid");
    assert!(config.policy.reads_recent_fixes(), "a rule that asks, even under `not`, needs the count");
}
