//! A sample of the input's sort columns, for cutting the key space into ranges of about equal
//! numbers of rows.
//!
//! Every file gives rows in proportion to its size, read from row groups spread evenly through
//! it (the whole of each chosen row group, key columns only), then thinned evenly. Reading a few
//! row groups costs a small fraction of the import, and spreading them keeps the sample
//! representative of files that are themselves sorted.

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{cast, concat_batches, take_record_batch};
use arrow::datatypes::SchemaRef;
use bulk_import_core::schema::KeyField;
use bulk_import_core::table::Table;
use datafusion::common::{DataFusionError, Result};
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::intake::footer::reader;
use crate::intake::inputs::InputFile;

/// How many files are sampled at once.
const CONCURRENCY: usize = 16;

/// Rows sampled per range: about 1% error on each range's share with a thousand ranges' worth.
pub const ROWS_PER_RANGE: usize = 1000;

/// At least this many rows are sampled, whatever the number of ranges.
pub const MIN_SAMPLE_ROWS: usize = 20_000;

/// About `target_rows` rows of the table's `keys` columns (with the table's types), from all files.
pub async fn sample_keys(files: &[InputFile], table: &Table, keys: &[KeyField], target_rows: usize) -> Result<RecordBatch> {
    // The cuts are compared with the scanned rows, so they have the scan's types.
    let table_schema = table.schema().scan_arrow_schema();
    let indices = keys.iter().map(|k| table_schema.index_of(&k.name)).collect::<Result<Vec<_>, _>>()?;
    let key_schema: SchemaRef = Arc::new(table_schema.project(&indices)?);
    let total: u64 = files.iter().map(|f| f.rows).sum();
    // Owned futures: a stream mapping borrowed files to futures is not provably `Send`.
    let reads: Vec<_> = files
        .iter()
        .map(|file| {
            let quota = (target_rows as u128 * u128::from(file.rows)).div_ceil(u128::from(total.max(1))) as usize;
            let (file, key_schema) = (file.clone(), key_schema.clone());
            async move { sample_file(&file, key_schema, quota).await }
        })
        .collect();
    let samples: Vec<RecordBatch> = futures::stream::iter(reads).buffered(CONCURRENCY).try_collect().await?;
    Ok(concat_batches(&key_schema, &samples)?)
}

async fn sample_file(file: &InputFile, key_schema: SchemaRef, quota: usize) -> Result<RecordBatch> {
    let builder = ParquetRecordBatchStreamBuilder::new(reader(&file.location, file.size)).await?;
    let groups = builder.metadata().num_row_groups();
    if groups == 0 || quota == 0 {
        return Ok(RecordBatch::new_empty(key_schema));
    }
    let rows_per_group = (file.rows as usize / groups).max(1);
    let wanted = quota.div_ceil(rows_per_group).clamp(1, groups);
    let chosen: Vec<usize> = (0..wanted).map(|i| i * groups / wanted + groups / (2 * wanted)).collect();
    let mask = ProjectionMask::columns(builder.parquet_schema(), key_schema.fields().iter().map(|f| f.name().as_str()));
    let batches: Vec<RecordBatch> = builder.with_projection(mask).with_row_groups(chosen).build()?.try_collect().await?;
    let Some(first) = batches.first() else { return Ok(RecordBatch::new_empty(key_schema)) };
    let read = concat_batches(&first.schema(), &batches)?;
    let columns = key_schema
        .fields()
        .iter()
        .map(|field| {
            let column = read
                .column_by_name(field.name())
                .ok_or_else(|| DataFusionError::Execution(format!("{} has no column {}", file.location.url(), field.name())))?;
            Ok(cast(column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    let keys = RecordBatch::try_new(key_schema, columns)?;
    if keys.num_rows() <= quota {
        return Ok(keys);
    }
    let every = UInt32Array::from_iter_values((0..quota).map(|i| (i * keys.num_rows() / quota) as u32));
    Ok(take_record_batch(&keys, &every)?)
}
