//! Charts drawn as inline SVG by the server: bars (rows or files per leaf) and a timeline of a
//! job's events. Each bar is a `rect.bar` carrying its label and value, so that a test, or a
//! person hovering over it, can read what it stands for.

use maud::{Markup, html};

/// The drawing's size in SVG units; it is scaled to the page's width.
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 220.0;
const AXIS: f64 = 24.0;
/// Above this many bars, bars carry no tooltip, to keep the page small.
const TOOLTIPS_UP_TO: usize = 2_000;

pub struct Bar {
    pub label: String,
    pub value: u64,
}

/// One bar per entry, left to right, scaled to the largest; `what` names the values.
pub fn bars(id: &str, bars: &[Bar], what: &str) -> Markup {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let step = (WIDTH - AXIS) / bars.len().max(1) as f64;
    let gap = if step > 4.0 { 1.0 } else { 0.0 };
    let plot = HEIGHT - AXIS;
    html! {
        svg #(id) .chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label={ (what) ": " (bars.len()) " bars" }
            data-bars=(bars.len()) {
            line x1=(AXIS) y1=(plot) x2=(WIDTH) y2=(plot) stroke="#999" {}
            text x="2" y="12" { (crate::cli::report::count(max)) }
            text x="2" y=(plot) { "0" }
            text x=(AXIS) y=(HEIGHT - 6.0) { (bars.len()) " leaves · " (what) }
            @for (i, bar) in bars.iter().enumerate() {
                @let height = plot * bar.value as f64 / max as f64;
                rect.bar x=(round(AXIS + i as f64 * step)) y=(round(plot - height)) width=(round((step - gap).max(0.2))) height=(round(height))
                    data-label=(bar.label) data-value=(bar.value) {
                    @if bars.len() <= TOOLTIPS_UP_TO { title { (bar.label) ": " (crate::cli::report::count(bar.value)) } }
                }
            }
        }
    }
}

/// A point on a timeline: seconds from the first, a label, and a class for its colour.
pub struct Moment {
    pub seconds: f64,
    pub label: String,
    pub class: &'static str,
}

/// The moments on one line, spaced by time, to `now` (seconds from the first) for a job still
/// running; labels take turns on four rows, two above the line and two below, so that moments
/// close in time stay readable.
pub fn timeline(moments: &[Moment], now: Option<f64>) -> Markup {
    let end = moments.iter().map(|m| m.seconds).chain(now).fold(0.0_f64, f64::max).max(1e-3);
    let (left, right, middle) = (40.0, WIDTH - 160.0, 50.0);
    let x = |seconds: f64| round(left + (right - left) * seconds / end);
    html! {
        svg.timeline.chart viewBox={ "0 0 " (WIDTH) " 110" } role="img" aria-label="the job's events in time" {
            line x1=(left) y1=(middle) x2=(right) y2=(middle) stroke="#999" {}
            @if let Some(now) = now { text x=(x(now) + 6.0) y=(middle + 4.0) { "now" } }
            @for (i, moment) in moments.iter().enumerate() {
                @let y = middle + [-28.0, 24.0, -12.0, 40.0][i % 4];
                circle class=(moment.class) cx=(x(moment.seconds)) cy=(middle) r="5" { title { (moment.label) } }
                text x=(x(moment.seconds)) y=(y) { (moment.label) " +" (format!("{:.1}", moment.seconds)) "s" }
            }
        }
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_entry_scaled_to_the_largest() {
        let entries: Vec<Bar> = (0..5).map(|i| Bar { label: format!("leaf-{i}<>"), value: i * 10 }).collect();
        let svg = bars("rows", &entries, "rows").into_string();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 5);
        assert!(svg.contains("data-label=\"leaf-4&lt;&gt;\" data-value=\"40\""), "labels are escaped: {svg}");
        // The largest bar fills the plot's height; an empty one has none.
        assert!(svg.contains(&format!("height=\"{}\"", HEIGHT - AXIS)));
        assert!(svg.contains("height=\"0\" data-label=\"leaf-0&lt;&gt;\""));
    }
}
