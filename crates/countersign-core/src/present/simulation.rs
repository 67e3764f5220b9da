//! `countersign simulate`: the replayed policies side by side, where reviews would have waited
//! and on whom.

use std::fmt::Write;

use crate::simulate::{PolicyReport, ReplayReport};

/// The policies side by side, one row per measure; `chart` is where the SVG chart was written.
/// `senior/other/none` for the later-fixed changes.
fn caught(caught: &crate::simulate::Caught) -> String {
    format!("{}/{}/{}", caught.fixed_with_senior, caught.fixed_with_review, caught.fixed_without_review)
}

pub fn simulation(output: &ReplayReport, chart: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simulated {} changes of {} ({} to {}) for {}",
        output.changes,
        output.range,
        output.first.as_deref().unwrap_or("-"),
        output.last.as_deref().unwrap_or("-"),
        output.environment
    );
    let _ = writeln!(
        out,
        "each reviewer completes {} reviews a day; seniors are {} and above\n",
        output.reviews_per_reviewer_per_day, output.senior_level
    );
    let policies = &output.policies;
    let share = |count: u64, policy: &PolicyReport| format!("{count} ({:.0}%)", super::percent(count, policy.changes));
    let row = |label: &str, cell: &dyn Fn(&PolicyReport) -> String| {
        (label.to_owned(), policies.iter().map(cell).collect::<Vec<String>>())
    };
    let mut rows = vec![
        row("policy", &|policy| policy.name.clone()),
        row("changes", &|policy| policy.changes.to_string()),
        row("AI-assisted", &|policy| share(policy.ai_assisted, policy)),
        row("need review", &|policy| share(policy.need_review, policy)),
        row("need a senior", &|policy| share(policy.need_senior, policy)),
        row("no one could approve", &|policy| policy.unapprovable.to_string()),
        row("risk low/med/high/crit", &|policy| policy.risk.iter().map(u64::to_string).collect::<Vec<_>>().join("/")),
        row("later fixed", &|policy| policy.efficacy.all.later_fixed.to_string()),
        row("  senior/other/no review", &|policy| caught(&policy.efficacy.all)),
        row("senior on never-fixed", &|policy| policy.efficacy.all.senior_on_never_fixed.to_string()),
        row("AI-assisted later fixed", &|policy| policy.efficacy.ai_assisted.later_fixed.to_string()),
        row("  senior/other/no review", &|policy| caught(&policy.efficacy.ai_assisted)),
        row("AI tier-0/destructive, senior", &|policy| {
            let covered = &policy.efficacy.ai_tier0_or_destructive;
            format!("{} of {}", covered.with_senior, covered.changes)
        }),
    ];
    let mut rule_names: Vec<&str> = Vec::new();
    for rule in policies.iter().flat_map(|policy| &policy.rules) {
        if !rule_names.contains(&rule.name.as_str()) {
            rule_names.push(&rule.name);
        }
    }
    for name in rule_names {
        rows.push(row(&format!("  rule {name}"), &|policy| {
            policy.rules.iter().find(|rule| rule.name == name).map_or("-".to_owned(), |rule| rule.caught.to_string())
        }));
    }
    rows.extend([
        row("reviews", &|policy| policy.reviews.to_string()),
        row("senior reviews", &|policy| format!("{} by {} seniors", policy.senior_reviews, policy.seniors)),
        row("per senior per week", &|policy| {
            format!("{:.2} (busiest {})", policy.senior_load_per_week, policy.busiest_senior_week)
        }),
        row("queue delay p50/p90", &|policy| format!("{} h / {} h", policy.delay.p50_hours, policy.delay.p90_hours)),
        row("queue delay mean/max", &|policy| format!("{} h / {} h", policy.delay.mean_hours, policy.delay.max_hours)),
    ]);
    let label_width = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let column_width =
        rows.iter().flat_map(|(_, cells)| cells.iter().map(|cell| cell.chars().count())).max().unwrap_or(0).max(12);
    for (label, cells) in &rows {
        let _ = write!(out, "{label:<label_width$}");
        for cell in cells {
            let _ = write!(out, "  {cell:>column_width$}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\nqueue delay: how long a change that needs review waits for its last review, each reviewer doing {} a \
         day, oldest first",
        output.reviews_per_reviewer_per_day
    );
    for policy in policies {
        let holders: Vec<String> = policy
            .delay
            .waits_on
            .iter()
            .take(3)
            .map(|held| {
                format!("{} ({}) last on {} changes, {} h in all", held.person, held.level, held.changes, held.hours)
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}: over {} changes; waits mostly on {}",
            policy.name,
            policy.delay.over_changes,
            if holders.is_empty() { "nobody".to_owned() } else { holders.join("; ") }
        );
    }
    if !output.later_fixed.is_empty() {
        let count = |how: crate::simulate::FixKind| {
            output.later_fixed.iter().filter(|labelled| labelled.fixed_by.how == how).count()
        };
        let _ = writeln!(
            out,
            "\nlater fixed: {} changes ({} reverted, {} reverted by subject, {} whose lines a later fix changed); \
             the evidence of each is in --format json; the latest:",
            output.later_fixed.len(),
            count(crate::simulate::FixKind::Revert),
            count(crate::simulate::FixKind::RevertedSubject),
            count(crate::simulate::FixKind::Fix),
        );
        for labelled in output.later_fixed.iter().rev().take(5) {
            let short = |id: &str| id.chars().take(10).collect::<String>();
            let lines = labelled.fixed_by.lines.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                out,
                "  {} {} — {} by {}{}",
                short(&labelled.change),
                labelled.subject,
                match labelled.fixed_by.how {
                    crate::simulate::FixKind::Fix => "fixed",
                    _ => "reverted",
                },
                short(&labelled.fixed_by.by),
                if lines.is_empty() { String::new() } else { format!(" ({lines})") }
            );
        }
    }
    for policy in policies {
        let busiest: Vec<String> = policy
            .reviewers
            .iter()
            .take(5)
            .map(|reviewer| format!("{} {}", reviewer.person, reviewer.reviews))
            .collect();
        if !busiest.is_empty() {
            let _ = writeln!(out, "\nbusiest reviewers under {}: {}", policy.name, busiest.join(", "));
        }
    }
    if let Some(path) = chart {
        let _ = writeln!(out, "\nchart: {path}");
    }
    out
}
