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

use crate::partition::PartitionTree;
use crate::plan::file_writer::{FileWriterConfig, PartitionFileWriterExec};
use crate::plan::key_range::{KeyRangeExec, KeyRanges};
use crate::plan::leaf_partition::{LeafLabels, LeafPartitionExec};
use crate::plan::leaf_sort::LeafSortExec;
use crate::plan::proto_convert::{batch_from_ipc, batch_to_ipc};
use crate::properties::ParquetSettings;

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
                let tree =
                    PartitionTree::try_from(node.tree.as_ref().ok_or_else(|| DataFusionError::Internal("LeafPartitionNode has no tree".into()))?)?;
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
                    parquet: ParquetSettings::try_from(
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
                tree: Some(exec.labeller().tree().as_ref().into()),
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
                parquet: Some((&c.parquet).into()),
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

#[cfg(test)]
mod tests {
    //! Every plan node through the codec and back, inside a whole plan serialised as Ballista
    //! sends it (as DataFusion's own `roundtrip_physical_plan` tests do).

    use arrow::array::{RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec};

    use super::*;
    use crate::key::{KeyType, KeyValue};
    use crate::properties::{Codec, ParquetVersion};
    use crate::schema::KeyField;

    fn round_trip(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let codec = BulkImportCodec::new();
        let bytes = physical_plan_to_bytes_with_extension_codec(plan.clone(), &codec).unwrap();
        let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &SessionContext::new().task_ctx(), &codec).unwrap();
        assert_eq!(displayable(decoded.as_ref()).indent(true).to_string(), displayable(plan.as_ref()).indent(true).to_string());
        decoded
    }

    /// The nodes of an import plan, from the scan (an empty one here) to the writer.
    fn import_plan() -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false), Field::new("timestamp", DataType::Int64, false)]));
        let keys = vec![KeyField { name: "key".into(), key_type: KeyType::String }];
        let tree = PartitionTree::from_split_points(&keys, &[KeyValue::String("m".into()), KeyValue::String("t".into())]).unwrap();
        let leaf_ids = tree.leaves().map(|l| l.id.clone()).collect();
        let scan = Arc::new(EmptyExec::new(schema));
        let leaves = Arc::new(LeafPartitionExec::try_new(scan, LeafLabels::new(Arc::new(tree)), "__leaf").unwrap());
        let cuts = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec!["f", "q"]))],
        )
        .unwrap();
        let ranges = Arc::new(KeyRangeExec::try_new(leaves, KeyRanges::try_new(cuts, vec![0, 7, 3]).unwrap(), "__range").unwrap());
        let sort = Arc::new(LeafSortExec::try_new(ranges, "__leaf", vec!["key".into(), "timestamp".into()], 3).unwrap());
        let parquet = ParquetSettings { compression: Codec::Snappy, writer_version: ParquetVersion::V1, ..ParquetSettings::default() };
        let config = FileWriterConfig {
            table_id: "t1".into(),
            data_root_url: "s3://bucket/root".into(),
            leaf_partition_ids: leaf_ids,
            leaf_column: "__leaf".into(),
            row_key_count: 1,
            sort_key_count: 1,
            parquet,
            attempt_dir_url: "s3://bucket/root/t1/bulk_import/job/run".into(),
            fail_after_files: Some(2),
            write_sketches: false,
        };
        Arc::new(PartitionFileWriterExec::new(sort, config))
    }

    #[test]
    fn every_node_comes_back_as_it_was_sent() {
        let plan = import_plan();
        let decoded = round_trip(&plan);
        let writer = |p: &Arc<dyn ExecutionPlan>| p.downcast_ref::<PartitionFileWriterExec>().unwrap().config().clone();
        assert_eq!(writer(&decoded), writer(&plan), "the writer's whole configuration");
        let sort = decoded.children()[0];
        let sort = sort.downcast_ref::<LeafSortExec>().unwrap();
        assert_eq!((sort.leaf_column(), sort.sort_columns(), sort.leaf_count()), ("__leaf", &["key".to_string(), "timestamp".to_string()][..], 3));
        let ranges = sort.children()[0].downcast_ref::<KeyRangeExec>().unwrap();
        assert_eq!(ranges.labeller().labels(), [0, 7, 3]);
        assert_eq!(ranges.labeller().cuts().column(0).as_ref(), &StringArray::from(vec!["f", "q"]) as &dyn arrow::array::Array);
        let leaves = ranges.children()[0].downcast_ref::<LeafPartitionExec>().unwrap();
        let original = plan.children()[0].children()[0].children()[0].downcast_ref::<LeafPartitionExec>().unwrap();
        assert_eq!(leaves.labeller().tree().partitions(), original.labeller().tree().partitions());
    }

    #[test]
    fn a_writer_without_parquet_settings_is_refused() {
        let node = pb::CodecEnvelope {
            node: Some(pb::codec_envelope::Node::FileWriter(pb::PartitionFileWriterNode { table_id: "t".into(), ..Default::default() })),
        };
        let input: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(Arc::new(Schema::empty())));
        let error = BulkImportCodec::new()
            .try_decode(
                &node.encode_to_vec(),
                &[input],
                &SessionContext::new().task_ctx(),
                &datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {},
            )
            .unwrap_err();
        assert!(error.to_string().contains("no parquet settings"), "{error}");
    }
}
