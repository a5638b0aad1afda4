//! Helpers of the end-to-end tests: writing input, and reading back what a job left in the store
//! — the Parquet files and the transaction log as files on disk, never the engine's own state.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bulk_import_core::partition::{Partition, PartitionTree};
use bulk_import_core::partition_json::{PartitionJson, tree_from_json};
use bulk_import_core::properties::{MIN_LEAF_PARTITIONS, TableProperties};
use bulk_import_core::schema::Schema;
use bulk_import_driver::{Driver, EngineConfig};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use serde::Deserialize;
use serde_json::Value;

/// A driver on a fresh store in `dir`, with a small engine so that tests can run side by side.
pub async fn driver(dir: &Path) -> Driver {
    let config = EngineConfig { parallelism: 2, memory_pool_bytes: 512 << 20, spill_dir: std::env::temp_dir(), ..Default::default() };
    Driver::open_embedded(dir.join("store").to_str().unwrap(), config).await.expect("the embedded engine starts")
}

/// Table properties that turn automatic pre-split off, for tests of anything else that need the
/// table to keep the leaves it was made with.
pub fn without_pre_split() -> TableProperties {
    let mut properties = TableProperties::default();
    properties.0.insert(MIN_LEAF_PARTITIONS.into(), "0".into());
    properties
}

pub fn write_parquet(path: &Path, batches: &[RecordBatch], props: Option<WriterProperties>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batches[0].schema(), props).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

pub fn parquet_row_count(path: &Path) -> u64 {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    builder.metadata().file_metadata().num_rows() as u64
}

/// Every row of the batches as one string, for comparing multisets of rows of any type.
pub fn rows_as_strings(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("<null>");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            rows.push(values.join("\u{1}"));
        }
    }
    rows
}

/// Whether the rows are in Arrow's ascending order on the given columns (row keys, then sort keys).
pub fn is_sorted_by(batches: &[RecordBatch], columns: &[&str]) -> bool {
    let Some(first) = batches.first() else { return true };
    let schema: SchemaRef = first.schema();
    let fields = columns.iter().map(|c| SortField::new(schema.field_with_name(c).unwrap().data_type().clone())).collect();
    let converter = RowConverter::new(fields).unwrap();
    let mut previous: Option<Vec<u8>> = None;
    for batch in batches {
        let arrays: Vec<ArrayRef> = columns.iter().map(|c| batch.column_by_name(c).unwrap().clone()).collect();
        let rows = converter.convert_columns(&arrays).unwrap();
        for row in &rows {
            let bytes = row.as_ref().to_vec();
            if previous.as_ref().is_some_and(|p| *p > bytes) {
                return false;
            }
            previous = Some(bytes);
        }
    }
    true
}

/// The transaction log of a table, read from the files in its store directory.
pub struct Log {
    pub transactions: Vec<Value>,
}

impl Log {
    pub fn read(store: &Path, table_id: &str) -> Log {
        let dir = store.join(table_id).join("statestore").join("transactions");
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        let transactions = names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect();
        Log { transactions }
    }

    pub fn of_type<'a>(&'a self, type_name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.transactions.iter().filter(move |t| t["type"] == type_name).map(|t| &t["transaction"])
    }

    /// The partition tree the log builds: the last initialisation, then every extension in
    /// order (updated partitions replaced by id, new ones added), validated as a tree.
    pub fn partitions(&self, schema: &Schema) -> PartitionTree {
        let row_keys = schema.row_keys();
        let mut partitions: Vec<Partition> = Vec::new();
        for t in &self.transactions {
            let body = &t["transaction"];
            let parse = |list: &Value| -> Vec<Partition> {
                list.as_array().unwrap().iter().map(|p| PartitionJson::deserialize(p).unwrap().to_partition(&row_keys).unwrap()).collect()
            };
            match t["type"].as_str().unwrap() {
                "INITIALISE_PARTITIONS" => partitions = tree_from_json(&row_keys, body).unwrap().partitions().to_vec(),
                "EXTEND_PARTITION_TREE" => {
                    for updated in parse(&body["updatePartitions"]) {
                        let at = partitions.iter().position(|p| p.id == updated.id).expect("an update names an existing partition");
                        partitions[at] = updated;
                    }
                    partitions.extend(parse(&body["newPartitions"]));
                }
                _ => {}
            }
        }
        PartitionTree::new(row_keys, partitions).expect("the log builds a valid tree")
    }

    /// Every file reference committed: filename to (partition id, rows, job id).
    pub fn file_references(&self) -> BTreeMap<String, (String, u64, Option<String>)> {
        let mut references = BTreeMap::new();
        for add in self.of_type("ADD_FILES") {
            for file in add["files"].as_array().unwrap() {
                let reference = &file["references"][0];
                references.insert(
                    file["filename"].as_str().unwrap().to_string(),
                    (
                        reference["partitionId"].as_str().unwrap().to_string(),
                        reference["numberOfRows"].as_u64().unwrap(),
                        add["jobId"].as_str().map(str::to_string),
                    ),
                );
            }
        }
        references
    }
}

/// Local path of a `file://` URL.
pub fn local_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

/// All files below a directory, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() { stack.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

/// A batch in Sleeper's system-test schema (`key`, `timestamp`, `value`) with the given keys; the
/// key column is declared nullable only when a key is null.
pub fn system_test_batch(keys: Vec<Option<String>>) -> RecordBatch {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    let n = keys.len();
    let nullable = keys.iter().any(Option::is_none);
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new("key", DataType::Utf8, nullable),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i64::MIN + i))),
            Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("value-{i}")))),
        ],
    )
    .unwrap()
}

/// A column of a batch, by name.
pub fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a Arc<dyn Array> {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"))
}

pub mod cluster;
pub mod distributed;
pub mod table_contents;
