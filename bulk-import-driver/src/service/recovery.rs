//! What the job service does on start with the jobs a previous instance left unfinished.
//!
//! The tracker is the queue's durable form: a job whose last event is ACCEPTED is still queued
//! and is queued again. A job that was running (IN_PROGRESS or UNCOMMITTED) lost its driver: if
//! its commit had happened it is recorded FINISHED; otherwise its Ballista job is cancelled, the
//! run's files are deleted, it is recorded FAILED (interrupted), and it runs again while it has
//! been interrupted no more than the policy allows. The commit stays exactly once whatever
//! happens, as the state store refuses a second commit of a job id. A run whose lease holds is
//! not interrupted: its driver is alive elsewhere.

use std::sync::Arc;

use bulk_import_core::attempt::{AttemptDir, Lease};
use bulk_import_core::tracker::{JobEvent, JobRecord, JobStatus};

use crate::driver::Driver;
use crate::execution::LEASE_TERM;
use crate::intake::Reloaded;
use crate::service::queue::JobQueue;

/// How many times a job cut short by the service stopping, or by the engine losing its run, is
/// run again.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    pub max_resubmissions: usize,
}

impl RestartPolicy {
    /// Whether a job whose runs were cut short `interrupted_runs` times (the latest included)
    /// runs again.
    pub fn runs_again(self, interrupted_runs: usize) -> bool {
        interrupted_runs <= self.max_resubmissions
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { max_resubmissions: 1 }
    }
}

/// How far apart two machines' clocks may be: a lease that ran out longer ago than this by
/// this machine's clock has run out by any clock.
const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_mins(5);

/// Takes up every unfinished job of the store; returns how many were queued again. A run whose
/// lease still holds belongs to a live driver (a `bulk-import run` beside the service, say): it
/// is left alone, and looked at again when its lease runs out.
pub async fn recover(driver: &Arc<Driver>, queue: &Arc<JobQueue>, policy: RestartPolicy) -> anyhow::Result<usize> {
    let mut queued = 0;
    for job in driver.tracker().list(None, None).await? {
        let requeue = match job.status {
            JobStatus::Accepted | JobStatus::InProgress | JobStatus::Uncommitted => match live_lease(driver, &job).await? {
                Some(lease) => {
                    tracing::info!(
                        "job {}: its run holds a lease ({} until {}); left to it while it is renewed",
                        job.job_id,
                        lease.holder,
                        lease.expires
                    );
                    tokio::spawn(take_over_when_lease_ends(driver.clone(), queue.clone(), job.job_id.clone(), policy, lease.expires));
                    false
                }
                None => settle_dead_run(driver, &job, policy).await?,
            },
            _ => false,
        };
        if requeue && requeue_job(driver, queue, &job).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// The run a lease would be held for: the latest started, or, before any start, the one the job
/// was accepted for (a driver takes its lease before it records STARTED).
fn leased_run_id(job: &JobRecord) -> Option<&str> {
    job.current_run_id().or_else(|| match job.accepted() {
        Some(JobEvent::Accepted { run_id, .. }) => run_id.as_deref(),
        _ => None,
    })
}

/// Settles a job no live driver holds; true if it should be queued again. An ACCEPTED job whose
/// driver died between taking its lease and recording STARTED leaves that run's lease (and no
/// file yet, but the attempt is swept all the same).
async fn settle_dead_run(driver: &Arc<Driver>, job: &JobRecord, policy: RestartPolicy) -> anyhow::Result<bool> {
    if job.status != JobStatus::Accepted {
        return interrupted(driver, job, policy).await;
    }
    if let (Some(JobEvent::Accepted { table_name, .. }), Some(run_id)) = (job.accepted(), leased_run_id(job))
        && let Some(table) = driver.backend().table_by_name(table_name).await?
    {
        let attempt = AttemptDir::for_run(&table, &job.job_id, run_id);
        if attempt.lease().await.ok().flatten().is_some() {
            driver.discard_attempt(&attempt, false).await?;
            attempt.release_lease().await?;
        }
    }
    Ok(true)
}

/// The current run's lease, unless it ran out so long ago that no clock could be that wrong.
///
/// A lease's expiry is the driver's clock's, not this machine's: a lease is judged dead by its
/// time only past [`MAX_CLOCK_SKEW`]. Otherwise it is watched ([`take_over_when_lease_ends`]):
/// a live driver renews it, which changes it, within a term of this machine's own time.
async fn live_lease(driver: &Driver, job: &JobRecord) -> anyhow::Result<Option<Lease>> {
    let (Some(JobEvent::Accepted { table_name, .. }), Some(run_id)) = (job.accepted(), leased_run_id(job)) else { return Ok(None) };
    let Some(table) = driver.backend().table_by_name(table_name).await? else { return Ok(None) };
    // An unreadable lease holds nothing: the run is judged as a dead driver's.
    let lease = AttemptDir::for_run(&table, &job.job_id, run_id).lease().await.unwrap_or_else(|e| {
        tracing::warn!("job {}: its run's lease cannot be read ({e}); taken as run out", job.job_id);
        None
    });
    let skew = chrono::Duration::from_std(MAX_CLOCK_SKEW).unwrap_or_default();
    Ok(lease.filter(|l| l.expires + skew > chrono::Utc::now()))
}

/// Watches a run's lease: while its driver renews it (the lease changes), the run is left to
/// it; once it has not changed for a whole term of this machine's time, or has gone while the
/// job is unfinished, the driver is gone and the run is settled as interrupted.
async fn take_over_when_lease_ends(
    driver: Arc<Driver>,
    queue: Arc<JobQueue>,
    job_id: String,
    policy: RestartPolicy,
    mut seen: chrono::DateTime<chrono::Utc>,
) {
    let mut wait = LEASE_TERM + std::time::Duration::from_secs(1);
    loop {
        tokio::time::sleep(wait).await;
        wait = LEASE_TERM + std::time::Duration::from_secs(1);
        let result: anyhow::Result<bool> = async {
            let Some(job) = driver.tracker().job(&job_id).await? else { return Ok(true) };
            if !matches!(job.status, JobStatus::Accepted | JobStatus::InProgress | JobStatus::Uncommitted) {
                return Ok(true);
            }
            if let Some(renewed) = live_lease(&driver, &job).await?.filter(|l| l.expires != seen) {
                seen = renewed.expires;
                return Ok(false);
            }
            tracing::info!("job {job_id}: its driver stopped renewing its lease; taking the run over");
            if settle_dead_run(&driver, &job, policy).await? {
                requeue_job(&driver, &queue, &job).await?;
            }
            Ok(true)
        }
        .await;
        match result {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!("job {job_id}: could not look at its run again: {e:#}");
                wait = std::time::Duration::from_secs(10);
            }
        }
    }
}

/// Validates a job again and queues it as a new run; true if it was queued. A job no longer
/// valid is recorded FAILED with the reason.
pub(crate) async fn requeue_job(driver: &Driver, queue: &JobQueue, job: &JobRecord) -> anyhow::Result<bool> {
    match driver.reload(job).await? {
        Reloaded::Runnable(accepted) => {
            tracing::info!("job {}: queued again as a new run", job.job_id);
            queue.enqueue(*accepted);
            Ok(true)
        }
        Reloaded::NoLongerValid(reason) => {
            let failed = JobEvent::Failed { run_id: None, reason, interrupted: false };
            driver.tracker().record(&job.job_id, failed).await?;
            Ok(false)
        }
    }
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
        if let Some(run_id) = &run_id {
            // The run committed and then lost its driver before it cleaned up: everything but
            // the committed files (the manifest's, written before the commit) goes.
            let attempt = AttemptDir::for_run(&table, &job.job_id, run_id);
            if let Some(manifest) = attempt.read_manifest().await? {
                let committed = manifest.files.into_iter().map(|f| f.filename).collect();
                attempt.sweep(driver.stores(), &committed, false).await?;
                attempt.release_lease().await?;
            } else {
                tracing::warn!("job {}: committed, but its run {run_id} has no manifest: its attempt is left as it is", job.job_id);
            }
        }
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
        let attempt = AttemptDir::for_run(&table, &job.job_id, run_id);
        // A run that started may have tasks still going even without a RUNNING event.
        let started = job.current_events().iter().any(|r| matches!(r.event, JobEvent::Started { .. }));
        driver.discard_attempt(&attempt, engine_job.is_some() || started).await?;
        // The dead driver's lease, which ran out, goes with its files.
        attempt.release_lease().await?;
    }
    let reason = format!("the job service stopped during run {}", run_id.as_deref().unwrap_or("(not started)"));
    driver.tracker().record(&job.job_id, JobEvent::Failed { run_id, reason, interrupted: true }).await?;
    // `job` was read before this interruption was recorded.
    Ok(policy.runs_again(job.interrupted_runs() + 1))
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
