//! Spilled runs on disk: Arrow IPC streams, as DataFusion's `SpillManager` writes them, but with
//! zstd at level 1 where DataFusion uses arrow's default level, 3.
//!
//! Compressing the runs was a sixth of a spilling import's CPU (200M rows under a 4 GiB pool).
//! On a run of the benchmark's rows, `zstd -b` gave 418 MB/s and a ratio of 2.01 at level 1,
//! against 227 MB/s and 1.90 at level 3: half the time, and no larger. The stream records how it
//! was compressed, so runs are read back by the `SpillManager` as before.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::{CompressionType, MetadataVersion};
use datafusion::common::config::SpillCompression;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SpillFile, SpillWriter};
use datafusion::physical_plan::metrics::SpillMetrics;
use datafusion::physical_plan::sorts::streaming_merge::SortedSpillFile;
use datafusion::physical_plan::spill::get_record_batch_memory_size;

/// The zstd level of spilled runs.
const ZSTD_LEVEL: i32 = 1;

/// Bytes buffered before a write to the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Alignment of the buffers in the stream: the largest any Arrow array needs (views), so that
/// none is copied to be realigned when read back.
const ALIGNMENT: usize = 16;

/// A spilled run being written.
pub(super) struct RunFileWriter {
    file: Arc<dyn SpillFile>,
    writer: StreamWriter<BufWriter<Box<dyn SpillWriter>>>,
    metrics: SpillMetrics,
    rows: usize,
    max_record_batch_memory: usize,
}

impl RunFileWriter {
    /// A new run in the runtime's spill directory, compressed as `compression` says.
    pub(super) fn create(runtime: &RuntimeEnv, schema: &Schema, compression: SpillCompression, metrics: SpillMetrics) -> Result<Self> {
        let file = runtime.disk_manager.create_tmp_file("LeafSortExec")?;
        let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)?;
        let options = match compression {
            SpillCompression::Zstd => options.try_with_compression(Some(CompressionType::ZSTD))?.try_with_compression_level(Some(ZSTD_LEVEL))?,
            SpillCompression::Lz4Frame => options.try_with_compression(Some(CompressionType::LZ4_FRAME))?,
            SpillCompression::Uncompressed => options,
        };
        let writer = StreamWriter::try_new_with_options(BufWriter::with_capacity(WRITE_BUFFER_BYTES, file.open_writer()?), schema, options)?;
        metrics.spill_file_count.add(1);
        Ok(RunFileWriter { file, writer, metrics, rows: 0, max_record_batch_memory: 0 })
    }

    /// Appends `batch`, its views' bytes compacted: a sorted batch's views point into every
    /// batch its rows came from, and the stream would hold those buffers whole.
    pub(super) fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = compact_views(batch)?;
        self.max_record_batch_memory = self.max_record_batch_memory.max(get_record_batch_memory_size(&batch));
        self.writer.write(&batch)?;
        self.rows += batch.num_rows();
        self.metrics.spilled_rows.add(batch.num_rows());
        Ok(())
    }

    /// The finished run, for reading back.
    pub(super) fn finish(mut self) -> Result<SortedSpillFile> {
        if self.rows == 0 {
            return Err(DataFusionError::Internal("a spilled run holds no rows".into()));
        }
        self.writer.finish()?;
        let mut spill_writer = self.writer.into_inner()?.into_inner().map_err(|e| DataFusionError::IoError(e.into_error()))?;
        spill_writer.flush()?;
        spill_writer.finish()?;
        self.metrics.spilled_bytes.add(self.file.size().unwrap_or_default() as usize);
        Ok(SortedSpillFile { file: self.file, max_record_batch_memory: self.max_record_batch_memory })
    }
}

/// `batch` with the bytes of its view columns copied into buffers of their own.
fn compact_views(batch: &RecordBatch) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8View => Arc::new(column.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView => Arc::new(column.as_binary_view().gc()),
            _ => column.clone(),
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringViewArray};
    use arrow::datatypes::Field;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
    use datafusion::physical_plan::spill::SpillManager;
    use futures::TryStreamExt;

    fn batch(rows: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("key", DataType::Utf8View, true), Field::new("value", DataType::Int64, false)]));
        let keys: StringViewArray = rows.clone().map(|i| (i % 7 != 0).then(|| format!("a key long enough not to be inline {i}"))).collect();
        RecordBatch::try_new(schema, vec![Arc::new(keys), Arc::new(rows.collect::<Int64Array>())]).unwrap()
    }

    #[tokio::test]
    async fn runs_read_back_as_written_in_every_compression() {
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let whole = batch(0..3000);
        // A slice whose views point into the whole batch's buffers, as a sorted batch's do.
        let written = [whole.slice(0, 1000), whole.slice(2500, 500), batch(5000..5001)];
        for compression in [SpillCompression::Zstd, SpillCompression::Lz4Frame, SpillCompression::Uncompressed] {
            let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
            let mut run = RunFileWriter::create(&runtime, &whole.schema(), compression, metrics.clone()).unwrap();
            for batch in &written {
                run.append(batch).unwrap();
            }
            let run = run.finish().unwrap();
            assert_eq!((metrics.spill_file_count.value(), metrics.spilled_rows.value()), (1, 1501));
            assert_eq!(metrics.spilled_bytes.value() as u64, run.file.size().unwrap());
            let manager = SpillManager::new(runtime.clone(), metrics, whole.schema());
            let read: Vec<RecordBatch> = manager.read_spill_as_stream(run.file, None).unwrap().try_collect().await.unwrap();
            assert_eq!(read, written, "{compression:?}");
        }
    }

    #[tokio::test]
    async fn a_run_holds_only_the_bytes_its_views_point_to() {
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let whole = batch(0..3000);
        let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
        let mut run = RunFileWriter::create(&runtime, &whole.schema(), SpillCompression::Uncompressed, metrics).unwrap();
        run.append(&whole.slice(1, 1)).unwrap();
        let size = run.finish().unwrap().file.size().unwrap();
        assert!(size < 4096, "one row's run takes {size} bytes; the whole batch's keys are {} bytes", whole.get_array_memory_size());
    }

    #[tokio::test]
    async fn a_run_without_rows_is_refused() {
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
        let run = RunFileWriter::create(&runtime, &batch(0..1).schema(), SpillCompression::Zstd, metrics).unwrap();
        assert!(run.finish().is_err());
    }
}
