//! `LeafPartitionExec`: labels every row with the index of the leaf partition Sleeper would route
//! it to, so that a hash repartition on that column sends each leaf's rows to one task.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use datafusion::common::{DataFusionError, Result};

use crate::partition::PartitionTree;
use crate::plan::label_rows::{LabelRowsExec, RowLabeller};
use crate::router::Router;

pub type LeafPartitionExec = LabelRowsExec<LeafLabels>;

/// Rows labelled with their leaf index, routed in Sleeper's Java order.
#[derive(Debug)]
pub struct LeafLabels {
    router: Router,
}

impl LeafLabels {
    pub fn new(tree: Arc<PartitionTree>) -> Arc<Self> {
        Arc::new(LeafLabels { router: Router::new(tree) })
    }

    pub fn tree(&self) -> &Arc<PartitionTree> {
        self.router.tree()
    }
}

impl RowLabeller for LeafLabels {
    const NAME: &'static str = "LeafPartitionExec";

    fn key_columns(&self) -> Vec<String> {
        self.tree().row_keys().iter().map(|k| k.name.clone()).collect()
    }

    fn label(&self, keys: &[ArrayRef]) -> Result<UInt32Array> {
        self.router.leaf_indices(keys).map_err(|e| DataFusionError::Execution(e.to_string()))
    }

    fn describe(&self) -> String {
        format!("leaves={}", self.tree().leaf_count())
    }
}
