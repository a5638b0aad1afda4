//! Global sort, Sleeper's `BulkImportJobDataframeDriver`, as one physical plan:
//!
//! ```text
//! PartitionFileWriterExec              a new file whenever the leaf changes: one per
//!                                      (range, leaf) the task holds
//!   LeafSortExec                       group rows by leaf, sort by (row keys, sort keys)
//!     ProjectionExec                   drops the range column
//!       RepartitionExec Hash(range)    Ballista's shuffle: range i to task i
//!         KeyRangeExec                 appends each row's key range, cut at sampled keys
//!           LeafPartitionExec          appends each row's leaf, routed in Sleeper's Java order
//!             DataSourceExec           Parquet scan, input split by byte ranges across tasks
//! ```
//!
//! The driver first samples the input's sort columns and cuts the key space into as many ranges
//! as there are write tasks. A big leaf is then written by several tasks, one file each, so the
//! largest leaf no longer bounds the job; a range that spans several leaves writes a file per
//! leaf. There are more files than leaves.

use std::sync::Arc;

use bulk_import_core::plan::key_range::{cuts_from_sample, hash_labels};
use bulk_import_core::plan::{KeyRangeExec, KeyRanges};
use datafusion::common::Result;
use datafusion::physical_expr::expressions::{Column, col};
use datafusion::physical_expr::{Partitioning, PhysicalExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;

use super::PlanInput;
use super::key_sample::{MIN_SAMPLE_ROWS, ROWS_PER_RANGE, sample_keys};
use super::pipeline::{LEAF_COLUMN, check_reserved, scan_and_route, sort_and_write};

/// The column holding each row's key range label between routing and the shuffle.
pub const RANGE_COLUMN: &str = "__sleeper_range";

pub async fn plan(input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
    check_reserved(input.table, &[LEAF_COLUMN, RANGE_COLUMN])?;
    let ranges = input.shuffle_partitions.max(1);
    let sort_columns = input.table.schema().row_and_sort_keys();
    let sample = sample_keys(input.files, input.table, &sort_columns, (ranges * ROWS_PER_RANGE).max(MIN_SAMPLE_ROWS)).await?;
    let cuts = cuts_from_sample(&sample, ranges)?;
    let mut labels = hash_labels(ranges)?;
    labels.truncate(cuts.num_rows() + 1);
    tracing::debug!("global sort: {} rows sampled, {} ranges over {ranges} tasks", sample.num_rows(), labels.len());

    let routed = scan_and_route(input)?;
    let ranged: Arc<dyn ExecutionPlan> = Arc::new(KeyRangeExec::try_new(routed, KeyRanges::try_new(cuts, labels)?, RANGE_COLUMN)?);
    let hash = Partitioning::Hash(vec![col(RANGE_COLUMN, &ranged.schema())?], ranges);
    let shuffled: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(ranged, hash)?);
    let shuffled_schema = shuffled.schema();
    let kept: Vec<(Arc<dyn PhysicalExpr>, String)> = shuffled_schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| field.name() != RANGE_COLUMN)
        .map(|(i, field)| (Arc::new(Column::new(field.name(), i)) as Arc<dyn PhysicalExpr>, field.name().clone()))
        .collect();
    let projected: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(kept, shuffled)?);
    sort_and_write(projected, input)
}
