//! Automatic pre-split before an import (see `bulk_import_core::presplit`): when the table has
//! fewer leaves than its `sleeper.table.bulk.import.min.leaf.partitions`, the job's input is
//! sampled and the leaves are split to that many, in one `ExtendPartitionTree` transaction.
//!
//! Two jobs may race to split the same table. The log lets one extension of a leaf in, and the
//! other, re-validated against the new tree, is refused; its job re-reads the tree and, finding
//! enough leaves, imports into it without splitting.

use bulk_import_core::Error;
use bulk_import_core::backend::StateStore;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::presplit::extension;
use bulk_import_core::table::Table;
use bulk_import_core::transaction::Transaction;

use crate::intake::inputs::InputFile;
use crate::planning::key_sample::sample_keys;

/// Sampled rows per leaf wanted: each leaf's share of the rows is then known to a few percent.
const SAMPLE_ROWS_PER_LEAF: usize = 1000;

/// How many times a job re-reads a tree another job extended before it gives up.
const ATTEMPTS: usize = 5;

/// A split this job made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub leaves_before: usize,
    pub leaves_after: usize,
    pub transaction_number: u64,
}

/// The tree to import into, split first if the table has too few leaves; with the split, if
/// this job made it.
pub async fn ensure_leaves(state_store: &dyn StateStore, table: &Table, files: &[InputFile]) -> anyhow::Result<(PartitionTree, Option<Split>)> {
    let min_leaves = table.definition.properties.min_leaf_partitions()?;
    let mut tree = state_store.partitions().await?;
    if tree.leaf_count() >= min_leaves {
        return Ok((tree, None));
    }
    let sample = sample_keys(files, table, &table.schema().row_keys(), min_leaves * SAMPLE_ROWS_PER_LEAF).await?;
    for _ in 0..ATTEMPTS {
        let leaves_before = tree.leaf_count();
        let Some(Transaction::ExtendPartitionTree { update_partitions, new_partitions }) = extension(&tree, sample.columns(), min_leaves)? else {
            return Ok((tree, None));
        };
        match state_store.extend_partition_tree(update_partitions, new_partitions).await {
            Ok(transaction_number) => {
                let split = state_store.partitions().await?;
                let made = Split { leaves_before, leaves_after: split.leaf_count(), transaction_number };
                return Ok((split, Some(made)));
            }
            // Another job extended the tree first.
            Err(Error::PartitionTreeChanged(reason)) => {
                tracing::info!("table {}: pre-split refused ({reason}); reading the tree again", table.name());
                tree = state_store.partitions().await?;
                if tree.leaf_count() >= min_leaves {
                    return Ok((tree, None));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("table {}: could not pre-split after {ATTEMPTS} attempts, the tree kept changing", table.name())
}
