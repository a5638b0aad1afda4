//! An object store that keeps a small Parquet file it has just read whole, for the reads of the
//! file's parts that follow.
//!
//! DataFusion asks for a Parquet file's footer with a size hint (512 KiB), as one range from the
//! file's start when the file is smaller than that: the whole file. It then asks for the file's
//! column chunks, a second request for bytes it already had. For a job of 10,000 small input
//! files that is 10,000 more GETs from S3, or 10,000 more opens, reads and thread hand-offs on a
//! local disk. Kept here, the second read is a slice.
//!
//! Only `get_ranges` is touched, the call Parquet readers make; every other read, and so every
//! read of the objects the store itself rewrites (leases, logs, records), goes to the store. A
//! footer read always goes to the store too, and replaces what was kept, so the parts read after
//! it are of the file as it is now. At most [`MAX_CACHED_BYTES`] are kept, the least recently used
//! going first; a write, copy, rename or delete of a path forgets it.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::cache::lru_queue::LruQueue;
use futures::TryStreamExt;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result,
};

/// How many bytes at a Parquet file's end are read in the first request for its footer:
/// DataFusion's own default. A footer that fits needs one request, not two (the 8-byte tail, then
/// the metadata), which counts when a job has thousands of small files. A file no larger comes
/// back whole, which makes this also the largest object kept here.
pub const FOOTER_READ_BYTES: usize = 512 * 1024;
/// The largest object kept, in the object store's unit.
const MAX_OBJECT_BYTES: u64 = FOOTER_READ_BYTES as u64;
/// All the bytes kept at once. A scan task reads a file's footer and then straight away its
/// column chunks, so only the last few files of each task are ever asked for again.
pub const MAX_CACHED_BYTES: u64 = 32 * 1024 * 1024;

/// The kept files' bodies, by path, least recently used first.
struct KeptFiles {
    bodies: LruQueue<Path, Bytes>,
    bytes: u64,
}

impl Default for KeptFiles {
    fn default() -> Self {
        KeptFiles { bodies: LruQueue::new(), bytes: 0 }
    }
}

impl KeptFiles {
    fn keep(&mut self, path: Path, body: Bytes) {
        self.bytes += body.len() as u64;
        if let Some(replaced) = self.bodies.put(path, body) {
            self.bytes -= replaced.len() as u64;
        }
        while self.bytes > MAX_CACHED_BYTES {
            let Some((_, evicted)) = self.bodies.pop() else { break };
            self.bytes -= evicted.len() as u64;
        }
    }

    fn forget(&mut self, path: &Path) {
        if let Some(forgotten) = self.bodies.remove(path) {
            self.bytes -= forgotten.len() as u64;
        }
    }

    /// `ranges` of the kept body of `path`, if it is kept and holds them all.
    fn slices(&mut self, path: &Path, ranges: &[Range<u64>]) -> Option<Vec<Bytes>> {
        let body = self.bodies.get(path)?;
        let slice = |range: &Range<u64>| {
            let (start, end) = (usize::try_from(range.start).ok()?, usize::try_from(range.end).ok()?);
            (start <= end && end <= body.len()).then(|| body.slice(start..end))
        };
        ranges.iter().map(slice).collect()
    }
}

/// The kept files are consistent after every statement: a panic elsewhere leaves them usable.
fn lock(kept: &Mutex<KeptFiles>) -> MutexGuard<'_, KeptFiles> {
    kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct SmallObjectCache {
    inner: Arc<dyn ObjectStore>,
    kept: Arc<Mutex<KeptFiles>>,
}

impl SmallObjectCache {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(SmallObjectCache { inner, kept: Arc::default() })
    }

    fn forget(&self, location: &Path) {
        lock(&self.kept).forget(location);
    }

    /// A read of `range`, from the start of the object, asked as a plain read: its answer says
    /// whether it is the whole object, which is then kept.
    async fn read_from_start(&self, location: &Path, range: &Range<u64>) -> Result<Option<Bytes>> {
        let result = self.inner.get_opts(location, GetOptions { range: Some(range.clone().into()), ..GetOptions::default() }).await?;
        if result.range != *range {
            // Past the object's end: the store's own `get_ranges` gives the error it gives.
            return Ok(None);
        }
        let whole = result.range == (0..result.meta.size);
        let body = result.bytes().await?;
        if whole {
            lock(&self.kept).keep(location.clone(), body.clone());
        }
        Ok(Some(body))
    }
}

impl fmt::Debug for SmallObjectCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmallObjectCache").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl fmt::Display for SmallObjectCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for SmallObjectCache {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.forget(location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.forget(location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        if let [range] = ranges
            && range.start == 0
            && range.end <= MAX_OBJECT_BYTES
        {
            if let Some(body) = self.read_from_start(location, range).await? {
                return Ok(vec![body]);
            }
        } else if let Some(slices) = lock(&self.kept).slices(location, ranges) {
            return Ok(slices);
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        // Each path is forgotten before the store is asked to delete it.
        let kept = self.kept.clone();
        self.inner.delete_stream(locations.inspect_ok(move |location| lock(&kept).forget(location)).boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.forget(to);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.forget(from);
        self.forget(to);
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one range, as DataFusion asks for a footer
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    /// A cache over an in-memory store, and the store itself, to change behind the cache's back:
    /// a read that still answers after its object is gone from the store came from the cache.
    fn stores() -> (Arc<dyn ObjectStore>, Arc<InMemory>) {
        let inner = Arc::new(InMemory::new());
        (SmallObjectCache::wrap(inner.clone()), inner)
    }

    fn body(len: u64, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    async fn put(store: &Arc<InMemory>, path: &Path, bytes: &[u8]) {
        store.put(path, PutPayload::from(bytes.to_vec())).await.unwrap();
    }

    fn not_found<T>(read: &Result<T>) -> bool {
        matches!(read, Err(object_store::Error::NotFound { .. }))
    }

    #[tokio::test]
    async fn a_small_file_read_whole_answers_the_reads_of_its_parts() {
        let (cache, inner) = stores();
        let path = Path::from("in/part-0.parquet");
        let bytes = body(25_471, 1);
        put(&inner, &path, &bytes).await;
        // The footer read, as DataFusion asks it: one range from the start, the whole file.
        assert_eq!(cache.get_ranges(&path, &[0..25_471]).await.unwrap(), [Bytes::from(bytes.clone())]);
        inner.delete(&path).await.unwrap();
        let parts = cache.get_ranges(&path, &[4..7_610, 7_610..16_920, 16_920..25_467]).await.unwrap();
        assert_eq!(parts, [&bytes[4..7_610], &bytes[7_610..16_920], &bytes[16_920..25_467]].map(Bytes::copy_from_slice));
        // A range past the end is not cut short from the kept body, and plain reads are the store's.
        assert!(not_found(&cache.get_ranges(&path, &[25_000..26_000]).await));
        assert!(not_found(&cache.get_range(&path, 100..200).await));
        assert!(not_found(&cache.get(&path).await));
    }

    #[tokio::test]
    async fn a_footer_read_always_goes_to_the_store_and_the_parts_follow_it() {
        let (cache, inner) = stores();
        let path = Path::from("swapped.parquet");
        put(&inner, &path, &body(1_000, 2)).await;
        cache.get_ranges(&path, &[0..1_000]).await.unwrap();
        put(&inner, &path, &body(1_000, 3)).await;
        assert_eq!(cache.get_ranges(&path, &[0..1_000]).await.unwrap(), [Bytes::from(body(1_000, 3))]);
        assert_eq!(cache.get_ranges(&path, &[10..20]).await.unwrap(), [Bytes::copy_from_slice(&body(1_000, 3)[10..20])]);
        inner.delete(&path).await.unwrap();
        assert!(not_found(&cache.get_ranges(&path, &[0..1_000]).await));
    }

    #[tokio::test]
    async fn only_small_objects_read_whole_are_kept() {
        let (cache, inner) = stores();
        let (large, part_read, plain_read) = (Path::from("large"), Path::from("part-read"), Path::from("plain-read"));
        put(&inner, &large, &body(MAX_OBJECT_BYTES + 1, 4)).await;
        put(&inner, &part_read, &body(1_000, 5)).await;
        put(&inner, &plain_read, &body(1_000, 6)).await;
        cache.get_ranges(&large, &[0..MAX_OBJECT_BYTES + 1]).await.unwrap();
        cache.get_ranges(&part_read, &[0..999]).await.unwrap();
        cache.get(&plain_read).await.unwrap().bytes().await.unwrap();
        for path in [&large, &part_read, &plain_read] {
            inner.delete(path).await.unwrap();
            assert!(not_found(&cache.get_ranges(path, &[1..10]).await), "{path}");
        }
    }

    #[tokio::test]
    async fn writes_renames_and_deletes_forget_what_was_kept() {
        let (cache, inner) = stores();
        let [a, b, c] = ["a", "b", "c"].map(Path::from);
        for (path, seed) in [(&a, 7), (&b, 8), (&c, 9)] {
            put(&inner, path, &body(100, seed)).await;
            cache.get_ranges(path, &[0..100]).await.unwrap();
        }
        cache.put(&a, PutPayload::from(body(100, 10))).await.unwrap();
        assert_eq!(cache.get_ranges(&a, &[1..3]).await.unwrap(), [Bytes::copy_from_slice(&body(100, 10)[1..3])]);
        cache.rename(&b, &c).await.unwrap();
        assert_eq!(cache.get_ranges(&c, &[1..3]).await.unwrap(), [Bytes::copy_from_slice(&body(100, 8)[1..3])]);
        assert!(not_found(&cache.get_ranges(&b, &[1..3]).await));
        cache.delete(&c).await.unwrap();
        assert!(not_found(&cache.get_ranges(&c, &[1..3]).await));
    }

    #[tokio::test]
    async fn the_bytes_kept_stay_within_their_bound_the_oldest_going_first() {
        let (cache, inner) = stores();
        let fit = MAX_CACHED_BYTES / MAX_OBJECT_BYTES;
        let paths: Vec<Path> = (0..fit + 8).map(|i| Path::from(format!("f{i}"))).collect();
        for path in &paths {
            put(&inner, path, &body(MAX_OBJECT_BYTES, 11)).await;
            cache.get_ranges(path, &[0..MAX_OBJECT_BYTES]).await.unwrap();
            inner.delete(path).await.unwrap();
        }
        let answered: Vec<bool> =
            futures::future::join_all(paths.iter().map(|path| cache.get_ranges(path, &[1..2]))).await.iter().map(Result::is_ok).collect();
        let expected: Vec<bool> = (0..fit + 8).map(|i| i >= 8).collect();
        assert_eq!(answered, expected);
    }
}
