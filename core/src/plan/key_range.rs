//! `KeyRangeExec`: appends to every row the label of the key range it falls in, so that global
//! sort can spread one leaf's rows over many tasks.
//!
//! The ranges are cut at keys sampled from the input (row keys, then sort keys) and compared in
//! the order the files are sorted in (arrow-row, ascending), so a range is a contiguous run of a
//! leaf's sorted rows. Which range a row falls in only decides which task writes it; a task still
//! groups its rows by leaf, so any cut points give correct files and good ones give even tasks.
//!
//! Ballista shuffles by hash only. Range `i` is therefore labelled with a value that DataFusion's
//! hash partitioning sends to output partition `i` ([`hash_labels`]): each range gets a task of
//! its own instead of two ranges sharing one by a hash collision.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::metrics::Time;
use datafusion::physical_plan::repartition::BatchPartitioner;

use crate::plan::label_rows::{LabelRowsExec, RowLabeller};
use crate::plan::leaf_sort::ASCENDING;

/// Normalised keys of a batch's columns in the order rows are sorted in within a file.
fn ascending_converter(schema: &Schema) -> Result<RowConverter> {
    Ok(RowConverter::new(schema.fields().iter().map(|f| SortField::new_with_options(f.data_type().clone(), ASCENDING)).collect())?)
}

pub type KeyRangeExec = LabelRowsExec<KeyRanges>;

/// Rows labelled with their key range.
#[derive(Debug)]
pub struct KeyRanges {
    /// The key columns' values at the cuts, ascending: range `i` holds the keys from cut `i - 1`
    /// (inclusive) to cut `i` (exclusive).
    cuts: RecordBatch,
    /// The label of each range, one more than there are cuts.
    labels: Vec<u32>,
    converter: RowConverter,
    cut_rows: Rows,
}

impl KeyRanges {
    /// `cuts` names the key columns by its field names.
    pub fn try_new(cuts: RecordBatch, labels: Vec<u32>) -> Result<Arc<Self>> {
        if labels.len() != cuts.num_rows() + 1 {
            return Err(DataFusionError::Internal(format!("{} cuts make {} ranges, not {}", cuts.num_rows(), cuts.num_rows() + 1, labels.len())));
        }
        let converter = ascending_converter(&cuts.schema())?;
        let cut_rows = converter.convert_columns(cuts.columns())?;
        if (1..cut_rows.num_rows()).any(|i| cut_rows.row(i - 1) >= cut_rows.row(i)) {
            return Err(DataFusionError::Internal("key range cuts are not strictly ascending".into()));
        }
        Ok(Arc::new(KeyRanges { cuts, labels, converter, cut_rows }))
    }

    pub fn cuts(&self) -> &RecordBatch {
        &self.cuts
    }

    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The index of the range holding `row`: how many cuts are at or below it.
    fn range_of(&self, row: arrow::row::Row<'_>) -> usize {
        let (mut low, mut high) = (0, self.cut_rows.num_rows());
        while low < high {
            let middle = usize::midpoint(low, high);
            if self.cut_rows.row(middle) <= row { low = middle + 1 } else { high = middle }
        }
        low
    }
}

impl RowLabeller for KeyRanges {
    const NAME: &'static str = "KeyRangeExec";

    fn key_columns(&self) -> Vec<String> {
        self.cuts.schema().fields().iter().map(|f| f.name().clone()).collect()
    }

    fn label(&self, keys: &[ArrayRef]) -> Result<UInt32Array> {
        let rows = self.converter.convert_columns(keys)?;
        Ok(rows.iter().map(|row| self.labels[self.range_of(row)]).collect())
    }

    fn describe(&self) -> String {
        format!("ranges={}", self.labels.len())
    }
}

/// Cuts `sample` (the key columns of sampled rows) into at most `ranges` ranges of about equal
/// numbers of sampled rows: the distinct keys at the sample's quantiles, ascending. Fewer ranges
/// come out when the sample has too few distinct keys.
pub fn cuts_from_sample(sample: &RecordBatch, ranges: usize) -> Result<RecordBatch> {
    let converter = ascending_converter(&sample.schema())?;
    let rows = converter.convert_columns(sample.columns())?;
    let mut order: Vec<usize> = (0..rows.num_rows()).collect();
    order.sort_unstable_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
    let mut picked: Vec<u32> = Vec::with_capacity(ranges.saturating_sub(1));
    for i in 1..ranges.max(1) {
        let at = order.get(i * order.len() / ranges).copied();
        let Some(at) = at else { break };
        // A cut equal to the smallest key or to the previous cut would make an empty range.
        let is_new = match picked.last() {
            Some(&previous) => rows.row(previous as usize) < rows.row(at),
            None => rows.row(order[0]) < rows.row(at),
        };
        if is_new {
            picked.push(at as u32);
        }
    }
    Ok(take_record_batch(sample, &UInt32Array::from(picked))?)
}

/// For each of `partitions` output partitions, a `UInt32` value that DataFusion's hash
/// partitioning (which Ballista's shuffle writer reproduces byte for byte) sends to it: the
/// smallest such value, found by hashing candidates until every partition has one.
pub fn hash_labels(partitions: usize) -> Result<Vec<u32>> {
    let schema = Arc::new(Schema::new(vec![Field::new("label", DataType::UInt32, false)]));
    let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new("label", 0));
    let mut partitioner = BatchPartitioner::new_hash_partitioner(vec![column], partitions, Time::default())?;
    let mut labels: Vec<Option<u32>> = vec![None; partitions];
    let chunk = (partitions as u32).saturating_mul(16).max(1024);
    let mut start = 0u32;
    while labels.iter().any(Option::is_none) {
        let end = start.checked_add(chunk).ok_or_else(|| DataFusionError::Internal(format!("no hash labels for {partitions} partitions")))?;
        let candidates = RecordBatch::try_new(schema.clone(), vec![Arc::new(UInt32Array::from_iter_values(start..end))])?;
        for result in partitioner.partition_iter(candidates)? {
            let (partition, batch) = result?;
            let values = batch.column(0).as_any().downcast_ref::<UInt32Array>().expect("the label column is UInt32");
            let smallest = values.values().iter().min().copied();
            if labels[partition].is_none() {
                labels[partition] = smallest;
            }
        }
        start = end;
    }
    Ok(labels.into_iter().map(|l| l.expect("every partition has a label")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{Int64Type, UInt32Type};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::Partitioning;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::physical_plan::repartition::RepartitionExec;
    use datafusion::prelude::SessionContext;

    fn keys(names: &[&str], values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false), Field::new("ts", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(names.to_vec())), Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn cuts_are_distinct_sample_quantiles() {
        let sample = keys(&["d", "a", "c", "b", "b", "b", "b", "e"], &[1, 1, 1, 1, 1, 1, 1, 1]);
        let cuts = cuts_from_sample(&sample, 4).unwrap();
        let names: Vec<&str> = cuts.column(0).as_string::<i32>().iter().map(|v| v.unwrap()).collect();
        // Sorted: a b b b b c d e; quantiles at 2, 4, 6 are b, b, d: the repeated b is one cut.
        assert_eq!(names, ["b", "d"]);
        assert_eq!(cuts_from_sample(&sample, 1).unwrap().num_rows(), 0);
        let one_key = keys(&["x", "x", "x"], &[5, 5, 5]);
        assert_eq!(cuts_from_sample(&one_key, 3).unwrap().num_rows(), 0, "one distinct key is one range");
    }

    #[test]
    fn sort_keys_split_a_repeated_row_key() {
        let sample = keys(&["k", "k", "k", "k"], &[1, 2, 3, 4]);
        let cuts = cuts_from_sample(&sample, 2).unwrap();
        assert_eq!(cuts.column(1).as_primitive::<Int64Type>().values().to_vec(), vec![3]);
    }

    #[test]
    fn labels_reach_every_partition_once() {
        for partitions in [1, 2, 3, 7, 64, 1000] {
            let labels = hash_labels(partitions).unwrap();
            assert_eq!(labels.len(), partitions);
            let mut distinct = labels.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), partitions, "{partitions} partitions");
        }
    }

    /// Through DataFusion's own `RepartitionExec`: output partition `i` holds exactly range `i`.
    #[tokio::test]
    async fn each_range_lands_in_its_own_partition() {
        let input = keys(&["a", "b", "c", "d", "e", "f", "g", "h"], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let cuts = keys(&["c", "c", "g"], &[3, 9, 0]);
        let partitions = 4;
        let labels = hash_labels(partitions).unwrap();
        let source = MemorySourceConfig::try_new_exec(&[vec![input.clone()]], input.schema(), None).unwrap();
        let ranges = KeyRanges::try_new(cuts, labels.clone()).unwrap();
        let ranged: Arc<dyn ExecutionPlan> = Arc::new(KeyRangeExec::try_new(source, ranges, "range").unwrap());
        let hash = Partitioning::Hash(vec![Arc::new(Column::new("range", 2))], partitions);
        let shuffled = RepartitionExec::try_new(ranged, hash).unwrap();
        let context = SessionContext::new().task_ctx();
        let mut by_partition = Vec::new();
        for (partition, &label) in labels.iter().enumerate() {
            let batches: Vec<RecordBatch> =
                datafusion::physical_plan::common::collect(shuffled.execute(partition, context.clone()).unwrap()).await.unwrap();
            let mut names = Vec::new();
            for batch in &batches {
                for (name, label_of_row) in batch.column(0).as_string::<i32>().iter().zip(batch.column(2).as_primitive::<UInt32Type>().values()) {
                    assert_eq!(*label_of_row, label, "partition {partition} holds only its own range");
                    names.push(name.unwrap().to_string());
                }
            }
            names.sort();
            by_partition.push(names);
        }
        // Cuts (c,3) (c,9) (g,0): a b | c | d e f | g h.
        assert_eq!(by_partition, [vec!["a", "b"], vec!["c"], vec!["d", "e", "f"], vec!["g", "h"]]);
    }

    #[test]
    fn cuts_out_of_order_are_refused() {
        let error = KeyRanges::try_new(keys(&["b", "a"], &[1, 1]), vec![0, 1, 2]).unwrap_err();
        assert!(error.to_string().contains("not strictly ascending"), "{error}");
    }
}
