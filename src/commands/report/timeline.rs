//! The timeline chart's geometry: a bar per unit and per step from their recorded start and
//! finish, on one time axis. The HTML template draws it as inline SVG (no script, no assets).

use jiff::Timestamp;
use serde::Serialize;

/// Width of the label column, of the chart, and the height of a row, in SVG user units.
const LABEL_WIDTH: f64 = 300.0;
const CHART_WIDTH: f64 = 640.0;
const ROW_HEIGHT: f64 = 16.0;
/// Room above the first row for the axis labels.
const AXIS_HEIGHT: f64 = 22.0;
const TICKS: u32 = 4;
/// Labels longer than the label column holds are cut (the tooltip has them whole).
const MAX_LABEL_CHARS: usize = 44;

/// A unit or step as the timeline sees it.
pub struct Span {
    pub label: String,
    pub status: &'static str,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub unit: bool,
}

#[derive(Debug, Serialize)]
pub struct Timeline {
    pub width: f64,
    pub height: f64,
    pub label_width: f64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub label: String,
    /// The status, also the bar's CSS class.
    pub status: &'static str,
    pub unit: bool,
    /// Where the label's baseline is.
    pub text_y: f64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The tooltip: what the bar is and how long it took.
    pub tip: String,
}

#[derive(Debug, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

/// Lays the spans that have a start out on one axis, from the earliest start to the latest
/// end; a span still running (no end) reaches the end of the axis.
pub fn build(spans: &[Span]) -> Timeline {
    let started: Vec<&Span> = spans.iter().filter(|s| s.start.is_some()).collect();
    let t0 = started.iter().filter_map(|s| s.start).min();
    let t1 = started.iter().filter_map(|s| s.end.or(s.start)).max();
    let (Some(t0), Some(t1)) = (t0, t1) else {
        return Timeline {
            width: LABEL_WIDTH + CHART_WIDTH,
            height: AXIS_HEIGHT,
            label_width: LABEL_WIDTH,
            bars: Vec::new(),
            ticks: Vec::new(),
        };
    };
    let total_ms = (t1.duration_since(t0).as_millis() as f64).max(1.0);
    let at = |t: Timestamp| t.duration_since(t0).as_millis() as f64 / total_ms * CHART_WIDTH;
    let bars = started
        .iter()
        .enumerate()
        .map(|(row, s)| {
            let start = s.start.unwrap_or(t0);
            let end = s.end.unwrap_or(t1);
            let x = LABEL_WIDTH + at(start);
            let top = AXIS_HEIGHT + row as f64 * ROW_HEIGHT;
            let height = if s.unit { 12.0 } else { 8.0 };
            let took = s.end.map_or("no finish recorded".into(), |e| {
                super::evidence::duration(start, e)
            });
            Bar {
                label: crate::secrets::head(&s.label, MAX_LABEL_CHARS),
                status: s.status,
                unit: s.unit,
                text_y: round(top + 12.0),
                x: round(x),
                y: round(top + (ROW_HEIGHT - height) / 2.0),
                width: round((at(end) - at(start)).max(1.5)),
                height,
                tip: format!("{}: {}, {took}", s.label, s.status),
            }
        })
        .collect::<Vec<_>>();
    let ticks = (0..=TICKS)
        .map(|i| {
            let share = f64::from(i) / f64::from(TICKS);
            let when = t0 + jiff::SignedDuration::from_millis((total_ms * share) as i64);
            Tick {
                x: round(LABEL_WIDTH + CHART_WIDTH * share),
                label: when.strftime("%H:%M:%S").to_string(),
            }
        })
        .collect();
    Timeline {
        width: LABEL_WIDTH + CHART_WIDTH + 60.0,
        height: AXIS_HEIGHT + bars.len() as f64 * ROW_HEIGHT + 4.0,
        label_width: LABEL_WIDTH,
        bars,
        ticks,
    }
}

/// One decimal is enough for a pixel, and keeps the page small.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(label: &str, start: i64, end: Option<i64>, unit: bool) -> Span {
        let t = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        Span {
            label: label.into(),
            status: "succeeded",
            start: Some(t(start)),
            end: end.map(t),
            unit,
        }
    }

    #[test]
    fn bars_sit_on_one_axis_from_the_first_start_to_the_last_end() {
        let t = build(&[
            span("Phase 1", 0, Some(100), true),
            span("a", 0, Some(50), false),
            span("b", 50, Some(100), false),
            span("c", 75, None, false),
        ]);
        let b = &t.bars;
        assert_eq!((b[0].x, b[0].width), (LABEL_WIDTH, CHART_WIDTH));
        assert_eq!((b[1].x, b[1].width), (LABEL_WIDTH, CHART_WIDTH / 2.0));
        assert_eq!(b[2].x, LABEL_WIDTH + CHART_WIDTH / 2.0);
        // Still running: to the end of the axis, and the tooltip says so.
        assert_eq!(b[3].x + b[3].width, LABEL_WIDTH + CHART_WIDTH);
        assert!(b[3].tip.contains("no finish recorded"), "{}", b[3].tip);
        assert!(b[1].y > b[0].y && b[2].y > b[1].y, "one row each");
        assert_eq!(t.ticks.len(), TICKS as usize + 1);
    }

    #[test]
    fn spans_without_a_start_are_left_out() {
        let mut never = span("never", 0, None, false);
        never.start = None;
        assert!(build(&[never]).bars.is_empty());
    }
}
