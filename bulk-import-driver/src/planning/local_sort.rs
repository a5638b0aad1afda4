//! Local sort, Sleeper's `BulkImportDataframeLocalSortDriver`, as one physical plan:
//!
//! ```text
//! PartitionFileWriterExec            one file per leaf: a new file whenever the leaf changes
//!   LeafSortExec                     per partition: group rows by leaf, sort each leaf's rows
//!                                    by (row keys, sort keys), read in their columns
//!     RepartitionExec Hash(leaf)     Ballista's shuffle: every leaf's rows meet in one task
//!       LeafPartitionExec            appends each row's leaf, routed in Sleeper's Java order
//!         DataSourceExec             Parquet scan, input split by byte ranges across tasks
//! ```

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::physical_expr::Partitioning;
use datafusion::physical_expr::expressions::col;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::repartition::RepartitionExec;

use super::PlanInput;
use super::pipeline::{LEAF_COLUMN, check_reserved, scan_and_route, sort_and_write};

pub fn plan(input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
    check_reserved(input.table, &[LEAF_COLUMN])?;
    let routed = scan_and_route(input)?;
    let hash = Partitioning::Hash(vec![col(LEAF_COLUMN, &routed.schema())?], input.shuffle_partitions.max(1));
    let shuffled: Arc<dyn ExecutionPlan> = Arc::new(RepartitionExec::try_new(routed, hash)?);
    sort_and_write(shuffled, input)
}
