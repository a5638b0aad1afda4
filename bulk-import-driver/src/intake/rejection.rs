//! Why a job is rejected. Each reason is a variant, for code and tests to match, and a sentence
//! (its `Display`), which is what the tracker records and the job service returns.

use thiserror::Error;

/// The longest job id Sleeper accepts.
pub const MAX_ID_LENGTH: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectionReason {
    // The job's JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("the job must be a JSON object")]
    NotAnObject,
    #[error("job id {0:?} must match ^[a-z0-9-]+$")]
    InvalidJobId(String),
    #[error("job id {id:?} is {} characters long; the limit is {MAX_ID_LENGTH}", id.len())]
    JobIdTooLong { id: String },
    #[error("{field} must be a string")]
    NotAString { field: &'static str },
    #[error("the job names no table: give tableName or tableId")]
    NoTable,
    #[error("files is missing: list at least one input file or directory")]
    FilesMissing,
    #[error("files is empty: list at least one input file or directory")]
    FilesEmpty,
    #[error("files must be a list of paths")]
    FilesNotAList,
    #[error("files[{0}] is null")]
    NullFile(usize),
    #[error("files[{0}] must be a non-empty string")]
    InvalidFile(usize),
    #[error("{field} must be an object of string values")]
    NotAStringMap { field: &'static str },
    #[error("{field}.{key} must be a string")]
    NotAStringValue { field: &'static str, key: String },

    // The table.
    #[error("table {0:?} does not exist")]
    TableNotFound(String),
    #[error("table {name:?} has id {actual}, not {given:?}")]
    TableIdMismatch { name: String, actual: String, given: String },
    #[error("no table has id {0:?}")]
    NoTableWithId(String),

    // The algorithm and the engine's settings.
    #[error("unknown {property} {name:?}; valid names: {valid}")]
    UnknownAlgorithm { property: &'static str, name: String, valid: String },
    #[error("sparkConf {key}={value:?} must be a positive whole number")]
    NotACount { key: String, value: String },
    #[error("sparkConf {key} is not a setting of this engine; its own settings are {own}")]
    UnknownOwnSetting { key: String, own: String },
    #[error("sparkConf: {0}")]
    InvalidSessionSetting(String),

    // The input files.
    #[error("{path} does not exist")]
    InputNotFound { path: String },
    #[error("directory {path} holds no .parquet file")]
    NoParquetInDirectory { path: String },
    #[error("cannot read {path}: {reason}")]
    InputUnreadable { path: String, reason: String },
    #[error("{url} is not a Parquet file: {reason}")]
    NotParquet { url: String, reason: String },
    #[error("{url} has no column {column} ({role})")]
    MissingColumn { url: String, column: String, role: &'static str },
    #[error("column {column} of {url} has type {actual} but {role} {column} is {expected}")]
    WrongColumnType { url: String, column: String, role: &'static str, actual: String, expected: String },
    #[error("key column {column} of {url} holds {nulls} null values: keys may not be null")]
    NullKeys { url: String, column: String, nulls: u64 },

    // The job id's history.
    #[error("job id {0:?} was already accepted")]
    AlreadyAccepted(String),
}

/// The sentences of the reasons, as the tracker records them.
pub fn sentences(reasons: &[RejectionReason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}
