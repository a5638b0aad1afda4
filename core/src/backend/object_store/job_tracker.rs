//! The job tracker of the engine's own backend: append-only events per job, in the object store
//! next to the tables.
//!
//! Under `<store>/job-tracker/jobs/<job id>/`:
//! - `events/<n, 6 digits>.json`: the job's events in order, each created only if absent, so
//!   concurrent writers never overwrite each other and only one submission of an id is accepted;
//! - `rejected-submissions/<uuid>.json`: later submissions that reused the id of an accepted job,
//!   kept apart so they do not change the status of the job that owns the id.

use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};

use crate::backend::JobTracker;
use crate::error::{Error, Result};
use crate::store::Location;
use crate::store_metrics::{STORE_METRICS, logs};
use crate::tracker::{AcceptError, JobEvent, JobEventRecord, JobRecord, JobStatus, check_acceptable};

/// How a writer that lost the race for an event's number waits before it reads the job's events
/// again: jittered exponential backoff from 5 ms to 1 s, 30 attempts. Two writers of one job's
/// events are rare (a submission racing a resubmission), so this is only a bound.
fn conflict_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default().with_min_delay(Duration::from_millis(5)).with_max_delay(Duration::from_secs(1)).with_max_times(30).with_jitter()
}

#[derive(Debug, Clone)]
pub struct ObjectStoreJobTracker {
    root: Location,
}

impl ObjectStoreJobTracker {
    /// The tracker of the store rooted at `store_root`.
    pub fn new(store_root: &Location) -> Self {
        ObjectStoreJobTracker { root: store_root.child("job-tracker/jobs") }
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
        guard: impl Fn(&[JobEventRecord]) -> std::result::Result<(), AcceptError>,
    ) -> std::result::Result<(), AcceptError> {
        let dir = self.events_dir(job_id);
        let record = JobEventRecord { job_id: job_id.to_string(), time: Utc::now(), event };
        let json =
            serde_json::to_vec_pretty(&record).map_err(|e| Error::Corrupt { what: "job event", location: dir.url(), reason: e.to_string() })?;
        let attempt = || async {
            let existing = self.read_events(&dir).await?;
            guard(&existing.iter().map(|(_, record)| record.clone()).collect::<Vec<_>>())?;
            let next = existing.last().and_then(|(name, _)| name.strip_suffix(".json")?.parse::<u64>().ok()).unwrap_or(0) + 1;
            let location = dir.child(&format!("{next:06}.json"));
            if location.create(json.clone()).await? { Ok(()) } else { Err(AcceptError::Store(Error::WriteConflict)) }
        };
        let retried = |_: &AcceptError, _| STORE_METRICS.retried(logs::JOB_TRACKER);
        attempt.retry(conflict_backoff()).when(|e| matches!(e, AcceptError::Store(Error::WriteConflict))).notify(retried).await.map_err(|e| match e {
            AcceptError::Store(Error::WriteConflict) => {
                STORE_METRICS.gave_up(logs::JOB_TRACKER);
                AcceptError::Store(Error::TooManyConflicts(30))
            }
            other => other,
        })
    }
}

#[async_trait]
impl JobTracker for ObjectStoreJobTracker {
    async fn record(&self, job_id: &str, event: JobEvent) -> Result<()> {
        self.append_with(job_id, event, |_| Ok(())).await.map_err(|e| match e {
            AcceptError::Store(e) => e,
            AcceptError::AlreadyAccepted(job_id) => {
                Error::Corrupt { what: "job tracker", location: job_id, reason: "an unguarded append was refused".into() }
            }
        })
    }

    async fn accept(&self, job_id: &str, event: JobEvent) -> std::result::Result<(), AcceptError> {
        self.append_with(job_id, event, |existing| check_acceptable(job_id, existing)).await
    }

    async fn record_rejected_resubmission(&self, job_id: &str, reasons: Vec<String>, raw_json: String) -> Result<()> {
        let record =
            JobEventRecord { job_id: job_id.to_string(), time: Utc::now(), event: JobEvent::Rejected { table_name: None, reasons, raw_json } };
        let location = self.root.child(job_id).child("rejected-submissions").child(&format!("{}.json", uuid::Uuid::new_v4()));
        let json =
            serde_json::to_vec_pretty(&record).map_err(|e| Error::Corrupt { what: "job event", location: location.url(), reason: e.to_string() })?;
        location.store.put(&location.path, PutPayload::from(json)).await?;
        Ok(())
    }

    async fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        let events: Vec<JobEventRecord> = self.read_events(&self.events_dir(job_id)).await?.into_iter().map(|(_, r)| r).collect();
        let rejected_submissions: Vec<JobEventRecord> =
            self.read_events(&self.root.child(job_id).child("rejected-submissions")).await?.into_iter().map(|(_, r)| r).collect();
        Ok(JobRecord::from_events(job_id, events, rejected_submissions))
    }

    async fn list(&self, table_name: Option<&str>, status: Option<JobStatus>) -> Result<Vec<JobRecord>> {
        let listing = self.root.store.list_with_delimiter(Some(&self.root.path)).await?;
        let mut jobs = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(job_id) = prefix.filename() else { continue };
            if let Some(job) = self.job(job_id).await?
                && job.matches(table_name, status)
            {
                jobs.push(job);
            }
        }
        jobs.sort_by_key(JobRecord::first_seen);
        Ok(jobs)
    }
}
