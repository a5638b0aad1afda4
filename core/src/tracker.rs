//! The job tracker: append-only events per job, in the object store next to the tables.
//!
//! Under `<store>/job-tracker/jobs/<job id>/`:
//! - `events/<n, 6 digits>.json`: the job's events in order, each created only if absent, so
//!   concurrent writers never overwrite each other and only one submission of an id is accepted;
//! - `rejected-submissions/<uuid>.json`: later submissions that reused the id of an accepted job,
//!   kept apart so they do not change the status of the job that owns the id.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Location;

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
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase().replace('-', "_"))).map_err(|_| {
            format!("unknown status {s:?}: expected REJECTED, ACCEPTED, IN_PROGRESS, UNCOMMITTED, FINISHED or FAILED")
        })
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
        /// `sparkConf` keys that mean nothing to this engine and were ignored.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
        /// The job's `platformSpec`, kept as given.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        platform_spec: std::collections::BTreeMap<String, String>,
    },
    Rejected { table_name: Option<String>, reasons: Vec<String>, raw_json: String },
    Started { run_id: String, algorithm: String },
    /// The run split the table's leaves before importing (automatic pre-split).
    PartitionsSplit { run_id: String, leaves_before: u64, leaves_after: u64, transaction_number: u64 },
    /// The engine started the run's first tasks.
    Running { run_id: String, engine_job_id: String, seconds_since_started: f64 },
    FilesWritten { run_id: String, files_written: u64, rows_written: u64, manifest: String },
    Finished {
        run_id: String,
        input_files: u64,
        rows_read: u64,
        rows_written: u64,
        files_written: u64,
        duration_seconds: f64,
        rows_per_second: f64,
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
    /// The status a job has after this event.
    pub fn status(&self) -> JobStatus {
        match self {
            JobEvent::Accepted { .. } => JobStatus::Accepted,
            JobEvent::Rejected { .. } => JobStatus::Rejected,
            JobEvent::Started { .. } | JobEvent::PartitionsSplit { .. } | JobEvent::Running { .. } => JobStatus::InProgress,
            JobEvent::FilesWritten { .. } => JobStatus::Uncommitted,
            JobEvent::Finished { .. } => JobStatus::Finished,
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

/// Why a job could not be accepted.
impl JobRecord {
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

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("job id {0:?} was already accepted")]
    AlreadyAccepted(String),
    #[error(transparent)]
    Store(#[from] Error),
}

#[derive(Debug, Clone)]
pub struct JobTracker {
    root: Location,
}

impl JobTracker {
    /// The tracker of the store rooted at `store_root`.
    pub fn new(store_root: &Location) -> Self {
        JobTracker { root: store_root.child("job-tracker/jobs") }
    }

    fn events_dir(&self, job_id: &str) -> Location {
        self.root.child(job_id).child("events")
    }

    async fn read_events(&self, dir: &Location) -> Result<Vec<(String, JobEventRecord)>> {
        let mut metas: Vec<_> = dir.store.list(Some(&dir.path)).try_collect().await?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let mut events = Vec::with_capacity(metas.len());
        for meta in metas {
            let bytes = dir.store.get(&meta.location).await?.bytes().await?;
            let record: JobEventRecord = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                what: "job event",
                location: meta.location.to_string(),
                reason: e.to_string(),
            })?;
            events.push((meta.location.filename().unwrap_or_default().to_string(), record));
        }
        Ok(events)
    }

    /// Appends an event after the job's existing ones. `guard` sees the existing events and may
    /// refuse; it is asked again whenever another writer got in first.
    async fn append_with(
        &self,
        job_id: &str,
        event: JobEvent,
        guard: impl Fn(&[(String, JobEventRecord)]) -> std::result::Result<(), AcceptError>,
    ) -> std::result::Result<(), AcceptError> {
        let dir = self.events_dir(job_id);
        let record = JobEventRecord { job_id: job_id.to_string(), time: Utc::now(), event };
        let json = serde_json::to_vec_pretty(&record).expect("events serialise");
        loop {
            let existing = self.read_events(&dir).await?;
            guard(&existing)?;
            let next = existing.last().and_then(|(name, _)| name.strip_suffix(".json")?.parse::<u64>().ok()).unwrap_or(0) + 1;
            let location = dir.child(&format!("{next:06}.json"));
            let options = PutOptions { mode: PutMode::Create, ..Default::default() };
            match location.store.put_opts(&location.path, PutPayload::from(json.clone()), options).await {
                Ok(_) => return Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(Error::from(e).into()),
            }
        }
    }

    /// Records an event of a job.
    pub async fn record(&self, job_id: &str, event: JobEvent) -> Result<()> {
        self.append_with(job_id, event, |_| Ok(())).await.map_err(|e| match e {
            AcceptError::Store(e) => e,
            AcceptError::AlreadyAccepted(_) => unreachable!("an unguarded append never refuses"),
        })
    }

    /// Records that a job was accepted, unless a job with the same id already was and has not
    /// failed since: a failed job may be submitted again, and runs again under the same id (its
    /// commit is still refused if an earlier run committed).
    pub async fn accept(&self, job_id: &str, event: JobEvent) -> std::result::Result<(), AcceptError> {
        self.append_with(job_id, event, |existing| {
            let accepted = existing.iter().any(|(_, r)| matches!(r.event, JobEvent::Accepted { .. }));
            let failed = existing.last().is_some_and(|(_, r)| r.event.status() == JobStatus::Failed);
            if accepted && !failed {
                Err(AcceptError::AlreadyAccepted(job_id.to_string()))
            } else {
                Ok(())
            }
        })
        .await
    }

    /// Records a submission rejected because it reused the id of an accepted job.
    pub async fn record_rejected_resubmission(&self, job_id: &str, reasons: Vec<String>, raw_json: String) -> Result<()> {
        let record = JobEventRecord {
            job_id: job_id.to_string(),
            time: Utc::now(),
            event: JobEvent::Rejected { table_name: None, reasons, raw_json },
        };
        let location = self.root.child(job_id).child("rejected-submissions").child(&format!("{}.json", uuid::Uuid::new_v4()));
        let json = serde_json::to_vec_pretty(&record).expect("events serialise");
        location.store.put(&location.path, PutPayload::from(json)).await?;
        Ok(())
    }

    /// Everything recorded about a job, or `None` for an id never seen.
    pub async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let events: Vec<JobEventRecord> = self.read_events(&self.events_dir(job_id)).await?.into_iter().map(|(_, r)| r).collect();
        let rejected_submissions: Vec<JobEventRecord> =
            self.read_events(&self.root.child(job_id).child("rejected-submissions")).await?.into_iter().map(|(_, r)| r).collect();
        let Some(last) = events.last().or(rejected_submissions.last()) else {
            return Ok(None);
        };
        let table_name = events.iter().find_map(|r| match &r.event {
            JobEvent::Accepted { table_name, .. } => Some(table_name.clone()),
            JobEvent::Rejected { table_name, .. } => table_name.clone(),
            _ => None,
        });
        Ok(Some(JobRecord {
            job_id: job_id.to_string(),
            status: last.event.status(),
            table_name,
            events,
            rejected_submissions,
        }))
    }

    /// All jobs, optionally only those of one table or in one status, ordered by first event.
    pub async fn list(&self, table_name: Option<&str>, status: Option<JobStatus>) -> Result<Vec<JobRecord>> {
        let listing = self.root.store.list_with_delimiter(Some(&self.root.path)).await?;
        let mut jobs = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(job_id) = prefix.filename() else { continue };
            let Some(job) = self.job(job_id).await? else { continue };
            if table_name.is_some_and(|t| job.table_name.as_deref() != Some(t)) || status.is_some_and(|s| job.status != s) {
                continue;
            }
            jobs.push(job);
        }
        jobs.sort_by_key(|j| j.events.first().or(j.rejected_submissions.first()).map(|e| e.time));
        Ok(jobs)
    }
}
