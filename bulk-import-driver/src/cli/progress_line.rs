//! A running job's progress on standard error: a bar redrawn in place on a terminal (indicatif),
//! and plain lines in a log, one when the status changes and at most one every
//! [`LOG_INTERVAL`] otherwise, so that a long job does not flood it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::execution::progress::Progress;

/// How often a log gets a progress line while the status stays the same.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub enum ProgressLine {
    Bar(ProgressBar),
    Log { started: Instant, last: Option<(Instant, String)> },
}

impl ProgressLine {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("  {elapsed:>5} {prefix:<11} [{bar:30}] {human_pos}/{human_len} rows ({percent}%)  tasks {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            ProgressLine::Bar(bar)
        } else {
            ProgressLine::Log { started: Instant::now(), last: None }
        }
    }

    pub fn update(&mut self, p: &Progress) {
        match self {
            ProgressLine::Bar(bar) => {
                bar.set_length(p.rows_total);
                bar.set_position(p.rows_written);
                bar.set_prefix(p.status.to_string());
                bar.set_message(format!("{}/{}", p.tasks_done, p.tasks_total));
            }
            ProgressLine::Log { started, last } => {
                let status = p.status.to_string();
                let due = last.as_ref().is_none_or(|(at, previous)| *previous != status || at.elapsed() >= LOG_INTERVAL);
                if due {
                    let percent = if p.rows_total > 0 { 100.0 * p.rows_written as f64 / p.rows_total as f64 } else { 0.0 };
                    eprintln!(
                        "{:>7.1}s  {status:<11}  tasks {}/{}  rows {}/{} ({percent:.0}%)",
                        started.elapsed().as_secs_f64(),
                        p.tasks_done,
                        p.tasks_total,
                        p.rows_written,
                        p.rows_total
                    );
                    *last = Some((Instant::now(), status));
                }
            }
        }
    }

    /// Leaves the bar's last state on screen.
    pub fn finish(self) {
        if let ProgressLine::Bar(bar) = self {
            bar.abandon();
        }
    }
}
