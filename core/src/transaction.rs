//! Transactions of a table's log, in Sleeper's JSON shapes (`transaction-*.json`), and the table
//! state they build up.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionTree};
use crate::partition_json::{partition_from_json, partition_to_json, tree_from_json, tree_to_json};
use crate::schema::KeyField;

/// A reference from a data file to the partition it holds rows of (`AddFiles` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReference {
    pub partition_id: String,
    pub number_of_rows: u64,
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

/// A transaction of the log.
#[derive(Debug, Clone)]
pub enum Transaction {
    InitialisePartitions(PartitionTree),
    AddFiles { job_id: Option<String>, files: Vec<AddedFile> },
    /// Splits leaves: each updated partition is a current leaf that becomes the root of a
    /// subtree whose other partitions are new.
    ExtendPartitionTree { update_partitions: Vec<Partition>, new_partitions: Vec<Partition> },
}

impl Transaction {
    pub fn type_name(&self) -> &'static str {
        match self {
            Transaction::InitialisePartitions(_) => "INITIALISE_PARTITIONS",
            Transaction::AddFiles { .. } => "ADD_FILES",
            Transaction::ExtendPartitionTree { .. } => "EXTEND_PARTITION_TREE",
        }
    }

    /// The transaction body in Sleeper's JSON shape.
    pub fn body_json(&self, row_keys: &[KeyField]) -> Value {
        match self {
            Transaction::InitialisePartitions(tree) => json!({ "partitions": tree_to_json(tree) }),
            Transaction::AddFiles { job_id, files } => {
                let mut body = json!({ "files": files });
                if let Some(job_id) = job_id {
                    body["jobId"] = json!(job_id);
                }
                body
            }
            Transaction::ExtendPartitionTree { update_partitions, new_partitions } => {
                let list = |partitions: &[Partition]| partitions.iter().map(|p| partition_to_json(row_keys, p)).collect::<Vec<_>>();
                json!({ "updatePartitions": list(update_partitions), "newPartitions": list(new_partitions) })
            }
        }
    }

    pub fn from_json(type_name: &str, body: &Value, row_keys: &[KeyField]) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt { what: "transaction", location: type_name.to_string(), reason };
        match type_name {
            "INITIALISE_PARTITIONS" => Ok(Transaction::InitialisePartitions(tree_from_json(row_keys, body)?)),
            "ADD_FILES" => Ok(Transaction::AddFiles {
                job_id: body.get("jobId").and_then(Value::as_str).map(str::to_string),
                files: serde_json::from_value(body["files"].clone()).map_err(|e| corrupt(e.to_string()))?,
            }),
            "EXTEND_PARTITION_TREE" => {
                let list = |field: &str| -> Result<Vec<Partition>> {
                    let values = body[field].as_array().ok_or_else(|| corrupt(format!("no {field}")))?;
                    values.iter().map(|v| partition_from_json(row_keys, v)).collect()
                };
                Ok(Transaction::ExtendPartitionTree { update_partitions: list("updatePartitions")?, new_partitions: list("newPartitions")? })
            }
            other => Err(corrupt(format!("unknown transaction type {other:?}"))),
        }
    }
}

/// The tree after an extension: every updated partition must be a current leaf (the tree only
/// grows at its leaves, so two extensions of the same leaves cannot both apply), every new
/// partition must be new, and the result must be a valid tree.
fn extended(tree: &PartitionTree, update_partitions: &[Partition], new_partitions: &[Partition]) -> Result<PartitionTree> {
    let mut partitions = tree.partitions().to_vec();
    for update in update_partitions {
        let at = partitions
            .iter()
            .position(|p| p.id == update.id)
            .ok_or_else(|| Error::InvalidPartitions(format!("no partition {:?} to update", update.id)))?;
        if !partitions[at].is_leaf {
            return Err(Error::PartitionTreeChanged(format!("partition {:?} is no longer a leaf: the tree has been extended since", update.id)));
        }
        partitions[at] = update.clone();
    }
    for new in new_partitions {
        if tree.get(&new.id).is_some() {
            return Err(Error::PartitionTreeChanged(format!("partition {:?} already exists", new.id)));
        }
        partitions.push(new.clone());
    }
    PartitionTree::new(tree.row_keys().to_vec(), partitions)
}

/// A file reference in the table's current state, with the job that added it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableFile {
    pub filename: String,
    pub partition_id: String,
    pub number_of_rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// The state of a table after some prefix of its transaction log.
#[derive(Debug, Clone)]
pub struct TableState {
    pub transaction_number: u64,
    pub partitions: PartitionTree,
    pub files: Vec<TableFile>,
    pub committed_jobs: HashSet<String>,
}

impl TableState {
    pub fn empty(row_keys: &[KeyField]) -> Self {
        TableState {
            transaction_number: 0,
            partitions: PartitionTree::single_leaf(row_keys),
            files: Vec::new(),
            committed_jobs: HashSet::new(),
        }
    }

    /// Checks that `transaction` may follow this state, as Sleeper validates before committing.
    pub fn validate(&self, transaction: &Transaction) -> Result<()> {
        match transaction {
            Transaction::InitialisePartitions(_) => {
                if !self.files.is_empty() {
                    return Err(Error::InvalidPartitions("cannot initialise partitions of a table holding files".into()));
                }
            }
            Transaction::AddFiles { job_id, files } => {
                if let Some(job_id) = job_id
                    && self.committed_jobs.contains(job_id)
                {
                    return Err(Error::JobAlreadyCommitted(job_id.clone()));
                }
                let existing: HashSet<&str> = self.files.iter().map(|f| f.filename.as_str()).collect();
                for file in files {
                    if existing.contains(file.filename.as_str()) {
                        return Err(Error::FileAlreadyReferenced(file.filename.clone()));
                    }
                    for reference in &file.references {
                        if !self.partitions.get(&reference.partition_id).is_some_and(|p| p.is_leaf) {
                            return Err(Error::NotALeafPartition(reference.partition_id.clone()));
                        }
                    }
                }
            }
            Transaction::ExtendPartitionTree { update_partitions, new_partitions } => {
                extended(&self.partitions, update_partitions, new_partitions)?;
            }
        }
        Ok(())
    }

    /// Applies a transaction that follows this state; a partition tree extension that does not
    /// fit the tree is refused.
    pub fn apply(&mut self, number: u64, transaction: Transaction) -> Result<()> {
        match transaction {
            Transaction::ExtendPartitionTree { update_partitions, new_partitions } => {
                self.partitions = extended(&self.partitions, &update_partitions, &new_partitions)?;
            }
            Transaction::InitialisePartitions(tree) => self.partitions = tree,
            Transaction::AddFiles { job_id, files } => {
                for file in files {
                    for reference in file.references {
                        self.files.push(TableFile {
                            filename: file.filename.clone(),
                            partition_id: reference.partition_id,
                            number_of_rows: reference.number_of_rows,
                            job_id: job_id.clone(),
                        });
                    }
                }
                if let Some(job_id) = job_id {
                    self.committed_jobs.insert(job_id);
                }
            }
        }
        self.transaction_number = number;
        Ok(())
    }

    pub fn to_snapshot_json(&self) -> Value {
        let mut jobs: Vec<&String> = self.committed_jobs.iter().collect();
        jobs.sort();
        json!({
            "transactionNumber": self.transaction_number,
            "partitions": tree_to_json(&self.partitions),
            "files": self.files,
            "committedJobs": jobs,
        })
    }

    pub fn from_snapshot_json(value: &Value, row_keys: &[KeyField]) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt { what: "snapshot", location: String::new(), reason };
        Ok(TableState {
            transaction_number: value["transactionNumber"].as_u64().ok_or_else(|| corrupt("no transactionNumber".into()))?,
            partitions: tree_from_json(row_keys, &value["partitions"])?,
            files: serde_json::from_value(value["files"].clone()).map_err(|e| corrupt(e.to_string()))?,
            committed_jobs: serde_json::from_value(value["committedJobs"].clone()).map_err(|e| corrupt(e.to_string()))?,
        })
    }
}
