//! The stages every algorithm's plan is made of: the scan, routing to leaves, and the sort and
//! write that end each task. An algorithm decides how routed rows are shuffled between them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bulk_import_core::plan::{FileWriterConfig, LeafLabels, LeafPartitionExec, LeafSortExec, PartitionFileWriterExec};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileGroupPartitioner, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use object_store::ObjectStore;

use bulk_import_core::table::Table;

use super::PlanInput;
use super::input_reader::InputReaderFactory;
use crate::intake::inputs::{FOOTER_READ_BYTES, InputFile};

/// The column holding each row's leaf index between routing and writing.
pub const LEAF_COLUMN: &str = "__sleeper_leaf";

/// Refuses a table with a field named like one of the engine's own columns.
pub fn check_reserved(table: &Table, columns: &[&str]) -> Result<()> {
    let table_schema = table.schema().arrow_schema();
    match columns.iter().find(|c| table_schema.field_with_name(c).is_ok()) {
        Some(column) => Err(DataFusionError::Plan(format!("the table has a field named {column}, which the engine reserves"))),
        None => Ok(()),
    }
}

/// The input, scanned and with each row's leaf appended in [`LEAF_COLUMN`].
pub fn scan_and_route(input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
    let scan = scan(input.table, input.files, input.read_parallelism)?;
    Ok(Arc::new(LeafPartitionExec::try_new(scan, LeafLabels::new(input.partitions.clone()), LEAF_COLUMN)?))
}

/// Each task's rows sorted by (leaf, row keys, sort keys) and written, a new file whenever the
/// leaf changes.
pub fn sort_and_write(shuffled: Arc<dyn ExecutionPlan>, input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
    let schema = input.table.schema();
    let sort_columns = schema.row_and_sort_keys().into_iter().map(|key| key.name).collect();
    let leaf_count = u32::try_from(input.partitions.leaf_count()).map_err(|_| DataFusionError::Plan("too many leaf partitions".into()))?;
    let sorted: Arc<dyn ExecutionPlan> = Arc::new(LeafSortExec::try_new(shuffled, LEAF_COLUMN, sort_columns, leaf_count)?);
    let writer = FileWriterConfig {
        table_id: input.table.id().to_string(),
        data_root_url: input.table.data_root_url.clone(),
        leaf_partition_ids: input.partitions.leaves().map(|p| p.id.clone()).collect(),
        leaf_column: LEAF_COLUMN.to_string(),
        row_key_count: schema.row_key_fields.len(),
        sort_key_count: schema.sort_key_fields.len(),
        parquet: input.table.definition.properties.parquet_settings().map_err(|e| DataFusionError::External(Box::new(e)))?,
        attempt_dir_url: input.attempt_dir_url.clone(),
        fail_after_files: input.fail_after_files,
        write_sketches: input.table.definition.properties.write_sketches().map_err(|e| DataFusionError::External(Box::new(e)))?,
    };
    Ok(Arc::new(PartitionFileWriterExec::new(sorted, writer)))
}

/// A Parquet scan of the input, read with the table's schema in `read_parallelism` tasks; one
/// scan per object store.
pub fn scan(table: &Table, files: &[InputFile], read_parallelism: usize) -> Result<Arc<dyn ExecutionPlan>> {
    let table_schema = table.schema().scan_arrow_schema();
    let mut by_store: BTreeMap<String, (Arc<dyn ObjectStore>, Vec<PartitionedFile>)> = BTreeMap::new();
    for file in files {
        let mut scanned = PartitionedFile::new(file.location.path.to_string(), file.size);
        if let Some(footer) = &file.footer {
            scanned = scanned.with_extension(footer.clone());
        }
        by_store.entry(file.location.store_url.as_str().to_string()).or_insert_with(|| (file.location.store.clone(), Vec::new())).1.push(scanned);
    }
    let mut scans = Vec::with_capacity(by_store.len());
    for (store_url, (store, files)) in by_store {
        let groups = split(files, read_parallelism.max(1));
        let source = ParquetSource::new(table_schema.clone())
            .with_metadata_size_hint(FOOTER_READ_BYTES)
            .with_parquet_file_reader_factory(Arc::new(InputReaderFactory::new(store)));
        let source = Arc::new(source);
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(&store_url)?, source).with_file_groups(groups).build();
        scans.push(DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>);
    }
    UnionExec::try_new(scans)
}

/// Spreads files over `tasks` groups of about equal bytes, splitting files by byte range when
/// there are fewer files than tasks.
fn split(files: Vec<PartitionedFile>, tasks: usize) -> Vec<FileGroup> {
    let all = vec![FileGroup::new(files.clone())];
    let partitioner = FileGroupPartitioner::new().with_target_partitions(tasks).with_repartition_file_min_size(1 << 20);
    if let Some(groups) = partitioner.repartition_file_groups(&all) {
        return groups;
    }
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); tasks.min(files.len()).max(1)];
    let mut sizes = vec![0u64; groups.len()];
    let mut files = files;
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    for file in files {
        let smallest = (0..sizes.len()).min_by_key(|&i| sizes[i]).expect("at least one group");
        sizes[smallest] += file.object_meta.size;
        groups[smallest].push(file);
    }
    groups.into_iter().map(FileGroup::new).collect()
}
