//! The job service's queue: accepted jobs wait here for one of a fixed number of run slots
//! (EMR's step concurrency), and can be watched and cancelled while they wait or run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulk_import_core::tracker::{JobEvent, JobStatus};
use tokio::sync::{mpsc, watch};

use crate::driver::{CANCELLED, Driver, JobOutcome, RunControl, RunOptions};
use crate::execution::progress::Progress;
use crate::intake::AcceptedJob;
use crate::service::metrics::ServiceMetrics;
use crate::service::plan_archive::PlanArchive;
use crate::service::recovery::{RestartPolicy, requeue_job};

struct QueuedJob {
    accepted: AcceptedJob,
    control: RunControl,
}

/// What a cancellation found.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancellation {
    /// The job was stopped; its final progress.
    Cancelled(Progress),
    /// The job is not queued or running in this service.
    NotActive,
}

/// Accepted jobs waiting for, or holding, a run slot.
pub struct JobQueue {
    driver: Arc<Driver>,
    sender: mpsc::UnboundedSender<QueuedJob>,
    /// Jobs queued or running, by id.
    active: Mutex<HashMap<String, RunControl>>,
    /// Jobs holding a run slot.
    running: AtomicUsize,
    /// Places held for submissions being admitted ([`Place`]).
    held: AtomicUsize,
    metrics: Arc<ServiceMetrics>,
    /// The plans of the jobs run here, for the web view.
    plans: PlanArchive,
    /// How often a job whose run the engine lost is run again.
    restart: RestartPolicy,
}

impl JobQueue {
    /// Starts `concurrency` run slots taking jobs from the queue in order.
    pub fn start(driver: Arc<Driver>, options: &RunOptions, concurrency: usize, metrics: Arc<ServiceMetrics>, restart: RestartPolicy) -> Arc<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queue = Arc::new(JobQueue {
            driver,
            sender,
            active: Mutex::default(),
            running: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            metrics,
            plans: PlanArchive::default(),
            restart,
        });
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..concurrency.max(1) {
            let queue = queue.clone();
            let receiver = receiver.clone();
            let options = options.clone();
            tokio::spawn(async move {
                loop {
                    let Some(next) = receiver.lock().await.recv().await else { return };
                    queue.run(next, &options).await;
                }
            });
        }
        queue
    }

    /// Holds a place for a job being admitted, if fewer than `limit` jobs are queued, running
    /// or being admitted; otherwise how many are. Checking and holding are one step, so that
    /// submissions arriving together cannot pass the limit together.
    pub fn hold_place(&self, limit: usize) -> Result<Place<'_>, usize> {
        let active = self.active.lock().expect("queue lock poisoned");
        let taken = active.len() + self.held.load(Ordering::Acquire);
        if taken >= limit {
            return Err(taken);
        }
        self.held.fetch_add(1, Ordering::AcqRel);
        Ok(Place { queue: self })
    }

    /// Queues an accepted job.
    pub fn enqueue(&self, accepted: AcceptedJob) {
        let control = RunControl::new(accepted.rows).keeping_executed_plan();
        let job_id = accepted.job.id.clone();
        self.active.lock().expect("queue lock poisoned").insert(job_id.clone(), control.clone());
        if self.sender.send(QueuedJob { accepted, control }).is_err() {
            tracing::error!("job {job_id}: the run slots have stopped; it stays ACCEPTED and runs after a restart");
        }
    }

    async fn run(&self, queued: QueuedJob, options: &RunOptions) {
        let QueuedJob { accepted, control } = queued;
        let job_id = accepted.job.id.clone();
        // Taken under the progress channel's lock, as `cancel` looks: a job cancelled while
        // queued never starts, and one that starts is stopped by its token.
        let taken = control.progress.send_if_modified(|p| {
            let take = p.status == JobStatus::Accepted && !control.cancel.is_cancelled();
            if take {
                p.status = JobStatus::InProgress;
            }
            take
        });
        let mut run_again = false;
        if taken {
            self.running.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let result = self.driver.execute(&accepted, options, &control).await;
            self.running.fetch_sub(1, Ordering::Relaxed);
            if let Some(plan) = control.executed_plan.as_ref().and_then(|p| p.get()) {
                self.plans.keep(&job_id, plan.clone());
            }
            match result {
                Ok(outcome) => {
                    self.metrics.ran(&outcome, started.elapsed().as_secs_f64());
                    tracing::info!("job {job_id}: {outcome:?}");
                    run_again = matches!(outcome, JobOutcome::Failed { interrupted: true, .. });
                }
                Err(e) => {
                    // The tracker itself failed: the job stays as last recorded and is taken up
                    // again when the service restarts.
                    tracing::error!("job {job_id}: could not be run or recorded: {e:#}");
                    control.progress.send_modify(|p| {
                        p.status = JobStatus::Failed;
                        p.message = Some(crate::execution::reason_text(&e));
                    });
                }
            }
        }
        self.active.lock().expect("queue lock poisoned").remove(&job_id);
        if run_again {
            self.run_again(&job_id).await;
        }
    }

    /// Queues again, as a new run, a job whose run the engine lost (a restarted scheduler), up
    /// to the restart policy's count of interrupted runs.
    async fn run_again(&self, job_id: &str) {
        let result: anyhow::Result<()> = async {
            let Some(record) = self.driver.tracker().job(job_id).await? else { return Ok(()) };
            if !self.restart.runs_again(record.interrupted_runs()) {
                tracing::warn!("job {job_id}: its run was lost {} times; not run again", record.interrupted_runs());
                return Ok(());
            }
            tracing::info!("job {job_id}: the engine lost its run; running it again");
            requeue_job(&self.driver, self, &record).await.map(drop)
        }
        .await;
        if let Err(e) = result {
            tracing::error!("job {job_id}: the engine lost its run, and it could not be queued again: {e:#}");
        }
    }

    /// How many jobs are queued or running here.
    pub fn active_jobs(&self) -> usize {
        self.active.lock().expect("queue lock poisoned").len()
    }

    /// How many jobs hold a run slot.
    pub fn running_jobs(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    pub fn metrics(&self) -> &ServiceMetrics {
        &self.metrics
    }

    /// The executed plan of the job's latest run here, if it is still kept.
    pub fn executed_plan(&self, job_id: &str) -> Option<String> {
        self.plans.get(job_id)
    }

    /// The current progress of a job queued or running here.
    pub fn progress(&self, job_id: &str) -> Option<Progress> {
        self.active.lock().expect("queue lock poisoned").get(job_id).map(|c| c.progress.borrow().clone())
    }

    /// Progress of a job queued or running here.
    pub fn watch(&self, job_id: &str) -> Option<watch::Receiver<Progress>> {
        self.active.lock().expect("queue lock poisoned").get(job_id).map(|c| c.progress.subscribe())
    }

    /// Stops a job queued or running here, and waits until it has stopped.
    pub async fn cancel(&self, job_id: &str) -> anyhow::Result<Cancellation> {
        let Some(control) = self.active.lock().expect("queue lock poisoned").get(job_id).cloned() else {
            return Ok(Cancellation::NotActive);
        };
        let mut progress = control.progress.subscribe();
        control.cancel.cancel();
        // Under the progress channel's lock, as a run slot takes the job (`run`): either the slot
        // took it, and the run stops on the token, or it is still queued and never starts.
        let was_queued = control.progress.send_if_modified(|p| {
            let queued = p.status == JobStatus::Accepted;
            if queued {
                p.status = JobStatus::Failed;
                p.message = Some(CANCELLED.into());
            }
            queued
        });
        if was_queued {
            // No run will record it.
            let failed = JobEvent::Failed { run_id: None, reason: CANCELLED.into(), interrupted: false };
            self.driver.tracker().record(job_id, failed).await?;
        }
        let ended = progress.wait_for(|p| matches!(p.status, JobStatus::Failed | JobStatus::Finished));
        let final_progress = match tokio::time::timeout(Duration::from_mins(2), ended).await {
            Ok(Ok(p)) => p.clone(),
            _ => control.progress.borrow().clone(),
        };
        Ok(Cancellation::Cancelled(final_progress))
    }
}

/// A place in the queue held while a submission is admitted; given back when dropped, after
/// the job it was held for (if accepted) is queued.
pub struct Place<'q> {
    queue: &'q JobQueue,
}

impl Place<'_> {
    /// Queues the job the place was held for.
    pub fn enqueue(self, accepted: AcceptedJob) {
        self.queue.enqueue(accepted);
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.queue.held.fetch_sub(1, Ordering::AcqRel);
    }
}
