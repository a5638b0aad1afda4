//! Snapshots of a table's state: which are the latest (`DynamoDBTransactionLogSnapshotMetadataStore`'s
//! latest-snapshots item), and what they hold, read from Arrow IPC streams in the data bucket in
//! Sleeper's schemas (`StateStorePartitionsArrowFormat`, `StateStoreFilesArrowFormat`).

use std::io::Cursor;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use arrow::datatypes::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow::ipc::reader::StreamReader;
use aws_sdk_dynamodb::types::AttributeValue;
use bulk_import_core::key::{KeyType, KeyValue};
use bulk_import_core::partition::{KeyRange, Partition, Region};
use bulk_import_core::schema::KeyField;
use bulk_import_core::store::Location;
use bulk_import_core::transaction_json::FileReference;
use bulk_import_core::{Error, Result};
use object_store::ObjectStoreExt;

use super::files::FilesState;
use crate::aws::remote;

/// A snapshot: the transaction it covers the log up to, and its object in the data bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub transaction_number: u64,
    pub path: String,
}

impl Snapshot {
    /// The object key of the snapshot's path (`s3a://bucket/key` → `key`); the object is read
    /// from the data bucket whatever bucket the path names, as Sleeper does.
    pub fn object_key(&self) -> Result<&str> {
        let after_scheme = self.path.split_once("://").map_or(self.path.as_str(), |(_, rest)| rest);
        after_scheme.split_once('/').map(|(_, key)| key).ok_or_else(|| Error::Corrupt {
            what: "snapshot metadata",
            location: self.path.clone(),
            reason: "the path names no object".into(),
        })
    }
}

/// The latest snapshots of a table, from the instance's latest-snapshots table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestSnapshots {
    pub files: Option<Snapshot>,
    pub partitions: Option<Snapshot>,
}

pub async fn latest_snapshots(dynamo: &aws_sdk_dynamodb::Client, latest_table: &str, table_id: &str) -> Result<LatestSnapshots> {
    let output = dynamo
        .get_item()
        .table_name(latest_table)
        .key("TABLE_ID", AttributeValue::S(table_id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| remote(format!("cannot read the latest snapshots of table {table_id} from {latest_table}"), &e))?;
    let Some(item) = output.item() else { return Ok(LatestSnapshots::default()) };
    let snapshot = |path: &str, number: &str| -> Option<Snapshot> {
        let path = item.get(path)?.as_s().ok()?.clone();
        let transaction_number = item.get(number)?.as_n().ok()?.parse().ok()?;
        Some(Snapshot { transaction_number, path })
    };
    Ok(LatestSnapshots {
        files: snapshot("FILES_SNAPSHOT_PATH", "FILES_TRANSACTION_NUMBER"),
        partitions: snapshot("PARTITIONS_SNAPSHOT_PATH", "PARTITIONS_TRANSACTION_NUMBER"),
    })
}

fn corrupt(location: &str, reason: impl Into<String>) -> Error {
    Error::Corrupt { what: "snapshot", location: location.to_string(), reason: reason.into() }
}

async fn read_batches(data_bucket: &Location, snapshot: &Snapshot) -> Result<Vec<RecordBatch>> {
    let location = data_bucket.child(snapshot.object_key()?);
    let url = location.url();
    let bytes = match location.store.get(&location.path).await {
        Ok(found) => found.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Err(corrupt(&url, "the snapshot the latest-snapshots table names does not exist")),
        Err(e) => return Err(e.into()),
    };
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| corrupt(&url, format!("not an Arrow IPC stream: {e}")))?;
    reader.map(|batch| batch.map_err(|e| corrupt(&url, e.to_string()))).collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str, url: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| corrupt(url, format!("no column {name}")))
}

fn child<'a>(array: &'a StructArray, name: &str, url: &str) -> Result<&'a ArrayRef> {
    array.column_by_name(name).ok_or_else(|| corrupt(url, format!("no field {name}")))
}

fn wrong_type(url: &str, name: &str) -> Error {
    corrupt(url, format!("{name} is not of the type Sleeper writes"))
}

/// The key value a region bound struct holds for a field of `key_type`; `None` where it is null.
fn bound(value: &StructArray, row: usize, key_type: KeyType, url: &str) -> Result<Option<KeyValue>> {
    if value.is_null(row) {
        return Ok(None);
    }
    let (name, array) = match key_type {
        KeyType::String => ("string", child(value, "string", url)?),
        KeyType::Long => ("long", child(value, "long", url)?),
        KeyType::Int => ("int", child(value, "int", url)?),
        KeyType::ByteArray => ("bytes", child(value, "bytes", url)?),
    };
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match key_type {
        KeyType::String => KeyValue::String(array.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, name))?.value(row).to_string()),
        KeyType::Long => KeyValue::Long(array.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong_type(url, name))?.value(row)),
        KeyType::Int => KeyValue::Int(array.as_primitive_opt::<Int32Type>().ok_or_else(|| wrong_type(url, name))?.value(row)),
        KeyType::ByteArray => KeyValue::Bytes(array.as_binary_opt::<i32>().ok_or_else(|| wrong_type(url, name))?.value(row).to_vec()),
    }))
}

fn region(ranges: &StructArray, row_keys: &[KeyField], partition_id: &str, url: &str) -> Result<Region> {
    let names = child(ranges, "fieldName", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "fieldName"))?;
    let mins = child(ranges, "min", url)?.as_struct_opt().ok_or_else(|| wrong_type(url, "min"))?;
    let maxes = child(ranges, "max", url)?.as_struct_opt().ok_or_else(|| wrong_type(url, "max"))?;
    let mut out = Vec::with_capacity(row_keys.len());
    for key in row_keys {
        let row = (0..ranges.len())
            .find(|&i| names.value(i) == key.name)
            .ok_or_else(|| corrupt(url, format!("partition {partition_id} has no range for row key {}", key.name)))?;
        let min = bound(mins, row, key.key_type, url)?.unwrap_or_else(|| key.key_type.minimum());
        let max = bound(maxes, row, key.key_type, url)?;
        out.push(KeyRange { min, max });
    }
    Ok(Region { ranges: out })
}

/// The partitions a partitions snapshot holds.
pub async fn read_partitions(data_bucket: &Location, snapshot: &Snapshot, row_keys: &[KeyField]) -> Result<Vec<Partition>> {
    let url = snapshot.path.as_str();
    let mut partitions = Vec::new();
    for batch in read_batches(data_bucket, snapshot).await? {
        let ids = column(&batch, "id", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "id"))?;
        let parents = column(&batch, "parentId", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "parentId"))?;
        let children = column(&batch, "childIds", url)?.as_list_opt::<i32>().ok_or_else(|| wrong_type(url, "childIds"))?;
        let leaves = column(&batch, "isLeaf", url)?.as_boolean_opt().ok_or_else(|| wrong_type(url, "isLeaf"))?;
        let dimensions = column(&batch, "dimension", url)?.as_primitive_opt::<UInt32Type>().ok_or_else(|| wrong_type(url, "dimension"))?;
        let regions = column(&batch, "region", url)?.as_list_opt::<i32>().ok_or_else(|| wrong_type(url, "region"))?;
        for row in 0..batch.num_rows() {
            let id = ids.value(row).to_string();
            let child_ids = children.value(row);
            let child_ids = child_ids.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "childIds"))?;
            let ranges = regions.value(row);
            let ranges = ranges.as_struct_opt().ok_or_else(|| wrong_type(url, "region"))?;
            partitions.push(Partition {
                region: region(ranges, row_keys, &id, url)?,
                parent_id: (!parents.is_null(row)).then(|| parents.value(row).to_string()),
                child_ids: child_ids.iter().flatten().map(str::to_string).collect(),
                is_leaf: leaves.value(row),
                dimension: if dimensions.is_null(row) { -1 } else { dimensions.value(row) as i32 },
                id,
            });
        }
    }
    Ok(partitions)
}

/// The files a files snapshot holds, each with its references (none for a file waiting for the
/// garbage collector).
pub async fn read_files(data_bucket: &Location, snapshot: &Snapshot) -> Result<FilesState> {
    let url = snapshot.path.as_str();
    let mut state = FilesState::default();
    for batch in read_batches(data_bucket, snapshot).await? {
        let filenames = column(&batch, "filename", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "filename"))?;
        let references = column(&batch, "partitionReferences", url)?.as_list_opt::<i32>().ok_or_else(|| wrong_type(url, "partitionReferences"))?;
        for row in 0..batch.num_rows() {
            let file_references = references.value(row);
            let file_references = file_references.as_struct_opt().ok_or_else(|| wrong_type(url, "reference"))?;
            let partition_ids = child(file_references, "partitionId", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "partitionId"))?;
            let job_ids = child(file_references, "jobId", url)?.as_string_opt::<i32>().ok_or_else(|| wrong_type(url, "jobId"))?;
            let rows =
                child(file_references, "numberOfRows", url)?.as_primitive_opt::<UInt64Type>().ok_or_else(|| wrong_type(url, "numberOfRows"))?;
            let approximate = child(file_references, "countApproximate", url)?.as_boolean_opt().ok_or_else(|| wrong_type(url, "countApproximate"))?;
            let only_this = child(file_references, "onlyContainsDataForThisPartition", url)?
                .as_boolean_opt()
                .ok_or_else(|| wrong_type(url, "onlyContainsDataForThisPartition"))?;
            let refs = (0..file_references.len())
                .map(|i| FileReference {
                    partition_id: partition_ids.value(i).to_string(),
                    number_of_rows: rows.value(i),
                    job_id: (!job_ids.is_null(i)).then(|| job_ids.value(i).to_string()),
                    count_approximate: approximate.value(i),
                    only_contains_data_for_this_partition: only_this.value(i),
                })
                .collect();
            state.insert(filenames.value(row).to_string(), refs, None);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_path_names_its_object_in_the_data_bucket() {
        let snapshot = Snapshot { transaction_number: 12, path: "s3a://sleeper-x-table-data/933cd595/statestore/snapshots/12-files.arrow".into() };
        assert_eq!(snapshot.object_key().unwrap(), "933cd595/statestore/snapshots/12-files.arrow");
        assert!(Snapshot { transaction_number: 1, path: "s3a://bucket".into() }.object_key().is_err());
    }
}
