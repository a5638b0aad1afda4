//! `PartitionFileWriterExec`: writes each task's rows, sorted by (leaf, row keys, sort keys), to
//! one Parquet file per leaf partition, starting a new file whenever the leaf changes, and
//! returns one row per file written.

use std::fmt;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use object_store::path::Path;
use object_store::{Extensions, ObjectStore, PutOptions, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::properties::WriterProperties;
use tracing::Instrument;
use url::Url;

use crate::attempt::{AttemptDir, TaskProgressRecord};
use crate::plan::data_file_sink::DataFileSink;
use crate::plan::writer_ledger::WriterLedger;
use crate::properties::ParquetSettings;
use crate::sketch::{Sketches, sketches_path};
use crate::small_local_io::UnreadUntilWritten;
use crate::store::{Location, join_url};

/// What the writer needs to know, all of it carried in the plan to whichever executor runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileWriterConfig {
    pub table_id: String,
    /// Files go to `<data root>/<table id>/data/partition_<id>/<uuid>.parquet`.
    pub data_root_url: String,
    /// Leaf partition ids, indexed by the leaf column's values.
    pub leaf_partition_ids: Vec<String>,
    pub leaf_column: String,
    pub row_key_count: usize,
    pub sort_key_count: usize,
    pub parquet: ParquetSettings,
    /// The run's [`AttemptDir`]: the writer names each file there before starting it, so that
    /// every file of an attempt can be found and deleted, whichever process wrote it.
    pub attempt_dir_url: String,
    /// Test hook: a task fails once it has completed this many files.
    pub fail_after_files: Option<u32>,
    /// Whether each data file gets a `<uuid>.sketches` sidecar of its row keys.
    pub write_sketches: bool,
}

/// The schema of the writer's output: one row per file written.
pub fn written_files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("partition_id", DataType::Utf8, false),
        Field::new("filename", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ]))
}

#[derive(Debug)]
pub struct PartitionFileWriterExec {
    input: Arc<dyn ExecutionPlan>,
    config: Arc<FileWriterConfig>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// What a writer task reports beyond the baseline (whose output rows are files).
struct WriterMetrics {
    baseline: BaselineMetrics,
    files_written: Count,
    rows_written: Count,
    bytes_written: Count,
}

impl WriterMetrics {
    fn new(metrics: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        WriterMetrics {
            baseline: BaselineMetrics::new(metrics, partition),
            files_written: MetricBuilder::new(metrics).counter("files_written", partition),
            rows_written: MetricBuilder::new(metrics).counter("rows_written", partition),
            bytes_written: MetricBuilder::new(metrics).counter("bytes_written", partition),
        }
    }
}

impl PartitionFileWriterExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, config: FileWriterConfig) -> Self {
        let schema = written_files_schema();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        PartitionFileWriterExec { input, config: Arc::new(config), properties, metrics: ExecutionPlanMetricsSet::new() }
    }

    pub fn config(&self) -> &FileWriterConfig {
        &self.config
    }
}

impl DisplayAs for PartitionFileWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartitionFileWriterExec: table={}, leaves={}", self.config.table_id, self.config.leaf_partition_ids.len())
    }
}

impl ExecutionPlan for PartitionFileWriterExec {
    fn name(&self) -> &'static str {
        "PartitionFileWriterExec"
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
        let [input] = <[_; 1]>::try_from(children).map_err(|_| DataFusionError::Internal("PartitionFileWriterExec has one child".into()))?;
        Ok(Arc::new(PartitionFileWriterExec::new(input, (*self.config).clone())))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context.clone())?;
        let config = self.config.clone();
        let metrics = WriterMetrics::new(&self.metrics, partition);
        let span = task_span(&config, &context, partition);
        let stream = futures::stream::once(
            async move {
                let written = write_partition(input, &config, &context, partition).await?;
                let (rows, bytes) = (sum_column(&written, 2), sum_column(&written, 3));
                tracing::info!("wrote {} files, {rows} rows, {bytes} bytes", written.num_rows());
                metrics.files_written.add(written.num_rows());
                metrics.rows_written.add(rows);
                metrics.bytes_written.add(bytes);
                Ok(written.record_output(&metrics.baseline))
            }
            .instrument(span),
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(written_files_schema(), stream)))
    }
}

/// The span a writer task logs in: the bulk import job and run (from its attempt directory),
/// and, on a Ballista executor, the engine's job id and stage (from the task's identity,
/// `TID <job>/<stage>.<attempt>/<task>.<attempt>`), so that every line of a job's tasks names it.
fn task_span(config: &FileWriterConfig, context: &TaskContext, partition: usize) -> tracing::Span {
    let (job_id, run_id) = AttemptDir::job_and_run_of(&config.attempt_dir_url).unwrap_or_default();
    let task = context.task_id().unwrap_or_default();
    let mut parts = task.strip_prefix("TID ").unwrap_or_default().split('/');
    let engine_job_id = parts.next().unwrap_or_default();
    let stage = parts.next().and_then(|s| s.split('.').next()).unwrap_or_default();
    tracing::info_span!("write_task", job_id, run_id, engine_job_id, stage, partition)
}

fn sum_column(written: &RecordBatch, column: usize) -> usize {
    written.column(column).as_primitive::<UInt64Type>().values().iter().sum::<u64>() as usize
}

/// The location of a `scheme://bucket/path` URL, from the task's object store registry.
fn resolve(context: &TaskContext, url: &str) -> Result<Location> {
    let parsed = Url::parse(url).map_err(|e| DataFusionError::Configuration(format!("{url}: {e}")))?;
    let store_url = ObjectStoreUrl::parse(format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or("")))?;
    let store = context.runtime_env().object_store(&store_url)?;
    let path = Path::from_url_path(parsed.path()).map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(Location { store_url, store, path })
}

struct OpenFile {
    leaf: u32,
    url: String,
    path: Path,
    rows: u64,
    writer: AsyncArrowWriter<DataFileSink>,
    sketches: Option<Sketches>,
}

struct Written {
    partition_ids: Vec<String>,
    filenames: Vec<String>,
    /// The files' paths in the data store.
    paths: Vec<Path>,
    rows: Vec<u64>,
    bytes: Vec<u64>,
}

/// Files carry only the Parquet schema, as Sleeper's own do: the rows arrive with strings and
/// byte arrays as views ([`crate::schema::Schema::scan_arrow_schema`]), and an embedded Arrow
/// schema would tell readers to read them back as views.
fn writer_options(properties: &WriterProperties) -> ArrowWriterOptions {
    ArrowWriterOptions::new().with_properties(properties.clone()).with_skip_arrow_metadata(true)
}

async fn write_partition(
    mut input: SendableRecordBatchStream,
    config: &FileWriterConfig,
    context: &TaskContext,
    partition: usize,
) -> Result<RecordBatch> {
    let input_schema = input.schema();
    let leaf_index = input_schema.index_of(&config.leaf_column)?;
    let data_columns: Vec<usize> = (0..input_schema.fields().len()).filter(|&i| i != leaf_index).collect();
    let file_schema = Arc::new(input_schema.project(&data_columns)?);
    let row_key_types: Vec<DataType> = file_schema.fields()[..config.row_key_count].iter().map(|f| f.data_type().clone()).collect();
    let properties = config.parquet.writer_properties(&file_schema, config.row_key_count, config.sort_key_count);
    let Location { store: data_store, path: data_root, .. } = resolve(context, &config.data_root_url)?;
    let mut ledger = WriterLedger::new(AttemptDir::at(resolve(context, &config.attempt_dir_url)?), partition);
    let data_store_url = Url::parse(&config.data_root_url).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let store_prefix = format!("{}://{}", data_store_url.scheme(), data_store_url.host_str().unwrap_or(""));
    let file_path = |leaf: u32| -> Result<Path> {
        let partition_id = config
            .leaf_partition_ids
            .get(leaf as usize)
            .ok_or_else(|| DataFusionError::Internal(format!("leaf index {leaf} is outside the partition tree")))?;
        Ok(data_root
            .clone()
            .join(config.table_id.as_str())
            .join("data")
            .join(format!("partition_{partition_id}").as_str())
            .join(format!("{}.parquet", uuid::Uuid::new_v4()).as_str()))
    };
    let mut written = Written { partition_ids: vec![], filenames: vec![], paths: vec![], rows: vec![], bytes: vec![] };
    let mut current: Option<OpenFile> = None;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        let leaves = batch.column(leaf_index).as_primitive::<UInt32Type>().clone();
        let data = batch.project(&data_columns)?;
        let data = RecordBatch::try_new(file_schema.clone(), data.columns().to_vec())?;
        let runs = leaf_runs(leaves.values());
        // The files this batch starts, named in one marker before any of them is started.
        let mut starts = Vec::new();
        let mut last_leaf = current.as_ref().map(|f| f.leaf);
        for &(leaf, _, _) in &runs {
            if last_leaf.is_some_and(|last| leaf < last) {
                return Err(DataFusionError::Internal(format!(
                    "rows of leaf {leaf} arrived after leaf {}: the writer's input is not sorted by leaf",
                    last_leaf.unwrap_or_default()
                )));
            }
            if last_leaf != Some(leaf) {
                let path = file_path(leaf)?;
                starts.push((leaf, join_url(&store_prefix, &path), path));
            }
            last_leaf = Some(leaf);
        }
        let urls: Vec<String> = starts.iter().map(|(_, url, _)| url.clone()).collect();
        ledger.record_files(&urls).await?;
        let mut starts = starts.into_iter();
        for (leaf, start, end) in runs {
            if current.as_ref().is_none_or(|f| f.leaf != leaf) {
                if let Some(previous) = current.take() {
                    close(previous, config, &mut written, &mut ledger, &data_store).await?;
                    ledger.report(written.progress(false)).await?;
                }
                let (_, url, path) = starts.next().ok_or_else(|| DataFusionError::Internal("a leaf's file was not named".into()))?;
                ledger.check_not_abandoned(&data_store, &written.paths).await?;
                let sink = DataFileSink::new(data_store.clone(), path.clone(), unread_until_written());
                let writer = AsyncArrowWriter::try_new_with_options(sink, file_schema.clone(), writer_options(&properties))?;
                let sketches = config.write_sketches.then(|| Sketches::new(&row_key_types)).transpose()?;
                current = Some(OpenFile { leaf, url, path, rows: 0, writer, sketches });
            }
            let file = current.as_mut().expect("a file is open");
            let slice = data.slice(start, end - start);
            if let Some(sketches) = file.sketches.as_mut() {
                sketches.update(&slice.columns()[..config.row_key_count])?;
            }
            file.writer.write(&slice).await?;
            file.rows += (end - start) as u64;
        }
    }
    if let Some(last) = current.take() {
        close(last, config, &mut written, &mut ledger, &data_store).await?;
    }
    ledger.report(written.progress(true)).await?;
    let batch = RecordBatch::try_new(
        written_files_schema(),
        vec![
            Arc::new(StringArray::from(written.partition_ids)),
            Arc::new(StringArray::from(written.filenames)),
            Arc::new(UInt64Array::from(written.rows)),
            Arc::new(UInt64Array::from(written.bytes)),
        ],
    )?;
    Ok(batch)
}

/// The runs of equal leaves in a batch sorted by leaf: (leaf, start, end) each.
fn leaf_runs(leaves: &[u32]) -> Vec<(u32, usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < leaves.len() {
        let leaf = leaves[start];
        let end = start + leaves[start..].iter().position(|&l| l != leaf).unwrap_or(leaves.len() - start);
        runs.push((leaf, start, end));
        start = end;
    }
    runs
}

impl Written {
    fn progress(&self, done: bool) -> TaskProgressRecord {
        TaskProgressRecord { files: self.filenames.len() as u64, rows: self.rows.iter().sum(), done }
    }
}

/// A data file and its sketches are read only once a commit names them: a local store may
/// write them in place.
fn unread_until_written() -> Extensions {
    let mut extensions = Extensions::new();
    extensions.insert(UnreadUntilWritten);
    extensions
}

async fn close(
    mut file: OpenFile,
    config: &FileWriterConfig,
    written: &mut Written,
    ledger: &mut WriterLedger,
    data_store: &Arc<dyn ObjectStore>,
) -> Result<()> {
    file.writer.finish().await?;
    let sidecar = Path::from(sketches_path(file.path.as_ref()));
    if let Some(sketches) = &file.sketches {
        let options = PutOptions { extensions: unread_until_written(), ..PutOptions::default() };
        data_store.put_opts(&sidecar, PutPayload::from(sketches.to_bytes()), options).await?;
    }
    // The driver may already have swept the attempt: this file and the task's others are ours
    // to remove.
    written.paths.push(file.path.clone());
    ledger.check_not_abandoned(data_store, &written.paths).await?;
    written.partition_ids.push(config.leaf_partition_ids[file.leaf as usize].clone());
    written.filenames.push(file.url);
    written.rows.push(file.rows);
    written.bytes.push(file.writer.bytes_written() as u64);
    if config.fail_after_files.is_some_and(|n| written.filenames.len() >= n as usize) {
        return Err(DataFusionError::Execution(format!("injected writer failure after {} files", written.filenames.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::leaf_runs;

    #[test]
    fn runs_of_equal_leaves_cover_the_batch() {
        assert_eq!(leaf_runs(&[]), vec![]);
        assert_eq!(leaf_runs(&[4]), vec![(4, 0, 1)]);
        assert_eq!(leaf_runs(&[1, 1, 2, 5, 5, 5]), vec![(1, 0, 2), (2, 2, 3), (5, 3, 6)]);
    }
}
