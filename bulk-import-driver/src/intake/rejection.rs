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
    #[error("{path} leads to {resolved}, outside the sources this service may read")]
    SourceNotAllowed { path: String, resolved: String },
    #[error("the job names more than {limit} input files, the most this service takes")]
    TooManyInputFiles { limit: usize },

    // The job id's history.
    #[error("job id {0:?} was already accepted")]
    AlreadyAccepted(String),
}

/// The sentences of the reasons, as the tracker records them.
pub fn sentences(reasons: &[RejectionReason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}

impl RejectionReason {
    /// The reason's kind, its variant's name: a bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RejectionReason::MalformedJson(..) => "MalformedJson",
            RejectionReason::NotAnObject => "NotAnObject",
            RejectionReason::InvalidJobId(..) => "InvalidJobId",
            RejectionReason::JobIdTooLong { .. } => "JobIdTooLong",
            RejectionReason::NotAString { .. } => "NotAString",
            RejectionReason::NoTable => "NoTable",
            RejectionReason::FilesMissing => "FilesMissing",
            RejectionReason::FilesEmpty => "FilesEmpty",
            RejectionReason::FilesNotAList => "FilesNotAList",
            RejectionReason::NullFile(..) => "NullFile",
            RejectionReason::InvalidFile(..) => "InvalidFile",
            RejectionReason::NotAStringMap { .. } => "NotAStringMap",
            RejectionReason::NotAStringValue { .. } => "NotAStringValue",
            RejectionReason::TableNotFound(..) => "TableNotFound",
            RejectionReason::TableIdMismatch { .. } => "TableIdMismatch",
            RejectionReason::NoTableWithId(..) => "NoTableWithId",
            RejectionReason::UnknownAlgorithm { .. } => "UnknownAlgorithm",
            RejectionReason::NotACount { .. } => "NotACount",
            RejectionReason::UnknownOwnSetting { .. } => "UnknownOwnSetting",
            RejectionReason::InvalidSessionSetting(..) => "InvalidSessionSetting",
            RejectionReason::InputNotFound { .. } => "InputNotFound",
            RejectionReason::NoParquetInDirectory { .. } => "NoParquetInDirectory",
            RejectionReason::InputUnreadable { .. } => "InputUnreadable",
            RejectionReason::NotParquet { .. } => "NotParquet",
            RejectionReason::MissingColumn { .. } => "MissingColumn",
            RejectionReason::WrongColumnType { .. } => "WrongColumnType",
            RejectionReason::NullKeys { .. } => "NullKeys",
            RejectionReason::SourceNotAllowed { .. } => "SourceNotAllowed",
            RejectionReason::TooManyInputFiles { .. } => "TooManyInputFiles",
            RejectionReason::AlreadyAccepted(..) => "AlreadyAccepted",
        }
    }

    /// The reason as Sleeper's bulk import starter words it (`IngestJobMessageHandler`,
    /// `BulkImportExecutor`), for a Sleeper instance's tracker, where its reports read it; the
    /// engine's own sentence for checks the starter does not make.
    pub fn sleeper_sentence(&self) -> String {
        match self {
            RejectionReason::MalformedJson(reason) => format!("Error parsing JSON. Reason: {reason}"),
            RejectionReason::FilesMissing => "Missing property \"files\"".into(),
            RejectionReason::NullFile(_) => "One of the files was null".into(),
            RejectionReason::NoTable | RejectionReason::TableNotFound(_) | RejectionReason::NoTableWithId(_) => "Table not found".into(),
            RejectionReason::InputNotFound { .. } | RejectionReason::NoParquetInDirectory { .. } => "Could not find one or more paths".into(),
            RejectionReason::InvalidJobId(_) => "Job Ids must only contain lowercase alphanumerics and dashes.".into(),
            RejectionReason::JobIdTooLong { .. } => "Job IDs are only allowed to be up to 63 characters long.".into(),
            RejectionReason::FilesEmpty => "The input files must be set to a non-null and non-empty value.".into(),
            other => other.to_string(),
        }
    }
}

/// How reasons are worded for the tracker: the engine's own sentences, or Sleeper's starter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wording {
    #[default]
    Engine,
    Sleeper,
}

impl Wording {
    /// The reasons as the tracker records them, each once.
    pub fn sentences(self, reasons: &[RejectionReason]) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(reasons.len());
        for reason in reasons {
            let sentence = match self {
                Wording::Engine => reason.to_string(),
                Wording::Sleeper => reason.sleeper_sentence(),
            };
            if !out.contains(&sentence) {
                out.push(sentence);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeper_tracker_gets_the_starters_words_once_each() {
        let reasons = [
            RejectionReason::NullFile(0),
            RejectionReason::NullFile(2),
            RejectionReason::TableNotFound("t".into()),
            RejectionReason::NullKeys { url: "s3://b/f.parquet".into(), column: "key".into(), nulls: 1 },
        ];
        assert_eq!(
            Wording::Sleeper.sentences(&reasons),
            ["One of the files was null", "Table not found", "key column key of s3://b/f.parquet holds 1 null values: keys may not be null"]
        );
        assert_eq!(Wording::Engine.sentences(&reasons)[..2], ["files[0] is null".to_string(), "files[2] is null".to_string()]);
    }
}
