//! The policy (`policy.toml`): parsed into raw spanned values, then validated into typed rules.

use globset::GlobSet;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, SourceFile};
use crate::directory::Directory;
use std::collections::BTreeMap;

use crate::risk::{RiskLevel, RiskSettings, Thresholds};
use crate::rollout::{self, Rollout, STRATEGIES, Stage};
use crate::services::{Services, compile_glob, compile_globs};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    #[serde(default)]
    ai: RawAi,
    #[serde(default)]
    approvals: RawApprovals,
    #[serde(default)]
    rule: Vec<RawRule>,
    break_glass: Option<RawBreakGlass>,
    #[serde(default)]
    risk: RawRisk,
    #[serde(default)]
    rollout: RawRollouts,
    #[serde(default)]
    destructive: RawDestructive,
    #[serde(default)]
    server: RawServer,
}

/// `[server]`: the approval service whose signed attestations this gate trusts.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default)]
    keys: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRisk {
    tiers: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    destructive: Option<Spanned<String>>,
    hazards: Option<Spanned<String>>,
    gate_config: Option<Spanned<String>>,
    lines_changed: Option<Spanned<RawThresholds>>,
    files_changed: Option<Spanned<RawThresholds>>,
    directories: Option<Spanned<RawThresholds>>,
    services: Option<Spanned<RawThresholds>>,
    entropy_bits: Option<Spanned<RawThresholds>>,
    experience_days: Option<Spanned<i64>>,
    experience_min_commits: Option<Spanned<i64>>,
    inexperienced: Option<Spanned<String>>,
    ai_share: Option<Spanned<RawThresholds>>,
    recent_fixes: Option<Spanned<RawThresholds>>,
    recent_fixes_days: Option<Spanned<i64>>,
    untested: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    medium: Option<Spanned<f64>>,
    high: Option<Spanned<f64>>,
    critical: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRollouts {
    low: Option<Spanned<RawRollout>>,
    medium: Option<Spanned<RawRollout>>,
    high: Option<Spanned<RawRollout>>,
    critical: Option<Spanned<RawRollout>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    strategy: Option<Spanned<String>>,
    stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    one_box_first: Option<bool>,
    business_hours_only: Option<bool>,
    automatic_rollback: Option<bool>,
    manual_confirmation: Option<bool>,
    alone: Option<bool>,
    notes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    percent: Spanned<i64>,
    #[serde(default)]
    bake_minutes: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDestructive {
    migrations: Option<Vec<Spanned<String>>>,
    migrations_exclude: Option<Vec<Spanned<String>>>,
    manifests: Option<Vec<Spanned<String>>>,
    kinds: Option<Vec<Spanned<String>>>,
    postgres_version: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAi {
    #[serde(default)]
    trailers: Vec<Spanned<String>>,
    #[serde(default)]
    contextual_counts: bool,
    #[serde(default)]
    require_declaration: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    keep_on_rebase: Option<bool>,
    max_age_days: Option<Spanned<i64>>,
    rejections_block: Option<bool>,
    unknown_people: Option<Spanned<String>>,
    no_rule_applies: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    description: Option<String>,
    when: Option<Spanned<RawWhen>>,
    requires: Spanned<RawRequires>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    ai_assisted: Option<bool>,
    agent_authored: Option<bool>,
    author_level_below: Option<Spanned<String>>,
    author_level_at_least: Option<Spanned<String>>,
    author_in_teams: Option<Vec<Spanned<String>>>,
    paths: Option<Vec<Spanned<String>>>,
    only_paths: Option<Vec<Spanned<String>>>,
    services: Option<Vec<Spanned<String>>>,
    tier_at_most: Option<Spanned<i64>>,
    risk_at_least: Option<Spanned<String>>,
    destructive: Option<bool>,
    lines_changed_over: Option<Spanned<i64>>,
    files_changed_over: Option<Spanned<i64>>,
    ai_lines_over: Option<Spanned<i64>>,
    ai_share_over: Option<Spanned<f64>>,
    ai_lines_tier_at_most: Option<Spanned<i64>>,
    recent_fixes_at_least: Option<Spanned<i64>>,
    untested: Option<bool>,
    environments: Option<Vec<Spanned<String>>>,
    target_branches: Option<Vec<Spanned<String>>>,
    rollback: Option<bool>,
    any: Option<Vec<Spanned<RawWhen>>>,
    not: Option<Box<Spanned<RawWhen>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequires {
    count: Option<Spanned<i64>>,
    min_level: Option<Spanned<String>>,
    #[serde(default)]
    teams: Vec<Spanned<String>>,
    #[serde(default)]
    people: Vec<Spanned<String>>,
    #[serde(default)]
    owners: bool,
    #[serde(default)]
    informed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    min_level: Spanned<String>,
    #[serde(default = "default_true")]
    reason_required: bool,
    review_within_hours: Option<Spanned<i64>>,
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Debug)]
pub struct AiSettings {
    /// Lowercased extra trailer keys.
    pub trailers: Vec<String>,
    pub contextual_counts: bool,
    /// Every commit must carry a positive or negative declaration (`Assisted-by: none`).
    pub require_declaration: bool,
}

#[derive(Clone, Debug)]
pub struct ApprovalSettings {
    pub keep_on_rebase: bool,
    /// Approvals older than this stop counting. Rejections never expire.
    pub max_age_days: Option<u32>,
    pub rejections_block: bool,
    pub unknown_people: UnknownPeople,
    pub no_rule_applies: NoRuleApplies,
}

/// What a responsible human missing from the directory means (`[approvals] unknown_people`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownPeople {
    /// The change blocks until people.toml knows them (the default).
    Block,
    /// They rank below every level, and the change is judged on that.
    LowestLevel,
}

/// What a change to which no rule applies gets (`[approvals] no_rule_applies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRuleApplies {
    /// Blocked: a policy that says nothing about a change has not allowed it (the default).
    Block,
    Allow,
}

#[derive(Clone, Debug)]
pub struct BreakGlass {
    pub min_level: usize,
    pub reason_required: bool,
    pub review_within_hours: u32,
}

/// Where the analysers look for destructive operations in a change (`[destructive]`).
#[derive(Clone, Debug)]
pub struct DestructiveSettings {
    /// SQL migrations to lint; down migrations are excluded, as dropping is what they are for.
    pub migrations: Globs,
    pub migrations_exclude: Globs,
    /// YAML files read as Kubernetes manifests.
    pub manifests: Globs,
    /// Kinds whose deletion is destructive; deleting other objects is a hazard.
    pub kinds: Vec<String>,
    /// The PostgreSQL version the migrations run on, e.g. `"15"`, for version-dependent rules.
    pub postgres_version: Option<String>,
}

pub const DEFAULT_MIGRATIONS: [&str; 3] = ["**/migrations/**/*.sql", "**/migration/**/*.sql", "**/migrate/**/*.sql"];
pub const DEFAULT_MIGRATIONS_EXCLUDE: [&str; 2] = ["**/*.down.sql", "**/down.sql"];
pub const DEFAULT_MANIFESTS: [&str; 2] = ["**/*.yaml", "**/*.yml"];
/// Workloads, namespaces, volumes and CRDs: deleting them loses running service or data.
pub const DEFAULT_DESTRUCTIVE_KINDS: [&str; 12] = [
    "Namespace",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
];

#[derive(Clone, Debug)]
pub struct Policy {
    pub ai: AiSettings,
    pub approvals: ApprovalSettings,
    pub rules: Vec<Rule>,
    pub break_glass: Option<BreakGlass>,
    pub risk: RiskSettings,
    /// Rollout advice by risk level, lowest first.
    pub rollout: [Rollout; 4],
    pub destructive: DestructiveSettings,
    /// Public keys of approval servers: an attestation they signed is as good as the person's own.
    pub server_keys: Vec<ssh_key::PublicKey>,
}

impl Policy {
    pub fn rollout_for(&self, level: RiskLevel) -> &Rollout {
        &self.rollout[level as usize]
    }

    /// Whether deciding needs the recent fixes of the changed files: the `[risk]` factor or a
    /// rule's `recent_fixes_at_least`.
    pub fn reads_recent_fixes(&self) -> bool {
        self.risk.counts_recent_fixes()
            || self.rules.iter().filter_map(|rule| rule.when.as_ref()).any(Predicate::mentions_recent_fixes)
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub description: Option<String>,
    /// `None` when the rule always applies.
    pub when: Option<Predicate>,
    pub requires: Requirement,
}

/// A list of globs, kept with their text for explanations.
#[derive(Clone, Debug)]
pub struct Globs {
    pub patterns: Vec<String>,
    pub set: GlobSet,
}

impl Globs {
    /// Globs written by countersign itself, known to compile.
    pub fn builtin(patterns: &[&str]) -> Globs {
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(compile_glob(pattern).expect("built-in glob"));
        }
        Globs {
            patterns: patterns.iter().map(|pattern| (*pattern).to_owned()).collect(),
            set: builder.build().expect("built-in globs"),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        self.set.is_match(value)
    }
}

#[derive(Clone, Debug)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    AiAssisted(bool),
    AgentAuthored(bool),
    AuthorLevelBelow(usize),
    AuthorLevelAtLeast(usize),
    AuthorInTeams(Vec<String>),
    Paths(Globs),
    OnlyPaths(Globs),
    Services(Vec<String>),
    TierAtMost(u32),
    RiskAtLeast(RiskLevel),
    Destructive(bool),
    LinesChangedOver(u64),
    FilesChangedOver(u64),
    /// More added lines written by AI-assisted commits than this, within services of at most
    /// the tier when one is given.
    AiLinesOver(u64, Option<u32>),
    /// A larger share (0 to 1) of the added lines written by AI-assisted commits, within
    /// services of at most the tier when one is given.
    AiShareOver(f64, Option<u32>),
    /// At least this many fix or revert commits touched the changed files within the
    /// `[risk] recent_fixes_days`.
    RecentFixesAtLeast(u32),
    /// The change changes code and no test.
    Untested(bool),
    Environments(Vec<String>),
    TargetBranches(Globs),
    /// The head drops commits of the base: deploying it reverts them.
    Rollback(bool),
}

impl Predicate {
    fn mentions_recent_fixes(&self) -> bool {
        match self {
            Predicate::RecentFixesAtLeast(_) => true,
            Predicate::All(inner) | Predicate::Any(inner) => inner.iter().any(Predicate::mentions_recent_fixes),
            Predicate::Not(inner) => inner.mentions_recent_fixes(),
            _ => false,
        }
    }

    /// Whether the predicate asks for `rollback = true` where it must hold (not under `not`):
    /// such a rule is the policy's explicit permission, with its own requirement, to roll back.
    pub fn allows_rollback(&self) -> bool {
        match self {
            Predicate::Rollback(true) => true,
            Predicate::All(all) => all.iter().any(Predicate::allows_rollback),
            Predicate::Any(any) => !any.is_empty() && any.iter().all(Predicate::allows_rollback),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Requirement {
    pub count: u32,
    pub min_level: Option<usize>,
    pub teams: Vec<String>,
    pub people: Vec<String>,
    pub owners: bool,
    /// Only approvals given after opening every changed file in the web interface count.
    pub informed: bool,
}

impl Requirement {
    /// Whether a person meets the level, team and people conditions, before the exclusions that
    /// depend on the change.
    pub fn admits(&self, person: &crate::directory::Person) -> bool {
        self.min_level.is_none_or(|level| person.level >= level)
            && (self.teams.is_empty() || self.teams.iter().any(|team| person.in_team(team)))
            && (self.people.is_empty() || self.people.contains(&person.id))
    }
}

/// Checks values against the directory and services while building typed rules.
struct Validator<'a> {
    source: &'a SourceFile,
    directory: &'a Directory,
    services: &'a Services,
    errors: Vec<ConfigError>,
}

impl Policy {
    pub fn parse(source: &SourceFile, directory: &Directory, services: &Services) -> Result<Policy, Vec<ConfigError>> {
        let raw: RawPolicy =
            toml::from_str(&source.text).map_err(|error| vec![ConfigError::from_toml(source, &error)])?;
        let mut validator = Validator { source, directory, services, errors: Vec::new() };
        if *raw.version.get_ref() != 1 {
            validator.error(
                raw.version.span(),
                format!("unsupported policy version {}", raw.version.get_ref()),
                "this countersign reads `version = 1`",
            );
        }
        let ai = AiSettings {
            trailers: raw.ai.trailers.iter().map(|key| validator.trailer_key(key)).collect(),
            contextual_counts: raw.ai.contextual_counts,
            require_declaration: raw.ai.require_declaration,
        };
        let max_age_days =
            raw.approvals.max_age_days.as_ref().map(|days| validator.non_negative(days, "max_age_days") as u32);
        let unknown_people = match raw.approvals.unknown_people.as_ref() {
            None => UnknownPeople::Block,
            Some(value) => match value.get_ref().as_str() {
                "block" => UnknownPeople::Block,
                "lowest-level" => UnknownPeople::LowestLevel,
                other => {
                    validator.error(
                        value.span(),
                        format!("unknown_people = `{other}` is not a choice"),
                        "use \"block\" (the default) or \"lowest-level\"",
                    );
                    UnknownPeople::Block
                }
            },
        };
        let no_rule_applies = match raw.approvals.no_rule_applies.as_ref() {
            None => NoRuleApplies::Block,
            Some(value) => match value.get_ref().as_str() {
                "block" => NoRuleApplies::Block,
                "allow" => NoRuleApplies::Allow,
                other => {
                    validator.error(
                        value.span(),
                        format!("no_rule_applies = `{other}` is not a choice"),
                        "use \"block\" (the default) or \"allow\"",
                    );
                    NoRuleApplies::Block
                }
            },
        };
        let approvals = ApprovalSettings {
            keep_on_rebase: raw.approvals.keep_on_rebase.unwrap_or(true),
            max_age_days,
            rejections_block: raw.approvals.rejections_block.unwrap_or(true),
            unknown_people,
            no_rule_applies,
        };
        let mut rules: Vec<Rule> = Vec::new();
        for raw_rule in raw.rule {
            let name = raw_rule.name.get_ref().trim().to_owned();
            if name.is_empty() {
                validator.error(
                    raw_rule.name.span(),
                    "empty rule name".to_owned(),
                    "name every rule; the name is shown in every decision",
                );
            } else if rules.iter().any(|rule| rule.name == name) {
                validator.error(
                    raw_rule.name.span(),
                    format!("rule `{name}` is defined twice"),
                    "rule names must be unique",
                );
            }
            let when = raw_rule.when.as_ref().map(|when| validator.predicate(when));
            let requires = validator.requirement(&raw_rule.requires);
            rules.push(Rule { name, description: raw_rule.description, when, requires });
        }
        if rules.is_empty() {
            // A gate without rules would allow everything; that is never what a policy means.
            validator.errors.push(
                ConfigError::new(
                    source,
                    Some(raw.version.span()),
                    "the policy has no rules, so it would allow every change",
                )
                .with_label("no [[rule]] follows")
                .with_help("add at least one [[rule]], e.g. name = \"two-person\" with requires = { count = 1 }"),
            );
        }
        let break_glass = raw.break_glass.as_ref().map(|raw| BreakGlass {
            min_level: validator.level(&raw.min_level).unwrap_or(usize::MAX),
            reason_required: raw.reason_required,
            review_within_hours: raw
                .review_within_hours
                .as_ref()
                .map_or(24, |hours| validator.non_negative(hours, "review_within_hours") as u32),
        });
        let risk = validator.risk(&raw.risk);
        let rollout = [
            validator.rollout(RiskLevel::Low, raw.rollout.low.as_ref()),
            validator.rollout(RiskLevel::Medium, raw.rollout.medium.as_ref()),
            validator.rollout(RiskLevel::High, raw.rollout.high.as_ref()),
            validator.rollout(RiskLevel::Critical, raw.rollout.critical.as_ref()),
        ];
        let destructive = validator.destructive(&raw.destructive);
        let server_keys = validator.server_keys(&raw.server);
        if validator.errors.is_empty() {
            Ok(Policy { ai, approvals, rules, break_glass, risk, rollout, destructive, server_keys })
        } else {
            Err(validator.errors)
        }
    }
}

impl Validator<'_> {
    fn server_keys(&mut self, raw: &RawServer) -> Vec<ssh_key::PublicKey> {
        let mut keys = Vec::new();
        for key in &raw.keys {
            match ssh_key::PublicKey::from_openssh(key.get_ref().trim()) {
                Ok(public_key) if public_key.algorithm() == ssh_key::Algorithm::Ed25519 => keys.push(public_key),
                Ok(_) => self.error(
                    key.span(),
                    "an approval server signs with ed25519 only".to_owned(),
                    "paste the line `countersign serve` prints at start, \"ssh-ed25519 AAAAC3Nza… countersign-server\"",
                ),
                Err(error) => self.error(
                    key.span(),
                    format!("cannot read SSH public key: {error}"),
                    "paste the line `countersign serve` prints at start, \"ssh-ed25519 AAAAC3Nza… countersign-server\"",
                ),
            }
        }
        keys
    }

    fn error(&mut self, span: std::ops::Range<usize>, message: String, help: &str) {
        self.errors.push(ConfigError::new(self.source, Some(span), message).with_help(help));
    }

    fn trailer_key(&mut self, key: &Spanned<String>) -> String {
        let value = key.get_ref().trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            self.error(
                key.span(),
                format!("`{value}` is not a trailer key"),
                "write the key without the colon, e.g. \"AI-Tool\"",
            );
        }
        value.to_ascii_lowercase()
    }

    fn non_negative(&mut self, value: &Spanned<i64>, what: &str) -> u64 {
        match u32::try_from(*value.get_ref()) {
            Ok(value) => u64::from(value),
            Err(_) => {
                self.error(
                    value.span(),
                    format!("`{what}` must be a whole number from 0 to {}", u32::MAX),
                    "use a non-negative number",
                );
                0
            }
        }
    }

    fn level(&mut self, name: &Spanned<String>) -> Option<usize> {
        let found = self.directory.level_index(name.get_ref());
        if found.is_none() && self.directory.is_complete() {
            let help = format!("levels in people.toml are: {}", self.directory.levels().join(", "));
            self.errors.push(
                ConfigError::new(self.source, Some(name.span()), format!("unknown level `{}`", name.get_ref()))
                    .with_label("not a level of people.toml")
                    .with_help(help),
            );
        }
        found
    }

    fn teams(&mut self, teams: &[Spanned<String>]) -> Vec<String> {
        for team in teams.iter().filter(|_| self.directory.is_complete()) {
            if !self.directory.is_team(team.get_ref()) {
                let help = format!("known teams are: {}", self.directory.team_names().join(", "));
                self.errors.push(
                    ConfigError::new(self.source, Some(team.span()), format!("unknown team `{}`", team.get_ref()))
                        .with_label("no person of people.toml is in this team")
                        .with_help(help),
                );
            }
        }
        teams.iter().map(|team| team.get_ref().clone()).collect()
    }

    fn globs(&mut self, patterns: &[Spanned<String>]) -> Globs {
        let set = compile_globs(self.source, patterns, &mut self.errors);
        Globs { patterns: patterns.iter().map(|pattern| pattern.get_ref().clone()).collect(), set }
    }

    fn predicate(&mut self, when: &Spanned<RawWhen>) -> Predicate {
        let raw = when.get_ref();
        let mut all = Vec::new();
        if let Some(value) = raw.ai_assisted {
            all.push(Predicate::AiAssisted(value));
        }
        if let Some(value) = raw.agent_authored {
            all.push(Predicate::AgentAuthored(value));
        }
        if let Some(level) = raw.author_level_below.as_ref().and_then(|level| self.level(level)) {
            all.push(Predicate::AuthorLevelBelow(level));
        }
        if let Some(level) = raw.author_level_at_least.as_ref().and_then(|level| self.level(level)) {
            all.push(Predicate::AuthorLevelAtLeast(level));
        }
        if let Some(teams) = &raw.author_in_teams {
            all.push(Predicate::AuthorInTeams(self.teams(teams)));
        }
        if let Some(paths) = &raw.paths {
            all.push(Predicate::Paths(self.globs(paths)));
        }
        if let Some(paths) = &raw.only_paths {
            all.push(Predicate::OnlyPaths(self.globs(paths)));
        }
        if let Some(names) = &raw.services {
            for name in names {
                if !self.services.all().iter().any(|service| service.name == *name.get_ref()) {
                    let known: Vec<&str> = self.services.all().iter().map(|service| service.name.as_str()).collect();
                    self.errors.push(
                        ConfigError::new(
                            self.source,
                            Some(name.span()),
                            format!("unknown service `{}`", name.get_ref()),
                        )
                        .with_label("not in services.toml")
                        .with_help(format!("services are: {}", known.join(", "))),
                    );
                }
            }
            all.push(Predicate::Services(names.iter().map(|name| name.get_ref().clone()).collect()));
        }
        if let Some(tier) = &raw.tier_at_most {
            all.push(Predicate::TierAtMost(self.non_negative(tier, "tier_at_most") as u32));
        }
        if let Some(level) = &raw.risk_at_least {
            match level.get_ref().parse::<RiskLevel>() {
                Ok(risk) => all.push(Predicate::RiskAtLeast(risk)),
                Err(()) => self.error(
                    level.span(),
                    format!("unknown risk level `{}`", level.get_ref()),
                    "use one of: low, medium, high, critical",
                ),
            }
        }
        if let Some(value) = raw.destructive {
            all.push(Predicate::Destructive(value));
        }
        if let Some(lines) = &raw.lines_changed_over {
            all.push(Predicate::LinesChangedOver(self.non_negative(lines, "lines_changed_over")));
        }
        if let Some(files) = &raw.files_changed_over {
            all.push(Predicate::FilesChangedOver(self.non_negative(files, "files_changed_over")));
        }
        let ai_tier =
            raw.ai_lines_tier_at_most.as_ref().map(|tier| self.non_negative(tier, "ai_lines_tier_at_most") as u32);
        if let Some(lines) = &raw.ai_lines_over {
            all.push(Predicate::AiLinesOver(self.non_negative(lines, "ai_lines_over"), ai_tier));
        }
        if let Some(share) = &raw.ai_share_over {
            let value = *share.get_ref();
            if !(0.0..1.0).contains(&value) {
                self.error(
                    share.span(),
                    format!("`ai_share_over` is {value}; it is a share of the added lines"),
                    "use a number from 0 up to (not including) 1, e.g. 0.5 for more than half",
                );
            }
            all.push(Predicate::AiShareOver(value, ai_tier));
        }
        if let Some(tier) = &raw.ai_lines_tier_at_most
            && raw.ai_lines_over.is_none()
            && raw.ai_share_over.is_none()
        {
            self.error(
                tier.span(),
                "`ai_lines_tier_at_most` alone says nothing".to_owned(),
                "it narrows `ai_lines_over` or `ai_share_over` in the same `when` to services of at most that tier",
            );
        }
        if let Some(count) = &raw.recent_fixes_at_least {
            all.push(Predicate::RecentFixesAtLeast(self.non_negative(count, "recent_fixes_at_least") as u32));
        }
        if let Some(value) = raw.untested {
            all.push(Predicate::Untested(value));
        }
        if let Some(environments) = &raw.environments {
            all.push(Predicate::Environments(environments.iter().map(|env| env.get_ref().clone()).collect()));
        }
        if let Some(branches) = &raw.target_branches {
            all.push(Predicate::TargetBranches(self.globs(branches)));
        }
        if let Some(value) = raw.rollback {
            all.push(Predicate::Rollback(value));
        }
        if let Some(any) = &raw.any {
            if any.is_empty() {
                self.error(
                    when.span(),
                    "`any` is empty".to_owned(),
                    "an empty `any` never holds; list at least one condition",
                );
            }
            all.push(Predicate::Any(any.iter().map(|inner| self.predicate(inner)).collect()));
        }
        if let Some(not) = &raw.not {
            all.push(Predicate::Not(Box::new(self.predicate(not))));
        }
        if all.is_empty() {
            self.error(
                when.span(),
                "empty condition".to_owned(),
                "remove `when` for a rule that always applies, or add a condition such as ai_assisted = true",
            );
        }
        if all.len() == 1 { all.remove(0) } else { Predicate::All(all) }
    }

    fn requirement(&mut self, raw: &Spanned<RawRequires>) -> Requirement {
        let requires = raw.get_ref();
        let count = match &requires.count {
            Some(count) if *count.get_ref() < 1 || *count.get_ref() > 20 => {
                self.error(
                    count.span(),
                    format!("`count = {}` is out of range", count.get_ref()),
                    "require from 1 to 20 approvals",
                );
                1
            }
            Some(count) => *count.get_ref() as u32,
            None => 1,
        };
        let min_level = requires.min_level.as_ref().and_then(|level| self.level(level));
        let teams = self.teams(&requires.teams);
        for person in requires.people.iter().filter(|_| self.directory.is_complete()) {
            if self.directory.person(person.get_ref()).is_none() {
                let message = match self.directory.by_id(person.get_ref()) {
                    Some(_) => format!("`{}` is an agent; agents can never approve", person.get_ref()),
                    None => format!("unknown person `{}`", person.get_ref()),
                };
                self.error(person.span(), message, "list person ids of people.toml");
            }
        }
        Requirement {
            count,
            min_level,
            teams,
            people: requires.people.iter().map(|person| person.get_ref().clone()).collect(),
            owners: requires.owners,
            informed: requires.informed,
        }
    }

    fn risk_level(&mut self, value: &Spanned<String>, none_allowed: bool) -> Option<RiskLevel> {
        match value.get_ref().parse::<RiskLevel>() {
            Ok(level) => Some(level),
            Err(()) if none_allowed && value.get_ref() == "none" => None,
            Err(()) => {
                let help = if none_allowed {
                    "use one of: low, medium, high, critical, or \"none\" to ignore it"
                } else {
                    "use one of: low, medium, high, critical"
                };
                self.error(value.span(), format!("unknown risk level `{}`", value.get_ref()), help);
                None
            }
        }
    }

    fn thresholds(&mut self, raw: Option<&Spanned<RawThresholds>>, default: Thresholds) -> Thresholds {
        let Some(raw) = raw else { return default };
        let mut value = |threshold: &Option<Spanned<f64>>| {
            let threshold = threshold.as_ref()?;
            if !threshold.get_ref().is_finite() || *threshold.get_ref() < 0.0 {
                self.error(threshold.span(), "a threshold must be a number of at least 0".to_owned(), "e.g. 1000");
                return None;
            }
            Some(*threshold.get_ref())
        };
        let thresholds = Thresholds {
            medium: value(&raw.get_ref().medium),
            high: value(&raw.get_ref().high),
            critical: value(&raw.get_ref().critical),
        };
        let given: Vec<f64> = [thresholds.medium, thresholds.high, thresholds.critical].into_iter().flatten().collect();
        if given.windows(2).any(|pair| pair[0] > pair[1]) {
            self.error(
                raw.span(),
                "thresholds must not decrease from medium to high to critical".to_owned(),
                "a higher level needs a larger value, e.g. { medium = 1000, high = 5000 }",
            );
        }
        thresholds
    }

    fn risk(&mut self, raw: &RawRisk) -> RiskSettings {
        let default = RiskSettings::default();
        let tiers = match &raw.tiers {
            None => default.tiers,
            Some(table) => {
                let mut tiers: Vec<Option<RiskLevel>> = Vec::new();
                for (tier, level) in table.get_ref() {
                    let Ok(tier) = tier.parse::<u8>() else {
                        self.error(
                            table.span(),
                            format!("`{tier}` is not a tier"),
                            "keys of `tiers` are tier numbers as in services.toml, e.g. { 0 = \"high\", 1 = \"medium\" }",
                        );
                        continue;
                    };
                    let tier = usize::from(tier);
                    if tiers.len() <= tier {
                        tiers.resize(tier + 1, None);
                    }
                    tiers[tier] = self.risk_level(level, true);
                }
                tiers
            }
        };
        let level_or = |validator: &mut Self, value: &Option<Spanned<String>>, default: RiskLevel| {
            value.as_ref().map_or(default, |value| validator.risk_level(value, false).unwrap_or(default))
        };
        RiskSettings {
            tiers,
            destructive: level_or(self, &raw.destructive, default.destructive),
            hazards: level_or(self, &raw.hazards, default.hazards),
            gate_config: level_or(self, &raw.gate_config, default.gate_config),
            lines_changed: self.thresholds(raw.lines_changed.as_ref(), default.lines_changed),
            files_changed: self.thresholds(raw.files_changed.as_ref(), default.files_changed),
            directories: self.thresholds(raw.directories.as_ref(), default.directories),
            services: self.thresholds(raw.services.as_ref(), default.services),
            entropy_bits: self.thresholds(raw.entropy_bits.as_ref(), default.entropy_bits),
            experience_days: raw
                .experience_days
                .as_ref()
                .map_or(default.experience_days, |days| self.non_negative(days, "experience_days") as u32),
            experience_min_commits: raw
                .experience_min_commits
                .as_ref()
                .map_or(default.experience_min_commits, |n| self.non_negative(n, "experience_min_commits") as u32),
            inexperienced: match &raw.inexperienced {
                None => default.inexperienced,
                Some(value) => self.risk_level(value, true),
            },
            ai_share: self.share_thresholds(raw.ai_share.as_ref()),
            recent_fixes: self.thresholds(raw.recent_fixes.as_ref(), default.recent_fixes),
            recent_fixes_days: raw
                .recent_fixes_days
                .as_ref()
                .map_or(default.recent_fixes_days, |days| self.non_negative(days, "recent_fixes_days") as u32),
            untested: raw.untested.as_ref().and_then(|value| self.risk_level(value, true)),
        }
    }

    /// Thresholds on a share of the added lines: each from 0 to 1.
    fn share_thresholds(&mut self, raw: Option<&Spanned<RawThresholds>>) -> Thresholds {
        let thresholds = self.thresholds(raw, Thresholds::OFF);
        if let Some(raw) = raw
            && [thresholds.medium, thresholds.high, thresholds.critical].into_iter().flatten().any(|share| share > 1.0)
        {
            self.error(
                raw.span(),
                "`ai_share` thresholds are shares of the added lines".to_owned(),
                "use numbers from 0 to 1, e.g. { high = 0.8 } for four fifths",
            );
        }
        thresholds
    }

    fn rollout(&mut self, level: RiskLevel, raw: Option<&Spanned<RawRollout>>) -> Rollout {
        let mut plan = rollout::default_for(level);
        let Some(raw) = raw.map(Spanned::get_ref) else { return plan };
        if let Some(strategy) = &raw.strategy {
            if STRATEGIES.contains(&strategy.get_ref().as_str()) {
                plan.strategy = strategy.get_ref().clone();
            } else {
                self.error(
                    strategy.span(),
                    format!("unknown rollout strategy `{}`", strategy.get_ref()),
                    &format!("use one of: {}", STRATEGIES.join(", ")),
                );
            }
        }
        if let Some(stages) = &raw.stages {
            let mut checked: Vec<Stage> = Vec::new();
            for stage in stages.get_ref() {
                let percent = *stage.get_ref().percent.get_ref();
                let previous = checked.last().map_or(0, |stage| stage.percent);
                if !(1..=100).contains(&percent) || percent <= i64::from(previous) {
                    self.error(
                        stage.get_ref().percent.span(),
                        format!("stage at {percent}% does not follow {previous}%"),
                        "stages send a growing share of traffic, from 1 to 100 percent",
                    );
                }
                let bake_minutes = stage
                    .get_ref()
                    .bake_minutes
                    .as_ref()
                    .map_or(0, |minutes| self.non_negative(minutes, "bake_minutes") as u32);
                checked.push(Stage { percent: percent.clamp(0, 100) as u32, bake_minutes });
            }
            if checked.last().is_none_or(|stage| stage.percent != 100) {
                self.error(
                    stages.span(),
                    "the last stage must send 100% of traffic".to_owned(),
                    "end with { percent = 100 }",
                );
            }
            plan.stages = checked;
        }
        let flags = [
            (&mut plan.one_box_first, raw.one_box_first),
            (&mut plan.business_hours_only, raw.business_hours_only),
            (&mut plan.automatic_rollback, raw.automatic_rollback),
            (&mut plan.manual_confirmation, raw.manual_confirmation),
            (&mut plan.alone, raw.alone),
        ];
        for (field, value) in flags {
            if let Some(value) = value {
                *field = value;
            }
        }
        if let Some(notes) = &raw.notes {
            plan.notes.clone_from(notes);
        }
        plan
    }

    fn destructive(&mut self, raw: &RawDestructive) -> DestructiveSettings {
        let mut globs = |patterns: &Option<Vec<Spanned<String>>>, default: &[&str]| match patterns {
            Some(patterns) => self.globs(patterns),
            None => Globs::builtin(default),
        };
        let migrations = globs(&raw.migrations, &DEFAULT_MIGRATIONS);
        let migrations_exclude = globs(&raw.migrations_exclude, &DEFAULT_MIGRATIONS_EXCLUDE);
        let manifests = globs(&raw.manifests, &DEFAULT_MANIFESTS);
        let kinds = match &raw.kinds {
            Some(kinds) => {
                for kind in kinds {
                    let name = kind.get_ref();
                    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
                        self.error(
                            kind.span(),
                            format!("`{name}` is not a Kubernetes kind"),
                            "kinds are written as in manifests, e.g. \"StatefulSet\"",
                        );
                    }
                }
                kinds.iter().map(|kind| kind.get_ref().clone()).collect()
            }
            None => DEFAULT_DESTRUCTIVE_KINDS.iter().map(|kind| (*kind).to_owned()).collect(),
        };
        let postgres_version = raw.postgres_version.as_ref().map(|version| {
            let text = version.get_ref();
            let valid = text.split('.').count() <= 3
                && text.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                self.error(
                    version.span(),
                    format!("`{text}` is not a PostgreSQL version"),
                    "write the server's version, e.g. \"15\" or \"16.2\"",
                );
            }
            text.clone()
        });
        DestructiveSettings { migrations, migrations_exclude, manifests, kinds, postgres_version }
    }
}
