//! `LabelRowsExec`: appends to every row a `UInt32` label computed from its key columns.
//!
//! Ballista shuffles by hash only, so rows are sent where they belong by first labelling them,
//! with their leaf partition (local sort) or their key range (global sort), and hashing on the
//! label. A [`RowLabeller`] says how a label is computed; this node carries it to every task.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
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
        let input = self.input.execute(partition, context)?;
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
