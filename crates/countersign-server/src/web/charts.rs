//! Bar charts as SVG text: drawn on the server, labelled for screen readers, coloured with
//! presentation attributes (the pages' content policy allows no inline style), and readable
//! with any sans-serif font.

use std::fmt::Write as _;

/// One series of values, one per label.
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Colours that keep a 4.5:1 contrast against white.
const PALETTE: [&str; 5] = ["#1f5fa8", "#b3261e", "#2e6b30", "#8a5a00", "#6a3d9a"];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 42.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round upper bound for the axis.
fn ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|step| step * magnitude).find(|bound| *bound >= max).unwrap_or(max)
}

fn number(value: f64) -> String {
    if value.fract().abs() < 1e-9 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// Grouped bars: one group per label, one bar per series. `id` makes the accessible names unique.
pub fn bars(id: &str, title: &str, labels: &[String], series: &[Series], unit: &str) -> String {
    let max = series.iter().flat_map(|series| series.values.iter().copied()).fold(0.0, f64::max);
    let counts = series.iter().flat_map(|series| series.values.iter()).all(|value| value.fract() == 0.0);
    // Counts get whole-number gridlines.
    let top = if counts { ceiling(max).max(4.0) } else { ceiling(max) };
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let groups = labels.len().max(1) as f64;
    let group_width = plot_width / groups;
    let bar_width = (group_width * 0.8 / series.len().max(1) as f64).max(1.0);
    let y = |value: f64| TOP + plot_height * (1.0 - value / top);
    let mut svg = String::new();
    let description = series
        .iter()
        .map(|series| {
            let values: Vec<String> = labels
                .iter()
                .zip(&series.values)
                .filter(|(_, value)| **value != 0.0)
                .map(|(label, value)| format!("{label}: {}", number(*value)))
                .collect();
            format!("{}: {}", series.name, if values.is_empty() { "none".to_owned() } else { values.join(", ") })
        })
        .collect::<Vec<_>>()
        .join("; ");
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d" class="chart" font-family="sans-serif" font-size="11"><title id="{id}-t">{}</title><desc id="{id}-d">{} ({})</desc>"##,
        escape(title),
        escape(&description),
        escape(unit)
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let at = y(value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{at:.1}" y2="{at:.1}" stroke="#d0d0d0" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            number(value)
        );
    }
    let every = (labels.len() / 10).max(1);
    for (index, label) in labels.iter().enumerate() {
        let left = LEFT + group_width * index as f64 + group_width * 0.1;
        for (position, series) in series.iter().enumerate() {
            let value = series.values.get(index).copied().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let x = left + bar_width * position as f64;
            let top_at = y(value);
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{top_at:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}, {}: {}</title></rect>"##,
                (bar_width - 1.0).max(1.0),
                TOP + plot_height - top_at,
                PALETTE[position % PALETTE.len()],
                escape(&series.name),
                escape(label),
                number(value)
            );
        }
        if index % every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
                LEFT + group_width * (index as f64 + 0.5),
                HEIGHT - BOTTOM + 16.0,
                escape(label)
            );
        }
    }
    let mut legend_x = LEFT;
    for (position, series) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<rect x="{legend_x:.1}" y="10" width="12" height="12" fill="{}"/><text x="{:.1}" y="20" fill="#222">{}</text>"##,
            PALETTE[position % PALETTE.len()],
            legend_x + 16.0,
            escape(&series.name)
        );
        legend_x += 24.0 + 7.0 * series.name.chars().count() as f64;
    }
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#333">{}</text></svg>"##,
        WIDTH - RIGHT,
        HEIGHT - 6.0,
        escape(unit)
    );
    svg
}
