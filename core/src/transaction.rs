//! The transactions of the engine's own log and the table state they build up. Their JSON is
//! Sleeper's ([`crate::transaction_json`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::partition::{Partition, PartitionTree};
use crate::partition_json::{PartitionJson, partitions_from_json, partitions_to_json, tree_to_json};
use crate::schema::KeyField;
pub use crate::transaction_json::{AddFilesJson, AddedFile, FileReference, TransactionJson};

/// A transaction of the log.
#[derive(Debug, Clone)]
pub enum Transaction {
    InitialisePartitions(PartitionTree),
    AddFiles {
        job_id: Option<String>,
        files: Vec<AddedFile>,
    },
    /// Splits leaves: each updated partition is a current leaf that becomes the root of a
    /// subtree whose other partitions are new.
    ExtendPartitionTree {
        update_partitions: Vec<Partition>,
        new_partitions: Vec<Partition>,
    },
}

impl Transaction {
    pub fn type_name(&self) -> &'static str {
        match self {
            Transaction::InitialisePartitions(_) => "INITIALISE_PARTITIONS",
            Transaction::AddFiles { .. } => "ADD_FILES",
            Transaction::ExtendPartitionTree { .. } => "EXTEND_PARTITION_TREE",
        }
    }

    /// The transaction in Sleeper's JSON shape.
    pub fn to_json(&self, row_keys: &[KeyField]) -> TransactionJson {
        match self {
            Transaction::InitialisePartitions(tree) => TransactionJson::InitialisePartitions { partitions: tree_to_json(tree) },
            Transaction::AddFiles { job_id, files } => TransactionJson::AddFiles(AddFilesJson::new(job_id.clone(), files.clone())),
            Transaction::ExtendPartitionTree { update_partitions, new_partitions } => TransactionJson::ExtendPartitionTree {
                update_partitions: partitions_to_json(row_keys, update_partitions),
                new_partitions: partitions_to_json(row_keys, new_partitions),
            },
        }
    }

    /// The transaction a table with these row keys reads from Sleeper's JSON.
    pub fn from_json(json: TransactionJson, row_keys: &[KeyField]) -> Result<Self> {
        Ok(match json {
            TransactionJson::InitialisePartitions { partitions } => {
                Transaction::InitialisePartitions(PartitionTree::new(row_keys.to_vec(), partitions_from_json(row_keys, &partitions)?)?)
            }
            TransactionJson::AddFiles(AddFilesJson { job_id, files, .. }) => Transaction::AddFiles { job_id, files },
            TransactionJson::ExtendPartitionTree { update_partitions, new_partitions } => Transaction::ExtendPartitionTree {
                update_partitions: partitions_from_json(row_keys, &update_partitions)?,
                new_partitions: partitions_from_json(row_keys, &new_partitions)?,
            },
            other => {
                return Err(Error::Corrupt {
                    what: "transaction",
                    location: other.type_name().to_string(),
                    reason: "this store never writes transactions of this type".into(),
                });
            }
        })
    }
}

/// The tree after an extension: every updated partition must be a current leaf (the tree only
/// grows at its leaves, so two extensions of the same leaves cannot both apply), every new
/// partition must be new, and the result must be a valid tree.
pub fn extended(tree: &PartitionTree, update_partitions: &[Partition], new_partitions: &[Partition]) -> Result<PartitionTree> {
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

/// A snapshot of a table's state in the object-store backend's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotJson {
    pub transaction_number: u64,
    pub partitions: Vec<PartitionJson>,
    pub files: Vec<TableFile>,
    pub committed_jobs: Vec<String>,
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
        TableState { transaction_number: 0, partitions: PartitionTree::single_leaf(row_keys), files: Vec::new(), committed_jobs: HashSet::new() }
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

    /// The state as a snapshot: everything a reader needs to carry on from its number.
    pub fn to_snapshot(&self) -> SnapshotJson {
        let mut committed_jobs: Vec<String> = self.committed_jobs.iter().cloned().collect();
        committed_jobs.sort();
        SnapshotJson {
            transaction_number: self.transaction_number,
            partitions: tree_to_json(&self.partitions),
            files: self.files.clone(),
            committed_jobs,
        }
    }

    pub fn from_snapshot(snapshot: SnapshotJson, row_keys: &[KeyField]) -> Result<Self> {
        Ok(TableState {
            transaction_number: snapshot.transaction_number,
            partitions: PartitionTree::new(row_keys.to_vec(), partitions_from_json(row_keys, &snapshot.partitions)?)?,
            files: snapshot.files,
            committed_jobs: snapshot.committed_jobs.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod golden {
    //! Sleeper's own JSON of each transaction type we write (its `TransactionSerDeTest`
    //! approved files, kept in `core/tests/data/`): read, turned into our transactions, and
    //! written back, the JSON must be the same.

    use serde_json::{Value, json};

    use super::*;
    use crate::key::KeyType;

    fn string_key() -> Vec<KeyField> {
        vec![KeyField { name: "key".into(), key_type: KeyType::String }]
    }

    fn round_trip(type_name: &str, body: &str) -> (Transaction, Value) {
        let body: Value = serde_json::from_str(body).unwrap();
        let json: TransactionJson = serde_json::from_value(json!({ "type": type_name, "transaction": body.clone() })).unwrap();
        let transaction = Transaction::from_json(json, &string_key()).unwrap();
        assert_eq!(transaction.type_name(), type_name);
        let written = serde_json::to_value(transaction.to_json(&string_key())).unwrap();
        assert_eq!(written["type"], type_name);
        assert_eq!(written["transaction"], body, "{type_name} does not come back as Sleeper wrote it");
        (transaction, body)
    }

    #[test]
    fn initialise_partitions_is_sleepers_json() {
        let (transaction, _) = round_trip("INITIALISE_PARTITIONS", include_str!("../tests/data/transaction-initialise-partitions.json"));
        let Transaction::InitialisePartitions(tree) = transaction else { panic!("not an initialisation") };
        assert_eq!(tree.leaf_count(), 4);
    }

    #[test]
    fn add_files_is_sleepers_json() {
        let (transaction, _) = round_trip("ADD_FILES", include_str!("../tests/data/transaction-add-files.json"));
        let Transaction::AddFiles { job_id, files } = transaction else { panic!("not an AddFiles") };
        assert_eq!(job_id, None);
        assert_eq!(files.iter().map(|f| f.references[0].number_of_rows).collect::<Vec<_>>(), [100, 200]);
    }

    #[test]
    fn extend_partition_tree_is_sleepers_json() {
        let (transaction, _) = round_trip("EXTEND_PARTITION_TREE", include_str!("../tests/data/transaction-extend-partition-tree.json"));
        let Transaction::ExtendPartitionTree { update_partitions, new_partitions } = transaction else { panic!("not an extension") };
        assert_eq!(update_partitions.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["L", "R"]);
        assert_eq!(new_partitions.len(), 6);
    }

    #[test]
    fn a_job_id_is_written_and_an_unknown_type_is_refused() {
        let transaction = Transaction::AddFiles { job_id: Some("job".into()), files: vec![] };
        let written = serde_json::to_value(transaction.to_json(&string_key())).unwrap();
        assert_eq!(written, json!({ "type": "ADD_FILES", "transaction": { "jobId": "job", "files": [] } }));
        assert!(serde_json::from_value::<TransactionJson>(json!({ "type": "DELETE_FILES", "transaction": {} })).is_err());
    }
}
