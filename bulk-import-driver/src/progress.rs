//! Progress of a running job, read from the progress records its writer tasks keep in the
//! attempt directory (see `PartitionFileWriterExec`), and shared with whoever watches.

use bulk_import_core::plan::file_writer::TaskProgressRecord;
use bulk_import_core::store::Location;
use bulk_import_core::tracker::JobStatus;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub status: JobStatus,
    /// Writer tasks finished, out of the run's writer tasks.
    pub tasks_done: u32,
    pub tasks_total: u32,
    pub rows_written: u64,
    /// The rows of the job's input: what it must write.
    pub rows_total: u64,
    /// Why the job was rejected or failed.
    pub message: Option<String>,
}

impl Progress {
    pub fn new(status: JobStatus, rows_total: u64) -> Self {
        Progress { status, tasks_done: 0, tasks_total: 0, rows_written: 0, rows_total, message: None }
    }
}

/// Sums the writer tasks' records of an attempt: (tasks done, rows written).
pub async fn read_task_progress(attempt: &Location) -> bulk_import_core::Result<(u32, u64)> {
    let dir = attempt.child("progress");
    let listed: Vec<_> = dir.store.list(Some(&dir.path)).try_collect().await?;
    let (mut done, mut rows) = (0, 0);
    for meta in listed {
        let bytes = match dir.store.get(&meta.location).await {
            Ok(result) => result.bytes().await?,
            // Deleted since the listing: the attempt is being cleaned up.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        // A record caught half-written by a store without atomic puts counts next time.
        let Ok(record) = serde_json::from_slice::<TaskProgressRecord>(&bytes) else { continue };
        done += u32::from(record.done);
        rows += record.rows;
    }
    Ok((done, rows))
}
