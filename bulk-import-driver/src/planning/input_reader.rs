//! How the embedded scan reads a job's input files: with the footers intake decoded, and
//! without metrics for each file.
//!
//! DataFusion's default reader reads and decodes each file's footer again, after intake read and
//! decoded it to check the file: on S3, one more request per file. It also registers, for each
//! file, nineteen metrics labelled with its name (the opener registers as many again), made
//! during the scan and freed with the plan. This reader answers with the footer intake kept
//! ([`KeptFooter`]) and counts the bytes it reads in one metric per scan task. A file without a
//! kept footer has it read as DataFusion reads it.
//!
//! A kept footer describes the file intake saw. Such a file's data is read on condition that its
//! e-tag is still the one intake listed, so a file replaced since is an error, never one file's
//! footer applied to another's bytes.
//!
//! Only the embedded engine runs the plan as it is built: Ballista serialises the scan without
//! its reader factory, and its executors read as DataFusion does.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use datafusion::common::Result;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{GetOptions, OBJECT_STORE_COALESCE_DEFAULT, ObjectStore, coalesce_ranges};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;

use crate::intake::footer::{KeptFooter, object_reader};

/// Readers of one object store's input files, for one scan.
pub struct InputReaderFactory {
    store: Arc<dyn ObjectStore>,
    /// The bytes read by each scan task: one metric per task, not per file.
    bytes_scanned: Mutex<HashMap<usize, Count>>,
}

impl InputReaderFactory {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        InputReaderFactory { store, bytes_scanned: Mutex::default() }
    }
}

impl fmt::Debug for InputReaderFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputReaderFactory").field("store", &self.store).finish_non_exhaustive()
    }
}

impl ParquetFileReaderFactory for InputReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let bytes_scanned = self
            .bytes_scanned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(partition_index)
            .or_insert_with(|| MetricBuilder::new(metrics).counter("bytes_scanned", partition_index))
            .clone();
        let kept = file.extension::<KeptFooter>().cloned();
        let path = file.object_meta.location;
        let inner = Box::new(object_reader(self.store.clone(), path.clone(), file.object_meta.size, metadata_size_hint));
        Ok(Box::new(InputReader { inner, store: self.store.clone(), path, kept, bytes_scanned }))
    }
}

struct InputReader {
    /// Reads a file without a kept footer, as DataFusion's reader does.
    inner: Box<dyn AsyncFileReader>,
    store: Arc<dyn ObjectStore>,
    path: Path,
    kept: Option<KeptFooter>,
    bytes_scanned: Count,
}

impl AsyncFileReader for InputReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.bytes_scanned.add(usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX));
        match &self.kept {
            Some(kept) => Box::pin(read_unchanged(self.store.clone(), self.path.clone(), kept.e_tag.clone(), range)),
            None => self.inner.get_bytes(range),
        }
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        self.bytes_scanned.add(usize::try_from(total).unwrap_or(usize::MAX));
        match &self.kept {
            Some(kept) => {
                let (store, path, e_tag) = (self.store.clone(), self.path.clone(), kept.e_tag.clone());
                Box::pin(async move {
                    // Near ranges are read as one, as the object store's own `get_ranges` does.
                    let read = |range| read_unchanged(store.clone(), path.clone(), e_tag.clone(), range);
                    coalesce_ranges(&ranges, read, OBJECT_STORE_COALESCE_DEFAULT).await
                })
            }
            None => self.inner.get_byte_ranges(ranges),
        }
    }

    fn get_metadata<'a>(&'a mut self, options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        match &self.kept {
            Some(kept) => Box::pin(std::future::ready(Ok(kept.metadata.clone()))),
            None => self.inner.get_metadata(options),
        }
    }
}

/// `range` of the file, if the file is still the one whose e-tag intake listed.
async fn read_unchanged(store: Arc<dyn ObjectStore>, path: Path, e_tag: String, range: Range<u64>) -> parquet::errors::Result<Bytes> {
    let options = GetOptions { range: Some(range.into()), if_match: Some(e_tag), ..GetOptions::default() };
    let read = async { store.get_opts(&path, options).await?.bytes().await };
    read.await.map_err(|e| match e {
        object_store::Error::Precondition { .. } => {
            ParquetError::General(format!("input file {path} changed after the job was accepted (its e-tag is not the one listed then)"))
        }
        other => ParquetError::External(Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, RecordBatch};
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};
    use parquet::arrow::ArrowWriter;

    use super::*;

    async fn put_parquet(store: &Arc<dyn ObjectStore>, path: &str, rows: i64) -> (Path, u64, String) {
        let batch = RecordBatch::try_from_iter([("key", Arc::new(Int64Array::from_iter_values(0..rows)) as _)]).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let path = Path::from(path);
        let size = bytes.len() as u64;
        let e_tag = store.put(&path, PutPayload::from(bytes)).await.unwrap().e_tag.unwrap();
        (path, size, e_tag)
    }

    #[tokio::test]
    async fn a_kept_footer_is_the_metadata_and_bytes_are_counted_once_per_task() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let (path, size, e_tag) = put_parquet(&store, "in/a.parquet", 100).await;
        let mut read_whole = object_reader(store.clone(), path.clone(), size, None);
        let metadata = read_whole.get_metadata(None).await.unwrap();
        let factory = InputReaderFactory::new(store.clone());
        let metrics = ExecutionPlanMetricsSet::new();
        let kept = KeptFooter { metadata: metadata.clone(), e_tag };
        let file = PartitionedFile::new(path.to_string(), size).with_extension(kept);
        let mut reader = factory.create_reader(0, file.clone(), None, &metrics).unwrap();
        assert!(Arc::ptr_eq(&reader.get_metadata(None).await.unwrap(), &metadata), "the kept footer, not a new read of it");
        let whole = store.get(&path).await.unwrap().bytes().await.unwrap();
        let ranges = reader.get_byte_ranges(vec![0..4, 8..16]).await.unwrap();
        assert_eq!(ranges, [whole.slice(0..4), whole.slice(8..16)]);

        // A file without one has its footer read; every file of a task counts into one metric.
        let mut unkept = factory.create_reader(0, PartitionedFile::new(path.to_string(), size), None, &metrics).unwrap();
        assert_eq!(unkept.get_metadata(None).await.unwrap().file_metadata().num_rows(), 100);
        factory.create_reader(1, file, None, &metrics).unwrap();
        let counted = metrics.clone_inner();
        assert_eq!(counted.iter().count(), 2, "one metric per task: {counted}");
        let task_0 = counted.iter().find(|m| m.partition() == Some(0)).unwrap().value().as_usize();
        assert_eq!(task_0, 12, "the bytes of the two ranges (a footer read is not counted, as in DataFusion's reader)");
    }
}
