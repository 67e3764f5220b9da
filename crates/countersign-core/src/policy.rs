//! The policy (`policy.toml`): parsed into raw spanned values, then validated into typed rules.

use globset::GlobSet;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, SourceFile};
use crate::directory::Directory;
use crate::risk::RiskLevel;
use crate::services::{Services, compile_globs};

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
    environments: Option<Vec<Spanned<String>>>,
    target_branches: Option<Vec<Spanned<String>>>,
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
    pub max_age_days: Option<u32>,
    pub rejections_block: bool,
}

#[derive(Clone, Debug)]
pub struct BreakGlass {
    pub min_level: usize,
    pub reason_required: bool,
    pub review_within_hours: u32,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub ai: AiSettings,
    pub approvals: ApprovalSettings,
    pub rules: Vec<Rule>,
    pub break_glass: Option<BreakGlass>,
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
    Environments(Vec<String>),
    TargetBranches(Globs),
}

#[derive(Clone, Debug)]
pub struct Requirement {
    pub count: u32,
    pub min_level: Option<usize>,
    pub teams: Vec<String>,
    pub people: Vec<String>,
    pub owners: bool,
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
        let approvals = ApprovalSettings {
            keep_on_rebase: raw.approvals.keep_on_rebase.unwrap_or(true),
            max_age_days,
            rejections_block: raw.approvals.rejections_block.unwrap_or(true),
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
        if validator.errors.is_empty() {
            Ok(Policy { ai, approvals, rules, break_glass })
        } else {
            Err(validator.errors)
        }
    }
}

impl Validator<'_> {
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
        if found.is_none() {
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
        for team in teams {
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
        if let Some(environments) = &raw.environments {
            all.push(Predicate::Environments(environments.iter().map(|env| env.get_ref().clone()).collect()));
        }
        if let Some(branches) = &raw.target_branches {
            all.push(Predicate::TargetBranches(self.globs(branches)));
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
        for person in &requires.people {
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
        }
    }
}
