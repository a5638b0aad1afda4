//! An object store that counts its failed requests ([`STORE_METRICS`]) and otherwise passes
//! every call through untouched. Every store [`crate::store::ObjectStores`] builds is wrapped,
//! so the job service's `/metrics` shows object store trouble as it happens. Absent objects and
//! refused conditional writes are answers, not failures, and are not counted; errors inside a
//! streamed body or a listing's later pages are not seen here.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result, UploadPart,
};

use crate::store_metrics::STORE_METRICS;

#[derive(Debug)]
pub struct CountedStore {
    inner: Arc<dyn ObjectStore>,
}

impl CountedStore {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(CountedStore { inner })
    }
}

/// Counts `result` if it is a failure.
fn counted<T>(operation: &str, result: Result<T>) -> Result<T> {
    if let Err(e) = &result
        && !matches!(e, object_store::Error::NotFound { .. } | object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. })
    {
        STORE_METRICS.object_store_error(operation);
    }
    result
}

impl fmt::Display for CountedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountedStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        counted("put", self.inner.put_opts(location, payload, opts).await)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        let upload = counted("put_multipart", self.inner.put_multipart_opts(location, opts).await)?;
        Ok(Box::new(CountedUpload { inner: upload }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        counted("get", self.inner.get_opts(location, options).await)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        counted("get", self.inner.get_ranges(location, ranges).await)
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations).map(|result| counted("delete", result)).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix).map(|result| counted("list", result)).boxed()
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset).map(|result| counted("list", result)).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        counted("list", self.inner.list_with_delimiter(prefix).await)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        counted("copy", self.inner.copy_opts(from, to, options).await)
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        counted("rename", self.inner.rename_opts(from, to, options).await)
    }
}

/// A multipart upload whose failed parts, completion and abort are counted.
#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
}

#[async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.inner.put_part(data);
        Box::pin(async move { counted("put_part", part.await) })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        counted("complete_multipart", self.inner.complete().await)
    }

    async fn abort(&mut self) -> Result<()> {
        counted("abort_multipart", self.inner.abort().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    fn errors(operation: &str) -> u64 {
        STORE_METRICS.object_store_errors_for(operation)
    }

    #[tokio::test]
    async fn failures_are_counted_and_answers_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let store = CountedStore::wrap(Arc::new(local));
        let (gets, copies) = (errors("get"), errors("copy"));
        // Absent objects and refused creations are answers.
        assert!(store.get(&Path::from("absent")).await.is_err());
        store.put(&Path::from("a"), PutPayload::from_static(b"x")).await.unwrap();
        assert!(store.put_opts(&Path::from("a"), PutPayload::from_static(b"y"), object_store::PutMode::Create.into()).await.is_err());
        assert_eq!(errors("get"), gets);
        // A copy onto a directory fails.
        std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
        assert!(store.copy(&Path::from("a"), &Path::from("d")).await.is_err());
        assert_eq!(errors("copy"), copies + 1);
        // Everything else passes through.
        let memory = CountedStore::wrap(Arc::new(InMemory::new()));
        memory.put(&Path::from("k"), PutPayload::from_static(b"v")).await.unwrap();
        assert_eq!(memory.get(&Path::from("k")).await.unwrap().bytes().await.unwrap(), Bytes::from_static(b"v"));
    }
}
