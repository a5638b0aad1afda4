//! A writer task's dealings with its run's [`AttemptDir`], at a rate that stays small when the
//! task writes thousands of files of a thousand rows each: a table of 10,000 leaves.
//!
//! - Files are named before they are started, all the files a batch of rows starts in one
//!   marker.
//! - The abandoned mark is looked at before a file starts and after it is complete, but a look
//!   that found no mark stands for [`ABANDON_CHECK_INTERVAL`]. The driver sweeps an abandoned
//!   attempt twice, its `SWEEP_GRACE` (2 s) apart: a file started inside that interval
//!   has its marker written before the second sweep lists the markers, and a file started after
//!   it sees the mark. The interval is kept well below the grace.
//! - Progress is rewritten at most every [`PROGRESS_INTERVAL`], and when the task ends.
//! - A task that finds the attempt abandoned removes what it wrote there, files, markers and
//!   progress: a task held up past the driver's second sweep (an executor paused, say) would
//!   otherwise leave them behind.

use std::time::{Duration, Instant};

use datafusion::common::{DataFusionError, Result};

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::attempt::{AttemptDir, TaskProgressRecord};
use crate::sketch::sketches_path;
use crate::store::Location;

/// How long a look that found no abandoned mark stands.
pub const ABANDON_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How often a task's progress record is rewritten at most: the driver reads them every 500 ms.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

pub struct WriterLedger {
    attempt: AttemptDir,
    task: usize,
    /// The markers this task wrote.
    markers: Vec<Location>,
    not_abandoned_at: Option<Instant>,
    progress_at: Option<Instant>,
}

impl WriterLedger {
    pub fn new(attempt: AttemptDir, task: usize) -> Self {
        WriterLedger { attempt, task, markers: Vec::new(), not_abandoned_at: None, progress_at: None }
    }

    /// Names files before the task starts them.
    pub async fn record_files(&mut self, urls: &[String]) -> Result<()> {
        self.markers.extend(self.attempt.record_files(urls).await?);
        Ok(())
    }

    /// Fails once the driver has abandoned the attempt (Ballista does not always stop a job's
    /// running tasks when the job ends), after removing `own_files` (data files this task
    /// completed, with their sketches), its markers and its progress record.
    pub async fn check_not_abandoned(&mut self, data_store: &Arc<dyn ObjectStore>, own_files: &[Path]) -> Result<()> {
        if self.not_abandoned_at.is_some_and(|at| at.elapsed() < ABANDON_CHECK_INTERVAL) {
            return Ok(());
        }
        // The look stands from when it was asked, not from when a slow answer came.
        let asked = Instant::now();
        if self.attempt.is_abandoned().await? {
            for file in own_files {
                let _ = data_store.delete(file).await;
                let _ = data_store.delete(&Path::from(sketches_path(file.as_ref()))).await;
            }
            if let Err(e) = self.attempt.remove_task_objects(self.task, &self.markers).await {
                tracing::warn!("could not remove this task's objects from the abandoned attempt: {e}");
            }
            return Err(DataFusionError::Execution("the driver abandoned this attempt".into()));
        }
        self.not_abandoned_at = Some(asked);
        Ok(())
    }

    /// Rewrites the task's progress record if the last is old enough, or if the task is done.
    pub async fn report(&mut self, record: TaskProgressRecord) -> Result<()> {
        if !record.done && self.progress_at.is_some_and(|at| at.elapsed() < PROGRESS_INTERVAL) {
            return Ok(());
        }
        self.attempt.write_task_progress(self.task, record).await?;
        self.progress_at = Some(Instant::now());
        Ok(())
    }
}
