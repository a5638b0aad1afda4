//! `LabelRowsExec`: appends to every row a `UInt32` label computed from its key columns.
//!
//! Ballista shuffles by hash only, so rows are sent where they belong by first labelling them,
//! with their leaf partition (local sort) or their key range (global sort), and hashing on the
//! label. A [`RowLabeller`] says how a label is computed; this node carries it to every task.
//! Small input batches are gathered into batches of the session's size before they are
//! labelled, so that the shuffle after this node cuts fewer, larger batches ([`gathered`]).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::BatchCoalescer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet, RecordOutput};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;

/// How rows are labelled.
pub trait RowLabeller: fmt::Debug + Send + Sync + 'static {
    /// The node's name in plans.
    const NAME: &'static str;
    /// The columns a label is computed from, in the order [`RowLabeller::label`] takes them.
    fn key_columns(&self) -> Vec<String>;
    /// One label per row of the key columns.
    fn label(&self, keys: &[ArrayRef]) -> Result<UInt32Array>;
    /// What the plan display shows of the labeller.
    fn describe(&self) -> String;
}

#[derive(Debug)]
pub struct LabelRowsExec<L: RowLabeller> {
    input: Arc<dyn ExecutionPlan>,
    labeller: Arc<L>,
    column: String,
    /// Positions of the key columns in the input.
    key_indices: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// Output rows are the rows labelled; compute time is the labelling.
    metrics: ExecutionPlanMetricsSet,
}

impl<L: RowLabeller> LabelRowsExec<L> {
    /// Labels `input`'s rows with `labeller`, in a new last column named `column`.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, labeller: Arc<L>, column: &str) -> Result<Self> {
        let input_schema = input.schema();
        let key_indices =
            labeller.key_columns().iter().map(|name| input_schema.index_of(name).map_err(DataFusionError::from)).collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<Arc<Field>> = input_schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(column, DataType::UInt32, false)));
        let schema = Arc::new(Schema::new_with_metadata(fields, input_schema.metadata().clone()));
        // Rows keep their order and the input's columns their positions: the input's ordering
        // holds for the output too.
        let equivalence = match input.output_ordering() {
            Some(ordering) => EquivalenceProperties::new_with_orderings(schema.clone(), [ordering.clone()]),
            None => EquivalenceProperties::new(schema.clone()),
        };
        let properties =
            Arc::new(PlanProperties::new(equivalence, input.output_partitioning().clone(), EmissionType::Incremental, Boundedness::Bounded));
        let metrics = ExecutionPlanMetricsSet::new();
        Ok(LabelRowsExec { input, labeller, column: column.to_string(), key_indices, schema, properties, metrics })
    }

    pub fn labeller(&self) -> &Arc<L> {
        &self.labeller
    }

    /// The name of the label column.
    pub fn column(&self) -> &str {
        &self.column
    }
}

impl<L: RowLabeller> DisplayAs for LabelRowsExec<L> {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}, column={}", L::NAME, self.labeller.describe(), self.column)
    }
}

impl<L: RowLabeller> ExecutionPlan for LabelRowsExec<L> {
    fn name(&self) -> &str {
        L::NAME
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
        let [input] = <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal(format!("{} has one child", L::NAME)))?;
        Ok(Arc::new(LabelRowsExec::try_new(input, self.labeller.clone(), &self.column)?))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let target = context.session_config().batch_size();
        let input = gathered(self.input.execute(partition, context)?, target);
        let (labeller, key_indices, schema) = (self.labeller.clone(), self.key_indices.clone(), self.schema.clone());
        let out_schema = schema.clone();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let stream = input.map(move |batch| {
            let batch = batch?;
            let timer = baseline.elapsed_compute().timer();
            let keys: Vec<ArrayRef> = key_indices.iter().map(|&i| batch.column(i).clone()).collect();
            let labels = labeller.label(&keys)?;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(labels));
            let labelled = RecordBatch::try_new(out_schema.clone(), columns)?;
            timer.done();
            Ok(labelled.record_output(&baseline))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The input's batches, small ones gathered into batches of `target` rows; a batch of
/// `target / 2` rows or more passes as it is, after the rows held before it. A scan of
/// thousands of small files yields a batch per file (1,000 rows, say), and the shuffle that
/// follows cuts every batch into a piece per output partition.
fn gathered(input: SendableRecordBatchStream, target: usize) -> futures::stream::BoxStream<'static, Result<RecordBatch>> {
    struct State {
        input: SendableRecordBatchStream,
        small: BatchCoalescer,
        /// A large batch, out once the small rows held before it are.
        large: Option<RecordBatch>,
        ended: bool,
    }
    let small = BatchCoalescer::new(input.schema(), target.max(1));
    futures::stream::unfold(State { input, small, large: None, ended: false }, move |mut state| async move {
        loop {
            if let Some(batch) = state.small.next_completed_batch().or_else(|| state.large.take()) {
                return Some((Ok(batch), state));
            }
            if state.ended {
                return None;
            }
            let held = match state.input.next().await {
                Some(Ok(batch)) if batch.num_rows() >= target / 2 => {
                    state.large = Some(batch);
                    state.small.finish_buffered_batch()
                }
                Some(Ok(batch)) => state.small.push_batch(batch),
                Some(Err(e)) => {
                    state.ended = true;
                    return Some((Err(e), state));
                }
                None => {
                    state.ended = true;
                    state.small.finish_buffered_batch()
                }
            };
            if let Err(e) = held {
                state.ended = true;
                return Some((Err(e.into()), state));
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;

    use super::*;

    #[tokio::test]
    async fn small_batches_are_gathered_and_large_ones_pass_whole() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let mut next = 0;
        let batches: Vec<Result<RecordBatch>> = [3, 3, 3, 20, 2, 1]
            .into_iter()
            .map(|rows| {
                let values: Vec<i64> = (next..next + rows).collect();
                next += rows;
                Ok(RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))])?)
            })
            .collect();
        let input = Box::pin(RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(batches)));
        let out: Vec<RecordBatch> = gathered(input, 8).try_collect().await.unwrap();
        // 3 + 3 + 3 fill a batch of 8; the 20 rows pass whole, after the one row held; the rest
        // comes at the end.
        assert_eq!(out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![8, 1, 20, 3]);
        let values: Vec<i64> = out.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        assert_eq!(values, (0..32).collect::<Vec<_>>(), "every row once, in order");
    }

    #[tokio::test]
    async fn an_error_ends_the_stream_with_it() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let one = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let items = vec![Ok(one), Err(DataFusionError::Execution("the scan failed".into()))];
        let input = Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter(items)));
        let out: Vec<Result<RecordBatch>> = gathered(input, 8).collect().await;
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].as_ref().is_err_and(|e| e.to_string().contains("the scan failed")));
    }
}
