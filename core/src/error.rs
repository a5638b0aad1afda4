//! Errors of the core library.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    #[error("invalid split points: {0}")]
    InvalidSplitPoints(String),
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    #[error("invalid table properties: {0}")]
    InvalidProperties(String),
    #[error("invalid store location {0:?}: {1}")]
    InvalidStore(String, String),
    #[error("table {0:?} already exists")]
    TableExists(String),
    #[error("table {0:?} does not exist")]
    TableNotFound(String),
    #[error("job {0:?} has already been committed to the table")]
    JobAlreadyCommitted(String),
    #[error("file {0:?} is already in the table")]
    FileAlreadyReferenced(String),
    #[error("partition {0:?} is not a leaf partition of the table")]
    NotALeafPartition(String),
    /// A partition-tree change was made against a tree that has changed since it was read: a
    /// leaf it splits is no longer a leaf, or a partition it adds now exists. Re-read and retry.
    #[error("the partition tree changed: {0}")]
    PartitionTreeChanged(String),
    /// A call to a service of a Sleeper instance (DynamoDB, SQS, S3) failed.
    #[error("{context}: {message}")]
    Remote { context: String, message: String },
    /// The backend cannot do this (for example, create tables in a Sleeper instance).
    #[error("{0}")]
    Unsupported(String),
    /// Another writer created the next entry of a log (a transaction, a job event) first; the
    /// log is read again, and the entry re-validated, before the next try.
    #[error("another writer appended to the log first")]
    WriteConflict,
    #[error("gave up appending to the transaction log after {0} conflicts")]
    TooManyConflicts(usize),
    #[error("corrupt {what} at {location}: {reason}")]
    Corrupt { what: &'static str, location: String, reason: String },
    #[error("sketch: {0}")]
    Sketch(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Lets plan nodes return core errors with `?`; DataFusion shows the error's sentence and keeps
/// it as the source.
impl From<Error> for datafusion::common::DataFusionError {
    fn from(e: Error) -> Self {
        datafusion::common::DataFusionError::External(Box::new(e))
    }
}
