//! Spilled runs on disk: Arrow IPC streams, as DataFusion's `SpillManager` writes them, but with
//! zstd at level 1 where DataFusion uses arrow's default level, 3.
//!
//! Compressing the runs was a sixth of a spilling import's CPU (200M rows under a 4 GiB pool).
//! On a run of the benchmark's rows, `zstd -b` gave 418 MB/s and a ratio of 2.01 at level 1,
//! against 227 MB/s and 1.90 at level 3: half the time, and no larger. The stream records how it
//! was compressed.
//!
//! Runs are read back here too, with arrow's `RecordBatchDecoder` and without validating the
//! arrays again: DataFusion's spill reader asks its IPC decoder to skip validation, but
//! arrow-ipc 59's `StreamDecoder` does not pass that on to record batches, and checking every
//! key's UTF-8 once more was 4% of a spilling import's CPU.
//!
//! A run is read once, front to back, and the disk behind what has been read is given back as
//! the reading goes (a hole punched in the file). Otherwise every run stays whole until the
//! last window of leaves is read, while the table's files are being written: a 1,000M-row import
//! needed its spill and its table on disk at once.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::{Buffer, MutableBuffer};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::ipc;
use arrow::ipc::reader::RecordBatchDecoder;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::ipc::{CompressionType, MetadataVersion};
use arrow_data::UnsafeFlag;
use datafusion::common::config::SpillCompression;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, SpillFile, SpillWriter};
use datafusion::physical_plan::metrics::SpillMetrics;
use datafusion::physical_plan::sorts::streaming_merge::SortedSpillFile;
use datafusion::physical_plan::spill::get_record_batch_memory_size;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::TryStreamExt;
use tokio::io::AsyncReadExt;

/// The zstd level of spilled runs.
const ZSTD_LEVEL: i32 = 1;

/// Bytes buffered before a write to the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Bytes read from a run at a time. Every run being read holds this twice (the reader's buffer
/// and Tokio's file's), outside the memory pool, and a 1,000M-row import under a 4 GiB pool reads
/// about 300 runs at once: a quarter of a megabyte each reads as fast as a megabyte did.
const READ_BUFFER_BYTES: usize = 256 << 10;

/// Bytes of a run read before the disk they take is given back. A run is tens of megabytes (a
/// task's share of the pool, compressed), so a few megabytes at a time: about a thousand holes
/// for a 200M-row import's 3.8 GB of runs.
const RELEASE_BYTES: u64 = if cfg!(test) { 1 << 16 } else { 4 << 20 };

/// The marker before each message's length in an IPC stream.
const CONTINUATION: i32 = -1;

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

/// The rows of a run written by [`RunFileWriter`], batch by batch. The file is read through
/// Tokio's file, whose reads run briefly on blocking threads, and each message is decoded where
/// the stream is polled. (A first version gave each run a blocking thread of its own, which
/// decoded its batches: they were allocated in that thread's malloc arena, and a 200M-row
/// import's resident memory grew from 2.2 to 3.1 GB. A run's thread also waited whenever its
/// reader was ahead, and enough runs would have held every thread of Tokio's blocking pool.)
///
/// A run is read once: what has been read is punched out of the file, and would read back as
/// zeros. The run is taken by value for that reason.
pub(super) fn read_run(run: SortedSpillFile, schema: SchemaRef) -> Result<SendableRecordBatchStream> {
    let path = run.file.path().ok_or_else(|| DataFusionError::Internal("a spilled run has no path".into()))?.to_path_buf();
    let batches = futures::stream::once(RunReader::open(path, schema.clone(), run.file))
        .map_ok(|reader| {
            futures::stream::try_unfold(reader, |mut reader| async move {
                let batch = reader.next_batch().await.map_err(|e| e.context(format!("cannot read the spilled run {}", reader.path.display())))?;
                Ok(batch.map(|batch| (batch, reader)))
            })
        })
        .try_flatten();
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
}

/// A run being read.
struct RunReader {
    path: PathBuf,
    stream: tokio::io::BufReader<tokio::fs::File>,
    file_length: u64,
    /// Bytes of the file read, and the start of those whose disk is not yet given back.
    read: u64,
    released: u64,
    /// False once the file system refused to punch a hole: the run is then kept whole.
    releasing: bool,
    schema: SchemaRef,
    /// Held while the run is read: its file is deleted once the last holder lets it go.
    _file: Arc<dyn SpillFile>,
}

impl RunReader {
    async fn open(path: PathBuf, schema: SchemaRef, file: Arc<dyn SpillFile>) -> Result<Self> {
        let context = || format!("cannot read the spilled run {}", path.display());
        // Writable too: only a file open for writing can have holes punched in it.
        let opened = tokio::fs::OpenOptions::new().read(true).write(true).open(&path).await;
        let mut opened = opened.map_err(|e| DataFusionError::IoError(e).context(context()))?;
        let file_length = opened.metadata().await.map_err(|e| DataFusionError::IoError(e).context(context()))?.len();
        opened.set_max_buf_size(READ_BUFFER_BYTES);
        let stream = tokio::io::BufReader::with_capacity(READ_BUFFER_BYTES, opened);
        Ok(RunReader { path, stream, file_length, read: 0, released: 0, releasing: true, schema, _file: file })
    }

    /// The run's next batch, read and decoded; `None` at its end.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let file_length = self.file_length;
        // A length no message in the file can have: nothing is allocated for it.
        let checked = |length: i64| {
            u64::try_from(length)
                .ok()
                .filter(|&l| l <= file_length)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| DataFusionError::Internal(format!("a spilled run of {file_length} bytes has a message part of {length} bytes")))
        };
        loop {
            let mut length = self.stream.read_i32_le().await?;
            self.read += 4;
            if length == CONTINUATION {
                length = self.stream.read_i32_le().await?;
                self.read += 4;
            }
            let length = checked(length.into())?;
            if length == 0 {
                return Ok(None);
            }
            let mut header = vec![0; length];
            self.stream.read_exact(&mut header).await?;
            let message = ipc::root_as_message(&header).map_err(|e| DataFusionError::Internal(format!("a spilled run has a bad message: {e}")))?;
            let mut body = MutableBuffer::from_len_zeroed(checked(message.bodyLength())?);
            self.stream.read_exact(body.as_slice_mut()).await?;
            self.read += (header.len() + body.len()) as u64;
            self.release_read();
            match message.header_type() {
                ipc::MessageHeader::Schema => {}
                ipc::MessageHeader::RecordBatch => return decode(&message, &body.into(), &self.schema).map(Some),
                other => return Err(DataFusionError::Internal(format!("a spilled run holds a {other:?} message"))),
            }
        }
    }

    /// Gives back the disk behind the whole blocks read so far, once there are enough of them.
    fn release_read(&mut self) {
        let end = self.read / 4096 * 4096;
        if !self.releasing || end < self.released + RELEASE_BYTES {
            return;
        }
        match punch_hole(self.stream.get_ref(), self.released, end - self.released) {
            Ok(()) => self.released = end,
            Err(e) => {
                tracing::debug!(path = %self.path.display(), error = %e, "a spilled run is kept whole as it is read");
                self.releasing = false;
            }
        }
    }
}

/// Frees the disk behind `length` bytes of `file` from `offset`, which then read as zeros; the
/// file's length stays.
#[cfg(target_os = "linux")]
fn punch_hole(file: &tokio::fs::File, offset: u64, length: u64) -> std::io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    Ok(fallocate(file, FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE, offset, length)?)
}

#[cfg(not(target_os = "linux"))]
fn punch_hole(_file: &tokio::fs::File, _offset: u64, _length: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The record batch of `message`, whose body is `body`.
fn decode(message: &ipc::Message<'_>, body: &Buffer, schema: &SchemaRef) -> Result<RecordBatch> {
    let batch = message.header_as_record_batch().ok_or_else(|| DataFusionError::Internal("a spilled run has a bad batch".into()))?;
    let mut trusted = UnsafeFlag::new();
    // SAFETY: the run was written by this process (`RunFileWriter`) from arrays that were
    // valid, into a file of its own in the spill directory.
    unsafe { trusted.set(true) };
    let (no_dictionaries, version) = (HashMap::new(), message.version());
    let decoder = RecordBatchDecoder::try_new(body, batch, schema.clone(), &no_dictionaries, &version)?;
    Ok(decoder.with_require_alignment(false).with_skip_validation(trusted).read_record_batch()?)
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
            let read: Vec<RecordBatch> = manager.read_spill_as_stream(run.file.clone(), None).unwrap().try_collect().await.unwrap();
            assert_eq!(read, written, "DataFusion's reader, {compression:?}");
            let path = run.file.path().unwrap().to_path_buf();
            let read: Vec<RecordBatch> = read_run(run, whole.schema()).unwrap().try_collect().await.unwrap();
            assert_eq!(read, written, "ours, {compression:?}");
            assert!(!path.exists(), "the run is deleted once read");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_disk_behind_what_a_run_has_read_is_given_back() {
        use futures::StreamExt;
        use std::os::unix::fs::MetadataExt;
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let written: Vec<RecordBatch> = (0..40).map(|i| batch(i * 1000..(i + 1) * 1000)).collect();
        let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
        let mut run = RunFileWriter::create(&runtime, &written[0].schema(), SpillCompression::Uncompressed, metrics).unwrap();
        for batch in &written {
            run.append(batch).unwrap();
        }
        let run = run.finish().unwrap();
        let path = run.file.path().unwrap().to_path_buf();
        let (length, disk) = (run.file.size().unwrap(), std::fs::metadata(&path).unwrap().blocks() * 512);
        assert!(disk >= length, "{disk} bytes on disk for a run of {length}");
        let mut stream = read_run(run, written[0].schema()).unwrap();
        let mut read = Vec::new();
        for _ in 0..30 {
            read.push(stream.next().await.unwrap().unwrap());
        }
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.len(), length, "the run keeps its length");
        assert!(metadata.blocks() * 512 < disk / 2, "{} of {disk} bytes still on disk after three quarters of the run", metadata.blocks() * 512);
        read.extend(stream.try_collect::<Vec<_>>().await.unwrap());
        assert_eq!(read, written);
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
    async fn a_damaged_run_ends_its_stream_with_an_error() {
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
        let mut run = RunFileWriter::create(&runtime, &batch(0..1).schema(), SpillCompression::Zstd, metrics).unwrap();
        run.append(&batch(0..2000)).unwrap();
        let whole = std::fs::read(run.finish().unwrap().file.path().unwrap()).unwrap();
        let damaged: [&[u8]; 4] = [
            // Cut inside the schema message, inside the batch's body, and before the end marker.
            &whole[..20],
            &whole[..whole.len() / 2],
            &whole[..whole.len() - 8],
            // A continuation marker, then a length longer than the file: refused, not allocated.
            b"\xff\xff\xff\xff\x00\x00\x00\x70notArrow",
        ];
        for (case, bytes) in damaged.into_iter().enumerate() {
            let file = runtime.disk_manager.create_tmp_file("test").unwrap();
            std::fs::write(file.path().unwrap(), bytes).unwrap();
            let run = SortedSpillFile { file, max_record_batch_memory: 0 };
            let read: Result<Vec<RecordBatch>> = read_run(run, batch(0..1).schema()).unwrap().try_collect().await;
            assert!(read.is_err(), "case {case}");
        }
    }

    #[tokio::test]
    async fn a_run_without_rows_is_refused() {
        let runtime = RuntimeEnvBuilder::new().build_arc().unwrap();
        let metrics = SpillMetrics::new(&ExecutionPlanMetricsSet::new(), 0);
        let run = RunFileWriter::create(&runtime, &batch(0..1).schema(), SpillCompression::Zstd, metrics).unwrap();
        assert!(run.finish().is_err());
    }
}
