//! Sleeper's transactions as JSON (`TransactionSerDe`): every transaction type a table's logs
//! hold, as serde types. This is the one place that knows the shapes; the engine's own log and
//! the Sleeper-instance backend both read and write through it.
//!
//! Sleeper writes `Instant`s as epoch milliseconds and leaves out null fields.

use serde::{Deserialize, Serialize};

use crate::partition_json::PartitionJson;

/// A reference from a data file to the partition it holds rows of, inside an `AddFiles` file
/// (where the filename is the file's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReference {
    pub partition_id: String,
    pub number_of_rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default)]
    pub count_approximate: bool,
    #[serde(default = "yes")]
    pub only_contains_data_for_this_partition: bool,
}

fn yes() -> bool {
    true
}

/// A data file and its references, as in Sleeper's `AddFiles` transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedFile {
    pub filename: String,
    pub references: Vec<FileReference>,
}

/// A reference that names its file (`FileReference` outside `AddFiles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedFileReference {
    pub filename: String,
    #[serde(flatten)]
    pub reference: FileReference,
}

/// `ADD_FILES`. Bulk import's asynchronous commits carry the job's tracking ids and when the
/// files were written; its synchronous commits carry only the files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddFilesJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    /// Epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_time: Option<i64>,
    pub files: Vec<AddedFile>,
}

impl AddFilesJson {
    pub fn new(job_id: Option<String>, files: Vec<AddedFile>) -> Self {
        AddFilesJson { job_id, task_id: None, job_run_id: None, written_time: None, files }
    }
}

/// One compaction job's commit in `REPLACE_FILE_REFERENCES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceFileReferencesJob {
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    pub input_files: Vec<String>,
    pub new_reference: NamedFileReference,
}

/// One request of `ASSIGN_JOB_IDS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignJobIdRequest {
    pub job_id: String,
    pub partition_id: String,
    pub filenames: Vec<String>,
}

/// One request of `SPLIT_FILE_REFERENCES`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitFileReferenceRequest {
    pub old_reference: NamedFileReference,
    pub new_references: Vec<NamedFileReference>,
}

/// A transaction in Sleeper's JSON: its type, and its body in that type's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "transaction", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionJson {
    // The partitions log.
    InitialisePartitions {
        partitions: Vec<PartitionJson>,
    },
    #[serde(rename_all = "camelCase")]
    SplitPartition {
        parent: PartitionJson,
        new_children: Vec<PartitionJson>,
    },
    #[serde(rename_all = "camelCase")]
    ExtendPartitionTree {
        update_partitions: Vec<PartitionJson>,
        new_partitions: Vec<PartitionJson>,
    },
    // The files log.
    AddFiles(AddFilesJson),
    AssignJobIds {
        requests: Vec<AssignJobIdRequest>,
    },
    ClearFiles {},
    DeleteFiles {
        filenames: Vec<String>,
    },
    ReplaceFileReferences {
        jobs: Vec<ReplaceFileReferencesJob>,
    },
    SplitFileReferences {
        requests: Vec<SplitFileReferenceRequest>,
    },
}

impl TransactionJson {
    /// Sleeper's name of the transaction's type (`TransactionType`).
    pub fn type_name(&self) -> &'static str {
        match self {
            TransactionJson::InitialisePartitions { .. } => "INITIALISE_PARTITIONS",
            TransactionJson::SplitPartition { .. } => "SPLIT_PARTITION",
            TransactionJson::ExtendPartitionTree { .. } => "EXTEND_PARTITION_TREE",
            TransactionJson::AddFiles(_) => "ADD_FILES",
            TransactionJson::AssignJobIds { .. } => "ASSIGN_JOB_IDS",
            TransactionJson::ClearFiles {} => "CLEAR_FILES",
            TransactionJson::DeleteFiles { .. } => "DELETE_FILES",
            TransactionJson::ReplaceFileReferences { .. } => "REPLACE_FILE_REFERENCES",
            TransactionJson::SplitFileReferences { .. } => "SPLIT_FILE_REFERENCES",
        }
    }

    /// A transaction from its type and body, as a log item or commit request holds them.
    ///
    /// The two are read as one object, tag first, so that serde reads the body straight into
    /// its type's fields rather than building a document of it first. The body is checked to be
    /// exactly one JSON value before it is framed, so that it cannot add fields beside the tag.
    pub fn from_type_and_body(type_name: &str, body: &str) -> serde_json::Result<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(body)?;
        let tagged = format!("{{\"type\":{},\"transaction\":{body}}}", serde_json::to_string(type_name)?);
        serde_json::from_str(&tagged)
    }

    /// The transaction's body alone: what a log item's `BODY` holds.
    pub fn body(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut fields)) => fields.remove("transaction").unwrap_or_default(),
            // A serde-derived enum of plain data always serialises to an object.
            _ => serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The file transactions a Sleeper table's log holds besides `ADD_FILES`, in the shapes
    //! Sleeper's `TransactionSerDe` writes (field names, nesting, nulls left out), read and
    //! written back unchanged.

    use serde_json::{Value, json};

    use super::*;

    fn round_trip(type_name: &str, body: &Value) -> TransactionJson {
        let transaction = TransactionJson::from_type_and_body(type_name, &body.to_string()).unwrap();
        assert_eq!(transaction.type_name(), type_name);
        assert_eq!(&transaction.body(), body, "{type_name} does not come back as it was written");
        transaction
    }

    fn reference(file: &str, partition: &str, rows: u64) -> Value {
        json!({ "filename": file, "partitionId": partition, "numberOfRows": rows, "countApproximate": false, "onlyContainsDataForThisPartition": true })
    }

    #[test]
    fn every_file_transaction_type_round_trips() {
        let file = |n: u32| format!("s3a://data/933cd595/data/partition_root/file{n}.parquet");
        round_trip("DELETE_FILES", &json!({ "filenames": [file(1), file(2)] }));
        round_trip("CLEAR_FILES", &json!({}));
        round_trip("ASSIGN_JOB_IDS", &json!({ "requests": [{ "jobId": "job1", "partitionId": "root", "filenames": [file(1), file(2)] }] }));
        let TransactionJson::ReplaceFileReferences { jobs } = round_trip(
            "REPLACE_FILE_REFERENCES",
            &json!({ "jobs": [{ "jobId": "job", "taskId": "task", "jobRunId": "run", "inputFiles": [file(1), file(2)],
                               "newReference": reference(&file(3), "root", 100) }] }),
        ) else {
            panic!("not a replacement")
        };
        assert_eq!(jobs[0].new_reference.reference.number_of_rows, 100);
        round_trip(
            "REPLACE_FILE_REFERENCES",
            &json!({ "jobs": [{ "jobId": "job", "inputFiles": [file(1)], "newReference": reference(&file(3), "root", 1) }] }),
        );
        let mut split = reference(&file(1), "L", 50);
        split["countApproximate"] = json!(true);
        split["onlyContainsDataForThisPartition"] = json!(false);
        round_trip("SPLIT_FILE_REFERENCES", &json!({ "requests": [{ "oldReference": reference(&file(1), "root", 100), "newReferences": [split] }] }));
        let assigned = json!({ "filename": file(4), "partitionId": "root", "numberOfRows": 7, "jobId": "compaction-1", "countApproximate": false, "onlyContainsDataForThisPartition": true });
        round_trip("SPLIT_FILE_REFERENCES", &json!({ "requests": [{ "oldReference": assigned, "newReferences": [] }] }));
    }

    #[test]
    fn bulk_imports_tracking_ids_and_written_time_round_trip() {
        let body = json!({ "jobId": "job", "taskId": "task", "jobRunId": "run", "writtenTime": 1_680_784_861_000_i64,
                           "files": [{ "filename": "s3a://data/t/data/partition_root/a.parquet",
                                       "references": [{ "partitionId": "root", "numberOfRows": 3, "countApproximate": false, "onlyContainsDataForThisPartition": true }] }] });
        let TransactionJson::AddFiles(add) = round_trip("ADD_FILES", &body) else { panic!("not AddFiles") };
        assert_eq!((add.job_run_id.as_deref(), add.written_time), (Some("run"), Some(1_680_784_861_000)));
    }

    #[test]
    fn split_partition_round_trips_and_unknown_types_are_refused() {
        let partition = |id: &str, leaf: bool, parent: Option<&str>, children: &[&str], dimension: i32| {
            let mut p = json!({ "partitionId": id, "isLeafPartition": leaf, "childPartitionIds": children,
                                "region": { "key": { "min": "", "minInclusive": true, "maxInclusive": false }, "stringsBase64Encoded": true },
                                "dimension": dimension });
            if let Some(parent) = parent {
                p["parentPartitionId"] = json!(parent);
            }
            p
        };
        round_trip(
            "SPLIT_PARTITION",
            &json!({ "parent": partition("L", false, Some("root"), &["LL", "LR"], 0),
                    "newChildren": [partition("LL", true, Some("L"), &[], -1), partition("LR", true, Some("L"), &[], -1)] }),
        );
        assert!(TransactionJson::from_type_and_body("COMPACT_EVERYTHING", "{}").is_err());
    }

    #[test]
    fn a_body_is_one_json_value_and_cannot_add_fields_beside_its_tag() {
        assert!(TransactionJson::from_type_and_body("CLEAR_FILES", " {} ").is_ok());
        assert!(TransactionJson::from_type_and_body("CLEAR_FILES", r#"{}, "type": "DELETE_FILES""#).is_err());
        assert!(TransactionJson::from_type_and_body("CLEAR_FILES", r#"{}, "unknown": 1"#).is_err());
        assert!(TransactionJson::from_type_and_body("CLEAR_FILES", "{} {}").is_err());
        assert!(TransactionJson::from_type_and_body("CLEAR_FILES\", \"x", "{}").is_err());
    }

    #[test]
    fn a_log_entry_reads_as_its_transaction_whatever_the_order_of_its_fields() {
        let body = r#"{"filenames": ["a.parquet"]}"#;
        for entry in [
            format!(r#"{{"transactionNumber": 3, "updateTime": "t", "type": "DELETE_FILES", "transaction": {body}}}"#),
            format!(r#"{{"transaction": {body}, "transactionNumber": 3, "type": "DELETE_FILES"}}"#),
        ] {
            let transaction: TransactionJson = serde_json::from_str(&entry).unwrap();
            assert_eq!(transaction, TransactionJson::from_type_and_body("DELETE_FILES", body).unwrap(), "{entry}");
        }
    }
}
