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
