//! Progress of a running job, as the monitor reads it from the attempt directory's task
//! records, shared with whoever watches (the CLI's progress line, the job service).

use bulk_import_core::tracker::JobStatus;

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
