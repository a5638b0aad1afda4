//! Execution: an accepted job's run, from STARTED to FINISHED or FAILED. The run pre-splits the
//! table if it has too few leaves, plans, runs the plan on Ballista while [`monitor`] follows it,
//! checks that every row read was written, writes the attempt's manifest, and commits. On any
//! failure or cancellation nothing is committed and the attempt's files are deleted.

pub mod engine;
mod lease;
mod monitor;
pub mod progress;

use std::collections::HashSet;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulk_import_core::attempt::{AttemptDir, WrittenFile};
use bulk_import_core::backend::CommitOutcome;
use bulk_import_core::tracker::{JobEvent, JobStatus};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::commit::{CommitOutcomeUnknown, commit, total_rows_written, written_files};
use crate::driver::{CANCELLED, Driver, JobOutcome, JobSummary, RunControl, RunOptions};
use crate::intake::AcceptedJob;
use crate::planning::PlanInput;
use crate::planning::pre_split::ensure_leaves;
use engine::EngineLostJob;
pub use lease::LEASE_TERM;
use lease::RunLease;

/// How long a discarded attempt's writers get to notice the abandoned mark, finish or remove
/// the file they were completing, and stop, before the second sweep. A writer checks the mark
/// before and after every file, so this is one file's completion (a final upload), with room.
pub const SWEEP_GRACE: Duration = Duration::from_secs(2);

/// Waits until the run's progress (which the monitor publishes only when it changes) has not
/// moved for `timeout`; for ever, without one. Returns the reason the run fails with.
async fn stalled(control: &RunControl, timeout: Option<Duration>) -> String {
    let Some(timeout) = timeout else { return std::future::pending().await };
    let mut progress = control.progress.subscribe();
    loop {
        match tokio::time::timeout(timeout, progress.changed()).await {
            Ok(Ok(())) => {}
            // The sender lives as long as the run: it cannot close while the run is watched.
            Ok(Err(_)) => return std::future::pending().await,
            Err(_) => {
                let (rows, tasks) = (progress.borrow().rows_written, progress.borrow().tasks_done);
                return format!(
                    "stalled: no progress for {} s (--stall-timeout) at {rows} rows written and {tasks} writer tasks done; the engine job was cancelled",
                    timeout.as_secs()
                );
            }
        }
    }
}

impl Driver {
    /// Runs an accepted job: plan, execute on Ballista, commit; on any failure or cancellation
    /// nothing is committed and the attempt's files are deleted.
    pub async fn execute(&self, accepted: &AcceptedJob, options: &RunOptions, control: &RunControl) -> anyhow::Result<JobOutcome> {
        // Every line logged for the run carries the job, the run and, once submitted, the
        // engine's job id (as fields of JSON log lines).
        let span = tracing::info_span!("job", job_id = %accepted.job.id, run_id = %accepted.run_id, engine_job_id = tracing::field::Empty);
        self.execute_in_span(accepted, options, control).instrument(span).await
    }

    async fn execute_in_span(&self, accepted: &AcceptedJob, options: &RunOptions, control: &RunControl) -> anyhow::Result<JobOutcome> {
        let AcceptedJob { job, table, files, rows: rows_read, run_id, .. } = accepted;
        tracing::info!("started: {} input files, {rows_read} rows, into table {}", files.len(), table.name());
        let started = Instant::now();
        let run_id = run_id.clone();
        let attempt = AttemptDir::for_run(table, &job.id, &run_id);
        // The lease is taken before the run is recorded as started, so that no one ever sees the
        // run IN_PROGRESS without it.
        let lease = RunLease::take(&attempt).await?;
        // Whatever happens from here, the lease is released: an early return must not leave it.
        let outcome = async {
            let started_event =
                JobEvent::Started { run_id: run_id.clone(), algorithm: accepted.algorithm.name().into(), input_files: files.len() as u64 };
            self.tracker().record(&job.id, started_event).await?;
            control.progress.send_modify(|p| {
                p.status = JobStatus::InProgress;
                p.rows_total = *rows_read;
            });
            let result = self.write_and_commit(accepted, options, control, &attempt, &run_id, &lease.lost()).await;
            self.settle(accepted, control, &attempt, run_id, started, result).await
        }
        .await;
        lease.release().await;
        outcome
    }

    /// Records how the run ended, and cleans up after it.
    async fn settle(
        &self,
        accepted: &AcceptedJob,
        control: &RunControl,
        attempt: &AttemptDir,
        run_id: String,
        started: Instant,
        result: anyhow::Result<(Vec<WrittenFile>, CommitOutcome)>,
    ) -> anyhow::Result<JobOutcome> {
        let AcceptedJob { job, table, files, rows: rows_read, .. } = accepted;
        match result {
            Ok((written, commit)) => {
                let keep: HashSet<String> = written.iter().map(|f| f.filename.clone()).collect();
                if let Err(e) = attempt.sweep(&self.stores, &keep, false).await {
                    tracing::warn!("job {}: could not delete files of failed tasks: {e}", job.id);
                }
                let duration = started.elapsed();
                let rows_written = total_rows_written(&written);
                let summary = JobSummary {
                    table_name: table.name().to_string(),
                    input_files: files.len() as u64,
                    rows_read: *rows_read,
                    rows_written,
                    files_written: written.len() as u64,
                    bytes_written: written.iter().map(|f| f.bytes).sum(),
                    duration,
                    commit,
                };
                let finished = JobEvent::Finished {
                    run_id,
                    input_files: summary.input_files,
                    rows_read: *rows_read,
                    rows_written,
                    files_written: summary.files_written,
                    duration_seconds: duration.as_secs_f64(),
                    rows_per_second: rows_written as f64 / duration.as_secs_f64().max(1e-9),
                    committed_when_files_added: commit == CommitOutcome::Requested,
                };
                let status = finished.status();
                self.tracker().record(&job.id, finished).await?;
                tracing::info!("{status}: {rows_written} rows written to {} files in {:.2} s", summary.files_written, duration.as_secs_f64());
                control.progress.send_modify(|p| {
                    p.status = status;
                    p.rows_written = rows_written;
                    p.tasks_done = p.tasks_total;
                });
                Ok(JobOutcome::Finished { job_id: job.id.clone(), summary })
            }
            Err(error) => {
                let mut reason = reason_text(&error);
                if control.cancel.is_cancelled() {
                    reason = CANCELLED.to_string();
                }
                if error.downcast_ref::<CommitOutcomeUnknown>().is_some() {
                    // The commit may have landed: its files stay, and so does the attempt's
                    // manifest, which names them.
                } else if let Err(e) = self.discard_attempt(attempt, true).await {
                    let _ = write!(reason, "; and the attempt's files could not all be deleted: {e}");
                }
                tracing::warn!("FAILED: {reason}");
                let interrupted = error.chain().any(<dyn std::error::Error>::is::<EngineLostJob>);
                let failed = JobEvent::Failed { run_id: Some(run_id), reason: reason.clone(), interrupted };
                self.tracker().record(&job.id, failed).await?;
                control.progress.send_modify(|p| {
                    p.status = JobStatus::Failed;
                    p.message = Some(reason.clone());
                });
                Ok(JobOutcome::Failed { job_id: job.id.clone(), reason, interrupted })
            }
        }
    }

    /// Deletes every file an attempt wrote, and its manifest. The attempt is first marked
    /// abandoned, which stops its writers at their next file; tasks the scheduler has not
    /// stopped may still finish one file after the first sweep, and remove it themselves on
    /// seeing the mark, or leave a progress record: the sweep is repeated [`SWEEP_GRACE`]
    /// later. The mark stays, so that a late task never writes into the attempt.
    pub async fn discard_attempt(&self, attempt: &AttemptDir, tasks_may_still_run: bool) -> bulk_import_core::Result<()> {
        attempt.mark_abandoned().await?;
        // The first sweep keeps the markers: a file a writer was completing when the sweep
        // passed (a task aborted inside its final rename never looks at the mark) is found by
        // its marker in the second.
        if tasks_may_still_run {
            attempt.sweep(&self.stores, &HashSet::new(), true).await?;
            tokio::time::sleep(SWEEP_GRACE).await;
        }
        attempt.sweep(&self.stores, &HashSet::new(), false).await?;
        attempt.delete_manifest().await
    }

    /// Cancels a run's engine job, which may be what hangs: the request is bounded.
    async fn stop_engine_job(&self, job_id: &str, engine_job_id: &str) {
        match tokio::time::timeout(Duration::from_secs(30), self.engine.cancel(engine_job_id)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("job {job_id}: could not cancel engine job {engine_job_id}: {e}"),
            Err(_) => tracing::warn!("job {job_id}: the engine did not answer the cancellation of {engine_job_id} within 30 s"),
        }
    }

    async fn write_and_commit(
        &self,
        accepted: &AcceptedJob,
        options: &RunOptions,
        control: &RunControl,
        attempt: &AttemptDir,
        run_id: &str,
        lease_lost: &CancellationToken,
    ) -> anyhow::Result<(Vec<WrittenFile>, CommitOutcome)> {
        let AcceptedJob { job, table, algorithm, files, rows: rows_read, settings, .. } = accepted;
        let state_store = self.backend.state_store(table);
        state_store.check_commit_possible().await?;
        let (partitions, split) = ensure_leaves(state_store.as_ref(), table, files).await?;
        if let Some(split) = split {
            let event = JobEvent::PartitionsSplit {
                run_id: run_id.to_string(),
                leaves_before: split.leaves_before as u64,
                leaves_after: split.leaves_after as u64,
                transaction_number: split.transaction_number,
            };
            self.tracker().record(&job.id, event).await?;
        }
        let partitions = Arc::new(partitions);
        let leaves = partitions.leaf_count();
        let parallelism = settings.parallelism.unwrap_or_else(|| self.engine.parallelism());
        let shuffle_partitions =
            options.shuffle_partitions.or(settings.shuffle_partitions).unwrap_or_else(|| algorithm.default_write_tasks(parallelism, leaves)).max(1);
        let input = PlanInput {
            table,
            partitions,
            files,
            read_parallelism: parallelism,
            shuffle_partitions,
            attempt_dir_url: attempt.url(),
            fail_after_files: options.fail_after_files,
        };
        let plan = algorithm.plan(&input).await?;
        tracing::debug!("job {} plan:\n{}", job.id, datafusion::physical_plan::displayable(plan.as_ref()).indent(true));
        control.progress.send_modify(|p| p.tasks_total = shuffle_partitions as u32);
        anyhow::ensure!(!control.cancel.is_cancelled(), CANCELLED);

        let submitted = Instant::now();
        let engine_job_id = self.engine.submit(plan.clone(), &job.id, &settings.session).await?;
        tracing::Span::current().record("engine_job_id", engine_job_id.as_str());
        tracing::info!("submitted: {shuffle_partitions} write tasks over {leaves} leaves");
        let (running_tx, running_rx) = tokio::sync::oneshot::channel();
        let mut running = Some(running_rx);
        let execution = self.engine.wait(&engine_job_id, move || {
            let _ = running_tx.send(submitted.elapsed());
        });
        let monitor = self.monitor(&job.id, run_id, &engine_job_id, attempt, control, &mut running);
        let result = tokio::select! {
            result = execution => result.map_err(anyhow::Error::from),
            () = monitor => unreachable!("the monitor runs until the job ends"),
            stalled = stalled(control, options.stall_timeout) => {
                self.stop_engine_job(&job.id, &engine_job_id).await;
                Err(anyhow::anyhow!("{stalled}"))
            }
            () = lease_lost.cancelled() => {
                self.stop_engine_job(&job.id, &engine_job_id).await;
                Err(anyhow::anyhow!("the run could not renew its lease, and stopped before another service could take it over"))
            }
            () = control.cancel.cancelled() => {
                self.stop_engine_job(&job.id, &engine_job_id).await;
                Err(anyhow::anyhow!(CANCELLED))
            }
        };
        // A short job can end before the monitor saw it start.
        if let Some(elapsed) = running.and_then(|mut r| r.try_recv().ok()) {
            self.record_running(&job.id, run_id, &engine_job_id, elapsed).await;
        }
        // Shown while the run commits, and let go after: see `Engine::show_executed`.
        let shown = self.engine.show_executed(plan, control.executed_plan.is_some());
        let committed = async {
            let batches = result?;
            let written = written_files(&batches);
            let rows_written = total_rows_written(&written);
            anyhow::ensure!(*rows_read == rows_written, "the job read {rows_read} rows but wrote {rows_written}: refusing to commit");
            let manifest = attempt.write_manifest(&job.id, &written).await?;
            let files_written = JobEvent::FilesWritten { run_id: run_id.to_string(), files_written: written.len() as u64, rows_written, manifest };
            self.tracker().record(&job.id, files_written).await?;
            control.progress.send_modify(|p| {
                p.status = JobStatus::Uncommitted;
                p.rows_written = rows_written;
            });
            // Past this point the job commits or fails; a cancellation no longer applies.
            let outcome = commit(state_store.as_ref(), &job.id, run_id, &written).await?;
            Ok((written, outcome))
        }
        .await;
        if let (Some(text), Some(slot)) = (shown.await, &control.executed_plan) {
            let _ = slot.set(text);
        }
        committed
    }
}

/// An error and its causes as one line, each said once: DataFusion's and object_store's errors
/// already print their sources, which `{:#}` would print again after them.
pub(crate) fn reason_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::reason_text;

    #[test]
    fn each_cause_is_said_once() {
        // object_store prints its source in its own message; the context does not.
        let source = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "x leads outside");
        let store = object_store::Error::PermissionDenied { path: "a/b".into(), source: Box::new(source) };
        let error = anyhow::Error::new(store).context("reading the input");
        let text = reason_text(&error);
        assert_eq!(text.matches("x leads outside").count(), 1, "{text}");
        assert!(text.starts_with("reading the input: ") && text.contains("a/b"), "{text}");
        assert_eq!(reason_text(&anyhow::anyhow!("plain")), "plain");
    }
}
