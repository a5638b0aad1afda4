//! What the job tracker records: a job's events, the status they give it, and the record of
//! everything known about one job. Where they are kept is a backend's business
//! ([`crate::backend::JobTracker`]).

use std::fmt;
use std::fmt::Write;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A job's status, as Sleeper reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Rejected,
    Accepted,
    InProgress,
    Uncommitted,
    Finished,
    Failed,
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self).expect("statuses serialise");
        f.write_str(name.as_str().expect("statuses are strings"))
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase().replace('-', "_")))
            .map_err(|_| format!("unknown status {s:?}: expected REJECTED, ACCEPTED, IN_PROGRESS, UNCOMMITTED, FINISHED or FAILED"))
    }
}

/// What happened to a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "SCREAMING_SNAKE_CASE", rename_all_fields = "camelCase")]
pub enum JobEvent {
    Accepted {
        table_name: String,
        table_id: String,
        input_files: u64,
        input_rows: u64,
        class_name: String,
        /// The job as submitted, so that a job service can run it after a restart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw_json: Option<String>,
        /// The name of the token that submitted the job to a job service that requires tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        submitted_by: Option<String>,
        /// `sparkConf` keys that mean nothing to this engine and were ignored.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
        /// The job's `platformSpec`, kept as given.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        platform_spec: std::collections::BTreeMap<String, String>,
        /// The id of the run the job was accepted for (Sleeper's starter chooses it when it
        /// validates a job; its driver's updates then carry it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_id: Option<String>,
    },
    Rejected {
        table_name: Option<String>,
        reasons: Vec<String>,
        raw_json: String,
    },
    Started {
        run_id: String,
        algorithm: String,
        #[serde(default)]
        input_files: u64,
    },
    /// The run split the table's leaves before importing (automatic pre-split).
    PartitionsSplit {
        run_id: String,
        leaves_before: u64,
        leaves_after: u64,
        transaction_number: u64,
    },
    /// The engine started the run's first tasks.
    Running {
        run_id: String,
        engine_job_id: String,
        seconds_since_started: f64,
    },
    FilesWritten {
        run_id: String,
        files_written: u64,
        rows_written: u64,
        manifest: String,
    },
    Finished {
        run_id: String,
        input_files: u64,
        rows_read: u64,
        rows_written: u64,
        files_written: u64,
        duration_seconds: f64,
        rows_per_second: f64,
        /// The files were sent to be committed, not committed: the job is UNCOMMITTED until the
        /// committer adds them (Sleeper's asynchronous commit).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        committed_when_files_added: bool,
    },
    /// The committer added files of the run to the table (Sleeper's `addedFiles` update).
    FilesAdded {
        run_id: String,
        files_added: u64,
    },
    Failed {
        run_id: Option<String>,
        reason: String,
        /// The run was cut short by the job service stopping, not by the job itself.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        interrupted: bool,
    },
}

impl JobEvent {
    /// One line (and a line for each warning) saying what happened, for people.
    pub fn describe(&self) -> String {
        match self {
            JobEvent::Accepted { table_name, input_files, input_rows, class_name, warnings, platform_spec, .. } => {
                let mut line = format!("ACCEPTED into {table_name}: {input_files} files, {input_rows} rows, {class_name}");
                if !platform_spec.is_empty() {
                    let spec: Vec<String> = platform_spec.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = write!(line, "; platformSpec {}", spec.join(", "));
                }
                for warning in warnings {
                    let _ = write!(line, "\n    warning: {warning}");
                }
                line
            }
            JobEvent::Rejected { reasons, .. } => format!("REJECTED: {}", reasons.join("; ")),
            JobEvent::Started { algorithm, run_id, .. } => format!("STARTED run {run_id} ({algorithm})"),
            JobEvent::PartitionsSplit { leaves_before, leaves_after, transaction_number, .. } => {
                format!("PARTITIONS SPLIT: {leaves_before} leaves to {leaves_after} (transaction {transaction_number})")
            }
            JobEvent::Running { engine_job_id, seconds_since_started, .. } => {
                format!("RUNNING as engine job {engine_job_id}, {seconds_since_started:.3} s after submission")
            }
            JobEvent::FilesWritten { files_written, rows_written, .. } => format!("FILES WRITTEN: {files_written} files, {rows_written} rows"),
            JobEvent::Finished { rows_read, rows_written, files_written, duration_seconds, rows_per_second, committed_when_files_added, .. } => {
                let commit = if *committed_when_files_added { ", sent to the state store committer" } else { "" };
                format!(
                    "FINISHED: {rows_read} rows read, {rows_written} written, {files_written} files, {duration_seconds:.2} s, {rows_per_second:.0} rows/s{commit}"
                )
            }
            JobEvent::FilesAdded { files_added, .. } => format!("FILES ADDED by the committer: {files_added}"),
            JobEvent::Failed { reason, interrupted: false, .. } => format!("FAILED: {reason}"),
            JobEvent::Failed { reason, interrupted: true, .. } => format!("FAILED (interrupted): {reason}"),
        }
    }

    /// The event's name, as [`Self::describe`] begins.
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Accepted { .. } => "ACCEPTED",
            JobEvent::Rejected { .. } => "REJECTED",
            JobEvent::Started { .. } => "STARTED",
            JobEvent::PartitionsSplit { .. } => "PARTITIONS SPLIT",
            JobEvent::Running { .. } => "RUNNING",
            JobEvent::FilesWritten { .. } => "FILES WRITTEN",
            JobEvent::Finished { .. } => "FINISHED",
            JobEvent::FilesAdded { .. } => "FILES ADDED",
            JobEvent::Failed { .. } => "FAILED",
        }
    }

    /// The status a job has after this event.
    pub fn status(&self) -> JobStatus {
        match self {
            JobEvent::Accepted { .. } => JobStatus::Accepted,
            JobEvent::Rejected { .. } => JobStatus::Rejected,
            JobEvent::Started { .. } | JobEvent::PartitionsSplit { .. } | JobEvent::Running { .. } => JobStatus::InProgress,
            JobEvent::FilesWritten { .. } | JobEvent::Finished { committed_when_files_added: true, .. } => JobStatus::Uncommitted,
            JobEvent::Finished { .. } | JobEvent::FilesAdded { .. } => JobStatus::Finished,
            JobEvent::Failed { .. } => JobStatus::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEventRecord {
    pub job_id: String,
    pub time: DateTime<Utc>,
    #[serde(flatten)]
    pub event: JobEvent,
}

/// Everything the tracker holds about one job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub job_id: String,
    pub status: JobStatus,
    pub table_name: Option<String>,
    pub events: Vec<JobEventRecord>,
    pub rejected_submissions: Vec<JobEventRecord>,
}

impl JobRecord {
    /// The record of a job from its events and its rejected resubmissions, each in order;
    /// `None` if there are neither.
    pub fn from_events(job_id: &str, events: Vec<JobEventRecord>, rejected_submissions: Vec<JobEventRecord>) -> Option<JobRecord> {
        let mut status = events.last().or(rejected_submissions.last())?.event.status();
        if status == JobStatus::Finished && !all_files_added(&events) {
            status = JobStatus::Uncommitted;
        }
        let table_name = events.iter().find_map(|r| match &r.event {
            JobEvent::Accepted { table_name, .. } => Some(table_name.clone()),
            JobEvent::Rejected { table_name, .. } => table_name.clone(),
            _ => None,
        });
        Some(JobRecord { job_id: job_id.to_string(), status, table_name, events, rejected_submissions })
    }

    /// Whether the job is of this table and in this status, where they are given.
    pub fn matches(&self, table_name: Option<&str>, status: Option<JobStatus>) -> bool {
        table_name.is_none_or(|t| self.table_name.as_deref() == Some(t)) && status.is_none_or(|s| self.status == s)
    }

    /// When the job was first seen: the order of job listings.
    pub fn first_seen(&self) -> Option<DateTime<Utc>> {
        self.events.first().or(self.rejected_submissions.first()).map(|e| e.time)
    }

    /// The latest acceptance: the one the job's current run belongs to.
    pub fn accepted(&self) -> Option<&JobEvent> {
        self.events.iter().rev().map(|r| &r.event).find(|e| matches!(e, JobEvent::Accepted { .. }))
    }

    /// The events since the latest acceptance.
    pub fn current_events(&self) -> &[JobEventRecord] {
        let start = self.events.iter().rposition(|r| matches!(r.event, JobEvent::Accepted { .. })).unwrap_or(0);
        &self.events[start..]
    }

    /// The id of the latest run, if one started.
    pub fn current_run_id(&self) -> Option<&str> {
        self.current_events().iter().rev().find_map(|r| match &r.event {
            JobEvent::Started { run_id, .. } => Some(run_id.as_str()),
            _ => None,
        })
    }

    /// How many runs since the latest acceptance were cut short by the service stopping.
    pub fn interrupted_runs(&self) -> usize {
        self.current_events().iter().filter(|r| matches!(r.event, JobEvent::Failed { interrupted: true, .. })).count()
    }
}

/// Why a job could not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("job id {0:?} was already accepted")]
    AlreadyAccepted(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// Whether a run that finished by sending its files to be committed has had them all added:
/// Sleeper's rule, files added by the committer reaching the files the run wrote.
fn all_files_added(events: &[JobEventRecord]) -> bool {
    let Some((at, files_written, run_id)) = events.iter().enumerate().rev().find_map(|(i, r)| match &r.event {
        JobEvent::Finished { committed_when_files_added: true, files_written, run_id, .. } => Some((i, *files_written, run_id)),
        _ => None,
    }) else {
        return true;
    };
    let added: u64 = events[at..]
        .iter()
        .filter_map(|r| match &r.event {
            JobEvent::FilesAdded { run_id: added_run, files_added } if added_run == run_id => Some(*files_added),
            _ => None,
        })
        .sum();
    added >= files_written
}

/// Whether a job with these events may be accepted: not if it was accepted and has not failed
/// since (a failed job may be submitted again, and runs again under the same id; its commit is
/// still refused if an earlier run committed).
pub fn check_acceptable(job_id: &str, events: &[JobEventRecord]) -> Result<(), AcceptError> {
    let accepted = events.iter().any(|r| matches!(r.event, JobEvent::Accepted { .. }));
    let failed = events.last().is_some_and(|r| r.event.status() == JobStatus::Failed);
    if accepted && !failed { Err(AcceptError::AlreadyAccepted(job_id.to_string())) } else { Ok(()) }
}
