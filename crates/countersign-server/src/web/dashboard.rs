//! The dashboard: is the gate becoming the bottleneck, and is it being bypassed? Computed from
//! the recorded changes, statements, assignments and overrides of the last weeks.

use std::collections::BTreeMap;

use askama::Template;
use countersign_core::evaluate::{Decision, GateVerdict};
use countersign_store::Store;

use super::charts::{Series, bars};
use super::pages::{Nav, PageError, duration, when};
use crate::{AppState, now_millis};

const DAY: i64 = 86_400_000;
const WEEK: i64 = 7 * DAY;
/// Days of daily charts and weeks of weekly ones.
const DAYS: i64 = 30;
const WEEKS: i64 = 8;
/// The most changes read for the charts.
const MAX_CHANGES: i64 = 50_000;

pub struct Chart {
    pub title: String,
    pub svg: String,
    /// The same figures as a short table, for those who prefer numbers.
    pub rows: Vec<(String, String)>,
}

pub struct Figure {
    pub label: &'static str,
    pub value: String,
    pub alarm: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub since: String,
    pub figures: Vec<Figure>,
    pub charts: Vec<Chart>,
    pub unallowed: Vec<(i64, String, String)>,
}

/// Who counts as senior: `senior` and above on the directory's ladder (the upper half when it has
/// no such level), read from the latest change's configuration.
async fn seniors<S: Store>(
    state: &AppState<S>,
    latest: Option<&countersign_store::ChangeRow>,
) -> Option<(String, std::collections::BTreeSet<String>)> {
    let request = crate::logic::request_of(latest?);
    let prepared = crate::api::prepared_for(state, request, false).await.ok()?;
    let directory = &prepared.config.directory;
    let levels = directory.levels();
    let threshold = levels.iter().position(|level| level == "senior").unwrap_or(levels.len() / 2);
    let people =
        directory.people().iter().filter(|person| person.level >= threshold).map(|person| person.id.clone()).collect();
    Some((levels.get(threshold)?.clone(), people))
}

/// The `q` quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn day_label(start: i64) -> String {
    when(start).get(5..10).unwrap_or("").to_owned()
}

fn table(labels: &[String], series: &[Series]) -> Vec<(String, String)> {
    labels
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let values: Vec<String> = series
                .iter()
                .map(|series| {
                    let value = series.values.get(index).copied().unwrap_or(0.0);
                    format!(
                        "{} {}",
                        series.name,
                        if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
                    )
                })
                .collect();
            (label.clone(), values.join(" · "))
        })
        .collect()
}

fn chart(id: &str, title: &str, labels: Vec<String>, series: Vec<Series>, unit: &str) -> Chart {
    Chart { title: title.to_owned(), svg: bars(id, title, &labels, &series, unit), rows: table(&labels, &series) }
}

pub async fn build<S: Store>(state: &AppState<S>, nav: Nav) -> Result<DashboardPage, PageError> {
    let now = now_millis();
    let today = now - now.rem_euclid(DAY);
    let day_start = today - (DAYS - 1) * DAY;
    let week_start = today + DAY - WEEKS * WEEK;
    let since = day_start.min(week_start);
    let changes = state.store.changes_since(since, MAX_CHANGES).await.map_err(PageError::store)?;
    let statements = state.store.statements_since(since).await.map_err(PageError::store)?;
    let assignments = state.store.assignments_since(since).await.map_err(PageError::store)?;
    let overrides = state.store.overrides_since(since).await.map_err(PageError::store)?;
    let depths = state.store.queue_depths().await.map_err(PageError::store)?;
    let bypass_filter = countersign_store::AuditFilter {
        action: Some(countersign_core::lifecycle::AuditAction::BypassDetected.as_str().to_owned()),
        limit: 10_000,
        ..countersign_store::AuditFilter::default()
    };
    let bypasses: Vec<i64> = state
        .store
        .audit_search(&bypass_filter)
        .await
        .map_err(PageError::store)?
        .into_iter()
        .map(|entry| entry.at)
        .filter(|at| *at >= since)
        .collect();
    let pending = state.store.pending_reviews().await.map_err(PageError::store)?;
    let decisions: Vec<Option<Decision>> =
        changes.iter().map(|row| serde_json::from_str::<Decision>(&row.decision).ok()).collect();

    let day_of = |at: i64| usize::try_from((at - day_start).div_euclid(DAY)).ok().filter(|day| *day < DAYS as usize);
    let week_of =
        |at: i64| usize::try_from((at - week_start).div_euclid(WEEK)).ok().filter(|week| *week < WEEKS as usize);
    let day_labels: Vec<String> = (0..DAYS).map(|day| day_label(day_start + day * DAY)).collect();
    let week_labels: Vec<String> =
        (0..WEEKS).map(|week| format!("wk of {}", day_label(week_start + week * WEEK))).collect();

    // Changes gated per day, by verdict.
    let mut per_day = [vec![0.0; DAYS as usize], vec![0.0; DAYS as usize], vec![0.0; DAYS as usize]];
    let mut verdicts = [0.0; 3];
    for row in &changes {
        let slot = match row.verdict {
            GateVerdict::Allowed => 0,
            GateVerdict::Blocked => 1,
            GateVerdict::Overridden => 2,
        };
        if let Some(day) = day_of(row.created_at) {
            per_day[slot][day] += 1.0;
            verdicts[slot] += 1.0;
        }
    }
    let [allowed, blocked, overridden] = per_day;
    let gated = chart(
        "gated",
        "Changes gated per day, by current verdict",
        day_labels.clone(),
        vec![
            Series { name: "allowed".to_owned(), values: allowed },
            Series { name: "blocked".to_owned(), values: blocked },
            Series { name: "overridden".to_owned(), values: overridden },
        ],
        "changes",
    );

    // AI-assisted changes and AI-written lines, per week.
    let mut changes_per_week = vec![0.0; WEEKS as usize];
    let mut assisted = vec![0.0; WEEKS as usize];
    let mut added = vec![0.0; WEEKS as usize];
    let mut ai_lines = vec![0.0; WEEKS as usize];
    for (row, decision) in changes.iter().zip(&decisions) {
        let (Some(week), Some(decision)) = (week_of(row.created_at), decision) else { continue };
        changes_per_week[week] += 1.0;
        if decision.ai_assisted {
            assisted[week] += 1.0;
        }
        if let Some(attribution) = &decision.attribution {
            added[week] += attribution.added_lines as f64;
            ai_lines[week] += attribution.ai_lines as f64;
        }
    }
    let share = |part: &[f64], whole: &[f64]| -> Vec<f64> {
        part.iter()
            .zip(whole)
            .map(|(part, whole)| if *whole > 0.0 { (part / whole * 1000.0).round() / 10.0 } else { 0.0 })
            .collect()
    };
    let ai = chart(
        "ai",
        "Share of changes AI-assisted and of added lines AI-written, per week",
        week_labels.clone(),
        vec![
            Series { name: "AI-assisted changes".to_owned(), values: share(&assisted, &changes_per_week) },
            Series { name: "AI-written lines".to_owned(), values: share(&ai_lines, &added) },
        ],
        "percent",
    );

    // Time to first review and to approval, median and p90, per week of registration.
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); WEEKS as usize];
    let mut approval: Vec<Vec<f64>> = vec![Vec::new(); WEEKS as usize];
    for row in &changes {
        let Some(week) = week_of(row.created_at) else { continue };
        if let Some(at) = row.first_review_at {
            first[week].push((at - row.created_at).max(0) as f64 / 3_600_000.0);
        }
        if let Some(at) = row.allowed_at {
            approval[week].push((at - row.created_at).max(0) as f64 / 3_600_000.0);
        }
    }
    let stat = |weeks: &mut [Vec<f64>], q: f64| -> Vec<f64> {
        weeks
            .iter_mut()
            .map(|values| {
                values.sort_by(f64::total_cmp);
                (quantile(values, q) * 100.0).round() / 100.0
            })
            .collect()
    };
    let latency = chart(
        "latency",
        "Time to first review and to approval, per week (hours)",
        week_labels.clone(),
        vec![
            Series { name: "first review median".to_owned(), values: stat(&mut first, 0.5) },
            Series { name: "first review p90".to_owned(), values: stat(&mut first, 0.9) },
            Series { name: "approval median".to_owned(), values: stat(&mut approval, 0.5) },
            Series { name: "approval p90".to_owned(), values: stat(&mut approval, 0.9) },
        ],
        "hours",
    );

    // Queue depth per reviewer, now.
    let queue = chart(
        "queue",
        "Open reviews per reviewer, now",
        depths.iter().map(|(person, _)| person.clone()).collect(),
        vec![Series {
            name: "open reviews".to_owned(),
            values: depths.iter().map(|(_, depth)| *depth as f64).collect(),
        }],
        "reviews",
    );

    // The load on reviewers per week: reviews routed, statements given, the busiest reviewer.
    let mut routed = vec![0.0; WEEKS as usize];
    let mut by_person: Vec<BTreeMap<&str, f64>> = vec![BTreeMap::new(); WEEKS as usize];
    for assignment in &assignments {
        if let Some(week) = week_of(assignment.assigned_at) {
            routed[week] += 1.0;
            *by_person[week].entry(assignment.person.as_str()).or_default() += 1.0;
        }
    }
    let mut given = vec![0.0; WEEKS as usize];
    for statement in &statements {
        if let Some(week) = week_of(statement.created_at) {
            given[week] += 1.0;
        }
    }
    let busiest: Vec<f64> = by_person.iter().map(|people| people.values().copied().fold(0.0, f64::max)).collect();

    // The load on seniors, by the levels of the latest change's directory.
    let senior_chart = match seniors(state, changes.last()).await {
        Some((threshold, is_senior)) => {
            let mut routed = vec![0.0; WEEKS as usize];
            let mut given = vec![0.0; WEEKS as usize];
            for assignment in assignments.iter().filter(|assignment| is_senior.contains(&assignment.person)) {
                if let Some(week) = week_of(assignment.assigned_at) {
                    routed[week] += 1.0;
                }
            }
            for statement in statements.iter().filter(|statement| is_senior.contains(&statement.person)) {
                if let Some(week) = week_of(statement.created_at) {
                    given[week] += 1.0;
                }
            }
            let people = is_senior.len().max(1) as f64;
            let per_senior: Vec<f64> = routed.iter().map(|count| (count / people * 10.0).round() / 10.0).collect();
            Some(chart(
                "seniors",
                &format!("Senior load per week ({threshold} and above, {} people)", is_senior.len()),
                week_labels.clone(),
                vec![
                    Series { name: "reviews routed to seniors".to_owned(), values: routed },
                    Series { name: "approvals and rejections by seniors".to_owned(), values: given },
                    Series { name: "reviews routed per senior".to_owned(), values: per_senior },
                ],
                "reviews",
            ))
        }
        None => None,
    };
    let load = chart(
        "load",
        "Review load per week: reviews routed, statements given, busiest reviewer",
        week_labels.clone(),
        vec![
            Series { name: "reviews routed".to_owned(), values: routed },
            Series { name: "approvals and rejections".to_owned(), values: given },
            Series { name: "busiest reviewer".to_owned(), values: busiest },
        ],
        "reviews",
    );

    // Overrides per week and deployments the rules did not allow.
    let mut glass = vec![0.0; WEEKS as usize];
    for row in &overrides {
        if let Some(week) = week_of(row.created_at) {
            glass[week] += 1.0;
        }
    }
    let mut unallowed_per_week = vec![0.0; WEEKS as usize];
    let mut unallowed = Vec::new();
    for row in changes.iter().filter(|row| row.deployed_at.is_some() && row.verdict != GateVerdict::Allowed) {
        let at = row.deployed_at.unwrap_or(row.updated_at);
        if let Some(week) = week_of(at) {
            unallowed_per_week[week] += 1.0;
        }
        unallowed.push((row.id, format!("{} · {}", row.repository, row.environment), when(at)));
    }
    let mut pushed_per_week = vec![0.0; WEEKS as usize];
    for at in &bypasses {
        if let Some(week) = week_of(*at) {
            pushed_per_week[week] += 1.0;
        }
    }
    let bypass = chart(
        "bypass",
        "Break-glass overrides, deployments and pushes without an allowed decision, per week",
        week_labels,
        vec![
            Series { name: "overrides".to_owned(), values: glass },
            Series { name: "deployed without an allowed decision".to_owned(), values: unallowed_per_week },
            Series { name: "pushed to a default branch without one".to_owned(), values: pushed_per_week },
        ],
        "changes",
    );
    let verdict_chart = chart(
        "verdicts",
        "Verdicts of the last 30 days",
        vec!["allowed".to_owned(), "blocked".to_owned(), "overridden".to_owned()],
        vec![Series { name: "changes".to_owned(), values: verdicts.to_vec() }],
        "changes",
    );

    let overdue = pending.iter().filter(|row| row.due_at < now).count();
    let open_reviews: i64 = depths.iter().map(|(_, depth)| depth).sum();
    let oldest = assignments
        .iter()
        .filter(|assignment| assignment.state == countersign_core::lifecycle::AssignmentState::Open)
        .map(|assignment| assignment.assigned_at)
        .min();
    let figures = vec![
        Figure { label: "changes in 30 days", value: (verdicts.iter().sum::<f64>() as i64).to_string(), alarm: false },
        Figure { label: "open reviews", value: open_reviews.to_string(), alarm: false },
        Figure {
            label: "oldest open review",
            value: oldest.map_or("none".to_owned(), |at| duration((now - at) / 1000)),
            alarm: false,
        },
        Figure { label: "after-the-fact reviews overdue", value: overdue.to_string(), alarm: overdue > 0 },
        Figure {
            label: "deployed without an allowed decision",
            value: unallowed.len().to_string(),
            alarm: !unallowed.is_empty(),
        },
        Figure {
            label: "pushed to a default branch without an allowed decision",
            value: bypasses.len().to_string(),
            alarm: !bypasses.is_empty(),
        },
    ];
    Ok(DashboardPage {
        nav,
        since: when(since),
        figures,
        charts: [
            Some(gated),
            Some(verdict_chart),
            Some(ai),
            Some(latency),
            Some(queue),
            Some(load),
            senior_chart,
            Some(bypass),
        ]
        .into_iter()
        .flatten()
        .collect(),
        unallowed,
    })
}
