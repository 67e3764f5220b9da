//! The simulation chart: weekly senior reviews and queue delay per policy, as a standalone SVG.
//! Written by hand because it is two line charts, and the output must be byte-for-byte
//! deterministic with no font stack (charting crates lay text out with system fonts).

use std::fmt::Write as _;

use crate::simulate::PolicyReport;

const WIDTH: f64 = 860.0;
const PANEL_HEIGHT: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const GAP: f64 = 70.0;
const COLOURS: [&str; 2] = ["#1f6feb", "#d1242f"];

/// Two panels stacked: senior reviews per week, then mean queue delay per week; below them what
/// each policy's senior reviews caught of the changes later fixed.
pub fn weekly(policies: &[PolicyReport]) -> String {
    let caught_top = TOP + 10.0 + 2.0 * PANEL_HEIGHT + GAP + 44.0;
    let height = caught_top + 18.0 * policies.len() as f64 + 12.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">countersign simulate: cost of each policy per week</text>"#
    );
    for (idx, policy) in policies.iter().enumerate() {
        let x = LEFT + idx as f64 * 380.0;
        let colour = COLOURS[idx % COLOURS.len()];
        let _ = writeln!(svg, r#"<rect x="{x}" y="34" width="14" height="4" fill="{colour}"/>"#);
        let _ = writeln!(svg, r#"<text x="{}" y="40">{}</text>"#, x + 20.0, escape(&policy.name));
    }
    let weeks = policies.iter().map(|policy| policy.weeks.len()).max().unwrap_or(0);
    let start = policies.iter().find_map(|policy| policy.weeks.first()).map(|week| week.start);
    panel(&mut svg, policies, weeks, start, TOP + 10.0, "senior reviews per week", |week| week.senior_reviews as f64);
    panel(
        &mut svg,
        policies,
        weeks,
        start,
        TOP + 10.0 + PANEL_HEIGHT + GAP,
        "mean queue delay per week (hours)",
        |week| week.mean_delay_hours,
    );
    for (idx, policy) in policies.iter().enumerate() {
        let y = caught_top + 18.0 * idx as f64;
        let colour = COLOURS[idx % COLOURS.len()];
        let (all, ai) = (&policy.efficacy.all, &policy.efficacy.ai_assisted);
        let text = format!(
            "{}: a senior on {} of {} later-fixed changes ({} of {} AI-assisted); {} senior sign-offs on changes never fixed",
            policy.name,
            all.fixed_with_senior,
            all.later_fixed,
            ai.fixed_with_senior,
            ai.later_fixed,
            all.senior_on_never_fixed
        );
        let _ = writeln!(svg, r#"<rect x="{LEFT}" y="{}" width="14" height="4" fill="{colour}"/>"#, y - 6.0);
        let _ = writeln!(svg, r#"<text x="{}" y="{y}">{}</text>"#, LEFT + 20.0, escape(&text));
    }
    svg.push_str("</svg>\n");
    svg
}

fn panel(
    svg: &mut String,
    policies: &[PolicyReport],
    weeks: usize,
    start: Option<i64>,
    top: f64,
    title: &str,
    value: impl Fn(&crate::simulate::Week) -> f64,
) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let bottom = top + PANEL_HEIGHT;
    let max = policies.iter().flat_map(|policy| policy.weeks.iter().map(&value)).fold(0.0_f64, f64::max);
    let max = nice_ceiling(max);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#, top - 8.0, escape(title));
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" fill="none" stroke="#888"/>"##
    );
    for step in 0..=4 {
        let share = f64::from(step) / 4.0;
        let y = bottom - share * PANEL_HEIGHT;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_width,
            LEFT - 6.0,
            y + 4.0,
            label(max * share)
        );
    }
    let x_of =
        |week: usize| LEFT + if weeks > 1 { week as f64 / (weeks - 1) as f64 * plot_width } else { plot_width / 2.0 };
    if let Some(start) = start {
        let ticks: Vec<usize> = if weeks > 1 { vec![0, (weeks - 1) / 2, weeks - 1] } else { vec![0] };
        for week in ticks {
            let date = jiff::Timestamp::from_second(start + week as i64 * 7 * 86_400)
                .map(|at| at.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{date}</text>"#,
                x_of(week),
                bottom + 18.0
            );
        }
    }
    for (idx, policy) in policies.iter().enumerate() {
        let points: Vec<String> = policy
            .weeks
            .iter()
            .enumerate()
            .map(|(week, entry)| {
                let y = if max > 0.0 { bottom - value(entry) / max * PANEL_HEIGHT } else { bottom };
                format!("{:.1},{y:.1}", x_of(week))
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            points.join(" "),
            COLOURS[idx % COLOURS.len()]
        );
    }
}

/// A round number at least `value`, so axis labels read well.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(value)
}

fn label(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
