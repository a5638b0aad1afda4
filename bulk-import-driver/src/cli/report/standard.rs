//! Sleeper's standard and detailed text reports (`StandardIngestJobStatusReporter`,
//! `StandardJobRunReporter`): the same summary lines, table, number and duration formats.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::{ReportJob, ReportRun, RunState, RunUpdate};

const RULE: &str = "------------------------";

fn header(out: &mut String) {
    out.push_str("\nIngest Job Status Report\n");
    out.push_str(RULE);
    out.push('\n');
}

/// The report of every job (Sleeper's ALL query): the queues' waiting jobs (`("ingest queue",
/// 2)`; this engine has none of Sleeper's queues), a summary, then one table row per run.
pub fn standard_report(jobs: &[ReportJob], queues: &[(&str, u64)]) -> String {
    let mut out = String::new();
    header(&mut out);
    for (queue, waiting) in queues {
        let _ = writeln!(out, "Jobs waiting in {queue} (excluded from report): {waiting}");
    }
    let _ = writeln!(out, "Total jobs waiting across all queues: {}", queues.iter().map(|(_, n)| n).sum::<u64>());
    let _ = writeln!(out, "Total jobs in report: {}", jobs.len());
    let in_progress = jobs.iter().filter(|j| j.runs.iter().any(|r| matches!(r.state(), RunState::Accepted | RunState::InProgress))).count();
    let finished = jobs.iter().filter(|j| j.runs.iter().any(|r| r.state() == RunState::Finished)).count();
    let _ = writeln!(out, "Total jobs in progress: {in_progress}");
    let _ = writeln!(out, "Total jobs finished: {finished}");
    let rates: Vec<(f64, f64)> = jobs.iter().flat_map(|j| &j.runs).filter_map(finished_rates).collect();
    if !rates.is_empty() {
        let n = rates.len() as f64;
        let (read, write) = rates.iter().fold((0.0, 0.0), |(r, w), (a, b)| (r + a, w + b));
        let _ = writeln!(out, "Average ingest rate: {} read/s, {} write/s", decimal_2dp(read / n), decimal_2dp(write / n));
    }
    table(&mut out, jobs);
    if !jobs.is_empty() {
        out.push_str("\nFor more information concerning any failure reasons, please consult the more detailed report.\n");
    }
    out
}

/// Read and write rates of a run that finished in non-zero time.
fn finished_rates(run: &ReportRun) -> Option<(f64, f64)> {
    match run.end()? {
        RunUpdate::Finished { start, time, rows_read, rows_written, .. } => {
            let seconds = (*time - *start).num_milliseconds() as f64 / 1000.0;
            (seconds > 0.0).then(|| (*rows_read as f64 / seconds, *rows_written as f64 / seconds))
        }
        _ => None,
    }
}

const COLUMNS: [(&str, bool); 13] = [
    ("STATE", false),
    ("JOB_ID", false),
    ("INPUT_FILES", true),
    ("ADDED_FILES", true),
    ("TASK_ID", false),
    ("START_TIME", false),
    ("FINISH_TIME", false),
    ("DURATION", true),
    ("ROWS_READ", true),
    ("ROWS_WRITTEN", true),
    ("READ_RATE (s)", true),
    ("WRITE_RATE (s)", true),
    ("FAILURE_REASONS", false),
];

fn row(job: &ReportJob, run: &ReportRun) -> [String; 13] {
    let mut cells: [String; 13] = Default::default();
    cells[0] = run.state().name().to_string();
    cells[1].clone_from(&job.job_id);
    cells[2] = job.runs.first().and_then(ReportRun::input_files).map(count).unwrap_or_default();
    cells[3] = count(run.files_added());
    cells[4] = run.task_id.clone().unwrap_or_default();
    cells[5] = run.start_time().map(instant).unwrap_or_default();
    match run.end() {
        Some(RunUpdate::Finished { start, time, rows_read, rows_written, .. }) => {
            cells[6] = instant(*time);
            let millis = (*time - *start).num_milliseconds();
            cells[7] = duration(millis);
            cells[8] = count(*rows_read);
            cells[9] = count(*rows_written);
            if millis > 0 {
                let seconds = millis as f64 / 1000.0;
                cells[10] = decimal_2dp(*rows_read as f64 / seconds);
                cells[11] = decimal_2dp(*rows_written as f64 / seconds);
            }
        }
        Some(RunUpdate::Failed { start, time, reasons }) => {
            cells[6] = instant(*time);
            cells[7] = duration((*time - start.unwrap_or(*time)).num_milliseconds());
            cells[8] = "0".into();
            cells[9] = "0".into();
            cells[10] = "0.00".into();
            cells[11] = "0.00".into();
            cells[12] = failure_reasons(reasons);
        }
        Some(RunUpdate::Rejected { time, .. }) => cells[6] = instant(*time),
        _ => {}
    }
    cells
}

fn table(out: &mut String, jobs: &[ReportJob]) {
    let rows: Vec<[String; 13]> = jobs.iter().flat_map(|job| job.runs.iter().map(move |run| row(job, run))).collect();
    let widths: Vec<usize> = (0..13).map(|c| rows.iter().map(|r| r[c].chars().count()).chain([COLUMNS[c].0.len()]).max().unwrap_or(0)).collect();
    let border = "-".repeat(widths.iter().sum::<usize>() + 3 * 12 + 4);
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .zip(COLUMNS)
            .map(|((cell, width), (_, right))| if right { format!("{cell:>width$}") } else { format!("{cell:<width$}") })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let _ = writeln!(out, "{border}");
    out.push_str(&line(COLUMNS.iter().map(|(name, _)| *name).collect()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    let _ = writeln!(out, "{border}");
}

/// Reasons joined by ". ", cut to 30 characters as Sleeper's table does.
fn failure_reasons(reasons: &[String]) -> String {
    const MAX: usize = 30;
    let mut out = String::new();
    for (i, reason) in reasons.iter().enumerate() {
        let delimiter = if i == 0 { "" } else { ". " };
        if out.len() + delimiter.len() + 3 >= MAX {
            out.push_str("...");
            return out;
        }
        if out.len() + delimiter.len() + reason.len() + 1 >= MAX {
            out.push_str(delimiter);
            out.push_str(reason);
            let cut: String = out.chars().take(MAX - 3).collect();
            return cut + "...";
        }
        out.push_str(delimiter);
        out.push_str(reason);
    }
    if !out.is_empty() {
        out.push('.');
    }
    out
}

/// Each job's every update (Sleeper's DETAILED query).
pub fn detailed_report(jobs: &[ReportJob]) -> String {
    let mut out = String::new();
    header(&mut out);
    if jobs.is_empty() {
        out.push_str("No job found with provided jobId\n");
        out.push_str(RULE);
        out.push('\n');
    }
    for job in jobs {
        let _ = writeln!(out, "Details for job {}:", job.job_id);
        let _ = writeln!(out, "State: {}", job.state().name());
        let _ = writeln!(out, "Number of input files: {}", job.runs.first().and_then(ReportRun::input_files).unwrap_or(0));
        for run in &job.runs {
            out.push('\n');
            if let Some(task) = &run.task_id {
                let _ = writeln!(out, "Run on task {task}");
            }
            for update in &run.updates {
                detailed_update(&mut out, &update.update, update.recorded);
            }
            if run.state() == RunState::InProgress {
                out.push_str("Not finished\n");
            }
        }
        out.push_str(RULE);
        out.push('\n');
    }
    out
}

fn detailed_update(out: &mut String, update: &RunUpdate, recorded: DateTime<Utc>) {
    match update {
        RunUpdate::Accepted { time, .. } => {
            let _ = write!(out, "Validation time: {}\nValidation update time: {}\nJob was accepted\n", instant(*time), instant(recorded));
        }
        RunUpdate::Rejected { time, reasons, .. } => {
            let _ =
                writeln!(out, "Validation time: {}\nValidation update time: {}\nJob was rejected with reasons:", instant(*time), instant(recorded));
            for reason in reasons {
                let _ = writeln!(out, "- {reason}");
            }
        }
        RunUpdate::Started { time, .. } => {
            let _ = write!(out, "Start time: {}\nStart update time: {}\n", instant(*time), instant(recorded));
        }
        RunUpdate::FilesAdded { time, files } => {
            let _ = write!(out, "{files} files written at: {}\nFiles added to table at: {}\n", instant(*time), instant(recorded));
        }
        RunUpdate::Finished { start, time, rows_read, rows_written, .. } => {
            let millis = (*time - *start).num_milliseconds();
            let _ = writeln!(out, "Finish time: {}\nFinish update time: {}\nDuration: {}", instant(*time), instant(recorded), duration(millis));
            let _ = writeln!(out, "Rows read: {}\nRows written: {}", count(*rows_read), count(*rows_written));
            if millis > 0 {
                let seconds = millis as f64 / 1000.0;
                let _ = writeln!(out, "Read rate (reads per second): {}", decimal_2dp(*rows_read as f64 / seconds));
                let _ = writeln!(out, "Write rate (writes per second): {}", decimal_2dp(*rows_written as f64 / seconds));
            }
        }
        RunUpdate::Failed { start, time, reasons } => {
            let millis = (*time - start.unwrap_or(*time)).num_milliseconds();
            let _ = writeln!(out, "Finish time: {}\nFinish update time: {}\nDuration: {}", instant(*time), instant(recorded), duration(millis));
            out.push_str("Run failed, reasons:\n");
            for reason in reasons {
                let _ = writeln!(out, "- {reason}");
            }
        }
    }
}

/// Java's `Instant.toString()`: UTC, the fraction in 3, 6 or 9 digits, none when zero.
pub fn instant(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Sleeper's duration: Java's `Duration.toString()` without `PT`, units lower case and spaced.
pub fn duration(millis: i64) -> String {
    // Clocks of different machines can put an end a little before its start.
    let millis = millis.max(0);
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let mut parts = Vec::new();
    if hours != 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes != 0 {
        parts.push(format!("{minutes}m"));
    }
    if rest != 0 || parts.is_empty() {
        let seconds = format!("{}.{:03}", rest / 1000, rest % 1000);
        parts.push(format!("{}s", seconds.trim_end_matches('0').trim_end_matches('.')));
    }
    parts.join(" ")
}

/// A count with thousands separators, as `1,234,000`.
pub fn count(n: u64) -> String {
    group(&n.to_string())
}

/// Two decimal places with thousands separators, as `9,995.46`.
pub fn decimal_2dp(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let text = format!("{:.2}", value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    format!("{}{}.{fraction}", if value < 0.0 && text != "0.00" { "-" } else { "" }, group(whole))
}

fn group(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
