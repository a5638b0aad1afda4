//! Automatic pre-split, as Sleeper's bulk import does it: a table with fewer leaves than it
//! should have for an import is split first, at quantiles of the job's input, so that the
//! import's rows spread over many leaves instead of a few.
//!
//! Each leaf gets a share of the target number of leaves in proportion to the sampled rows that
//! fall in it, and is cut on the first row key at its rows' quantiles into a balanced subtree:
//! one `ExtendPartitionTree` transaction. Leaves only ever grow children, so two jobs that both
//! split the same leaves conflict in the log; the loser re-reads the tree, finds it split, and
//! imports into it.

use std::sync::Arc;

use arrow::array::ArrayRef;

use crate::error::{Error, Result};
use crate::key::{KeyRef, KeyValue};
use crate::partition::PartitionTree;
use crate::router::{KeyColumn, Router};
use crate::transaction::Transaction;

/// The extension that brings `tree` to about `target_leaves` leaves, from `sample` (row-key
/// columns in schema order); none when no leaf has enough distinct sampled keys to cut.
pub fn extension(tree: &PartitionTree, sample: &[ArrayRef], target_leaves: usize) -> Result<Option<Transaction>> {
    let routing = |e: crate::router::RoutingError| Error::InvalidSplitPoints(format!("the sample cannot be routed: {e}"));
    let rows = sample.first().map_or(0, |a| a.len());
    if rows == 0 || tree.leaf_count() >= target_leaves {
        return Ok(None);
    }
    let leaves = Router::new(Arc::new(tree.clone())).leaf_indices(sample).map_err(routing)?;
    let first = &tree.row_keys()[0];
    let column = KeyColumn::new(&sample[0], first.key_type, &first.name).map_err(routing)?;
    let mut keys_by_leaf: Vec<Vec<KeyRef<'_>>> = vec![Vec::new(); tree.leaf_count()];
    for (row, leaf) in leaves.values().iter().enumerate() {
        keys_by_leaf[*leaf as usize].push(column.get(row));
    }
    let (mut update_partitions, mut new_partitions) = (Vec::new(), Vec::new());
    for (leaf, mut keys) in tree.leaves().zip(keys_by_leaf) {
        let pieces = ((target_leaves as f64 * keys.len() as f64 / rows as f64).round() as usize).max(1);
        if pieces == 1 {
            continue;
        }
        keys.sort_unstable();
        let min = leaf.region.ranges[0].min.as_ref();
        let mut points: Vec<KeyValue> = Vec::with_capacity(pieces - 1);
        for piece in 1..pieces {
            let key = keys[piece * keys.len() / pieces];
            if key > min && points.last().is_none_or(|last| last.as_ref() < key) {
                points.push(key.to_value());
            }
        }
        if points.is_empty() {
            continue;
        }
        let (updated, new) = tree.split_leaf(&leaf.id, &points)?;
        update_partitions.push(updated);
        new_partitions.extend(new);
    }
    Ok((!update_partitions.is_empty()).then_some(Transaction::ExtendPartitionTree { update_partitions, new_partitions }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;
    use crate::schema::KeyField;
    use crate::transaction::TableState;
    use arrow::array::Int64Array;

    fn long_key() -> Vec<KeyField> {
        vec![KeyField { name: "k".into(), key_type: KeyType::Long }]
    }

    fn apply(tree: &PartitionTree, transaction: Transaction) -> Result<PartitionTree> {
        let mut state = TableState::empty(tree.row_keys());
        state.partitions = tree.clone();
        state.validate(&transaction)?;
        state.apply(1, transaction)?;
        Ok(state.partitions)
    }

    #[test]
    fn one_leaf_splits_into_the_target_at_sample_quantiles() {
        let tree = PartitionTree::single_leaf(&long_key());
        let sample: ArrayRef = Arc::new(Int64Array::from_iter_values((0..10_000).map(|i| (i * 7919) % 10_000)));
        let transaction = extension(&tree, &[sample], 16).unwrap().unwrap();
        let split = apply(&tree, transaction).unwrap();
        assert_eq!(split.leaf_count(), 16);
        // Every leaf holds 625 of the 10,000 keys.
        let mut counts = vec![0; 16];
        for k in 0..10_000 {
            counts[split.leaf_index_of(&[KeyRef::Long(k)]).unwrap() as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 625), "{counts:?}");
    }

    #[test]
    fn leaves_get_pieces_in_proportion_to_their_rows_and_stay_inside_their_range() {
        let tree = PartitionTree::from_split_points(&long_key(), &[KeyValue::Long(1000)]).unwrap();
        // 90% of the rows below 1000.
        let values = (0..9000).map(|i| i % 1000).chain((0..1000).map(|i| 1000 + i));
        let sample: ArrayRef = Arc::new(Int64Array::from_iter_values(values));
        let split = apply(&tree, extension(&tree, &[sample], 20).unwrap().unwrap()).unwrap();
        let below = split.leaves().filter(|l| l.region.ranges[0].max.as_ref().is_some_and(|m| *m <= KeyValue::Long(1000))).count();
        assert_eq!((below, split.leaf_count()), (18, 20));
    }

    #[test]
    fn a_second_extension_of_the_same_leaves_is_refused() {
        let tree = PartitionTree::single_leaf(&long_key());
        let sample: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        let first = extension(&tree, std::slice::from_ref(&sample), 4).unwrap().unwrap();
        let second = extension(&tree, &[sample], 4).unwrap().unwrap();
        let split = apply(&tree, first).unwrap();
        let error = apply(&split, second).unwrap_err();
        assert!(matches!(&error, crate::Error::PartitionTreeChanged(r) if r.contains("no longer a leaf")), "{error}");
    }

    #[test]
    fn repeated_keys_make_at_most_one_cut() {
        let tree = PartitionTree::single_leaf(&long_key());
        let fives: ArrayRef = Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(5, 100)));
        let split = apply(&tree, extension(&tree, &[fives], 8).unwrap().unwrap()).unwrap();
        assert_eq!(split.leaf_count(), 2, "one cut, at 5");
        let minimum: ArrayRef = Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(i64::MIN, 100)));
        assert!(extension(&tree, &[minimum], 8).unwrap().is_none(), "the leaf's minimum is no cut");
    }
}
