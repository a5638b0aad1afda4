//! Local reads confined to directories, judged by the file actually opened.
//!
//! A job service admits a local input only under an allowed source, judging the path with `..`
//! and symlinks resolved. A path can still be swapped between admission and reading (a
//! directory or file replaced by a symlink out of the source). So once a process's reads are
//! confined ([`LocalReadRoots::confine`]), every local read opens the file first and checks
//! where the open file really is (on Linux, `/proc/self/fd`), then reads through that open
//! file: no swap after the check can redirect the read.
//!
//! Only reads are confined; the engine writes only under its store's root, and listings name
//! files that are then read through here. Executors of the distributed mode read in their own
//! processes, with their own rights.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
    RenameOptions, Result,
};

/// The directories a process's local reads are confined to, once set; shared by every local
/// store the process builds.
#[derive(Debug, Clone, Default)]
pub struct LocalReadRoots(Arc<OnceLock<Vec<PathBuf>>>);

impl LocalReadRoots {
    /// Confines local reads to `roots` (canonicalised here) from now on; an error if they were
    /// confined already, or a root cannot be resolved.
    pub fn confine(&self, roots: &[PathBuf]) -> std::result::Result<(), String> {
        let canonical = roots.iter().map(|r| r.canonicalize().map_err(|e| format!("{}: {e}", r.display()))).collect::<std::result::Result<_, _>>()?;
        self.0.set(canonical).map_err(|_| "local reads are already confined".to_string())
    }

    fn get(&self) -> Option<&[PathBuf]> {
        self.0.get().map(Vec::as_slice)
    }
}

/// A local file system whose reads stay under [`LocalReadRoots`].
#[derive(Debug)]
pub struct ConfinedLocalStore {
    inner: Arc<dyn ObjectStore>,
    roots: LocalReadRoots,
}

impl ConfinedLocalStore {
    /// `inner` must be a local file system rooted at `/` (`LocalFileSystem::new()`).
    pub fn new(inner: Arc<dyn ObjectStore>, roots: LocalReadRoots) -> Self {
        ConfinedLocalStore { inner, roots }
    }
}

/// A file opened and found under a root, and the path that reads through it.
struct CheckedFile {
    /// Held open until the inner store has opened the file through `through`.
    _file: std::fs::File,
    through: Path,
}

/// Opens `location` and checks where the open file really is.
async fn open_checked(location: &Path, roots: &[PathBuf]) -> Result<CheckedFile> {
    let path = PathBuf::from(format!("/{location}"));
    let roots = roots.to_vec();
    let display = location.to_string();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => object_store::Error::NotFound { path: display.clone(), source: source.into() },
            _ => generic(source),
        })?;
        let (real, through) = real_path(&file, &path).map_err(generic)?;
        if !roots.iter().any(|root| real.starts_with(root)) {
            let reason = format!("{} leads to {}, outside every allowed source", path.display(), real.display());
            return Err(object_store::Error::PermissionDenied { path: display, source: reason.into() });
        }
        Ok(CheckedFile { _file: file, through })
    })
    .await
    .map_err(generic)?
}

fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(source) }
}

/// Where an open file really is, and a path that reads that same open file.
#[cfg(target_os = "linux")]
fn real_path(file: &std::fs::File, _opened: &std::path::Path) -> std::io::Result<(PathBuf, Path)> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd().to_string();
    let real = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
    Ok((real, Path::from_iter(["proc", "self", "fd", fd.as_str()])))
}

/// Where an open file really is, judged by its path: without `/proc`, a swap between this check
/// and the read is not caught.
#[cfg(not(target_os = "linux"))]
fn real_path(_file: &std::fs::File, opened: &std::path::Path) -> std::io::Result<(PathBuf, Path)> {
    let real = opened.canonicalize()?;
    let through = Path::from_absolute_path(&real).map_err(std::io::Error::other)?;
    Ok((real, through))
}

impl fmt::Display for ConfinedLocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Confined({})", self.inner)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for ConfinedLocalStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let Some(roots) = self.roots.get() else { return self.inner.get_opts(location, options).await };
        let checked = open_checked(location, roots).await?;
        let mut result = self.inner.get_opts(&checked.through, options).await?;
        result.meta.location = location.clone();
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let Some(roots) = self.roots.get() else { return self.inner.get_ranges(location, ranges).await };
        let checked = open_checked(location, roots).await?;
        self.inner.get_ranges(&checked.through, ranges).await
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
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;

    fn at(path: &std::path::Path) -> Path {
        Path::from_absolute_path(path).unwrap()
    }

    #[tokio::test]
    async fn a_path_swapped_for_a_symlink_after_admission_reads_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let (allowed, outside) = (dir.path().join("in"), dir.path().join("secret"));
        std::fs::create_dir_all(allowed.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("sub/a.parquet"), b"inside").unwrap();
        std::fs::write(outside.join("a.parquet"), b"secret").unwrap();
        let roots = LocalReadRoots::default();
        let store = ConfinedLocalStore::new(Arc::new(LocalFileSystem::new()), roots.clone());
        let file = at(&allowed.join("sub/a.parquet"));

        // Unconfined, anything reads; confined, what is inside does.
        assert_eq!(store.get(&at(&outside.join("a.parquet"))).await.unwrap().bytes().await.unwrap().as_ref(), b"secret");
        roots.confine(std::slice::from_ref(&allowed)).unwrap();
        assert!(roots.confine(std::slice::from_ref(&outside)).is_err(), "confined twice");
        let read = store.get(&file).await.unwrap();
        assert_eq!(read.meta.location, file);
        assert_eq!(read.bytes().await.unwrap().as_ref(), b"inside");
        assert_eq!(store.get_range(&file, 1..4).await.unwrap().as_ref(), b"nsi");
        assert_eq!(store.head(&file).await.unwrap().size, 6);
        assert!(matches!(store.get(&at(&outside.join("a.parquet"))).await, Err(object_store::Error::PermissionDenied { .. })));

        // The file swapped for a symlink out: refused, by every way of reading.
        std::fs::remove_file(allowed.join("sub/a.parquet")).unwrap();
        std::os::unix::fs::symlink(outside.join("a.parquet"), allowed.join("sub/a.parquet")).unwrap();
        let refused = store.get(&file).await.unwrap_err();
        assert!(refused.to_string().contains("outside every allowed source"), "{refused}");
        assert!(matches!(store.get_ranges(&file, &[0..2, 3..4]).await, Err(object_store::Error::PermissionDenied { .. })));
        assert!(matches!(store.head(&file).await, Err(object_store::Error::PermissionDenied { .. })));

        // A directory on the path swapped for a symlink out: refused too.
        std::fs::remove_dir_all(allowed.join("sub")).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("sub")).unwrap();
        assert!(matches!(store.get(&file).await, Err(object_store::Error::PermissionDenied { .. })));
        assert!(matches!(store.get(&at(&allowed.join("absent"))).await, Err(object_store::Error::NotFound { .. })));
    }
}
