//! The job pages: `/jobs`, the jobs with their durations, rows and rates; `/jobs/{id}`, one job
//! with its live progress, its events on a timeline, rows per leaf, the plan it ran and why it
//! failed or was rejected; `/jobs/{id}/progress`, that progress as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use bulk_import_core::attempt::AttemptDir;
use bulk_import_core::tracker::{JobEvent, JobRecord, JobStatus};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream};
use maud::{Markup, html};
use serde::Deserialize;
use tokio_stream::wrappers::WatchStream;

use super::chart::{self, Bar, Moment};
use super::layout::{page, status_badge};
use super::session::Viewer;
use super::{PageError, WebState, leaf_label};
use crate::cli::report::{count, duration};
use crate::execution::progress::Progress;

/// The most jobs one listing shows, newest first.
const LISTED: usize = 500;

/// A job as one line of the listing, or the head of its page: the latest run's figures, live
/// where the job runs in this service.
struct JobLine {
    status: JobStatus,
    submitted: Option<DateTime<Utc>>,
    started: Option<DateTime<Utc>>,
    seconds: Option<f64>,
    rows_written: Option<u64>,
    rows_total: Option<u64>,
    tasks: Option<(u32, u32)>,
}

impl JobLine {
    fn of(record: &JobRecord, live: Option<&Progress>) -> Self {
        let mut line = JobLine {
            status: record.status,
            submitted: record.first_seen(),
            started: None,
            seconds: None,
            rows_written: None,
            rows_total: None,
            tasks: None,
        };
        for event in record.current_events() {
            match &event.event {
                JobEvent::Accepted { input_rows, .. } => line.rows_total = Some(*input_rows),
                JobEvent::Started { .. } => line.started = Some(event.time),
                JobEvent::Finished { rows_written, duration_seconds, .. } => {
                    line.rows_written = Some(*rows_written);
                    line.seconds = Some(*duration_seconds);
                }
                JobEvent::Failed { .. } => line.seconds = line.started.map(|s| seconds_between(s, event.time)),
                _ => {}
            }
        }
        if let Some(progress) = live {
            line.status = progress.status;
            line.rows_written = Some(progress.rows_written);
            line.rows_total = Some(progress.rows_total);
            line.tasks = Some((progress.tasks_done, progress.tasks_total));
            if progress.status == JobStatus::InProgress || progress.status == JobStatus::Uncommitted {
                line.seconds = line.started.map(|s| seconds_between(s, Utc::now()));
            }
        }
        line
    }

    fn rows_per_second(&self) -> Option<f64> {
        let seconds = self.seconds.filter(|s| *s > 0.0)?;
        Some(self.rows_written? as f64 / seconds)
    }
}

fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    ((end - start).num_milliseconds().max(0)) as f64 / 1000.0
}

fn show_seconds(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "–".into(), |s| duration((s * 1000.0).round() as i64))
}

fn show_count(n: Option<u64>) -> String {
    n.map_or_else(|| "–".into(), count)
}

fn show_rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".into(), |r| count(r.round() as u64))
}

fn show_time(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(|| "–".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

#[derive(Deserialize)]
pub struct JobFilter {
    table: Option<String>,
    status: Option<String>,
}

pub async fn list(viewer: Viewer, State(state): State<Arc<WebState>>, Query(filter): Query<JobFilter>) -> Result<Markup, PageError> {
    let table = filter.table.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let status = match filter.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<JobStatus>().map_err(PageError::BadRequest)?),
        None => None,
    };
    let records = state.driver.tracker().list(table, status).await?;
    let total = records.len();
    let shown: Vec<(&JobRecord, JobLine)> =
        records.iter().rev().take(LISTED).map(|r| (r, JobLine::of(r, state.queue.progress(&r.job_id).as_ref()))).collect();
    let statuses = ["ACCEPTED", "IN_PROGRESS", "UNCOMMITTED", "FINISHED", "FAILED", "REJECTED"];
    let selected = status.map(|s| s.to_string());
    let body = html! {
        h1 { "Jobs" }
        form.filter method="get" action="/jobs" {
            label { "Table" input name="table" value=[table] placeholder="any"; }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in statuses { option value=(s) selected[selected.as_deref() == Some(s)] { (s) } }
                }
            }
            button type="submit" { "Filter" }
        }
        p.muted #job-count { (total) " jobs" @if total > LISTED { ", the newest " (LISTED) " shown" } }
        table #jobs {
            thead { tr {
                th { "Job" } th { "Table" } th { "Status" } th { "Submitted" }
                th.n { "Duration" } th.n { "Rows written" } th.n { "Rows/s" }
            } }
            tbody {
                @for (record, line) in &shown {
                    tr data-job=(record.job_id) {
                        td { a href={ "/jobs/" (urlencode(&record.job_id)) } { (record.job_id) } }
                        td { @if let Some(t) = &record.table_name { a href={ "/tables/" (urlencode(t)) } { (t) } } }
                        td { (status_badge(line.status, None)) }
                        td { (show_time(line.submitted)) }
                        td.n { (show_seconds(line.seconds)) }
                        td.n { (show_count(line.rows_written)) }
                        td.n { (show_rate(line.rows_per_second())) }
                    }
                }
            }
        }
    };
    Ok(page("Jobs", viewer.name(), &body))
}

/// The tracker's record of a job, or the page's 404.
async fn job_record(state: &WebState, job_id: &str) -> Result<JobRecord, PageError> {
    state.driver.tracker().job(job_id).await?.ok_or_else(|| PageError::NotFound(format!("no job has id {job_id:?}")))
}

pub async fn job(viewer: Viewer, State(state): State<Arc<WebState>>, Path(job_id): Path<String>) -> Result<Markup, PageError> {
    let record = job_record(&state, &job_id).await?;
    let live = state.queue.progress(&job_id);
    let line = JobLine::of(&record, live.as_ref());
    let first = record.events.first().or(record.rejected_submissions.first()).map(|e| e.time);
    let moments: Vec<Moment> = record
        .events
        .iter()
        .map(|e| Moment {
            seconds: first.map_or(0.0, |f| seconds_between(f, e.time)),
            label: e.event.name().to_string(),
            class: match e.event.status() {
                JobStatus::Failed | JobStatus::Rejected => "failed",
                JobStatus::Finished => "finished",
                _ => "",
            },
        })
        .collect();
    // A running job's timeline reaches to now.
    let now = live.as_ref().and(first).map(|f| seconds_between(f, Utc::now()));
    let leaves = rows_per_leaf(&state, &record).await;
    let plan = state.queue.executed_plan(&job_id);
    let body = html! {
        h1 { "Job " (record.job_id) }
        dl.facts {
            dt { "Status" } dd { (status_badge(line.status, Some("status"))) }
            dt { "Table" } dd { @if let Some(t) = &record.table_name { a href={ "/tables/" (urlencode(t)) } { (t) } } @else { "–" } }
            dt { "Submitted" } dd { (show_time(line.submitted)) }
            dt { "Started" } dd { (show_time(line.started)) }
            dt { "Duration" } dd #duration { (show_seconds(line.seconds)) }
        }
        (progress_section(&job_id, &line, live.is_some()))
        (reasons_section(&record))
        h2 { "Events" }
        (chart::timeline(&moments, now))
        table #events {
            thead { tr { th { "Time" } th.n { "After" } th { "Event" } } }
            tbody {
                @for event in &record.events {
                    tr {
                        td { (show_time(Some(event.time))) }
                        td.n { (show_seconds(first.map(|f| seconds_between(f, event.time)))) }
                        td.event { (event.event.describe()) }
                    }
                }
            }
        }
        h2 { "Rows per leaf" }
        @match &leaves {
            Ok(Some(bars)) => { (chart::bars("rows-per-leaf", bars, "rows written by the latest run")) }
            Ok(None) => { p.muted #no-leaf-chart { "The chart appears when the latest run has written its files." } }
            Err(e) => { p.error { "Could not read the run's files: " (e) } }
        }
        h2 { "Physical plan" }
        @match &plan {
            Some(plan) => { pre #plan { (plan) } }
            None if live.is_some() => { p.muted { "The plan appears, with its operators' metrics, when the run has ended." } }
            None => { p.muted { "Not kept: plans are kept in this service's memory for the last "
                (crate::service::plan_archive::KEPT_PLANS) " jobs it ran." } }
        }
    };
    Ok(page(&format!("Job {job_id}"), viewer.name(), &body))
}

/// The job's progress, which the page's script keeps live while the job runs here.
fn progress_section(job_id: &str, line: &JobLine, live: bool) -> Markup {
    let percent = match (line.rows_written, line.rows_total) {
        (Some(w), Some(t)) if t > 0 => w.saturating_mul(100) / t,
        _ => 0,
    };
    html! {
        @if line.rows_total.is_some() {
            h2 { "Progress" }
            div #progress data-live=(live) data-events={ "/jobs/" (urlencode(job_id)) "/progress" } {
                progress #progress-bar max=(line.rows_total.unwrap_or(0).max(1)) value=(line.rows_written.unwrap_or(0)) {}
                p {
                    span #percent { (percent) "%" } " · "
                    span #rows-written { (show_count(line.rows_written)) } " of " span #rows-total { (show_count(line.rows_total)) } " rows written · "
                    span #rows-per-second { (show_rate(line.rows_per_second())) } " rows/s · writer tasks done: "
                    span #tasks { @if let Some((done, total)) = line.tasks { (done) " of " (total) } @else { "all" } }
                }
                noscript { p.muted { "Reload the page to see the latest progress." } }
            }
        }
    }
}

/// Why the latest run failed, and why each rejected submission was rejected, in full.
fn reasons_section(record: &JobRecord) -> Markup {
    let failure = record.current_events().iter().rev().find_map(|e| match &e.event {
        JobEvent::Failed { reason, .. } => Some(reason.as_str()),
        _ => None,
    });
    let rejections: Vec<(DateTime<Utc>, &[String], &str)> = record
        .events
        .iter()
        .chain(&record.rejected_submissions)
        .filter_map(|e| match &e.event {
            JobEvent::Rejected { reasons, raw_json, .. } => Some((e.time, reasons.as_slice(), raw_json.as_str())),
            _ => None,
        })
        .collect();
    html! {
        @if let Some(reason) = failure {
            section #failure { h2 { "Why it failed" } pre.reason { (reason) } }
        }
        @if !rejections.is_empty() {
            section #rejections {
                h2 { "Why it was rejected" }
                @for (time, reasons, raw_json) in &rejections {
                    p.muted { "Submission of " (show_time(Some(*time))) }
                    ul.reasons { @for reason in reasons.iter() { li.rejection-reason { (reason) } } }
                    details { summary { "The job as submitted" } pre { (raw_json) } }
                }
            }
        }
    }
}

/// Rows the latest run wrote to each leaf of the table, from the run's manifest, in key order;
/// files it wrote to partitions that are no longer leaves come last. `None` before the run has
/// written its manifest.
async fn rows_per_leaf(state: &WebState, record: &JobRecord) -> anyhow::Result<Option<Vec<Bar>>> {
    let (Some(run_id), Some(table_name)) = (record.current_run_id(), record.table_name.as_deref()) else { return Ok(None) };
    let Some(table) = state.driver.backend().table_by_name(table_name).await? else { return Ok(None) };
    let Some(manifest) = AttemptDir::for_run(&table, &record.job_id, run_id).read_manifest().await? else { return Ok(None) };
    let partitions = state.driver.backend().state_store(&table).partitions().await?;
    let mut rows: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for file in &manifest.files {
        *rows.entry(file.partition_id.as_str()).or_default() += file.rows;
    }
    let leaves = partitions.leaves_depth_first();
    let mut bars: Vec<Bar> = leaves.iter().map(|leaf| Bar { label: leaf_label(leaf), value: rows.remove(leaf.id.as_str()).unwrap_or(0) }).collect();
    let mut former: Vec<(&str, u64)> = rows.into_iter().collect();
    former.sort_unstable();
    bars.extend(former.into_iter().map(|(id, value)| Bar { label: format!("{id} (no longer a leaf)"), value }));
    Ok(Some(bars))
}

/// The job's progress as server-sent events: each change while it runs here, or its last
/// state once, for a job that does not.
pub async fn progress(
    _viewer: Viewer,
    State(state): State<Arc<WebState>>,
    Path(job_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, PageError> {
    let record = job_record(&state, &job_id).await?;
    let line = JobLine::of(&record, None);
    let started = line.started;
    let events = if let Some(watch) = state.queue.watch(&job_id) {
        WatchStream::new(watch).map(move |p| Ok(progress_event(&p, started))).boxed()
    } else {
        let mut last = Progress::new(line.status, line.rows_total.unwrap_or(0));
        last.rows_written = line.rows_written.unwrap_or(0);
        stream::once(async move { Ok(progress_event(&last, started)) }).boxed()
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn progress_event(progress: &Progress, started: Option<DateTime<Utc>>) -> Event {
    let seconds = started.map_or(0.0, |s| seconds_between(s, Utc::now()));
    let data = serde_json::json!({
        "status": progress.status.to_string(),
        "rowsWritten": progress.rows_written,
        "rowsTotal": progress.rows_total,
        "tasksDone": progress.tasks_done,
        "tasksTotal": progress.tasks_total,
        "rowsPerSecond": if seconds > 0.0 { progress.rows_written as f64 / seconds } else { 0.0 },
        "duration": show_seconds(started.map(|_| seconds)),
        "message": progress.message,
    });
    Event::default().data(data.to_string())
}

/// A path segment, percent-encoded.
pub fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}
