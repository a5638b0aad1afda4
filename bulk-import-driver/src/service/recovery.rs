//! What the job service does on start with the jobs a previous instance left unfinished.
//!
//! The tracker is the queue's durable form: a job whose last event is ACCEPTED is still queued
//! and is queued again. A job that was running (IN_PROGRESS or UNCOMMITTED) lost its driver: if
//! its commit had happened it is recorded FINISHED; otherwise its Ballista job is cancelled, the
//! run's files are deleted, it is recorded FAILED (interrupted), and it runs again while it has
//! been interrupted no more than the policy allows. The commit stays exactly once whatever
//! happens, as the state store refuses a second commit of a job id.

use std::sync::Arc;

use bulk_import_core::attempt::AttemptDir;
use bulk_import_core::tracker::{JobEvent, JobRecord, JobStatus};

use crate::driver::Driver;
use crate::intake::Reloaded;
use crate::service::queue::JobQueue;

/// How many times a job cut short by the service stopping is run again.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    pub max_resubmissions: usize,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { max_resubmissions: 1 }
    }
}

/// Takes up every unfinished job of the store; returns how many were queued again.
pub async fn recover(driver: &Arc<Driver>, queue: &JobQueue, policy: RestartPolicy) -> anyhow::Result<usize> {
    let mut queued = 0;
    for job in driver.tracker().list(None, None).await? {
        let requeue = match job.status {
            JobStatus::Accepted => true,
            JobStatus::InProgress | JobStatus::Uncommitted => interrupted(driver, &job, policy).await?,
            _ => false,
        };
        if requeue {
            match driver.reload(&job).await? {
                Reloaded::Runnable(accepted) => {
                    tracing::info!("job {}: queued again after a restart", job.job_id);
                    queue.enqueue(*accepted);
                    queued += 1;
                }
                Reloaded::NoLongerValid(reason) => {
                    let failed = JobEvent::Failed { run_id: None, reason, interrupted: false };
                    driver.tracker().record(&job.job_id, failed).await?;
                }
            }
        }
    }
    Ok(queued)
}

/// Settles a run that lost its driver; true if the job should run again.
async fn interrupted(driver: &Arc<Driver>, job: &JobRecord, policy: RestartPolicy) -> anyhow::Result<bool> {
    let Some(JobEvent::Accepted { table_name, .. }) = job.accepted() else { return Ok(false) };
    let Some(table) = driver.backend().table_by_name(table_name).await? else {
        let reason = format!("the job service stopped while the job ran, and table {table_name:?} no longer exists");
        driver.tracker().record(&job.job_id, JobEvent::Failed { run_id: None, reason, interrupted: true }).await?;
        return Ok(false);
    };
    let run_id = job.current_run_id().map(str::to_string);
    if driver.backend().state_store(&table).is_job_committed(&job.job_id).await? {
        record_committed(driver, job, run_id).await?;
        return Ok(false);
    }
    let engine_job = job.current_events().iter().rev().find_map(|r| match &r.event {
        JobEvent::Running { engine_job_id, .. } => Some(engine_job_id.clone()),
        _ => None,
    });
    if let Some(engine_job) = &engine_job {
        // Only a remote scheduler outlives the service; an embedded one stopped with it.
        if let Err(e) = driver.engine().cancel(engine_job).await {
            tracing::debug!("job {}: Ballista job {engine_job} not cancelled: {e}", job.job_id);
        }
    }
    if let Some(run_id) = &run_id {
        driver.discard_attempt(&AttemptDir::for_run(&table, &job.job_id, run_id), engine_job.is_some()).await?;
    }
    let reason = format!("the job service stopped during run {}", run_id.as_deref().unwrap_or("(not started)"));
    driver.tracker().record(&job.job_id, JobEvent::Failed { run_id, reason, interrupted: true }).await?;
    Ok(job.interrupted_runs() < policy.max_resubmissions)
}

/// The run committed before the service stopped: the job finished, with the files its
/// manifest listed.
async fn record_committed(driver: &Arc<Driver>, job: &JobRecord, run_id: Option<String>) -> anyhow::Result<()> {
    let (files_written, rows_written) = job
        .current_events()
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            JobEvent::FilesWritten { files_written, rows_written, .. } => Some((*files_written, *rows_written)),
            _ => None,
        })
        .unwrap_or_default();
    let (input_files, rows_read) = match job.accepted() {
        Some(JobEvent::Accepted { input_files, input_rows, .. }) => (*input_files, *input_rows),
        _ => (0, 0),
    };
    let started = job.current_events().iter().find(|r| matches!(r.event, JobEvent::Started { .. })).map(|r| r.time);
    let duration_seconds = started.map_or(0.0, |t| (chrono::Utc::now() - t).as_seconds_f64());
    let finished = JobEvent::Finished {
        run_id: run_id.unwrap_or_default(),
        input_files,
        rows_read,
        rows_written,
        files_written,
        duration_seconds,
        rows_per_second: rows_written as f64 / duration_seconds.max(1e-9),
        committed_when_files_added: false,
    };
    driver.tracker().record(&job.job_id, finished).await?;
    Ok(())
}
