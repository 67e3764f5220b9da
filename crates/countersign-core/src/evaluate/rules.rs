//! Rules and their requirements: who counts, owner groups, and who to suggest.

use std::collections::BTreeSet;

use crate::codeowners::Owner;
use crate::config::Config;
use crate::policy::{Requirement, Rule};

use super::analysis::Analysis;
use super::output::{CodeOwnersMatch, OwnerGroup, PathOwners, RuleOutcome, ServiceOwners, ServiceRef};

/// Greedy cover: repeatedly pick the eligible person who counts for the most still-missing
/// approvals, preferring the order of each rule's own suggestions.
pub(super) fn suggest_reviewers(
    config: &Config,
    rules: &[RuleOutcome],
    eligible_by_rule: &[Vec<usize>],
) -> Vec<String> {
    let n_people = config.directory.people().len();
    let mut missing: Vec<(u32, Vec<bool>, Vec<usize>)> = Vec::new();
    for (rule, eligible) in rules.iter().zip(eligible_by_rule) {
        if rule.applies && rule.missing > 0 {
            let mut mask = vec![false; n_people];
            for idx in eligible {
                mask[*idx] = true;
            }
            let order: Vec<usize> = rule
                .suggested
                .iter()
                .filter_map(|id| config.directory.person_index(id))
                .chain(eligible.iter().copied())
                .collect();
            missing.push((rule.missing, mask, order));
        }
    }
    let mut picked = vec![false; n_people];
    let mut picks = Vec::new();
    loop {
        let mut best: Option<(usize, usize, usize)> = None;
        for (rule_idx, (_, _, order)) in missing.iter().enumerate().filter(|(_, (left, _, _))| *left > 0) {
            for (rank, person) in order.iter().enumerate() {
                if picked[*person] {
                    continue;
                }
                let covers = missing.iter().filter(|(left, mask, _)| *left > 0 && mask[*person]).count();
                if covers == 0 {
                    continue;
                }
                let position = rule_idx * n_people.max(1) * 2 + rank;
                if best.is_none_or(|(best_covers, best_position, _)| {
                    covers > best_covers || (covers == best_covers && position < best_position)
                }) {
                    best = Some((covers, position, *person));
                }
            }
        }
        let Some((_, _, person)) = best else { break };
        for (left, mask, _) in &mut missing {
            if *left > 0 && mask[person] {
                *left -= 1;
            }
        }
        picked[person] = true;
        picks.push(config.directory.people()[person].id.clone());
    }
    picks
}

/// One owner group of the touched paths: a CODEOWNERS line's owners or a service's owners.
#[derive(Clone, Debug)]
pub(super) struct Group {
    pub(super) label: String,
    pub(super) paths: Vec<String>,
    /// Sorted positions of the group's people.
    pub(super) members: Vec<usize>,
}

#[derive(PartialEq, Eq, Hash)]
enum GroupKey {
    CodeOwners(usize),
    Service(usize),
}

pub(super) fn evaluate_rule(
    config: &Config,
    rule_idx: usize,
    rule: &Rule,
    analysis: &Analysis,
    (approved, uninformed): (&[bool], &[Option<String>]),
) -> (RuleOutcome, Vec<usize>) {
    let (applies, why) = analysis.applicability[rule_idx].clone();
    let mut outcome = RuleOutcome {
        name: rule.name.clone(),
        description: rule.description.clone(),
        applies,
        satisfied: true,
        why,
        approvals: Vec::new(),
        missing: 0,
        eligible: Vec::new(),
        suggested: Vec::new(),
        owner_groups: Vec::new(),
    };
    if !applies {
        return (outcome, Vec::new());
    }
    let people = config.directory.people();
    let requires = &rule.requires;
    let eligible: Vec<usize> =
        config.index.rule_candidates[rule_idx].iter().copied().filter(|idx| !analysis.excluded[*idx]).collect();
    let mut counted: Vec<usize> = eligible.iter().copied().filter(|idx| approved[*idx]).collect();
    if requires.informed {
        counted.retain(|idx| match &uninformed[*idx] {
            None => true,
            Some(reason) => {
                outcome.why.push(format!("{}'s approval does not count here: {reason}", people[*idx].id));
                false
            }
        });
    }
    outcome.approvals = counted.iter().map(|idx| people[*idx].id.clone()).collect();

    let groups: &[Group] = if requires.owners { &analysis.groups } else { &[] };
    let mut uncovered: Vec<&Group> = Vec::new();
    for group in groups {
        let covered_by =
            counted.iter().find(|idx| group.members.binary_search(idx).is_ok()).map(|idx| people[*idx].id.clone());
        if covered_by.is_none() {
            uncovered.push(group);
        }
        outcome.owner_groups.push(OwnerGroup { owners: group.label.clone(), paths: group.paths.clone(), covered_by });
    }
    if requires.owners && groups.is_empty() {
        outcome.why.push("no owners are defined for the touched paths".to_owned());
    }

    // Greedy cover of uncovered owner groups by eligible people who have not approved yet.
    let candidates: Vec<usize> = eligible.iter().copied().filter(|idx| !approved[*idx]).collect();
    let mut picks: Vec<usize> = Vec::new();
    let mut remaining = uncovered.clone();
    let mut impossible = 0u32;
    while !remaining.is_empty() {
        let best = candidates
            .iter()
            .filter(|idx| !picks.contains(idx))
            .map(|idx| (remaining.iter().filter(|group| group.members.binary_search(idx).is_ok()).count(), *idx))
            .filter(|(covers, _)| *covers > 0)
            .max_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| people[b.1].level.cmp(&people[a.1].level))
                    .then_with(|| people[b.1].id.cmp(&people[a.1].id))
            });
        match best {
            Some((_, idx)) => {
                remaining.retain(|group| group.members.binary_search(&idx).is_err());
                picks.push(idx);
            }
            None => {
                for group in &remaining {
                    outcome.why.push(format!(
                        "no eligible approver owns {} ({})",
                        group.paths.first().map_or("", String::as_str),
                        group.label
                    ));
                }
                impossible = remaining.len() as u32;
                remaining.clear();
            }
        }
    }
    let by_count = requires.count.saturating_sub(counted.len() as u32);
    let by_owners = picks.len() as u32 + impossible;
    outcome.missing = by_count.max(by_owners);
    outcome.satisfied = outcome.missing == 0;
    outcome.why.push(describe_requirement(config, requires, counted.len()));

    // Suggest owners first, then the least senior eligible people: seniors are the scarce ones.
    let mut others: Vec<(bool, usize, usize)> = candidates
        .iter()
        .filter(|idx| !picks.contains(idx))
        .map(|idx| (!groups.iter().any(|group| group.members.binary_search(idx).is_ok()), people[*idx].level, *idx))
        .collect();
    // When only owners can lower what is missing, only they can unblock the rule.
    let owners_decide = !uncovered.is_empty() && by_owners >= by_count;
    // Others are suggested only for approvals anyone eligible can give: never for owner groups
    // nobody eligible owns. Only the first of them are wanted: select them, do not sort everyone.
    let open_to_others = if owners_decide { 0 } else { by_count as usize };
    let wanted = open_to_others.saturating_sub(picks.len()).min(others.len());
    if wanted > 0 && wanted < others.len() {
        others.select_nth_unstable(wanted - 1);
        others.truncate(wanted);
    }
    others.sort_unstable();
    let others: Vec<usize> = others.into_iter().take(wanted).map(|(_, _, idx)| idx).collect();
    outcome.suggested =
        picks.iter().chain(others.iter()).take(outcome.missing as usize).map(|idx| people[*idx].id.clone()).collect();
    let unblockers: Vec<usize> = candidates
        .into_iter()
        .filter(|idx| !owners_decide || uncovered.iter().any(|group| group.members.binary_search(idx).is_ok()))
        .collect();
    outcome.eligible = unblockers.iter().map(|idx| people[*idx].id.clone()).collect();
    (outcome, unblockers)
}

fn describe_requirement(config: &Config, requires: &Requirement, counted: usize) -> String {
    let mut from = Vec::new();
    if let Some(level) = requires.min_level {
        from.push(format!("at least {}", config.directory.levels()[level]));
    }
    if !requires.teams.is_empty() {
        from.push(format!("in {}", requires.teams.join(" or ")));
    }
    if !requires.people.is_empty() {
        from.push(format!("one of {}", requires.people.join(", ")));
    }
    if requires.owners {
        from.push("covering every owner group".to_owned());
    }
    if requires.informed {
        from.push("who opened every changed file".to_owned());
    }
    let who = if from.is_empty() { "eligible reviewers".to_owned() } else { format!("reviewers {}", from.join(", ")) };
    format!("{counted} of {} approvals from {who}", requires.count)
}

/// Owner groups of the touched paths: the CODEOWNERS owners of each path and the owners of each
/// touched service, computed once per evaluation from the index built at load time.
pub(super) fn owner_groups(config: &Config, paths: &[String], path_services: &[Vec<usize>]) -> Vec<Group> {
    let mut keys: std::collections::HashMap<GroupKey, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut add = |key: GroupKey, path: &str, label: &dyn Fn() -> String, members: &[usize]| match keys.get(&key) {
        Some(&idx) => groups[idx].paths.push(path.to_owned()),
        None => {
            keys.insert(key, groups.len());
            groups.push(Group { label: label(), paths: vec![path.to_owned()], members: members.to_vec() });
        }
    };
    for (path, services) in paths.iter().zip(path_services) {
        if let Some(rule) = config.codeowners.rule_for(path)
            && let Some(members) = config.index.codeowners_members.get(&rule.line)
        {
            let label = || rule.owners.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
            add(GroupKey::CodeOwners(rule.line), path, &label, members);
        }
        for &service_idx in services {
            let service = &config.services.all()[service_idx];
            if service.owners.is_empty() {
                continue;
            }
            let label = || format!("service {} ({})", service.name, service.owners.join(", "));
            add(GroupKey::Service(service_idx), path, &label, &config.index.service_members[service_idx]);
        }
    }
    groups
}

/// Who owns one path and why: the deciding CODEOWNERS line, and the services it belongs to with
/// their owners. Works from whichever files exist (see [`crate::config::Ownership`]).
pub fn path_owners(ownership: &crate::config::Ownership, path: &str) -> PathOwners {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let people_of = |owners: &[Owner]| -> Vec<String> {
        let positions: BTreeSet<usize> =
            owners.iter().flat_map(|owner| crate::config::resolve_owner(&ownership.directory, owner)).collect();
        positions.into_iter().map(|idx| ownership.directory.people()[idx].id.clone()).collect()
    };
    PathOwners {
        path: path.to_owned(),
        codeowners_file: ownership.codeowners.file().map(str::to_owned),
        codeowners: ownership.codeowners.rule_for(path).map(|rule| CodeOwnersMatch {
            file: ownership.codeowners.file().unwrap_or("CODEOWNERS").to_owned(),
            line: rule.line,
            pattern: rule.pattern.clone(),
            owners: rule.owners.iter().map(ToString::to_string).collect(),
            people: people_of(&rule.owners),
        }),
        services: ownership
            .services
            .of_path(path)
            .map(|service| ServiceRef { name: service.name.clone(), tier: service.tier })
            .collect(),
        service_owners: ownership
            .services
            .of_path(path)
            .map(|service| ServiceOwners {
                service: service.name.clone(),
                owners: service.owners.clone(),
                people: ownership
                    .directory
                    .people()
                    .iter()
                    .filter(|person| service.owners.iter().any(|owner| *owner == person.id || person.in_team(owner)))
                    .map(|person| person.id.clone())
                    .collect(),
            })
            .collect(),
    }
}
