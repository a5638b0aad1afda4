//! Conversions between the domain types carried by plan nodes and their protobuf messages.

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use bulk_import_proto::plan as pb;
use datafusion::common::{DataFusionError, Result};

use crate::key::{KeyType, KeyValue};
use crate::partition::{KeyRange, Partition, PartitionTree, Region};
use crate::properties::ParquetSettings;
use crate::schema::KeyField;

fn missing(what: &str) -> DataFusionError {
    DataFusionError::Internal(format!("plan node message without {what}"))
}

fn key_type_to_proto(t: KeyType) -> pb::KeyType {
    match t {
        KeyType::Int => pb::KeyType::Int,
        KeyType::Long => pb::KeyType::Long,
        KeyType::String => pb::KeyType::String,
        KeyType::ByteArray => pb::KeyType::ByteArray,
    }
}

fn key_type_from_proto(t: i32) -> Result<KeyType> {
    match pb::KeyType::try_from(t) {
        Ok(pb::KeyType::Int) => Ok(KeyType::Int),
        Ok(pb::KeyType::Long) => Ok(KeyType::Long),
        Ok(pb::KeyType::String) => Ok(KeyType::String),
        Ok(pb::KeyType::ByteArray) => Ok(KeyType::ByteArray),
        _ => Err(missing("a key type")),
    }
}

fn key_to_proto(v: &KeyValue) -> pb::KeyValue {
    use pb::key_value::Value;
    let value = match v {
        KeyValue::Int(v) => Value::IntValue(*v),
        KeyValue::Long(v) => Value::LongValue(*v),
        KeyValue::String(v) => Value::StringValue(v.clone()),
        KeyValue::Bytes(v) => Value::BytesValue(v.clone()),
    };
    pb::KeyValue { value: Some(value) }
}

fn key_from_proto(v: &pb::KeyValue) -> Result<KeyValue> {
    use pb::key_value::Value;
    Ok(match v.value.as_ref().ok_or_else(|| missing("a key value"))? {
        Value::IntValue(v) => KeyValue::Int(*v),
        Value::LongValue(v) => KeyValue::Long(*v),
        Value::StringValue(v) => KeyValue::String(v.clone()),
        Value::BytesValue(v) => KeyValue::Bytes(v.clone()),
    })
}

impl From<&PartitionTree> for pb::PartitionTree {
    fn from(tree: &PartitionTree) -> Self {
        pb::PartitionTree {
            row_keys: tree
                .row_keys()
                .iter()
                .map(|k| pb::RowKeyField { name: k.name.clone(), r#type: key_type_to_proto(k.key_type) as i32 })
                .collect(),
            partitions: tree
                .partitions()
                .iter()
                .map(|p| pb::Partition {
                    id: p.id.clone(),
                    is_leaf: p.is_leaf,
                    parent_id: p.parent_id.clone(),
                    child_ids: p.child_ids.clone(),
                    region: p
                        .region
                        .ranges
                        .iter()
                        .map(|r| pb::KeyRange { min: Some(key_to_proto(&r.min)), max: r.max.as_ref().map(key_to_proto) })
                        .collect(),
                    dimension: p.dimension,
                })
                .collect(),
        }
    }
}

impl TryFrom<&pb::PartitionTree> for PartitionTree {
    type Error = DataFusionError;

    fn try_from(message: &pb::PartitionTree) -> Result<Self> {
        let row_keys = message
            .row_keys
            .iter()
            .map(|k| Ok(KeyField { name: k.name.clone(), key_type: key_type_from_proto(k.r#type)? }))
            .collect::<Result<Vec<_>>>()?;
        let partitions = message
            .partitions
            .iter()
            .map(|p| {
                let ranges = p
                    .region
                    .iter()
                    .map(|r| {
                        Ok(KeyRange {
                            min: key_from_proto(r.min.as_ref().ok_or_else(|| missing("a range minimum"))?)?,
                            max: r.max.as_ref().map(key_from_proto).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Partition {
                    id: p.id.clone(),
                    is_leaf: p.is_leaf,
                    parent_id: p.parent_id.clone(),
                    child_ids: p.child_ids.clone(),
                    region: Region { ranges },
                    dimension: p.dimension,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PartitionTree::new(row_keys, partitions)?)
    }
}

impl From<&ParquetSettings> for pb::ParquetSettings {
    fn from(s: &ParquetSettings) -> Self {
        pb::ParquetSettings {
            compression: s.compression.to_string(),
            compression_level: s.zstd_level,
            writer_version: s.writer_version.to_string(),
            max_row_group_rows: s.max_row_group_rows as u64,
            data_page_size_bytes: s.data_page_size_bytes as u64,
            dictionary_row_keys: s.dictionary_row_keys,
            dictionary_sort_keys: s.dictionary_sort_keys,
            dictionary_values: s.dictionary_values,
            statistics_truncate_length: s.statistics_truncate_length,
            column_index_truncate_length: s.column_index_truncate_length,
        }
    }
}

impl TryFrom<&pb::ParquetSettings> for ParquetSettings {
    type Error = DataFusionError;

    fn try_from(m: &pb::ParquetSettings) -> Result<Self> {
        let invalid = |field: &str, e: String| DataFusionError::Internal(format!("ParquetSettings.{field}: {e}"));
        Ok(ParquetSettings {
            compression: m.compression.parse().map_err(|e| invalid("compression", e))?,
            zstd_level: m.compression_level,
            writer_version: m.writer_version.parse().map_err(|e| invalid("writer_version", e))?,
            max_row_group_rows: m.max_row_group_rows as usize,
            data_page_size_bytes: m.data_page_size_bytes as usize,
            dictionary_row_keys: m.dictionary_row_keys,
            dictionary_sort_keys: m.dictionary_sort_keys,
            dictionary_values: m.dictionary_values,
            statistics_truncate_length: m.statistics_truncate_length,
            column_index_truncate_length: m.column_index_truncate_length,
        })
    }
}

/// One batch as an Arrow IPC stream.
pub fn batch_to_ipc(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// The one batch of an Arrow IPC stream written by [`batch_to_ipc`].
pub fn batch_from_ipc(bytes: &[u8]) -> Result<RecordBatch> {
    let mut reader = StreamReader::try_new(bytes, None)?;
    let schema = reader.schema();
    match reader.next() {
        Some(batch) => Ok(batch?),
        None => Ok(RecordBatch::new_empty(schema)),
    }
}
