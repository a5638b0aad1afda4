//! The driver: a store's backend, the object stores its files live in, and the engine that runs
//! jobs. A job goes through it in stages, each in its own module:
//!
//! ```text
//! JSON ──▶ intake (parse, validate, ACCEPTED/REJECTED) ──▶ planning (pre-split, plan)
//!      ──▶ execution (Ballista, monitor) ──▶ commit ──▶ FINISHED / FAILED
//! ```
//!
//! The CLI admits and executes at once; the job service admits when a job is submitted and
//! executes when a slot frees up.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;

use bulk_import_core::backend::{Backend, CommitOutcome, JobTracker};
use bulk_import_core::store::{ObjectStores, S3Options};
use bulk_import_core::tracker::JobStatus;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::backends::{TaskId, open_backend};
use crate::execution::engine::{Engine, EngineConfig};
use crate::execution::progress::Progress;
use crate::intake::rejection::Wording;
use crate::intake::{Admission, IntakePolicy, RejectionReason};
use crate::s3_uploads::S3Uploads;

/// Per-run choices that are not part of the job.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How many tasks sort and write; by default as the algorithm chooses
    /// ([`Algorithm::default_write_tasks`]).
    pub shuffle_partitions: Option<usize>,
    /// A run whose progress does not move for this long fails, rather than hang; `None` waits
    /// for ever.
    pub stall_timeout: Option<Duration>,
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
    Rejected {
        job_id: String,
        reasons: Vec<RejectionReason>,
    },
    Finished {
        job_id: String,
        summary: JobSummary,
    },
    /// `interrupted`: the run was cut short by the engine losing it, not failed by the job.
    Failed {
        job_id: String,
        reason: String,
        interrupted: bool,
    },
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
    pub bytes_written: u64,
    pub duration: Duration,
    pub commit: CommitOutcome,
}

/// How a caller follows and stops a running job.
#[derive(Debug, Clone)]
pub struct RunControl {
    /// Cancelling stops the job: nothing is committed and its files are removed.
    pub cancel: CancellationToken,
    /// Receives the job's progress as it changes.
    pub progress: Arc<watch::Sender<Progress>>,
    /// Where a caller that shows it (the service's web view) receives the physical plan the
    /// run executed, with each operator's metrics where the engine ran it in this process; set
    /// once the plan has stopped. `None`: the plan is not shown.
    pub executed_plan: Option<Arc<OnceLock<String>>>,
}

impl RunControl {
    pub fn new(rows_total: u64) -> Self {
        let (progress, _) = watch::channel(Progress::new(JobStatus::Accepted, rows_total));
        RunControl { cancel: CancellationToken::new(), progress: Arc::new(progress), executed_plan: None }
    }

    /// The same, keeping the text of the executed plan for the caller.
    #[must_use]
    pub fn keeping_executed_plan(self) -> Self {
        RunControl { executed_plan: Some(Arc::default()), ..self }
    }
}

/// The reason recorded for a cancelled job.
pub const CANCELLED: &str = "cancelled on request";

/// The driver: a store of tables, its job tracker, and an engine to run jobs on.
pub struct Driver {
    pub(crate) stores: Arc<ObjectStores>,
    pub(crate) backend: Backend,
    pub(crate) engine: Engine,
    /// How rejections are worded in the tracker: Sleeper's starter's words in a Sleeper instance.
    pub(crate) wording: Wording,
    /// What jobs may read: anything for the CLI, what its operator allows for a service.
    pub(crate) policy: IntakePolicy,
}

impl Driver {
    /// Opens the store at `store` (a local path or URL) and starts the embedded engine.
    pub async fn open_embedded(store: &str, engine: EngineConfig) -> anyhow::Result<Self> {
        Self::open(store, S3Options::default(), EngineChoice::Embedded(engine)).await
    }

    /// Opens the store at `store` (a local path or URL), reaching S3 with `s3`, and the engine.
    pub async fn open(store: &str, s3: S3Options, engine: EngineChoice) -> anyhow::Result<Self> {
        Self::open_as(store, s3, engine, TaskId::default()).await
    }

    /// Opens the store and the engine; `task_id` names this process in a Sleeper instance's
    /// job tracker.
    pub async fn open_as(store: &str, s3: S3Options, engine: EngineChoice, task_id: TaskId) -> anyhow::Result<Self> {
        let uploads = Arc::new(S3Uploads::new(s3.clone()));
        let stores = Arc::new(ObjectStores::with_s3(s3).with_incomplete_uploads(uploads));
        let backend = open_backend(store, &stores, task_id).await?;
        let wording = if sleeper_instance::config_bucket(store).is_some() { Wording::Sleeper } else { Wording::Engine };
        let engine = match engine {
            EngineChoice::Embedded(config) => Engine::start_embedded(config, stores.clone()).await?,
            EngineChoice::Remote { scheduler_url, parallelism, settings } => Engine::connect(&scheduler_url, parallelism, &settings).await?,
        };
        Ok(Driver { stores, backend, engine, wording, policy: IntakePolicy::default() })
    }

    /// Admits only jobs within `policy` from now on. With allowed sources, this process's local
    /// reads are confined to their directories and the store's own, judged by the file actually
    /// opened: a path swapped for a symlink after admission reads nothing outside.
    pub fn with_policy(mut self, policy: IntakePolicy) -> anyhow::Result<Self> {
        if let Some(mut dirs) = policy.allowed_sources.local_dirs() {
            if self.backend.root.store_url.as_str().starts_with("file") {
                let store_dir = std::path::PathBuf::from(format!("/{}", self.backend.root.path));
                std::fs::create_dir_all(&store_dir).with_context(|| format!("cannot create the store's directory {}", store_dir.display()))?;
                dirs.push(store_dir);
            }
            self.stores.confine_local_reads(&dirs)?;
        }
        self.policy = policy;
        Ok(self)
    }

    /// The store's tables, state stores and tracker.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn tracker(&self) -> &dyn JobTracker {
        self.backend.job_tracker.as_ref()
    }

    pub fn stores(&self) -> &Arc<ObjectStores> {
        &self.stores
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
            Admission::Accepted(accepted) => {
                let outcome = self.execute(&accepted, options, control).await;
                // Freed off the caller's path: the footers of a job of 10,000 files are 30 MB
                // of small allocations.
                tokio::task::spawn_blocking(move || drop(accepted));
                outcome
            }
        }
    }
}
