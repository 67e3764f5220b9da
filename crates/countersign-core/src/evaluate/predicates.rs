//! The `when` predicates of rules, each with the reason it holds or not.

use crate::config::Config;
use crate::directory::Rank;
use crate::policy::Predicate;

use super::analysis::Analysis;
use super::plural;

pub(super) fn holds(config: &Config, predicate: &Predicate, facts: &Analysis, why: &mut Vec<String>) -> bool {
    let levels = config.directory.levels();
    let (result, reason) = match predicate {
        Predicate::All(all) => {
            let mut inner = Vec::new();
            let result = all.iter().all(|predicate| holds(config, predicate, facts, &mut inner));
            why.extend(inner);
            return result;
        }
        Predicate::Any(any) => {
            let mut matched = Vec::new();
            let mut unmatched = Vec::new();
            for predicate in any {
                let mut inner = Vec::new();
                if holds(config, predicate, facts, &mut inner) {
                    matched.extend(inner);
                } else {
                    unmatched.extend(inner);
                }
            }
            let result = !matched.is_empty();
            why.push(if result {
                format!("any of: {}", matched.join("; "))
            } else {
                format!("none of: {}", unmatched.join("; "))
            });
            return result;
        }
        Predicate::Not(inner) => {
            let mut inner_why = Vec::new();
            let result = !holds(config, inner, facts, &mut inner_why);
            why.push(format!("not ({})", inner_why.join("; ")));
            return result;
        }
        Predicate::AiAssisted(wanted) => (
            facts.ai_assisted == *wanted,
            if facts.ai_assisted {
                format!("AI-assisted ({})", plural(facts.n_signals, "signal"))
            } else {
                "not AI-assisted".to_owned()
            },
        ),
        Predicate::AgentAuthored(wanted) => (
            facts.agent_authored == *wanted,
            if facts.agent_authored {
                "authored by an agent".to_owned()
            } else {
                "no commit authored by an agent".to_owned()
            },
        ),
        Predicate::AuthorLevelBelow(level) => {
            let (id, rank) =
                facts.least.as_ref().map_or(("(no human)", Rank::Unknown), |(id, rank)| (id.as_str(), *rank));
            let result = rank < Rank::Level(*level);
            let relation = if result { "<" } else { ">=" };
            (
                result,
                format!(
                    "least senior author {id} is {} {relation} {}",
                    config.directory.level_name(rank),
                    levels[*level]
                ),
            )
        }
        Predicate::AuthorLevelAtLeast(level) => {
            let (id, rank) =
                facts.least.as_ref().map_or(("(no human)", Rank::Unknown), |(id, rank)| (id.as_str(), *rank));
            let result = rank >= Rank::Level(*level);
            let relation = if result { ">=" } else { "<" };
            (
                result,
                format!(
                    "least senior author {id} is {} {relation} {}",
                    config.directory.level_name(rank),
                    levels[*level]
                ),
            )
        }
        Predicate::AuthorInTeams(teams) => {
            let members: Vec<&str> = facts
                .responsible_people
                .iter()
                .map(|idx| &config.directory.people()[*idx])
                .filter(|person| teams.iter().any(|team| person.in_team(team)))
                .map(|person| person.id.as_str())
                .collect();
            let result = !members.is_empty();
            (
                result,
                if result {
                    format!("{} in {}", members.join(", "), teams.join(", "))
                } else {
                    format!("no author in {}", teams.join(", "))
                },
            )
        }
        Predicate::Paths(globs) => {
            let matched: Vec<&str> =
                facts.paths.iter().map(String::as_str).filter(|path| globs.matches(path)).collect();
            let result = !matched.is_empty();
            let reason = match matched.first() {
                Some(first) if matched.len() > 1 => {
                    format!("touches {first} and {} more matching {}", matched.len() - 1, globs.patterns.join(", "))
                }
                Some(first) => format!("touches {first} matching {}", globs.patterns.join(", ")),
                None => format!("no path matches {}", globs.patterns.join(", ")),
            };
            (result, reason)
        }
        Predicate::OnlyPaths(globs) => {
            let outside = facts.paths.iter().find(|path| !globs.matches(path));
            let result = outside.is_none() && !facts.paths.is_empty();
            (
                result,
                match outside {
                    Some(path) => format!("{path} is outside {}", globs.patterns.join(", ")),
                    None if facts.paths.is_empty() => "no path changed".to_owned(),
                    None => format!("every path matches {}", globs.patterns.join(", ")),
                },
            )
        }
        Predicate::Services(names) => {
            let touched: Vec<&str> = facts
                .services
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| names.iter().any(|wanted| wanted == name))
                .collect();
            let result = !touched.is_empty();
            (
                result,
                if result {
                    format!("touches service {}", touched.join(", "))
                } else {
                    format!("touches none of {}", names.join(", "))
                },
            )
        }
        Predicate::TierAtMost(tier) => {
            let most_critical = facts.services.iter().min_by_key(|(_, service_tier)| *service_tier);
            match most_critical {
                Some((name, service_tier)) if service_tier <= tier => {
                    (true, format!("touches tier-{service_tier} service {name}"))
                }
                Some((name, service_tier)) => {
                    (false, format!("most critical service touched is {name}, tier {service_tier} > {tier}"))
                }
                None => (false, "touches no service of services.toml".to_owned()),
            }
        }
        Predicate::RiskAtLeast(level) => (
            facts.risk.level >= *level,
            format!("risk {} {} {level}", facts.risk.level, if facts.risk.level >= *level { ">=" } else { "<" }),
        ),
        Predicate::Destructive(wanted) => {
            let destructive = !facts.destructive.is_empty();
            (
                destructive == *wanted,
                if destructive {
                    let operations: Vec<String> = facts.destructive.iter().map(ToString::to_string).collect();
                    format!("destructive: {}", operations.join("; "))
                } else {
                    "no destructive operation found".to_owned()
                },
            )
        }
        Predicate::LinesChangedOver(limit) => (
            facts.lines_changed > *limit,
            format!(
                "{} lines changed ({} {limit})",
                facts.lines_changed,
                if facts.lines_changed > *limit { ">" } else { "<=" }
            ),
        ),
        Predicate::FilesChangedOver(limit) => {
            let files = facts.paths.len() as u64;
            (files > *limit, format!("{files} files changed ({} {limit})", if files > *limit { ">" } else { "<=" }))
        }
        Predicate::Environments(environments) => {
            let result = environments.contains(&facts.change.environment);
            (
                result,
                format!(
                    "environment {} {} {}",
                    facts.change.environment,
                    if result { "is in" } else { "is not in" },
                    environments.join(", ")
                ),
            )
        }
        Predicate::TargetBranches(globs) => match facts.target_branch.as_deref() {
            Some(branch) => {
                let result = globs.matches(branch);
                (
                    result,
                    format!(
                        "target branch {branch} {} {}",
                        if result { "matches" } else { "does not match" },
                        globs.patterns.join(", ")
                    ),
                )
            }
            // An unknown target branch cannot be shown not to match: the rule applies.
            None => (true, "target branch unknown (pass --target-branch); rule applied".to_owned()),
        },
    };
    why.push(reason);
    result
}
