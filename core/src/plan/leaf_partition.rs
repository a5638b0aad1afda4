//! `LeafPartitionExec`: appends to every row the index of the leaf partition Sleeper would route
//! it to, so that a hash repartition on that column sends each leaf's rows to one task (Ballista
//! shuffles by hash only).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties};
use futures::StreamExt;

use crate::partition::PartitionTree;
use crate::router::Router;

#[derive(Debug)]
pub struct LeafPartitionExec {
    input: Arc<dyn ExecutionPlan>,
    router: Arc<Router>,
    leaf_column: String,
    /// Positions of the row-key columns in the input.
    key_indices: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl LeafPartitionExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, tree: Arc<PartitionTree>, leaf_column: &str) -> Result<Self> {
        let input_schema = input.schema();
        let key_indices = tree
            .row_keys()
            .iter()
            .map(|k| input_schema.index_of(&k.name).map_err(DataFusionError::from))
            .collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<Arc<Field>> = input_schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(leaf_column, DataType::UInt32, false)));
        let schema = Arc::new(Schema::new_with_metadata(fields, input_schema.metadata().clone()));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            input.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(LeafPartitionExec { input, router: Arc::new(Router::new(tree)), leaf_column: leaf_column.to_string(), key_indices, schema, properties })
    }

    pub fn tree(&self) -> &Arc<PartitionTree> {
        self.router.tree()
    }

    pub fn leaf_column(&self) -> &str {
        &self.leaf_column
    }
}

impl DisplayAs for LeafPartitionExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LeafPartitionExec: leaves={}, column={}", self.router.tree().leaf_count(), self.leaf_column)
    }
}

impl ExecutionPlan for LeafPartitionExec {
    fn name(&self) -> &str {
        "LeafPartitionExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal("LeafPartitionExec has one child".into()))?;
        Ok(Arc::new(LeafPartitionExec::try_new(input, self.router.tree().clone(), &self.leaf_column)?))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (router, key_indices, schema) = (self.router.clone(), self.key_indices.clone(), self.schema.clone());
        let out_schema = schema.clone();
        let stream = input.map(move |batch| {
            let batch = batch?;
            let keys: Vec<ArrayRef> = key_indices.iter().map(|&i| batch.column(i).clone()).collect();
            let leaves = router.leaf_indices(&keys).map_err(|e| DataFusionError::Execution(e.to_string()))?;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(leaves));
            Ok(RecordBatch::try_new(out_schema.clone(), columns)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
