//! The `when` predicates of rules, each with the reason it holds or not.

use crate::config::Config;
use crate::directory::Rank;
use crate::policy::Predicate;

use super::analysis::Analysis;
use super::plural;

/// Whether a condition holds. Something the gate does not know (an unknown target branch) is
/// neither true nor false, and stays unknown through `not`: a rule whose condition is unknown
/// applies, so wrapping a condition in `not` can never switch the fail-safe off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Truth {
    True,
    False,
    Unknown,
}

impl From<bool> for Truth {
    fn from(value: bool) -> Truth {
        if value { Truth::True } else { Truth::False }
    }
}

pub(super) fn holds(config: &Config, predicate: &Predicate, facts: &Analysis, why: &mut Vec<String>) -> Truth {
    let levels = config.directory.levels();
    let (result, reason) = match predicate {
        Predicate::All(all) => {
            let mut inner = Vec::new();
            let results: Vec<Truth> = all.iter().map(|predicate| holds(config, predicate, facts, &mut inner)).collect();
            why.extend(inner);
            return if results.contains(&Truth::False) {
                Truth::False
            } else if results.contains(&Truth::Unknown) {
                Truth::Unknown
            } else {
                Truth::True
            };
        }
        Predicate::Any(any) => {
            let mut matched = Vec::new();
            let mut unmatched = Vec::new();
            let (mut any_true, mut any_unknown) = (false, false);
            for predicate in any {
                let mut inner = Vec::new();
                match holds(config, predicate, facts, &mut inner) {
                    Truth::True => {
                        any_true = true;
                        matched.extend(inner);
                    }
                    Truth::Unknown => {
                        any_unknown = true;
                        matched.extend(inner);
                    }
                    Truth::False => unmatched.extend(inner),
                }
            }
            let result = match (any_true, any_unknown) {
                (true, _) => Truth::True,
                (false, true) => Truth::Unknown,
                (false, false) => Truth::False,
            };
            why.push(if result == Truth::False {
                format!("none of: {}", unmatched.join("; "))
            } else {
                format!("any of: {}", matched.join("; "))
            });
            return result;
        }
        Predicate::Not(inner) => {
            let mut inner_why = Vec::new();
            let result = match holds(config, inner, facts, &mut inner_why) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unknown => Truth::Unknown,
            };
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
        Predicate::AiLinesOver(limit, tier) => {
            let Some(attribution) = &facts.attribution else {
                why.push("which lines AI wrote is unknown; rule applied".to_owned());
                return Truth::Unknown;
            };
            let (ai, _) = attribution.counts(*tier);
            let scope = tier.map(|tier| format!(" in tier-{tier} or more critical services")).unwrap_or_default();
            (
                ai > *limit,
                format!("{ai} AI-written lines added{scope} ({} {limit})", if ai > *limit { ">" } else { "<=" }),
            )
        }
        Predicate::AiShareOver(limit, tier) => {
            let Some(attribution) = &facts.attribution else {
                why.push("which lines AI wrote is unknown; rule applied".to_owned());
                return Truth::Unknown;
            };
            let (ai, added) = attribution.counts(*tier);
            let share = if added == 0 { 0.0 } else { ai as f64 / added as f64 };
            let scope = tier.map(|tier| format!(" in tier-{tier} or more critical services")).unwrap_or_default();
            (
                share > *limit,
                format!(
                    "AI wrote {ai} of {added} added lines{scope} ({:.0}% {} {:.0}%)",
                    share * 100.0,
                    if share > *limit { ">" } else { "<=" },
                    limit * 100.0
                ),
            )
        }
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
            // An unknown target branch can be shown neither to match nor not to.
            None => {
                why.push("target branch unknown (pass --target-branch); rule applied".to_owned());
                return Truth::Unknown;
            }
        },
        Predicate::RecentFixesAtLeast(minimum) => match &facts.recent_fixes {
            Ok(count) => (
                count >= minimum,
                format!(
                    "{count} fixes touched these files in the last {} days ({} {minimum})",
                    config.policy.risk.recent_fixes_days,
                    if count >= minimum { ">=" } else { "<" }
                ),
            ),
            Err(unknown) => {
                why.push(format!("recent fixes of these files are unknown ({unknown}); rule applied"));
                return Truth::Unknown;
            }
        },
        Predicate::Untested(wanted) => (
            facts.untested == *wanted,
            if facts.untested { "changes code and no test" } else { "changes tests, or no code" }.to_owned(),
        ),
        Predicate::Rollback(wanted) => {
            let rollback = facts.rollback.is_some();
            (
                rollback == *wanted,
                match &facts.rollback {
                    Some(rollback) => format!(
                        "rollback: the head drops {} of the base",
                        plural(rollback.dropped_commits as usize, "commit")
                    ),
                    None => "not a rollback".to_owned(),
                },
            )
        }
    };
    why.push(reason);
    Truth::from(result)
}
