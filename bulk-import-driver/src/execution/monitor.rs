//! Following a submitted run: when its first tasks start (RUNNING), and how far its writer
//! tasks have got, read from the attempt directory and published to whoever watches.

use std::time::Duration;

use bulk_import_core::attempt::AttemptDir;
use bulk_import_core::tracker::JobEvent;

use crate::driver::{Driver, RunControl};

/// How often a running job's progress records are read.
const PROGRESS_POLL: Duration = Duration::from_millis(500);

impl Driver {
    /// Records that the run's first tasks started, `elapsed` after its submission.
    pub(super) async fn record_running(&self, job_id: &str, run_id: &str, engine_job_id: &str, elapsed: Duration) {
        let event =
            JobEvent::Running { run_id: run_id.to_string(), engine_job_id: engine_job_id.to_string(), seconds_since_started: elapsed.as_secs_f64() };
        if let Err(e) = self.tracker().record(job_id, event).await {
            tracing::warn!("job {job_id}: could not record that it is running: {e}");
        }
    }

    /// Follows a submitted run until the caller stops polling it: records when its first tasks
    /// start, and publishes the writer tasks' progress.
    pub(super) async fn monitor(
        &self,
        job_id: &str,
        run_id: &str,
        engine_job_id: &str,
        attempt: &AttemptDir,
        control: &RunControl,
        running: &mut Option<tokio::sync::oneshot::Receiver<Duration>>,
    ) {
        let mut ticker = tokio::time::interval(PROGRESS_POLL);
        loop {
            tokio::select! {
                since_submit = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                    *running = None;
                    if let Ok(elapsed) = since_submit {
                        self.record_running(job_id, run_id, engine_job_id, elapsed).await;
                    }
                }
                _ = ticker.tick() => match attempt.read_progress().await {
                    Ok((done, rows)) => {
                        control.progress.send_if_modified(|p| {
                            let changed = (p.tasks_done, p.rows_written) != (done, rows);
                            (p.tasks_done, p.rows_written) = (done, rows);
                            changed
                        });
                    }
                    Err(e) => tracing::debug!("job {job_id}: progress unavailable: {e}"),
                },
            }
        }
    }
}
