//! A table's partitions as Sleeper's transactions build them (`StateStorePartitions`):
//! partitions by id, each transaction putting the partitions it names.

use std::collections::BTreeMap;

use bulk_import_core::partition::{Partition, PartitionTree};
use bulk_import_core::partition_json::partitions_from_json;
use bulk_import_core::schema::KeyField;
use bulk_import_core::transaction_json::TransactionJson;
use bulk_import_core::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct PartitionsState {
    partitions: BTreeMap<String, Partition>,
}

impl PartitionsState {
    pub fn from_partitions(partitions: Vec<Partition>) -> Self {
        PartitionsState { partitions: partitions.into_iter().map(|p| (p.id.clone(), p)).collect() }
    }

    /// Applies a transaction of the partitions log.
    pub fn apply(&mut self, transaction: &TransactionJson, row_keys: &[KeyField]) -> Result<()> {
        let put = |state: &mut Self, json: &[bulk_import_core::partition_json::PartitionJson]| -> Result<()> {
            for partition in partitions_from_json(row_keys, json)? {
                state.partitions.insert(partition.id.clone(), partition);
            }
            Ok(())
        };
        match transaction {
            TransactionJson::InitialisePartitions { partitions } => {
                self.partitions.clear();
                put(self, partitions)
            }
            TransactionJson::SplitPartition { parent, new_children } => {
                put(self, std::slice::from_ref(parent))?;
                put(self, new_children)
            }
            TransactionJson::ExtendPartitionTree { update_partitions, new_partitions } => {
                put(self, update_partitions)?;
                put(self, new_partitions)
            }
            other => Err(Error::Corrupt {
                what: "partitions log",
                location: other.type_name().to_string(),
                reason: "a files transaction in the partitions log".into(),
            }),
        }
    }

    /// The partitions as a tree, validated.
    pub fn tree(&self, row_keys: &[KeyField]) -> Result<PartitionTree> {
        if self.partitions.is_empty() {
            return Err(Error::InvalidPartitions("the table has no partitions: it was never initialised".into()));
        }
        PartitionTree::new(row_keys.to_vec(), self.partitions.values().cloned().collect())
    }
}
