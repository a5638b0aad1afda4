//! Spilling by leaf: what [`super::leaf_sort::LeafSortExec`] does when a task's rows outgrow its
//! memory.
//!
//! A task's rows go to its leaves, and one leaf is a small part of them. So when the pool refuses
//! more input, the rows held are written out in leaf order only (a counting sort, no key
//! comparison) as a *leaf run*. Once the input ends, the task's leaves are cut into *windows* of
//! consecutive leaves whose rows fit in the memory the task held when it spilled; each window's
//! rows are read back from every run and sorted in memory like a task that never spilled.
//!
//! Each row is thus written once, read once and sorted once, and never merged: a merge of sorted
//! runs compares and copies every row again (DataFusion's loser tree and its row encoding were a
//! tenth of a spilling import's CPU). A window whose rows still do not fit, such as one leaf
//! holding most of the task's rows, falls back to sorted runs and DataFusion's merge.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt32Type;
use datafusion::common::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::sorts::streaming_merge::SortedSpillFile;
use futures::{Stream, StreamExt};

/// A spilled run, its rows in leaf order (and by keys within each leaf when it is to be merged),
/// and how many rows of each leaf it holds.
pub(crate) struct SpilledRun {
    pub file: SortedSpillFile,
    pub rows_per_leaf: Vec<usize>,
}

/// How the spilled rows are read back: leaf windows, each cut where the rows before it fit
/// `budget` bytes at `bytes_per_row`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WindowBudget {
    /// The most memory the task held when the pool refused it more.
    pub budget: usize,
    /// Memory per row held, the largest seen at a spill.
    pub bytes_per_row: f64,
}

impl WindowBudget {
    pub fn observe(&mut self, reserved: usize, rows: usize) {
        self.budget = self.budget.max(reserved);
        if rows > 0 {
            self.bytes_per_row = self.bytes_per_row.max(reserved as f64 / rows as f64);
        }
    }

    /// The end (exclusive) of each window over leaves `0..rows_per_leaf.len()`, in order: the
    /// longest runs of consecutive leaves whose rows fit the budget, and at least one leaf each.
    /// The last window ends at the last leaf.
    pub fn windows(&self, rows_per_leaf: &[usize]) -> Vec<u32> {
        let mut ends = Vec::new();
        let mut held = 0.0;
        for (leaf, &rows) in rows_per_leaf.iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let bytes = rows as f64 * self.bytes_per_row;
            if held > 0.0 && held + bytes > self.budget as f64 {
                ends.push(leaf as u32);
                held = 0.0;
            }
            held += bytes;
        }
        ends.push(rows_per_leaf.len() as u32);
        ends
    }
}

/// Rows per leaf over all runs.
pub(crate) fn total_rows_per_leaf(runs: &[SpilledRun], leaf_count: usize) -> Vec<usize> {
    let mut total = vec![0; leaf_count];
    for run in runs {
        for (sum, rows) in total.iter_mut().zip(&run.rows_per_leaf) {
            *sum += rows;
        }
    }
    total
}

/// A spilled run read back in leaf order, window by window.
pub(crate) struct RunCursor {
    stream: SendableRecordBatchStream,
    leaf_index: usize,
    /// Rows read but past the window being read: the start of the next.
    pending: Option<RecordBatch>,
}

impl RunCursor {
    pub fn new(stream: SendableRecordBatchStream, leaf_index: usize) -> Self {
        RunCursor { stream, leaf_index, pending: None }
    }

    /// The run's next rows if their leaf is below `end`; `None` once the run reaches `end`.
    pub async fn next_before(&mut self, end: u32) -> Result<Option<RecordBatch>> {
        loop {
            let batch = match self.pending.take() {
                Some(batch) => batch,
                None => match self.stream.next().await {
                    Some(batch) => batch?,
                    None => return Ok(None),
                },
            };
            let split = batch.column(self.leaf_index).as_primitive::<UInt32Type>().values().partition_point(|&leaf| leaf < end);
            if split < batch.num_rows() {
                self.pending = Some(batch.slice(split, batch.num_rows() - split));
            }
            if split > 0 {
                return Ok(Some(batch.slice(0, split)));
            }
            if self.pending.is_some() {
                return Ok(None);
            }
        }
    }
}

/// The rows of every run whose leaf is below `end`, run after run: one window's input.
pub(crate) fn window(cursors: &mut [RunCursor], end: u32) -> impl Stream<Item = Result<RecordBatch>> + '_ {
    futures::stream::try_unfold((cursors, 0), move |(cursors, mut run)| async move {
        while run < cursors.len() {
            if let Some(batch) = cursors[run].next_before(end).await? {
                return Ok(Some((batch, (cursors, run))));
            }
            run += 1;
        }
        Ok(None)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;

    use super::*;

    #[test]
    fn windows_hold_consecutive_leaves_that_fit_and_at_least_one_leaf() {
        let budget = WindowBudget { budget: 100, bytes_per_row: 10.0 };
        // 10 rows fill a window; leaf 2 alone is over budget and gets a window of its own.
        assert_eq!(budget.windows(&[4, 5, 30, 0, 3, 3, 3, 1]), vec![2, 4, 8]);
        assert_eq!(budget.windows(&[1, 1, 1]), vec![3]);
        assert_eq!(budget.windows(&[]), vec![0]);
        assert_eq!(budget.windows(&[0, 0, 12]), vec![3], "empty leaves never end a window");
    }

    #[test]
    fn the_budget_is_the_largest_hold_and_the_densest_rows() {
        let mut budget = WindowBudget::default();
        budget.observe(1000, 100);
        budget.observe(800, 40);
        budget.observe(0, 0);
        assert_eq!(budget.budget, 1000);
        assert!((budget.bytes_per_row - 20.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn windows_hand_out_each_row_once_in_leaf_order_cutting_batches() {
        let schema = Arc::new(Schema::new(vec![Field::new("leaf", DataType::UInt32, false), Field::new("v", DataType::Int64, false)]));
        let batch = |leaves: Vec<u32>| {
            let values: Vec<i64> = leaves.iter().map(|&l| i64::from(l) * 10).collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(UInt32Array::from(leaves)), Arc::new(Int64Array::from(values))]).unwrap()
        };
        let run = |batches: Vec<RecordBatch>| {
            let stream = futures::stream::iter(batches.into_iter().map(Ok));
            RunCursor::new(Box::pin(RecordBatchStreamAdapter::new(schema.clone(), stream)), 0)
        };
        let mut cursors = vec![
            run(vec![batch(vec![0, 0, 1, 3]), batch(vec![]), batch(vec![3, 3, 5]), batch(vec![6])]),
            run(vec![batch(vec![2, 3]), batch(vec![8])]),
        ];
        let mut taken = Vec::new();
        for end in [1, 2, 4, 5, 7, 9, 10] {
            let out: Vec<RecordBatch> = window(&mut cursors, end).try_collect().await.unwrap();
            let leaves: Vec<u32> = out.iter().flat_map(|b| b.column(0).as_primitive::<UInt32Type>().values().to_vec()).collect();
            let values: Vec<i64> = out.iter().flat_map(|b| b.column(1).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()).collect();
            assert_eq!(values, leaves.iter().map(|&l| i64::from(l) * 10).collect::<Vec<_>>(), "rows stay whole");
            taken.push(leaves);
        }
        assert_eq!(taken, vec![vec![0, 0], vec![1], vec![3, 3, 3, 2, 3], vec![], vec![5, 6], vec![8], vec![]]);
    }
}
