//! `monitor`'s table as the human output shows it after each round: a row per monitoring row
//! with its latest value, a sparkline of its recent history, its target, its state and its
//! next check. It is printed whole each round, never redrawn, so a log or a pipe reads the
//! same lines a terminal shows.

use comfy_table::{Table, presets};

use crate::events::MonitorTable;

/// The sparkline's levels, lowest first.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of a row's history: numbers scaled between their lowest and highest; a check
/// without a number is a full bar within target and a `✘` outside it.
pub fn sparkline(history: &[(bool, Option<f64>)]) -> String {
    let numbers: Vec<f64> = history.iter().filter_map(|(_, v)| *v).collect();
    let low = numbers.iter().copied().fold(f64::INFINITY, f64::min);
    let high = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    history
        .iter()
        .map(|(ok, value)| match value {
            Some(v) if high > low => {
                let level = ((v - low) / (high - low) * 7.0).round() as usize;
                LEVELS[level.min(7)]
            }
            Some(_) => LEVELS[3],
            None if *ok => LEVELS[7],
            None => '✘',
        })
        .collect()
}

/// The time of day of an RFC 3339 timestamp (`14:05:00`), or the text as it is.
fn clock(at: &str) -> String {
    at.parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%H:%M:%S").to_string())
        .unwrap_or_else(|_| at.to_owned())
}

pub fn render(t: &MonitorTable) -> String {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED);
    table.force_no_tty();
    table.set_header(vec![
        "row",
        "value",
        "history",
        "target",
        "state",
        "next check",
    ]);
    for r in &t.rows {
        let state = match &r.breaching_since {
            Some(since) => format!("{} since {}", r.state, clock(since)),
            None => r.state.clone(),
        };
        table.add_row(vec![
            r.row.clone(),
            r.value.clone().unwrap_or_else(|| "—".into()),
            sparkline(&r.history),
            r.title.clone(),
            state,
            r.next_check.as_deref().map_or_else(|| "—".into(), clock),
        ]);
    }
    format!(
        "{table}\nmonitoring until {} (UTC)",
        clock(&t.window_ends_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_numbers_and_marks_breaches_without_one() {
        let history = [(true, Some(1.0)), (true, Some(5.0)), (false, Some(8.0))];
        assert_eq!(sparkline(&history), "▁▅█");
        assert_eq!(sparkline(&[(true, None), (false, None)]), "█✘");
        assert_eq!(sparkline(&[(true, Some(2.0)), (true, Some(2.0))]), "▄▄");
    }
}
