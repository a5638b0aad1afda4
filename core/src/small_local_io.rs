//! Small local reads and writes done on the calling thread.
//!
//! `object_store`'s `LocalFileSystem` hands every call to Tokio's blocking pool. For a read or
//! write of a few kilobytes in the page cache, that hand-off (a blocking thread woken, two context
//! switches, the task woken back) costs more than the I/O itself. A job of 10,000 small input
//! files into 10,000 leaves makes about 50,000 such calls: two footer reads per input, and a data
//! file and its sketches per leaf.
//!
//! So a call that moves at most [`INLINE_BYTES`] is done here, with the same effect as
//! `LocalFileSystem`'s: a put that overwrites goes to a staged `<path>#<n>` created new and then
//! renamed over the path, so that no reader sees part of a file; a read opens the file, checks
//! the caller's preconditions against its metadata and reads the range. Everything else, and
//! anything that would fail in a way this module does not mirror, goes to the inner store. The
//! Tokio worker is blocked for as long as a small copy to or from the page cache takes, as
//! DataFusion's own spill files block it.
//!
//! A call done here is not a point where the task yields, as the hand-off was: a writer task that
//! writes thousands of small files from rows already sorted would otherwise hold its worker, and
//! not see a cancellation, until it ends. So each call first spends a unit of the task's Tokio
//! budget, which yields once the budget is spent (every 128 units).

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// The most bytes a call moves on the calling thread; larger calls are worth the hand-off.
pub const INLINE_BYTES: u64 = 256 * 1024;

/// A local file system rooted at `/` whose small reads and overwriting puts run on the calling
/// thread.
#[derive(Debug)]
pub struct SmallLocalIo {
    /// `LocalFileSystem::new()`.
    inner: Arc<dyn ObjectStore>,
}

impl SmallLocalIo {
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(SmallLocalIo { inner })
    }
}

impl fmt::Display for SmallLocalIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmallLocalIo({})", self.inner)
    }
}

/// Whether `LocalFileSystem` takes `location` for a file: its name does not end in `#<digits>`,
/// the form of its staged uploads.
fn is_valid_file_path(location: &Path) -> bool {
    location.filename().is_some_and(|name| match name.split_once('#') {
        Some((_, suffix)) => suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    })
}

/// The file `location` names, decoded as `LocalFileSystem` decodes it (rooted at `/`).
fn filesystem_path(location: &Path) -> Option<PathBuf> {
    // Without a percent sign there is nothing to decode: the file is the path itself, and a
    // URL parsed for each of a wide job's 20,000 puts cost about 1% of its CPU.
    if !location.as_ref().contains('%') {
        return Some(PathBuf::from(format!("/{location}")));
    }
    let mut url = url::Url::parse("file:///").ok()?;
    url.path_segments_mut().ok()?.pop_if_empty().extend(location.parts());
    url.to_file_path().ok()
}

fn io_error(path: &std::path::Path, source: std::io::Error) -> object_store::Error {
    match source.kind() {
        ErrorKind::NotFound => object_store::Error::NotFound { path: path.display().to_string(), source: source.into() },
        _ => object_store::Error::Generic { store: "LocalFileSystem", source: format!("{}: {source}", path.display()).into() },
    }
}

/// Marks a put whose object nobody reads until the put has returned: a data file or its
/// sketches, which a reader finds only once a commit names them. It is written in place, without
/// the staged file and the rename that keep a reader from seeing part of an object (a rename for
/// each of a wide job's 20,000 files was a seventh of the time their puts took). A put that
/// fails removes what it wrote; a process killed while writing leaves part of the file under its
/// own name, which its writer recorded before starting it, and so which the attempt's cleanup
/// removes.
#[derive(Debug, Clone, Copy)]
pub struct UnreadUntilWritten;

/// Writes `payload` to `path` in place ([`UnreadUntilWritten`]). The result has no e-tag:
/// finding it would cost an `fstat` for each of a wide job's 20,000 files, and the writers that
/// mark their puts never read it.
fn put_in_place(path: &std::path::Path, payload: &PutPayload) -> std::io::Result<PutResult> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    let file = open_creating_parents(path, &options)?;
    match write_payload(file, payload) {
        Ok(_) => Ok(PutResult { e_tag: None, version: None }),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Writes `payload` to `file` and hands the file back: a staged put reads its metadata for the
/// e-tag before closing it; an in-place put closes it at once.
fn write_payload(mut file: File, payload: &PutPayload) -> std::io::Result<File> {
    payload.iter().try_for_each(|chunk| file.write_all(chunk))?;
    Ok(file)
}

/// Opens `path` with `options`, creating its parent directories if they are missing.
fn open_creating_parents(path: &std::path::Path, options: &std::fs::OpenOptions) -> std::io::Result<File> {
    match options.open(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::fs::create_dir_all(path.parent().ok_or(e)?)?;
            options.open(path)
        }
        opened => opened,
    }
}

/// Writes `payload` to `path` through a staged file renamed over it.
fn put_staged(path: &std::path::Path, payload: &PutPayload) -> std::io::Result<PutResult> {
    let (file, staged) = create_staged(path)?;
    let renamed =
        write_payload(file, payload).and_then(|file| file.metadata()).and_then(|metadata| std::fs::rename(&staged, path).map(|()| metadata));
    match renamed {
        Ok(metadata) => Ok(PutResult { e_tag: Some(e_tag(&metadata)), version: None }),
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

/// Creates `<path>#<n>` for the first free `n`, and the parent directories if they are missing.
fn create_staged(path: &std::path::Path) -> std::io::Result<(File, PathBuf)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    let mut n = 1u32;
    loop {
        let mut staged = path.as_os_str().to_owned();
        staged.push(format!("#{n}"));
        let staged = PathBuf::from(staged);
        match open_creating_parents(&staged, &options) {
            Ok(file) => return Ok((file, staged)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// The e-tag `LocalFileSystem` gives a file: inode, modification time and size.
fn e_tag(metadata: &Metadata) -> String {
    let mtime = metadata.modified().ok().and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()).unwrap_or_default().as_micros();
    format!("{:x}-{mtime:x}-{:x}", metadata.ino(), metadata.len())
}

/// An open regular file and what `LocalFileSystem` says of it.
fn open(location: &Path, path: &std::path::Path) -> Result<(File, ObjectMeta)> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let metadata = file.metadata().map_err(|e| io_error(path, e))?;
    if metadata.is_dir() {
        return Err(io_error(path, std::io::Error::new(ErrorKind::NotFound, "is a directory")));
    }
    let last_modified: DateTime<Utc> = metadata.modified().map_err(|e| io_error(path, e))?.into();
    let meta = ObjectMeta { location: location.clone(), last_modified, size: metadata.len(), e_tag: Some(e_tag(&metadata)), version: None };
    Ok((file, meta))
}

fn read_at(file: &File, path: &std::path::Path, range: &Range<u64>) -> Result<Bytes> {
    let length = usize::try_from(range.end - range.start).map_err(|e| io_error(path, std::io::Error::other(e)))?;
    let mut buffer = vec![0; length];
    file.read_exact_at(&mut buffer, range.start).map_err(|e| io_error(path, e))?;
    Ok(buffer.into())
}

/// A get opened here, and read here unless it is a head or too large; `None` for a range the
/// file cannot satisfy, whose error the inner store words.
fn get_inline(location: &Path, path: &std::path::Path, options: &GetOptions) -> Result<Option<GetResult>> {
    let (file, meta) = open(location, path)?;
    options.check_preconditions(&meta)?;
    let range = match &options.range {
        Some(range) => match range.as_range(meta.size) {
            Ok(range) => range,
            Err(_) => return Ok(None),
        },
        None => 0..meta.size,
    };
    let payload = if options.head || range.end - range.start > INLINE_BYTES {
        // Read later, through the inner store's hand-off, as `LocalFileSystem` returns it.
        GetResultPayload::File(file, path.to_path_buf())
    } else {
        let bytes = read_at(&file, path, &range)?;
        GetResultPayload::Stream(Box::pin(futures::stream::once(std::future::ready(Ok(bytes)))))
    };
    Ok(Some(GetResult { payload, meta, range, attributes: Attributes::default() }))
}

/// Ranges read here, or `None` for the inner store: too many bytes, or a range past the end.
fn get_ranges_inline(path: &std::path::Path, ranges: &[Range<u64>]) -> Result<Option<Vec<Bytes>>> {
    let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
    if total > INLINE_BYTES || ranges.iter().any(|r| r.end <= r.start) {
        return Ok(None);
    }
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let size = file.metadata().map_err(|e| io_error(path, e))?.len();
    if ranges.iter().any(|r| r.end > size) {
        return Ok(None);
    }
    ranges.iter().map(|range| read_at(&file, path, range)).collect::<Result<_>>().map(Some)
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for SmallLocalIo {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let inline = matches!(opts.mode, PutMode::Overwrite)
            && opts.attributes.is_empty()
            && payload.content_length() as u64 <= INLINE_BYTES
            && is_valid_file_path(location);
        let Some(path) = filesystem_path(location).filter(|_| inline) else {
            return self.inner.put_opts(location, payload, opts).await;
        };
        tokio::task::coop::consume_budget().await;
        let put = if opts.extensions.get::<UnreadUntilWritten>().is_some() { put_in_place(&path, &payload) } else { put_staged(&path, &payload) };
        put.map_err(|e| io_error(&path, e))
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        tokio::task::coop::consume_budget().await;
        if let Some(path) = filesystem_path(location).filter(|_| is_valid_file_path(location))
            && let Some(result) = get_inline(location, &path, &options)?
        {
            return Ok(result);
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        tokio::task::coop::consume_budget().await;
        if let Some(path) = filesystem_path(location).filter(|_| is_valid_file_path(location))
            && let Some(read) = get_ranges_inline(&path, ranges)?
        {
            return Ok(read);
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
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
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
#[expect(clippy::single_range_in_vec_init, reason = "lists of byte ranges to read, some of one range")]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;
    use object_store::{GetRange, ObjectStoreExt};

    fn at(path: &std::path::Path) -> Path {
        Path::from_absolute_path(path).unwrap()
    }

    /// The outcome of a call, comparable between stores: the bytes, or the error's kind.
    fn outcome<T: std::fmt::Debug>(result: &Result<T>) -> String {
        match result {
            Ok(value) => format!("{value:?}"),
            Err(object_store::Error::NotFound { .. }) => "not found".into(),
            Err(object_store::Error::Precondition { .. }) => "precondition".into(),
            Err(object_store::Error::NotModified { .. }) => "not modified".into(),
            Err(_) => "error".into(),
        }
    }

    #[tokio::test]
    async fn small_puts_land_whole_as_the_local_file_system_puts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (local, store) = (LocalFileSystem::new(), SmallLocalIo::wrap(Arc::new(LocalFileSystem::new())));
        let small = at(&dir.path().join("a/b/small.parquet"));
        let large = at(&dir.path().join("a/large.parquet"));
        let large_bytes = vec![7u8; INLINE_BYTES as usize + 1];

        let put = store.put(&small, PutPayload::from_iter([Bytes::from_static(b"ab"), Bytes::from_static(b"cd")])).await.unwrap();
        assert_eq!(put.e_tag, local.head(&small).await.unwrap().e_tag, "the e-tag LocalFileSystem reports");
        assert_eq!(std::fs::read(dir.path().join("a/b/small.parquet")).unwrap(), b"abcd");
        store.put(&small, PutPayload::from_static(b"xyz")).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b/small.parquet")).unwrap(), b"xyz", "overwritten");
        store.put(&large, PutPayload::from(large_bytes.clone())).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/large.parquet")).unwrap(), large_bytes);
        let mut names: Vec<_> = walk(dir.path());
        names.sort();
        assert_eq!(names, ["a/b/small.parquet", "a/large.parquet"], "no staged file is left");

        // Create-if-absent and names of staged files are the inner store's to answer.
        let created = store.put_opts(&small, PutPayload::from_static(b"new"), PutMode::Create.into()).await;
        assert!(matches!(created, Err(object_store::Error::AlreadyExists { .. })), "{created:?}");
        let staged_name = at(&dir.path().join("a/x#1"));
        assert_eq!(
            outcome(&store.put(&staged_name, PutPayload::from_static(b"x")).await),
            outcome(&local.put(&staged_name, PutPayload::from_static(b"x")).await)
        );
    }

    #[tokio::test]
    async fn a_put_nobody_reads_until_it_is_written_is_written_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = SmallLocalIo::wrap(Arc::new(LocalFileSystem::new()));
        let file = dir.path().join("new/dir/f.sketches");
        let mut extensions = object_store::Extensions::new();
        extensions.insert(UnreadUntilWritten);
        let in_place = || PutOptions { extensions: extensions.clone(), ..PutOptions::default() };
        let put = store.put_opts(&at(&file), PutPayload::from_static(b"abcd"), in_place()).await.unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"abcd", "its parent directories were made");
        assert_eq!(put.e_tag, None, "no e-tag: its writers never read it");
        let inode = || std::fs::metadata(&file).unwrap().ino();
        let first = inode();
        store.put_opts(&at(&file), PutPayload::from_static(b"xy"), in_place()).await.unwrap();
        assert_eq!((std::fs::read(&file).unwrap(), inode()), (b"xy".to_vec(), first), "overwritten in place, not renamed over");
        store.put(&at(&file), PutPayload::from_static(b"z")).await.unwrap();
        assert_ne!(inode(), first, "any other put is staged and renamed over the file");
        assert_eq!(walk(dir.path()), ["new/dir/f.sketches"], "no staged file is left");
    }

    #[tokio::test]
    async fn names_with_encoded_characters_land_where_the_local_file_system_puts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (local, store) = (LocalFileSystem::new(), SmallLocalIo::wrap(Arc::new(LocalFileSystem::new())));
        let root = at(dir.path());
        for (i, name) in ["plain-name.parquet", "with space", "100%", "a#b?c", "é ü", "brace{}|^"].into_iter().enumerate() {
            let ours = root.clone().join(format!("ours-{i}")).join(name);
            let theirs = root.clone().join(format!("theirs-{i}")).join(name);
            store.put(&ours, PutPayload::from_static(b"x")).await.unwrap();
            local.put(&theirs, PutPayload::from_static(b"x")).await.unwrap();
            assert_eq!(outcome(&store.get(&theirs).await.map(|_| ())), "()", "{name}: read where LocalFileSystem wrote");
            assert_eq!(outcome(&local.get(&ours).await.map(|_| ())), "()", "{name}: written where LocalFileSystem reads");
        }
        let mut names: Vec<String> = walk(dir.path()).into_iter().filter_map(|n| n.strip_prefix("ours-").map(str::to_string)).collect();
        let mut theirs: Vec<String> = walk(dir.path()).into_iter().filter_map(|n| n.strip_prefix("theirs-").map(str::to_string)).collect();
        names.sort();
        theirs.sort();
        assert_eq!(names, theirs, "the same file names on disk");
    }

    fn walk(root: &std::path::Path) -> Vec<String> {
        let mut files = Vec::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        files
    }

    #[tokio::test]
    async fn reads_answer_as_the_local_file_system_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (local, store) = (LocalFileSystem::new(), SmallLocalIo::wrap(Arc::new(LocalFileSystem::new())));
        let bytes: Vec<u8> = (0..=255u8).cycle().take(INLINE_BYTES as usize * 2).collect();
        std::fs::write(dir.path().join("small"), &bytes[..1000]).unwrap();
        std::fs::write(dir.path().join("large"), &bytes).unwrap();
        std::fs::create_dir(dir.path().join("dir")).unwrap();
        let (small, large) = (at(&dir.path().join("small")), at(&dir.path().join("large")));
        let e_tag = local.head(&small).await.unwrap().e_tag.unwrap();

        let gets = [
            (small.clone(), GetOptions::default()),
            (small.clone(), GetOptions::new().with_range(Some(10..20))),
            (small.clone(), GetOptions::new().with_range(Some(GetRange::Suffix(8)))),
            (small.clone(), GetOptions::new().with_range(Some(GetRange::Offset(990)))),
            (small.clone(), GetOptions::new().with_range(Some(GetRange::Suffix(5000)))),
            (small.clone(), GetOptions::new().with_range(Some(990..2000))),
            (small.clone(), GetOptions::new().with_range(Some(2000..3000))),
            (small.clone(), GetOptions { if_match: Some(e_tag.clone()), ..Default::default() }),
            (small.clone(), GetOptions { if_match: Some("other".into()), ..Default::default() }),
            (small.clone(), GetOptions { if_none_match: Some(e_tag.clone()), ..Default::default() }),
            (small.clone(), GetOptions::new().with_head(true)),
            (large.clone(), GetOptions::default()),
            (large.clone(), GetOptions::new().with_range(Some(GetRange::Suffix(100)))),
            (at(&dir.path().join("absent")), GetOptions::default()),
            (at(&dir.path().join("dir")), GetOptions::default()),
            (at(&dir.path().join("small#2")), GetOptions::default()),
        ];
        for (location, options) in gets {
            let ours = match store.get_opts(&location, options.clone()).await {
                Ok(got) => Ok((got.meta.clone(), got.range.clone(), if options.head { Bytes::new() } else { got.bytes().await.unwrap() })),
                Err(e) => Err(e),
            };
            let theirs = match local.get_opts(&location, options.clone()).await {
                Ok(got) => Ok((got.meta.clone(), got.range.clone(), if options.head { Bytes::new() } else { got.bytes().await.unwrap() })),
                Err(e) => Err(e),
            };
            assert_eq!(outcome(&ours), outcome(&theirs), "{location} {options:?}");
        }

        let range_reads: [(&Path, &[Range<u64>]); 5] = [
            (&small, &[0..10, 500..1000]),
            (&small, &[990..1001]),
            (&small, &[5..5]),
            (&large, &[0..INLINE_BYTES + 1]),
            (&large, &[1..2, INLINE_BYTES..INLINE_BYTES + 3]),
        ];
        for (location, ranges) in range_reads {
            let (ours, theirs) = (store.get_ranges(location, ranges).await, local.get_ranges(location, ranges).await);
            assert_eq!(outcome(&ours), outcome(&theirs), "{location} {ranges:?}");
        }
    }
    /// The inner store here is rooted elsewhere, so where a call lands shows who made it.
    #[tokio::test]
    async fn small_calls_are_made_here_and_large_ones_by_the_inner_store() {
        let (dir, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = SmallLocalIo::wrap(Arc::new(LocalFileSystem::new_with_prefix(elsewhere.path()).unwrap()));
        let (small, large) = (at(&dir.path().join("small")), at(&dir.path().join("large")));
        let large_bytes = vec![1u8; INLINE_BYTES as usize + 1];
        store.put(&small, PutPayload::from_static(b"here")).await.unwrap();
        store.put(&large, PutPayload::from(large_bytes.clone())).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("small")).unwrap(), b"here");
        assert!(!dir.path().join("large").exists());
        assert_eq!(std::fs::read(elsewhere.path().join(large.as_ref())).unwrap(), large_bytes);

        std::fs::write(dir.path().join("large"), &large_bytes).unwrap();
        assert_eq!(store.get_range(&small, 1..3).await.unwrap().as_ref(), b"er");
        assert_eq!(store.get_ranges(&small, &[0..1, 3..4]).await.unwrap(), [Bytes::from_static(b"h"), Bytes::from_static(b"e")]);
        assert_eq!(store.get(&large).await.unwrap().bytes().await.unwrap().len(), large_bytes.len(), "opened here, read whole");
        let ranges = [0..INLINE_BYTES + 1];
        assert_eq!(store.get_ranges(&large, &ranges).await.unwrap()[0].len(), large_bytes.len(), "read by the inner store, from its copy");
        std::fs::remove_file(elsewhere.path().join(large.as_ref())).unwrap();
        assert!(matches!(store.get_ranges(&large, &ranges).await, Err(object_store::Error::NotFound { .. })), "the inner store's copy is gone");
    }
    /// On one thread, another task runs only when this one yields.
    #[tokio::test(flavor = "current_thread")]
    async fn a_task_of_many_small_calls_still_lets_other_tasks_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = SmallLocalIo::wrap(Arc::new(LocalFileSystem::new()));
        let other_ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = tokio::spawn({
            let other_ran = other_ran.clone();
            async move { other_ran.store(true, std::sync::atomic::Ordering::SeqCst) }
        });
        let mut first_seen = None;
        for i in 0..400 {
            let file = at(&dir.path().join(format!("{}.parquet", i % 4)));
            store.put(&file, PutPayload::from_static(b"rows")).await.unwrap();
            if first_seen.is_none() && other_ran.load(std::sync::atomic::Ordering::SeqCst) {
                first_seen = Some(i);
            }
        }
        other.await.unwrap();
        assert!(first_seen.is_some_and(|i| i < 200), "the other task ran after call {first_seen:?} of 400");
    }
}
