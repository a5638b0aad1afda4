//! `LeafSortExec`: sorts each task's rows by (leaf, sort columns), routing before sorting.
//!
//! DataFusion's `SortExec` sorts every incoming batch with a column-by-column comparator and then
//! merges hundreds of sorted batches through a loser tree, comparing and copying each row about
//! log2(batches) times; on an import that was a third of all CPU. Here a task's rows are first
//! grouped by leaf with a counting sort (the leaf is already a small integer), then each leaf's
//! rows, a few tens of thousands, are radix-sorted on an 8-byte prefix of their key, which
//! decides almost every row's place, and rows whose prefixes tie are sorted on the typed sort
//! columns ([`super::sort_keys`]). Output rows are gathered once ([`super::gather`]).
//!
//! Each batch is grouped by leaf as it arrives (a counting sort within the batch, one `take`).
//! The gather then reads each leaf's rows from one run per batch rather than from scattered
//! rows: a run of views shares its cache lines and pages, where scattered rows each missed the
//! cache (the gather was a tenth of an import's CPU). The leaf column is not gathered at all:
//! it is the same value over each leaf's run of output rows.
//!
//! When the memory pool refuses more input, the rows held so far are spilled in leaf order, and
//! read back a window of leaves at a time once the input ends ([`super::leaf_runs`]).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{SortOptions, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef, UInt32Type};
use datafusion::common::config::SpillCompression;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::col;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput, SpillMetrics, Time,
};
use datafusion::physical_plan::sorts::streaming_merge::StreamingMergeBuilder;
use datafusion::physical_plan::spill::{SpillManager, get_record_batch_memory_size};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, ReplaceChildrenOptions,
};
use futures::{Stream, StreamExt, TryStreamExt};

use super::gather::gather;
use super::leaf_runs::{RunCursor, SpilledRun, WindowBudget, total_rows_per_leaf, window};
use super::run_file::{RunFileWriter, read_run};
use super::sort_keys::{Entry, KeyArrays};

/// Ascending, nulls last: the order of Sleeper's files (and of DataFusion's `SortExec` as we
/// configured it before this operator replaced it).
pub(crate) const ASCENDING: SortOptions = SortOptions { descending: false, nulls_first: false };

#[derive(Debug)]
pub struct LeafSortExec {
    input: Arc<dyn ExecutionPlan>,
    leaf_column: String,
    /// Columns sorted on within a leaf: row keys, then sort keys.
    sort_columns: Vec<String>,
    leaf_count: u32,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl LeafSortExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, leaf_column: &str, sort_columns: Vec<String>, leaf_count: u32) -> Result<Self> {
        let schema = input.schema();
        schema.index_of(leaf_column)?;
        for column in &sort_columns {
            schema.index_of(column)?;
        }
        let ordering = output_ordering(&schema, leaf_column, &sort_columns)?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new_with_orderings(schema, [ordering]),
            input.output_partitioning().clone(),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(LeafSortExec {
            input,
            leaf_column: leaf_column.to_string(),
            sort_columns,
            leaf_count,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    pub fn leaf_column(&self) -> &str {
        &self.leaf_column
    }

    pub fn sort_columns(&self) -> &[String] {
        &self.sort_columns
    }

    pub fn leaf_count(&self) -> u32 {
        self.leaf_count
    }

    /// The order of the output, for merging spilled runs.
    fn ordering(&self) -> Result<LexOrdering> {
        output_ordering(&self.input.schema(), &self.leaf_column, &self.sort_columns)
    }
}

/// Leaf, then the sort columns, ascending.
fn output_ordering(schema: &SchemaRef, leaf_column: &str, sort_columns: &[String]) -> Result<LexOrdering> {
    let mut exprs = vec![PhysicalSortExpr::new(col(leaf_column, schema)?, ASCENDING)];
    for column in sort_columns {
        exprs.push(PhysicalSortExpr::new(col(column, schema)?, ASCENDING));
    }
    LexOrdering::new(exprs).ok_or_else(|| DataFusionError::Internal("an ordering without columns".into()))
}

/// What a sort reports beyond the baseline and spill metrics.
#[derive(Clone)]
struct SortMetrics {
    /// Time spent ordering rows (to sort them, or to group them by leaf before spilling).
    sort_time: Time,
    /// Sorts in memory: one per task that did not spill, one per leaf window read back.
    in_memory_sorts: Count,
    /// Leaf windows read back from spilled runs.
    leaf_windows: Count,
    /// Windows too big for memory, sorted through sorted runs and a merge.
    merges: Count,
}

impl SortMetrics {
    fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        SortMetrics {
            sort_time: MetricBuilder::new(metrics).subset_time("sort_time", partition),
            in_memory_sorts: MetricBuilder::new(metrics).counter("in_memory_sorts", partition),
            leaf_windows: MetricBuilder::new(metrics).counter("leaf_windows", partition),
            merges: MetricBuilder::new(metrics).counter("merges", partition),
        }
    }
}

impl DisplayAs for LeafSortExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LeafSortExec: leaf={}, by=[{}]", self.leaf_column, self.sort_columns.join(", "))
    }
}

impl ExecutionPlan for LeafSortExec {
    fn name(&self) -> &'static str {
        "LeafSortExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>, _options: ReplaceChildrenOptions) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal("LeafSortExec has one child".into()))?;
        Ok(Arc::new(LeafSortExec::try_new(input, &self.leaf_column, self.sort_columns.clone(), self.leaf_count)?))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let schema = self.input.schema();
        let input = self.input.execute(partition, context.clone())?;
        let spill_metrics = SpillMetrics::new(&self.metrics, partition);
        let sorter = Sorter {
            schema: schema.clone(),
            leaf_index: schema.index_of(&self.leaf_column)?,
            sort_indices: self.sort_columns.iter().map(|c| schema.index_of(c)).collect::<Result<_, _>>()?,
            leaf_count: self.leaf_count,
            batch_size: context.session_config().batch_size(),
            ordering: self.ordering()?,
            reservation: MemoryConsumer::new(format!("LeafSortExec[{partition}]")).with_can_spill(true).register(context.memory_pool()),
            // Spilled runs are compressed as `datafusion.execution.spill_compression` says, as
            // DataFusion's own sort's are, and read back by `super::run_file`; DataFusion's spill
            // manager reads them only to merge a window too big for memory.
            spill_manager: SpillManager::new(context.runtime_env(), spill_metrics.clone(), schema.clone()),
            spill_metrics,
            spill_compression: context.session_config().spill_compression(),
            runtime: context.runtime_env(),
            baseline: BaselineMetrics::new(&self.metrics, partition),
            sort_metrics: SortMetrics::new(&self.metrics, partition),
            merge_reservation: MemoryConsumer::new(format!("LeafSortExec[{partition}] merge")).register(context.memory_pool()),
        };
        let sorted = futures::stream::once(Arc::new(sorter).sort(input)).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, sorted)))
    }
}

struct Sorter {
    schema: SchemaRef,
    leaf_index: usize,
    sort_indices: Vec<usize>,
    leaf_count: u32,
    batch_size: usize,
    ordering: LexOrdering,
    reservation: MemoryReservation,
    merge_reservation: MemoryReservation,
    spill_manager: SpillManager,
    spill_metrics: SpillMetrics,
    spill_compression: SpillCompression,
    runtime: Arc<RuntimeEnv>,
    baseline: BaselineMetrics,
    sort_metrics: SortMetrics,
}

/// Rows held for sorting, and what sorting them costs beyond the batches themselves.
#[derive(Default)]
struct Buffered {
    batches: Vec<RecordBatch>,
    rows: usize,
}

/// Memory to reserve for holding `batch` until it is sorted: the batch, a 16-byte entry per
/// row, and as much again as its key columns. The sort reads the keys where they lie; that
/// last share is headroom, which keeps a spilling job's resident memory well inside its pool
/// (200M rows under a 4 GiB pool: peak RSS 2.2 GiB with it, 2.6–2.8 GiB without, in the same
/// time).
fn reservation_for(batch: &RecordBatch, sort_indices: &[usize]) -> usize {
    let keys: usize = sort_indices.iter().map(|&i| batch.column(i).get_array_memory_size()).sum();
    get_record_batch_memory_size(batch) + keys + 16 * batch.num_rows()
}

/// The order rows are put in: for output, or before a spill.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunOrder {
    /// By leaf only: a spilled run to be read back a window of leaves at a time.
    Leaf,
    /// By leaf, then keys: output, or a spilled run to be merged.
    LeafThenKeys,
}

/// What a pass over input holds at its end, and what it spilled.
struct Pass {
    buffered: Buffered,
    runs: Vec<SpilledRun>,
    budget: WindowBudget,
}

/// Memory to reserve for holding a batch read back from a spilled run: the bytes of its rows,
/// their entries and the same headroom as [`reservation_for`]. Such a batch is a slice of one
/// read from the file, whose buffers may all be slices of one allocation; Arrow's own count
/// would take that allocation whole for every column.
fn reservation_for_read_back(batch: &RecordBatch, sort_indices: &[usize]) -> usize {
    let sliced = |array: &ArrayRef| {
        let data = array.to_data();
        let view_data: usize = match array.data_type() {
            DataType::Utf8View | DataType::BinaryView => data.buffers().iter().skip(1).map(arrow::buffer::Buffer::len).sum(),
            _ => 0,
        };
        data.get_slice_memory_size().unwrap_or_else(|_| array.get_array_memory_size()) + view_data
    };
    let columns: Vec<usize> = batch.columns().iter().map(sliced).collect();
    let keys: usize = sort_indices.iter().map(|&i| columns[i]).sum();
    columns.iter().sum::<usize>() + keys + 16 * batch.num_rows()
}

impl Sorter {
    /// The task's rows in (leaf, keys) order: sorted in memory when they fit, else spilled in
    /// leaf order and read back a window of leaves at a time.
    async fn sort(self: Arc<Self>, input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
        let reservation = self.reservation.new_empty();
        let pass = self.buffer(input, &reservation, reservation_for, RunOrder::Leaf).await?;
        if pass.runs.is_empty() {
            return self.in_memory(pass.buffered, reservation);
        }
        drop(reservation);
        let windows = pass.budget.windows(&total_rows_per_leaf(&pass.runs, self.leaf_count as usize));
        let cursors = pass
            .runs
            .into_iter()
            .map(|run| Ok(RunCursor::new(read_run(run.file, self.schema.clone())?, self.leaf_index)))
            .collect::<Result<Vec<_>>>()?;
        let schema = self.schema.clone();
        let sorted_windows = futures::stream::try_unfold((self, cursors, windows.into_iter()), |(sorter, mut cursors, mut windows)| async move {
            let Some(end) = windows.next() else { return Ok::<_, DataFusionError>(None) };
            sorter.sort_metrics.leaf_windows.add(1);
            let sorted = sorter.sort_window(window(&mut cursors, end)).await?;
            Ok(Some((sorted, (sorter, cursors, windows))))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, sorted_windows.try_flatten())))
    }

    /// Sorts one window's rows: in memory when they fit, else through sorted runs and a merge.
    async fn sort_window(&self, input: impl Stream<Item = Result<RecordBatch>>) -> Result<SendableRecordBatchStream> {
        let reservation = self.reservation.new_empty();
        let pass = self.buffer(input, &reservation, reservation_for_read_back, RunOrder::LeafThenKeys).await?;
        if pass.runs.is_empty() {
            return self.in_memory(pass.buffered, reservation);
        }
        drop(reservation);
        self.sort_metrics.merges.add(1);
        StreamingMergeBuilder::new()
            .with_sorted_spill_files(pass.runs.into_iter().map(|run| run.file).collect())
            .with_spill_manager(self.spill_manager.clone())
            .with_schema(self.schema.clone())
            .with_expressions(&self.ordering)
            .with_metrics(self.baseline.clone())
            .with_batch_size(self.batch_size)
            .with_reservation(self.merge_reservation.new_empty())
            .build()
    }

    /// Holds `input` under `reservation`, each batch counted by `held`, spilling what is held
    /// in `order` whenever the pool refuses more. A pass that spilled spills the rest at its
    /// end too, so that its rows are all in its runs.
    async fn buffer(
        &self,
        input: impl Stream<Item = Result<RecordBatch>>,
        reservation: &MemoryReservation,
        held: fn(&RecordBatch, &[usize]) -> usize,
        order: RunOrder,
    ) -> Result<Pass> {
        let mut input = std::pin::pin!(input);
        let mut pass = Pass { buffered: Buffered::default(), runs: Vec::new(), budget: WindowBudget::default() };
        while let Some(batch) = input.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = self.group_by_leaf(batch)?;
            let needed = held(&batch, &self.sort_indices);
            if reservation.try_grow(needed).is_err() {
                if pass.buffered.batches.is_empty() {
                    reservation.try_grow(needed)?;
                } else {
                    pass.budget.observe(reservation.size(), pass.buffered.rows);
                    pass.runs.push(self.spill(std::mem::take(&mut pass.buffered), order)?);
                    reservation.free();
                    reservation.try_grow(needed)?;
                }
            }
            pass.buffered.rows += batch.num_rows();
            pass.buffered.batches.push(batch);
        }
        if !pass.runs.is_empty() && !pass.buffered.batches.is_empty() {
            pass.budget.observe(reservation.size(), pass.buffered.rows);
            pass.runs.push(self.spill(std::mem::take(&mut pass.buffered), order)?);
            reservation.free();
        }
        Ok(pass)
    }

    /// The held rows sorted, as a stream that keeps `reservation` until its last row is out.
    fn in_memory(&self, buffered: Buffered, reservation: MemoryReservation) -> Result<SendableRecordBatchStream> {
        self.sort_metrics.in_memory_sorts.add(1);
        let mut sorted = SortedBatches::new(self.schema.clone(), self.order(buffered, RunOrder::LeafThenKeys)?, self.leaf_index, self.batch_size);
        sorted.gather_time = Some(self.baseline.elapsed_compute().clone());
        let baseline = self.baseline.clone();
        let stream = futures::stream::iter(sorted).map(move |batch| {
            let _held_until_the_output_is_gathered = &reservation;
            Ok(batch?.record_output(&baseline))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream)))
    }

    /// Writes the held rows to a spill file in `order`.
    fn spill(&self, buffered: Buffered, order: RunOrder) -> Result<SpilledRun> {
        let rows = self.order(buffered, order)?;
        let rows_per_leaf = rows.leaf_starts.windows(2).map(|leaf| leaf[1] - leaf[0]).collect();
        let sorted = SortedBatches::new(self.schema.clone(), rows, self.leaf_index, self.batch_size);
        let mut file = RunFileWriter::create(&self.runtime, &self.schema, self.spill_compression, self.spill_metrics.clone())?;
        for batch in sorted {
            file.append(&batch?)?;
        }
        Ok(SpilledRun { file: file.finish()?, rows_per_leaf })
    }

    /// `batch` with its rows grouped by leaf, in leaf order, each leaf's rows in their order in
    /// the batch; the batch itself when it already is.
    fn group_by_leaf(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let leaves = batch.column(self.leaf_index).as_primitive::<UInt32Type>().values();
        if leaves.is_sorted() {
            return Ok(batch);
        }
        let (low, high) = leaves.iter().fold((u32::MAX, 0), |(low, high), &leaf| (low.min(leaf), high.max(leaf)));
        if high >= self.leaf_count {
            return Err(self.outside_the_tree(high));
        }
        let mut next = vec![0u32; (high - low) as usize + 1];
        for &leaf in leaves {
            next[(leaf - low) as usize] += 1;
        }
        let mut start = 0;
        for slot in &mut next {
            (start, *slot) = (start + *slot, start);
        }
        let mut order = vec![0u32; leaves.len()];
        for (row, &leaf) in leaves.iter().enumerate() {
            let slot = &mut next[(leaf - low) as usize];
            order[*slot as usize] = row as u32;
            *slot += 1;
        }
        Ok(take_record_batch(&batch, &UInt32Array::from(order))?)
    }

    fn outside_the_tree(&self, leaf: u32) -> DataFusionError {
        DataFusionError::Internal(format!("leaf index {leaf} is outside the partition tree of {} leaves", self.leaf_count))
    }

    /// The order of the held rows: by leaf (counting sort), then, for sorted runs, within each
    /// leaf by the sort columns ([`super::sort_keys`]); and where each leaf's rows start in
    /// that order.
    fn order(&self, buffered: Buffered, order: RunOrder) -> Result<SortedRows> {
        let _timer = self.sort_metrics.sort_time.timer();
        let Buffered { batches, rows } = buffered;
        let key_arrays = if order == RunOrder::LeafThenKeys { Some(KeyArrays::new(&batches, &self.sort_indices)?) } else { None };
        let keys = key_arrays.as_ref().map(KeyArrays::keys);
        // Counting sort by leaf: where each leaf's rows start, then every row in its place.
        let mut starts = vec![0usize; self.leaf_count as usize + 1];
        for batch in &batches {
            for &leaf in batch.column(self.leaf_index).as_primitive::<UInt32Type>().values() {
                let slot = starts.get_mut(leaf as usize + 1).ok_or_else(|| self.outside_the_tree(leaf))?;
                *slot += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut entries = vec![Entry { prefix: 0, batch: 0, row: 0 }; rows];
        for (b, batch) in batches.iter().enumerate() {
            let leaves = batch.column(self.leaf_index).as_primitive::<UInt32Type>().values();
            for (row, &leaf) in leaves.iter().enumerate() {
                let slot = &mut next[leaf as usize];
                let prefix = keys.as_ref().map_or(0, |k| k.prefix(b, row));
                entries[*slot] = Entry { prefix, batch: b as u32, row: row as u32 };
                *slot += 1;
            }
        }
        if let Some(keys) = &keys {
            for leaf in starts.windows(2) {
                keys.sort(&mut entries[leaf[0]..leaf[1]]);
            }
        }
        Ok(SortedRows { batches, entries, leaf_starts: starts })
    }
}

/// Buffered rows in sorted order.
struct SortedRows {
    batches: Vec<RecordBatch>,
    /// The rows in order: leaf `l`'s are `entries[leaf_starts[l]..leaf_starts[l + 1]]`.
    entries: Vec<Entry>,
    leaf_starts: Vec<usize>,
}

impl SortedRows {
    /// The leaf column of the sorted rows `start..end`: each leaf repeated over its run.
    fn leaves(&self, start: usize, end: usize) -> UInt32Array {
        let mut values = Vec::with_capacity(end - start);
        let mut leaf = self.leaf_starts.partition_point(|&s| s <= start).saturating_sub(1);
        let mut at = start;
        while at < end {
            let run_end = self.leaf_starts.get(leaf + 1).map_or(end, |&s| s.min(end));
            values.extend(std::iter::repeat_n(leaf as u32, run_end.saturating_sub(at)));
            at = at.max(run_end);
            leaf += 1;
        }
        UInt32Array::from(values)
    }
}

/// Sorted output, gathered `batch_size` rows at a time.
struct SortedBatches {
    schema: SchemaRef,
    rows: SortedRows,
    leaf_index: usize,
    position: usize,
    batch_size: usize,
    /// Where the time spent gathering output rows is added, if anywhere.
    gather_time: Option<Time>,
}

impl SortedBatches {
    fn new(schema: SchemaRef, rows: SortedRows, leaf_index: usize, batch_size: usize) -> Self {
        SortedBatches { schema, rows, leaf_index, position: 0, batch_size: batch_size.max(1), gather_time: None }
    }

    fn gather(&self, start: usize, end: usize) -> Result<RecordBatch> {
        let indices: Vec<(usize, usize)> = self.rows.entries[start..end].iter().map(|e| (e.batch as usize, e.row as usize)).collect();
        let columns = (0..self.schema.fields().len())
            .map(|column| {
                if column == self.leaf_index {
                    return Ok(Arc::new(self.rows.leaves(start, end)) as ArrayRef);
                }
                let sources: Vec<&dyn arrow::array::Array> = self.rows.batches.iter().map(|b| b.column(column).as_ref()).collect();
                gather(&sources, &indices)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Iterator for SortedBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.rows.entries.len() {
            return None;
        }
        let _timer = self.gather_time.as_ref().map(Time::timer);
        let (start, end) = (self.position, (self.position + self.batch_size).min(self.rows.entries.len()));
        self.position = end;
        Some(self.gather(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::config::SpillCompression;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use crate::key::byte_prefix;

    const LEAVES: u32 = 16;

    /// Random rows, in batches of 1,000, with few distinct keys so that ties on the key are
    /// broken by the timestamp; `leaves_of` maps a key's number (below 5,000) to its leaf.
    fn input(rows: usize, leaves_of: impl Fn(u32) -> u32) -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("timestamp", DataType::Int64, false),
            Field::new("__leaf", DataType::UInt32, false),
        ]));
        let mut rng = StdRng::seed_from_u64(3);
        (0..rows.div_ceil(1000))
            .map(|_| {
                let keys: Vec<String> = (0..1000).map(|_| format!("k{:05}", rng.next_u32() % 5000)).collect();
                let times: Vec<i64> = (0..1000).map(|_| rng.next_u64() as i64).collect();
                let leaves: Vec<u32> = keys.iter().map(|k| leaves_of(k[1..].parse::<u32>().unwrap())).collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(keys)), Arc::new(Int64Array::from(times)), Arc::new(UInt32Array::from(leaves))],
                )
                .unwrap()
            })
            .collect()
    }

    /// What a sort did besides its output rows.
    struct SortReport {
        spills: usize,
        in_memory_sorts: usize,
        leaf_windows: usize,
        merges: usize,
        output_rows: usize,
        /// Bytes still reserved in the pool once the output stream has ended.
        reserved_after: usize,
    }

    /// Runs the sort over `batches` with a memory pool of `pool_bytes`; returns its rows as
    /// (leaf, key, timestamp) and what its metrics and the pool say.
    async fn sort(batches: Vec<RecordBatch>, pool_bytes: usize, compression: SpillCompression) -> (Vec<(u32, String, i64)>, SortReport) {
        let schema = batches[0].schema();
        let source = MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap();
        let exec = LeafSortExec::try_new(source, "__leaf", vec!["key".into(), "timestamp".into()], LEAVES).unwrap();
        let pool = Arc::new(GreedyMemoryPool::new(pool_bytes));
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool.clone()).build_arc().unwrap();
        let mut config = SessionConfig::new().with_batch_size(700);
        config.options_mut().execution.spill_compression = compression;
        let context = SessionContext::new_with_config_rt(config, runtime);
        let output: Vec<RecordBatch> = exec.execute(0, context.task_ctx()).unwrap().try_collect().await.unwrap();
        let reserved_after = datafusion::execution::memory_pool::MemoryPool::reserved(pool.as_ref());
        let mut rows = Vec::new();
        for batch in &output {
            let keys = batch.column(0).as_string::<i32>();
            let times = batch.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            let leaves = batch.column(2).as_primitive::<UInt32Type>();
            for i in 0..batch.num_rows() {
                rows.push((leaves.value(i), keys.value(i).to_string(), times.value(i)));
            }
        }
        let metrics = exec.metrics().unwrap();
        let count = |name: &str| metrics.sum_by_name(name).map_or(0, |v| v.as_usize());
        let report = SortReport {
            spills: metrics.spill_count().unwrap_or(0),
            in_memory_sorts: count("in_memory_sorts"),
            leaf_windows: count("leaf_windows"),
            merges: count("merges"),
            output_rows: metrics.output_rows().unwrap_or(0),
            reserved_after,
        };
        (rows, report)
    }

    /// Key numbers spread evenly over the leaves.
    fn spread(key: u32) -> u32 {
        key * LEAVES / 5000
    }

    async fn check(pool_bytes: usize, compression: SpillCompression, leaves_of: impl Fn(u32) -> u32) -> SortReport {
        let batches = input(50_000, leaves_of);
        let mut expected: Vec<(u32, String, i64)> = Vec::new();
        for batch in &batches {
            for i in 0..batch.num_rows() {
                expected.push((
                    batch.column(2).as_primitive::<UInt32Type>().value(i),
                    batch.column(0).as_string::<i32>().value(i).to_string(),
                    batch.column(1).as_primitive::<arrow::datatypes::Int64Type>().value(i),
                ));
            }
        }
        expected.sort();
        let (rows, report) = sort(batches, pool_bytes, compression).await;
        assert_eq!(rows, expected, "rows out are the rows in, in (leaf, key, timestamp) order");
        assert_eq!(report.output_rows, expected.len(), "the output rows are counted");
        assert_eq!(report.reserved_after, 0, "the sort gave back all the memory it reserved");
        report
    }

    #[tokio::test]
    async fn sorts_by_leaf_then_keys_in_memory() {
        let report = check(256 << 20, SpillCompression::Uncompressed, spread).await;
        assert_eq!((report.spills, report.in_memory_sorts, report.leaf_windows), (0, 1, 0));
    }

    #[tokio::test]
    async fn sorts_by_leaf_then_keys_through_runs_read_back_a_window_of_leaves_at_a_time() {
        for compression in [SpillCompression::Uncompressed, SpillCompression::Lz4Frame] {
            let report = check(400 << 10, compression, spread).await;
            assert!(report.spills > 1, "a 400 KiB pool should force several spilled runs ({compression:?})");
            assert!(report.leaf_windows > 1 && (report.leaf_windows as u32) < LEAVES, "windows of several leaves: {}", report.leaf_windows);
            assert_eq!((report.in_memory_sorts, report.merges), (report.leaf_windows, 0), "every window fits in memory");
        }
    }

    #[tokio::test]
    async fn a_leaf_too_big_for_memory_is_sorted_through_a_merge() {
        // Nine keys in ten go to leaf 7: its window alone is most of the rows.
        let report = check(400 << 10, SpillCompression::Lz4Frame, |key| if key % 10 == 0 { spread(key) } else { 7 }).await;
        assert!(report.merges >= 1, "the big leaf's window is merged from sorted runs");
        assert!(report.leaf_windows >= 2, "the other leaves still go in windows: {}", report.leaf_windows);
        assert_eq!(report.in_memory_sorts + report.merges, report.leaf_windows);
    }

    #[test]
    fn the_leaf_column_repeats_each_leaf_over_its_run_and_skips_empty_leaves() {
        // Leaves 0, 2 and 5 are empty; leaf 1 holds rows 0..3, leaf 3 rows 3..4, leaf 4 rows 4..7.
        let rows = SortedRows { batches: vec![], entries: vec![], leaf_starts: vec![0, 0, 3, 3, 4, 7, 7] };
        let leaves = |start, end| rows.leaves(start, end).values().to_vec();
        assert_eq!(leaves(0, 7), [1, 1, 1, 3, 4, 4, 4]);
        assert_eq!(leaves(2, 5), [1, 3, 4]);
        assert_eq!(leaves(3, 4), [3]);
        assert_eq!(leaves(6, 7), [4]);
        assert_eq!(leaves(5, 5), [] as [u32; 0]);
    }

    #[test]
    fn prefixes_order_as_the_bytes_do() {
        let keys: [&[u8]; 7] = [b"", b"\x00", b"a", b"ab", b"ab\x00\x00\x00\x00\x00\x01", b"abcdefgh", b"abcdefgz"];
        for a in keys {
            for b in keys {
                if byte_prefix(a) != byte_prefix(b) {
                    assert_eq!(byte_prefix(a).cmp(&byte_prefix(b)), a.cmp(b), "{a:?} vs {b:?}");
                }
            }
        }
    }
}
