//! `DataFileSink`: where a writer task's Parquet bytes go, with the put's extensions kept.
//!
//! object_store 0.13's `BufWriter` drops its extensions when it puts a small file in one piece
//! (its shutdown builds the put's options from attributes and tags only). A data file carries
//! [`UnreadUntilWritten`](crate::small_local_io::UnreadUntilWritten), so that a local store may
//! write it in place rather than stage it and rename it over its path: one rename saved per leaf,
//! 10,000 in a job into 10,000 leaves. This sink does what `BufWriter` does, with the extensions
//! on both of its paths: a file is held until it ends and put whole, or, once it outgrows what is
//! held, uploaded in parts.
//!
//! Each piece the Parquet writer hands over (a row group, in the `Vec` it was encoded into, grown
//! by doubling) is copied, as `BufWriter` copies it, so that the piece and its spare capacity are
//! freed at once rather than held until the file or its part is uploaded.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{Extensions, ObjectStore, PutMultipartOptions, PutOptions, PutPayloadMut, WriteMultipart};
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::{ParquetError, Result};

/// The most bytes held before a file is uploaded in parts: `BufWriter`'s default.
pub const PUT_WHOLE_BYTES: usize = 10 * 1024 * 1024;
/// Parts uploaded at once: `BufWriter`'s default.
const PARTS_IN_FLIGHT: usize = 8;

/// A Parquet writer's sink for one object.
pub struct DataFileSink {
    store: Arc<dyn ObjectStore>,
    path: Path,
    extensions: Extensions,
    put_whole_bytes: usize,
    state: State,
}

enum State {
    Held(PutPayloadMut),
    Uploading(WriteMultipart),
    Complete,
}

impl DataFileSink {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path, extensions: Extensions) -> Self {
        Self::with_put_whole_bytes(store, path, extensions, PUT_WHOLE_BYTES)
    }

    /// A sink that uploads in parts once it holds more than `put_whole_bytes`.
    pub fn with_put_whole_bytes(store: Arc<dyn ObjectStore>, path: Path, extensions: Extensions, put_whole_bytes: usize) -> Self {
        DataFileSink { store, path, extensions, put_whole_bytes, state: State::Held(PutPayloadMut::new()) }
    }

    fn written_after_complete(&self) -> ParquetError {
        ParquetError::General(format!("{} was written to after it was complete", self.path))
    }
}

impl AsyncFileWriter for DataFileSink {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match &mut self.state {
                State::Held(held) => {
                    held.extend_from_slice(&bytes);
                    if held.content_length() > self.put_whole_bytes {
                        let held = std::mem::take(held).freeze();
                        let options = PutMultipartOptions { extensions: self.extensions.clone(), ..PutMultipartOptions::default() };
                        let mut parts = WriteMultipart::new(self.store.put_multipart_opts(&self.path, options).await?);
                        held.into_iter().for_each(|chunk| parts.put(chunk));
                        self.state = State::Uploading(parts);
                    }
                }
                State::Uploading(parts) => {
                    parts.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                    parts.write(&bytes);
                }
                State::Complete => return Err(self.written_after_complete()),
            }
            Ok(())
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            match std::mem::replace(&mut self.state, State::Complete) {
                State::Held(held) => {
                    let options = PutOptions { extensions: self.extensions.clone(), ..PutOptions::default() };
                    self.store.put_opts(&self.path, held.freeze(), options).await?;
                }
                State::Uploading(parts) => {
                    parts.finish().await?;
                }
                State::Complete => return Err(self.written_after_complete()),
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStoreExt, PutPayload, PutResult};

    use super::*;
    use crate::small_local_io::UnreadUntilWritten;

    /// An in-memory store that records each write: whole or in parts, and whether it carried
    /// the marker.
    #[derive(Debug, Default)]
    struct RecordingStore {
        inner: InMemory,
        writes: Mutex<Vec<(&'static str, bool)>>,
    }

    impl RecordingStore {
        fn record(&self, how: &'static str, extensions: &Extensions) {
            self.writes.lock().unwrap().push((how, extensions.get::<UnreadUntilWritten>().is_some()));
        }
    }

    impl fmt::Display for RecordingStore {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "RecordingStore")
        }
    }

    #[async_trait]
    impl ObjectStore for RecordingStore {
        async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
            self.record("whole", &opts.extensions);
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.record("in parts", &opts.extensions);
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(&self, locations: BoxStream<'static, object_store::Result<Path>>) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_small_file_is_put_whole_and_a_large_one_in_parts_both_with_the_extensions() {
        let store = Arc::new(RecordingStore::default());
        let mut marked = Extensions::new();
        marked.insert(UnreadUntilWritten);
        let chunks = [Bytes::from_static(b"PAR1"), Bytes::from(vec![7u8; 100]), Bytes::from_static(b"PAR1")];
        for (name, put_whole_bytes, how) in [("small", 1024, "whole"), ("large", 50, "in parts")] {
            let path = Path::from(name);
            let mut sink = DataFileSink::with_put_whole_bytes(store.clone(), path.clone(), marked.clone(), put_whole_bytes);
            for chunk in &chunks {
                sink.write(chunk.clone()).await.unwrap();
            }
            sink.complete().await.unwrap();
            assert_eq!(store.inner.get(&path).await.unwrap().bytes().await.unwrap(), chunks.concat(), "{name}");
            assert_eq!(std::mem::take(&mut *store.writes.lock().unwrap()), [(how, true)], "{name}");
            assert!(sink.write(Bytes::from_static(b"x")).await.is_err(), "{name}: a complete file takes no more bytes");
            assert!(sink.complete().await.is_err(), "{name}: nor completes twice");
        }
    }
}
