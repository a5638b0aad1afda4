//! Runs bulk import jobs from their JSON to their commit, recording every step in the tracker.
//!
//! A job is first *admitted* (parsed, validated, recorded as ACCEPTED or REJECTED), then
//! *executed* (planned, run on Ballista, committed). The CLI does both at once; the job service
//! admits when a job is submitted and executes when a slot frees up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulk_import_core::properties::{INSTANCE_CLASS_NAME, TABLE_CLASS_NAME, TableProperties};
use bulk_import_core::store::{Location, ObjectStores, S3Options};
use bulk_import_core::table::{Table, Tables};
use bulk_import_core::tracker::{AcceptError, JobEvent, JobRecord, JobStatus, JobTracker};
use bulk_import_core::plan::file_writer::abandoned_marker_path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::commit::{WrittenFile, attempt_dir, commit, delete_attempt_files, total_rows_written, write_manifest, written_files};
use crate::engine::{Engine, EngineConfig};
use crate::job::{BulkImportJob, parse_job};
use crate::job_settings::{JobSettings, job_settings};
use crate::planning::{Algorithm, AlgorithmChoice, PlanInput};
use crate::pre_split::ensure_leaves;
use crate::progress::{Progress, read_task_progress};
use crate::validation::{InputFile, total_rows, validate_inputs};

/// Per-run choices that are not part of the job.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How many tasks sort and write; by default as the algorithm chooses
    /// ([`Algorithm::default_write_tasks`]).
    pub shuffle_partitions: Option<usize>,
    /// Test hook: each writer task fails after completing this many files.
    pub fail_after_files: Option<u32>,
}

/// Which Ballista the driver runs jobs on.
#[derive(Debug, Clone)]
pub enum EngineChoice {
    /// A scheduler and an executor in this process.
    Embedded(EngineConfig),
    /// A remote scheduler, whose executors have `parallelism` task slots in all.
    Remote { scheduler_url: String, parallelism: usize, settings: Vec<(String, String)> },
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

/// A job that passed validation and was recorded as accepted: ready to execute.
#[derive(Debug, Clone)]
pub struct AcceptedJob {
    pub job: BulkImportJob,
    pub table: Table,
    pub algorithm: Algorithm,
    pub files: Vec<InputFile>,
    /// The rows of all input files, from their footers: what the job must write.
    pub rows: u64,
    /// What the job's `sparkConf` asks of the engine.
    pub settings: JobSettings,
}

/// The result of admitting a job.
#[derive(Debug)]
pub enum Admission {
    Accepted(Box<AcceptedJob>),
    Rejected { job_id: String, reasons: Vec<String> },
}

/// How a caller follows and stops a running job.
#[derive(Debug, Clone)]
pub struct RunControl {
    /// Cancelling stops the job: nothing is committed and its files are removed.
    pub cancel: CancellationToken,
    /// Receives the job's progress as it changes.
    pub progress: Arc<watch::Sender<Progress>>,
}

impl RunControl {
    pub fn new(rows_total: u64) -> Self {
        let (progress, _) = watch::channel(Progress::new(JobStatus::Accepted, rows_total));
        RunControl { cancel: CancellationToken::new(), progress: Arc::new(progress) }
    }
}

/// The instance's properties file at the root of the store.
pub const INSTANCE_PROPERTIES: &str = "instance.properties";

/// The reason recorded for a cancelled job.
pub const CANCELLED: &str = "cancelled on request";

/// How often a running job's progress records are read.
const PROGRESS_POLL: Duration = Duration::from_millis(500);

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
        Self::open(store, S3Options::default(), EngineChoice::Embedded(engine)).await
    }

    /// Opens the store at `store` (a local path or URL), reaching S3 with `s3`, and the engine.
    pub async fn open(store: &str, s3: S3Options, engine: EngineChoice) -> anyhow::Result<Self> {
        let stores = Arc::new(ObjectStores::with_s3(s3));
        let root = stores.resolve(store)?;
        let engine = match engine {
            EngineChoice::Embedded(config) => Engine::start_embedded(config, stores.clone()).await?,
            EngineChoice::Remote { scheduler_url, parallelism, settings } => Engine::connect(&scheduler_url, parallelism, &settings).await?,
        };
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

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Admits and executes a job given as Sleeper's bulk import JSON.
    pub async fn run(&self, raw_json: &str, options: &RunOptions) -> anyhow::Result<JobOutcome> {
        self.run_with(raw_json, options, &RunControl::new(0)).await
    }

    /// Admits and executes a job, reporting progress to and taking cancellation from `control`.
    pub async fn run_with(&self, raw_json: &str, options: &RunOptions, control: &RunControl) -> anyhow::Result<JobOutcome> {
        match self.admit(raw_json).await? {
            Admission::Rejected { job_id, reasons } => Ok(JobOutcome::Rejected { job_id, reasons }),
            Admission::Accepted(accepted) => self.execute(&accepted, options, control).await,
        }
    }

    /// The instance's properties: `instance.properties` at the store's root, read for every job
    /// so that a change applies to the next job; none when the file is absent.
    pub async fn instance_properties(&self) -> anyhow::Result<TableProperties> {
        let location = self.root.child(INSTANCE_PROPERTIES);
        match location.store.get(&location.path).await {
            Ok(found) => {
                let bytes = found.bytes().await?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| anyhow::anyhow!("{INSTANCE_PROPERTIES} is not UTF-8"))?;
                Ok(TableProperties::parse(&text).map_err(|e| anyhow::anyhow!("{INSTANCE_PROPERTIES}: {e}"))?)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(TableProperties::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Parses and validates a job and records it as accepted or rejected.
    pub async fn admit(&self, raw_json: &str) -> anyhow::Result<Admission> {
        let job = match parse_job(raw_json) {
            Ok(job) => job,
            Err(failure) => return self.reject(&failure.id, failure.table_name, failure.reasons, raw_json).await,
        };
        let (table, algorithm, files, settings) = match self.validate(&job).await? {
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
            raw_json: Some(raw_json.to_string()),
            warnings: settings.warnings.clone(),
            platform_spec: job.platform_spec.clone(),
        };
        match self.tracker.accept(&job.id, accepted).await {
            Ok(()) => Ok(Admission::Accepted(Box::new(AcceptedJob { job, table, algorithm, files, rows, settings }))),
            Err(AcceptError::AlreadyAccepted(_)) => {
                let reasons = vec![format!("job id {:?} was already accepted", job.id)];
                self.tracker.record_rejected_resubmission(&job.id, reasons.clone(), raw_json.to_string()).await?;
                Ok(Admission::Rejected { job_id: job.id, reasons })
            }
            Err(AcceptError::Store(e)) => Err(e.into()),
        }
    }

    /// Validates again a job the tracker holds as accepted, from the JSON it was accepted
    /// with, to run it after a restart. `Err` holds why it can no longer run.
    pub async fn reload(&self, record: &JobRecord) -> anyhow::Result<Result<AcceptedJob, String>> {
        let Some(JobEvent::Accepted { raw_json: Some(raw_json), .. }) = record.accepted() else {
            return Ok(Err("the job's accepted record does not hold its JSON".into()));
        };
        let job = match parse_job(raw_json) {
            Ok(job) => job,
            Err(failure) => return Ok(Err(failure.reasons.join("; "))),
        };
        Ok(match self.validate(&job).await? {
            Ok((table, algorithm, files, settings)) => {
                let rows = total_rows(&files);
                Ok(AcceptedJob { job, table, algorithm, files, rows, settings })
            }
            Err(reasons) => Err(format!("the job is no longer valid: {}", reasons.join("; "))),
        })
    }

    /// Records a rejection. A job id that belongs to an accepted job keeps that job's status:
    /// the rejection is recorded beside it, as a rejected submission.
    async fn reject(&self, job_id: &str, table_name: Option<String>, mut reasons: Vec<String>, raw_json: &str) -> anyhow::Result<Admission> {
        let owned = self.tracker.job(job_id).await?.is_some_and(|j| j.accepted().is_some());
        if owned {
            reasons.push(format!("job id {job_id:?} was already accepted"));
            self.tracker.record_rejected_resubmission(job_id, reasons.clone(), raw_json.to_string()).await?;
        } else {
            let event = JobEvent::Rejected { table_name, reasons: reasons.clone(), raw_json: raw_json.to_string() };
            self.tracker.record(job_id, event).await?;
        }
        Ok(Admission::Rejected { job_id: job_id.to_string(), reasons })
    }

    /// Checks the table, the algorithm and the input; `Err` holds every reason to reject.
    async fn validate(&self, job: &BulkImportJob) -> anyhow::Result<Result<(Table, Algorithm, Vec<InputFile>, JobSettings), Vec<String>>> {
        let mut reasons = Vec::new();
        let settings = match job_settings(&job.spark_conf) {
            Ok(settings) => match self.engine.session_for(&job.id, &settings.session) {
                Ok(_) => Some(settings),
                Err(e) => {
                    reasons.push(format!("sparkConf: {e}"));
                    None
                }
            },
            Err(problems) => {
                reasons.extend(problems);
                None
            }
        };
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
        let instance = self.instance_properties().await?;
        let choice = AlgorithmChoice {
            job: job.class_name.as_deref(),
            table_default: table.as_ref().and_then(|t| t.definition.properties.raw(TABLE_CLASS_NAME)),
            instance_default: instance.raw(INSTANCE_CLASS_NAME),
        };
        let algorithm = Algorithm::select(choice).map_err(|r| reasons.push(r)).ok();
        let files = match &table {
            Some(table) => validate_inputs(&self.stores, &self.root, &job.files, table.schema()).await.map_err(|r| reasons.extend(r)).ok(),
            None => None,
        };
        Ok(match (table, algorithm, files, settings) {
            (Some(table), Some(algorithm), Some(files), Some(settings)) if reasons.is_empty() => Ok((table, algorithm, files, settings)),
            _ => Err(reasons),
        })
    }

    /// Runs an accepted job: plan, execute on Ballista, commit; on any failure or cancellation
    /// nothing is committed and the attempt's files are deleted.
    pub async fn execute(&self, accepted: &AcceptedJob, options: &RunOptions, control: &RunControl) -> anyhow::Result<JobOutcome> {
        let AcceptedJob { job, table, files, rows: rows_read, .. } = accepted;
        let started = Instant::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let attempt = attempt_dir(table, &job.id, &run_id);
        self.tracker.record(&job.id, JobEvent::Started { run_id: run_id.clone(), algorithm: accepted.algorithm.name().into() }).await?;
        control.progress.send_modify(|p| {
            p.status = JobStatus::InProgress;
            p.rows_total = *rows_read;
        });
        let result = self.write_and_commit(accepted, options, control, &attempt, &run_id).await;
        match result {
            Ok((written, transaction_number)) => {
                let keep: HashSet<String> = written.iter().map(|f| f.filename.clone()).collect();
                if let Err(e) = delete_attempt_files(&self.stores, &attempt, &keep, false).await {
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
                    duration,
                    transaction_number,
                };
                let finished = JobEvent::Finished {
                    run_id,
                    input_files: summary.input_files,
                    rows_read: *rows_read,
                    rows_written,
                    files_written: summary.files_written,
                    duration_seconds: duration.as_secs_f64(),
                    rows_per_second: rows_written as f64 / duration.as_secs_f64().max(1e-9),
                };
                self.tracker.record(&job.id, finished).await?;
                control.progress.send_modify(|p| {
                    p.status = JobStatus::Finished;
                    p.rows_written = rows_written;
                    p.tasks_done = p.tasks_total;
                });
                Ok(JobOutcome::Finished { job_id: job.id.clone(), summary })
            }
            Err(error) => {
                let mut reason = format!("{error:#}");
                if control.cancel.is_cancelled() {
                    reason = CANCELLED.to_string();
                }
                if let Err(e) = self.discard_attempt(&attempt, true).await {
                    reason.push_str(&format!("; and the attempt's files could not all be deleted: {e}"));
                }
                let failed = JobEvent::Failed { run_id: Some(run_id), reason: reason.clone(), interrupted: false };
                self.tracker.record(&job.id, failed).await?;
                control.progress.send_modify(|p| {
                    p.status = JobStatus::Failed;
                    p.message = Some(reason.clone());
                });
                Ok(JobOutcome::Failed { job_id: job.id.clone(), reason })
            }
        }
    }

    /// Deletes every file an attempt wrote, and its manifest. The attempt is first marked
    /// abandoned, which stops its writers at their next file; tasks the scheduler has not
    /// stopped may still finish one file after the first sweep, and remove it themselves on
    /// seeing the mark, or leave a progress record: the sweep is repeated once they have had
    /// time to. The mark stays, so that a late task never writes into the attempt.
    pub async fn discard_attempt(&self, attempt: &Location, tasks_may_still_run: bool) -> bulk_import_core::Result<()> {
        let mark = attempt.at(abandoned_marker_path(&attempt.path));
        mark.store.put(&mark.path, PutPayload::from_static(b"abandoned\n")).await?;
        // The first sweep keeps the markers: a file a writer was completing when the sweep
        // passed (a task aborted inside its final rename never looks at the mark) is found by
        // its marker in the second.
        if tasks_may_still_run {
            delete_attempt_files(&self.stores, attempt, &HashSet::new(), true).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        delete_attempt_files(&self.stores, attempt, &HashSet::new(), false).await?;
        match attempt.store.delete(&attempt.child("manifest.json").path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn write_and_commit(
        &self,
        accepted: &AcceptedJob,
        options: &RunOptions,
        control: &RunControl,
        attempt: &Location,
        run_id: &str,
    ) -> anyhow::Result<(Vec<WrittenFile>, u64)> {
        let AcceptedJob { job, table, algorithm, files, rows: rows_read, settings } = accepted;
        let (partitions, split) = ensure_leaves(table, files).await?;
        if let Some(split) = split {
            let event = JobEvent::PartitionsSplit {
                run_id: run_id.to_string(),
                leaves_before: split.leaves_before as u64,
                leaves_after: split.leaves_after as u64,
                transaction_number: split.transaction_number,
            };
            self.tracker.record(&job.id, event).await?;
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
        let engine_job_id = self.engine.submit(plan, &job.id, &settings.session).await?;
        let (running_tx, running_rx) = tokio::sync::oneshot::channel();
        let mut running = Some(running_rx);
        let execution = self.engine.wait(&engine_job_id, move || {
            let _ = running_tx.send(submitted.elapsed());
        });
        let monitor = self.monitor(&job.id, run_id, &engine_job_id, attempt, control, &mut running);
        let result = tokio::select! {
            result = execution => result.map_err(anyhow::Error::from),
            () = monitor => unreachable!("the monitor runs until the job ends"),
            () = control.cancel.cancelled() => {
                if let Err(e) = self.engine.cancel(&engine_job_id).await {
                    tracing::warn!("job {}: could not cancel Ballista job {engine_job_id}: {e}", job.id);
                }
                Err(anyhow::anyhow!(CANCELLED))
            }
        };
        // A short job can end before the monitor saw it start.
        if let Some(elapsed) = running.and_then(|mut r| r.try_recv().ok()) {
            self.record_running(&job.id, run_id, &engine_job_id, elapsed).await;
        }
        let batches = result?;
        let written = written_files(&batches);
        let rows_written = total_rows_written(&written);
        anyhow::ensure!(
            *rows_read == rows_written,
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
        control.progress.send_modify(|p| {
            p.status = JobStatus::Uncommitted;
            p.rows_written = rows_written;
        });
        // Past this point the job commits or fails; a cancellation no longer applies.
        let transaction_number = commit(table, &job.id, &written).await?;
        Ok((written, transaction_number))
    }

    /// Records that the run's first tasks started, `elapsed` after its submission.
    async fn record_running(&self, job_id: &str, run_id: &str, engine_job_id: &str, elapsed: Duration) {
        let event = JobEvent::Running {
            run_id: run_id.to_string(),
            engine_job_id: engine_job_id.to_string(),
            seconds_since_started: elapsed.as_secs_f64(),
        };
        if let Err(e) = self.tracker.record(job_id, event).await {
            tracing::warn!("job {job_id}: could not record that it is running: {e}");
        }
    }

    /// Follows a submitted run until the caller stops polling it: records when its first tasks
    /// start, and publishes the writer tasks' progress.
    async fn monitor(
        &self,
        job_id: &str,
        run_id: &str,
        engine_job_id: &str,
        attempt: &Location,
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
                _ = ticker.tick() => match read_task_progress(attempt).await {
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
