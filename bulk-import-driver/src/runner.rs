//! Runs one bulk import job from its JSON to its commit, recording every step in the tracker.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_core::table::{Table, Tables};
use bulk_import_core::tracker::{AcceptError, JobEvent, JobTracker};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::commit::{WrittenFile, attempt_dir, commit, delete_attempt_files, total_rows_written, write_manifest, written_files};
use crate::engine::{Engine, EngineConfig};
use crate::job::{BulkImportJob, parse_job};
use crate::planning::{Algorithm, PlanInput};
use crate::validation::{InputFile, total_rows, validate_inputs};

/// Per-run choices that are not part of the job.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How many tasks sort and write; by default four per task slot, at most one per leaf.
    ///
    /// Sleeper's Spark job uses one task per leaf. Here a task writes its leaves one after the
    /// other (still one file per leaf), and fewer, larger tasks avoid paying Ballista's
    /// per-task scheduling round trip hundreds of times: on 2 cores, 2M rows into 64 leaves
    /// took 6.3 s with 64 tasks and 1.6 s with 8.
    pub shuffle_partitions: Option<usize>,
    /// Print progress to standard error.
    pub show_progress: bool,
    /// Test hook: each writer task fails after completing this many files.
    pub fail_after_files: Option<u32>,
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Rejected { job_id: String, reasons: Vec<String> },
    Finished { job_id: String, summary: JobSummary },
    Failed { job_id: String, reason: String },
}

impl JobOutcome {
    pub fn job_id(&self) -> &str {
        match self {
            JobOutcome::Rejected { job_id, .. } | JobOutcome::Finished { job_id, .. } | JobOutcome::Failed { job_id, .. } => job_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    pub table_name: String,
    pub input_files: u64,
    pub rows_read: u64,
    pub rows_written: u64,
    pub files_written: u64,
    pub duration: Duration,
    pub transaction_number: u64,
}

/// A job that passed validation and was recorded as accepted.
#[derive(Clone, Copy)]
struct AcceptedJob<'a> {
    job: &'a BulkImportJob,
    table: &'a Table,
    algorithm: Algorithm,
    files: &'a [InputFile],
    /// The rows of all input files, from their footers: what the job must write.
    rows: u64,
}

/// The driver: a store of tables, its job tracker, and an engine to run jobs on.
pub struct Driver {
    stores: Arc<ObjectStores>,
    root: Location,
    tables: Tables,
    tracker: JobTracker,
    engine: Engine,
}

impl Driver {
    /// Opens the store at `store` (a local path or URL) and starts the embedded engine.
    pub async fn open_embedded(store: &str, engine: EngineConfig) -> anyhow::Result<Self> {
        let stores = Arc::new(ObjectStores::new());
        let root = stores.resolve(store)?;
        let engine = Engine::start_embedded(engine).await?;
        Ok(Driver { tables: Tables::new(root.clone()), tracker: JobTracker::new(&root), stores, root, engine })
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    pub fn tracker(&self) -> &JobTracker {
        &self.tracker
    }

    pub fn stores(&self) -> &Arc<ObjectStores> {
        &self.stores
    }

    pub fn root(&self) -> &Location {
        &self.root
    }

    /// Runs a job given as Sleeper's bulk import JSON.
    pub async fn run(&self, raw_json: &str, options: &RunOptions) -> anyhow::Result<JobOutcome> {
        let job = match parse_job(raw_json) {
            Ok(job) => job,
            Err(failure) => return self.reject(&failure.id, failure.table_name, failure.reasons, raw_json).await,
        };
        let (table, algorithm, files) = match self.validate(&job).await? {
            Ok(valid) => valid,
            Err(reasons) => return self.reject(&job.id, job.table_name.clone(), reasons, raw_json).await,
        };
        let rows = total_rows(&files);
        let accepted = JobEvent::Accepted {
            table_name: table.name().to_string(),
            table_id: table.id().to_string(),
            input_files: files.len() as u64,
            input_rows: rows,
            class_name: job.class_name.clone().unwrap_or_else(|| algorithm.name().to_string()),
        };
        match self.tracker.accept(&job.id, accepted).await {
            Ok(()) => {}
            Err(AcceptError::AlreadyAccepted(_)) => {
                let reasons = vec![format!("job id {:?} was already accepted", job.id)];
                self.tracker.record_rejected_resubmission(&job.id, reasons.clone(), raw_json.to_string()).await?;
                return Ok(JobOutcome::Rejected { job_id: job.id, reasons });
            }
            Err(AcceptError::Store(e)) => return Err(e.into()),
        }
        self.execute(&AcceptedJob { job: &job, table: &table, algorithm, files: &files, rows }, options).await
    }

    /// Records a rejection. A job id that belongs to an accepted job keeps that job's status:
    /// the rejection is recorded beside it, as a rejected submission.
    async fn reject(&self, job_id: &str, table_name: Option<String>, mut reasons: Vec<String>, raw_json: &str) -> anyhow::Result<JobOutcome> {
        let already_accepted = self
            .tracker
            .job(job_id)
            .await?
            .is_some_and(|j| j.events.iter().any(|e| matches!(e.event, JobEvent::Accepted { .. })));
        if already_accepted {
            reasons.push(format!("job id {job_id:?} was already accepted"));
            self.tracker.record_rejected_resubmission(job_id, reasons.clone(), raw_json.to_string()).await?;
        } else {
            let event = JobEvent::Rejected { table_name, reasons: reasons.clone(), raw_json: raw_json.to_string() };
            self.tracker.record(job_id, event).await?;
        }
        Ok(JobOutcome::Rejected { job_id: job_id.to_string(), reasons })
    }

    /// Checks the table, the algorithm and the input; `Err` holds every reason to reject.
    async fn validate(&self, job: &BulkImportJob) -> anyhow::Result<Result<(Table, Algorithm, Vec<InputFile>), Vec<String>>> {
        let mut reasons = Vec::new();
        let table = match (&job.table_name, &job.table_id) {
            (Some(name), id) => {
                let table = self.tables.get(name).await?;
                match (&table, id) {
                    (None, _) => reasons.push(format!("table {name:?} does not exist")),
                    (Some(t), Some(id)) if t.id() != id => reasons.push(format!("table {name:?} has id {}, not {id:?}", t.id())),
                    _ => {}
                }
                table
            }
            (None, Some(id)) => {
                let table = self.tables.get_by_id(id).await?;
                if table.is_none() {
                    reasons.push(format!("no table has id {id:?}"));
                }
                table
            }
            (None, None) => None,
        };
        let algorithm = Algorithm::select(job.class_name.as_deref()).map_err(|r| reasons.push(r)).ok();
        let files = match &table {
            Some(table) => validate_inputs(&self.stores, &job.files, table.schema()).await.map_err(|r| reasons.extend(r)).ok(),
            None => None,
        };
        Ok(match (table, algorithm, files) {
            (Some(table), Some(algorithm), Some(files)) if reasons.is_empty() => Ok((table, algorithm, files)),
            _ => Err(reasons),
        })
    }

    /// Runs an accepted job: plan, execute on Ballista, commit; on any failure nothing is
    /// committed and the attempt's files are deleted.
    async fn execute(&self, accepted: &AcceptedJob<'_>, options: &RunOptions) -> anyhow::Result<JobOutcome> {
        let AcceptedJob { job, table, algorithm, files, rows: rows_read } = *accepted;
        let started = Instant::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let attempt = attempt_dir(table, &job.id, &run_id);
        self.tracker.record(&job.id, JobEvent::Started { run_id: run_id.clone(), algorithm: algorithm.name().into() }).await?;
        let result = self.write_and_commit(accepted, options, &attempt, &run_id).await;
        match result {
            Ok((written, transaction_number)) => {
                let keep: HashSet<String> = written.iter().map(|f| f.filename.clone()).collect();
                if let Err(e) = delete_attempt_files(&self.stores, &attempt, &keep).await {
                    tracing::warn!("job {}: could not delete files of failed tasks: {e}", job.id);
                }
                let duration = started.elapsed();
                let rows_written = total_rows_written(&written);
                let summary = JobSummary {
                    table_name: table.name().to_string(),
                    input_files: files.len() as u64,
                    rows_read,
                    rows_written,
                    files_written: written.len() as u64,
                    duration,
                    transaction_number,
                };
                let finished = JobEvent::Finished {
                    run_id,
                    input_files: summary.input_files,
                    rows_read,
                    rows_written,
                    files_written: summary.files_written,
                    duration_seconds: duration.as_secs_f64(),
                    rows_per_second: rows_written as f64 / duration.as_secs_f64().max(1e-9),
                };
                self.tracker.record(&job.id, finished).await?;
                Ok(JobOutcome::Finished { job_id: job.id.clone(), summary })
            }
            Err(error) => {
                let mut reason = format!("{error:#}");
                if let Err(e) = delete_attempt_files(&self.stores, &attempt, &HashSet::new()).await {
                    reason.push_str(&format!("; and the attempt's files could not all be deleted: {e}"));
                }
                let _ = attempt.store.delete(&attempt.child("manifest.json").path).await;
                self.tracker.record(&job.id, JobEvent::Failed { run_id: Some(run_id), reason: reason.clone() }).await?;
                Ok(JobOutcome::Failed { job_id: job.id.clone(), reason })
            }
        }
    }

    async fn write_and_commit(
        &self,
        accepted: &AcceptedJob<'_>,
        options: &RunOptions,
        attempt: &Location,
        run_id: &str,
    ) -> anyhow::Result<(Vec<WrittenFile>, u64)> {
        let AcceptedJob { job, table, algorithm, files, rows: rows_read } = *accepted;
        let partitions = Arc::new(table.state_store().state().await?.partitions);
        let leaves = partitions.leaf_count();
        if options.show_progress {
            eprintln!(
                "job {}: accepted: {} input files, {rows_read} rows into table {} ({leaves} leaves)",
                job.id,
                files.len(),
                table.name()
            );
        }
        let input = PlanInput {
            table,
            partitions,
            files,
            read_parallelism: self.engine.config().parallelism,
            shuffle_partitions: options.shuffle_partitions.unwrap_or((4 * self.engine.config().parallelism).min(leaves)),
            attempt_dir_url: attempt.url(),
            fail_after_files: options.fail_after_files,
        };
        let plan = algorithm.plan(&input)?;
        tracing::debug!("job {} plan:\n{}", job.id, datafusion::physical_plan::displayable(plan.as_ref()).indent(true));
        self.engine.register_stores(&self.stores);
        let job_name = format!("bulk-import-{}", job.id);
        let execution = self.engine.execute(plan, &job_name);
        let batches = if options.show_progress {
            with_progress(execution, attempt, leaves).await?
        } else {
            execution.await?
        };
        let written = written_files(&batches);
        let rows_written = total_rows_written(&written);
        anyhow::ensure!(
            rows_read == rows_written,
            "the job read {rows_read} rows but wrote {rows_written}: refusing to commit"
        );
        let manifest = write_manifest(attempt, &job.id, &written).await?;
        let files_written = JobEvent::FilesWritten {
            run_id: run_id.to_string(),
            files_written: written.len() as u64,
            rows_written,
            manifest,
        };
        self.tracker.record(&job.id, files_written).await?;
        let transaction_number = commit(table, &job.id, &written).await?;
        Ok((written, transaction_number))
    }
}

/// Awaits `execution`, printing every second how many leaf files the writers have started.
async fn with_progress<T>(execution: impl Future<Output = T>, attempt: &Location, leaves: usize) -> T {
    let started = Instant::now();
    let markers = attempt.child("files");
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(execution);
    loop {
        tokio::select! {
            result = &mut execution => {
                eprintln!();
                return result;
            }
            _ = ticker.tick() => {
                let started_files = markers.store.list(Some(&markers.path)).try_fold(0usize, |n, _| async move { Ok(n + 1) }).await.unwrap_or(0);
                eprint!("\r  {:>6.1}s  files started: {started_files}/{leaves} leaves", started.elapsed().as_secs_f64());
            }
        }
    }
}
