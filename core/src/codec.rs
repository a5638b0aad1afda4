//! The project's physical extension codec, installed on the driver, the scheduler and every
//! executor. It encodes our plan nodes and delegates everything else to Ballista's codec, which
//! does not delegate to anyone itself.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use bulk_import_proto::plan as pb;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use crate::plan::file_writer::{FileWriterConfig, PartitionFileWriterExec};
use crate::plan::key_range::{KeyRangeExec, KeyRanges};
use crate::plan::leaf_partition::{LeafLabels, LeafPartitionExec};
use crate::plan::leaf_sort::LeafSortExec;
use crate::plan::proto_convert::{batch_from_ipc, batch_to_ipc, parquet_from_proto, parquet_to_proto, tree_from_proto, tree_to_proto};

#[derive(Debug, Default)]
pub struct BulkImportCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl BulkImportCodec {
    pub fn new() -> Self {
        Self::default()
    }
}

fn one_input(inputs: &[Arc<dyn ExecutionPlan>], node: &str) -> Result<Arc<dyn ExecutionPlan>> {
    match inputs {
        [input] => Ok(input.clone()),
        _ => Err(DataFusionError::Internal(format!("{node} needs exactly one input, got {}", inputs.len()))),
    }
}

impl PhysicalExtensionCodec for BulkImportCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let envelope = pb::CodecEnvelope::decode(buf).map_err(|e| DataFusionError::Internal(format!("bad plan node: {e}")))?;
        match envelope.node {
            Some(pb::codec_envelope::Node::Ballista(bytes)) => self.ballista.try_decode(&bytes, inputs, ctx, proto_converter),
            Some(pb::codec_envelope::Node::LeafPartition(node)) => {
                let tree = tree_from_proto(node.tree.as_ref().ok_or_else(|| DataFusionError::Internal("no tree".into()))?)?;
                Ok(Arc::new(LeafPartitionExec::try_new(one_input(inputs, "LeafPartitionExec")?, LeafLabels::new(Arc::new(tree)), &node.leaf_column)?))
            }
            Some(pb::codec_envelope::Node::FileWriter(node)) => {
                let config = FileWriterConfig {
                    table_id: node.table_id,
                    data_root_url: node.data_root_url,
                    leaf_partition_ids: node.leaf_partition_ids,
                    leaf_column: node.leaf_column,
                    row_key_count: node.row_key_count as usize,
                    sort_key_count: node.sort_key_count as usize,
                    parquet: parquet_from_proto(
                        node.parquet.as_ref().ok_or_else(|| DataFusionError::Internal("FileWriterNode has no parquet settings".into()))?,
                    )?,
                    attempt_dir_url: node.attempt_dir_url,
                    fail_after_files: node.fail_after_files,
                    write_sketches: node.write_sketches,
                };
                Ok(Arc::new(PartitionFileWriterExec::new(one_input(inputs, "PartitionFileWriterExec")?, config)))
            }
            Some(pb::codec_envelope::Node::LeafSort(node)) => {
                Ok(Arc::new(LeafSortExec::try_new(one_input(inputs, "LeafSortExec")?, &node.leaf_column, node.sort_columns, node.leaf_count)?))
            }
            Some(pb::codec_envelope::Node::KeyRange(node)) => Ok(Arc::new(KeyRangeExec::try_new(
                one_input(inputs, "KeyRangeExec")?,
                KeyRanges::try_new(batch_from_ipc(&node.cuts_ipc)?, node.labels)?,
                &node.range_column,
            )?)),
            None => Err(DataFusionError::Internal("empty plan node envelope".into())),
        }
    }

    fn try_encode(&self, node: Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>, proto_converter: &dyn PhysicalProtoConverterExtension) -> Result<()> {
        let node = if let Some(exec) = node.downcast_ref::<LeafPartitionExec>() {
            pb::codec_envelope::Node::LeafPartition(pb::LeafPartitionNode {
                tree: Some(tree_to_proto(exec.labeller().tree())),
                leaf_column: exec.column().to_string(),
            })
        } else if let Some(exec) = node.downcast_ref::<LeafSortExec>() {
            pb::codec_envelope::Node::LeafSort(pb::LeafSortNode {
                leaf_column: exec.leaf_column().to_string(),
                sort_columns: exec.sort_columns().to_vec(),
                leaf_count: exec.leaf_count(),
            })
        } else if let Some(exec) = node.downcast_ref::<KeyRangeExec>() {
            pb::codec_envelope::Node::KeyRange(pb::KeyRangeNode {
                cuts_ipc: batch_to_ipc(exec.labeller().cuts())?,
                labels: exec.labeller().labels().to_vec(),
                range_column: exec.column().to_string(),
            })
        } else if let Some(exec) = node.downcast_ref::<PartitionFileWriterExec>() {
            let c = exec.config();
            pb::codec_envelope::Node::FileWriter(pb::PartitionFileWriterNode {
                table_id: c.table_id.clone(),
                data_root_url: c.data_root_url.clone(),
                leaf_partition_ids: c.leaf_partition_ids.clone(),
                leaf_column: c.leaf_column.clone(),
                row_key_count: c.row_key_count as u32,
                sort_key_count: c.sort_key_count as u32,
                parquet: Some(parquet_to_proto(&c.parquet)),
                attempt_dir_url: c.attempt_dir_url.clone(),
                fail_after_files: c.fail_after_files,
                write_sketches: c.write_sketches,
            })
        } else {
            let mut inner = Vec::new();
            self.ballista.try_encode(node, &mut inner, proto_converter)?;
            pb::codec_envelope::Node::Ballista(inner)
        };
        pb::CodecEnvelope { node: Some(node) }.encode(buf).map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}
