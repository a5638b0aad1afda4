//! Where things live: URLs and local paths resolved to object stores.
//!
//! Everything the engine persists (table definitions, the transaction log, the job tracker, data
//! files) lives in an object store under one root, so that the embedded default needs only a
//! local directory and a deployment only S3. Input files may live in any store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use url::Url;

use crate::error::{Error, Result};

/// A location: the store it is in, and the path inside that store.
#[derive(Debug, Clone)]
pub struct Location {
    pub store_url: ObjectStoreUrl,
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
}

impl Location {
    /// The location as an absolute URL (`file:///...` or `s3://bucket/...`).
    pub fn url(&self) -> String {
        join_url(self.store_url.as_str(), &self.path)
    }

    /// A location below this one.
    pub fn child(&self, relative: &str) -> Location {
        let mut path = self.path.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        Location { path, ..self.clone() }
    }

    /// The same store, at another path.
    pub fn at(&self, path: Path) -> Location {
        Location { path, ..self.clone() }
    }
}

/// The URL of `path` in the store at `store_url` (`file://` or `s3://bucket/`).
pub fn join_url(store_url: &str, path: &Path) -> String {
    let base = store_url.trim_end_matches('/');
    if base == "file:" || base == "file://" {
        format!("file:///{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// Resolves URLs and local paths to object stores, building each store once. S3 stores take
/// their endpoint, region and credentials from the standard AWS environment variables.
#[derive(Debug, Default)]
pub struct ObjectStores {
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl ObjectStores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves a `file://` or `s3://` URL, or a local path (relative to the working directory).
    pub fn resolve(&self, location: &str) -> Result<Location> {
        let invalid = |reason: String| Error::InvalidStore(location.to_string(), reason);
        match Url::parse(location) {
            Ok(url) if url.scheme() == "s3" || url.scheme() == "s3a" => {
                let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| invalid("no bucket".into()))?;
                let store_url = ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| invalid(e.to_string()))?;
                let store = self.store_for(store_url.as_str(), || {
                    let s3 = AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
                    Ok(Arc::new(s3))
                })?;
                let path = Path::from_url_path(url.path()).map_err(|e| invalid(e.to_string()))?;
                Ok(Location { store_url, store, path })
            }
            Ok(url) if url.scheme() == "file" => {
                let fs_path = url.to_file_path().map_err(|_| invalid("not a local file URL".into()))?;
                self.local(&fs_path).map_err(|e| invalid(e.to_string()))
            }
            Ok(url) if url.scheme().len() > 1 => Err(invalid(format!("unsupported scheme {:?}", url.scheme()))),
            // Not a URL, or a Windows drive letter: a local path.
            _ => self.local(std::path::Path::new(location)).map_err(|e| invalid(e.to_string())),
        }
    }

    fn local(&self, fs_path: &std::path::Path) -> Result<Location> {
        let absolute = std::path::absolute(fs_path)
            .map_err(|e| Error::InvalidStore(fs_path.display().to_string(), e.to_string()))?;
        let store_url = ObjectStoreUrl::local_filesystem();
        let store = self.store_for(store_url.as_str(), || Ok(Arc::new(LocalFileSystem::new())))?;
        let path = Path::from_absolute_path(&absolute)
            .map_err(|e| Error::InvalidStore(absolute.display().to_string(), e.to_string()))?;
        Ok(Location { store_url, store, path })
    }

    fn store_for(
        &self,
        key: &str,
        build: impl FnOnce() -> Result<Arc<dyn ObjectStore>>,
    ) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.lock().expect("object store cache poisoned");
        if let Some(store) = stores.get(key) {
            return Ok(store.clone());
        }
        let store = build()?;
        stores.insert(key.to_string(), store.clone());
        Ok(store)
    }

    /// Makes every store resolved so far available to DataFusion plans run in `runtime`.
    pub fn register_all(&self, runtime: &RuntimeEnv) {
        let stores = self.stores.lock().expect("object store cache poisoned");
        for (key, store) in stores.iter() {
            let url = Url::parse(key).expect("store keys are URLs");
            runtime.register_object_store(&url, store.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_and_urls_resolve_to_the_same_place() {
        let stores = ObjectStores::new();
        let a = stores.resolve("/tmp/x/y.parquet").unwrap();
        let b = stores.resolve("file:///tmp/x/y.parquet").unwrap();
        assert_eq!(a.path, b.path);
        assert_eq!(a.url(), "file:///tmp/x/y.parquet");
        assert_eq!(a.child("z/w").url(), "file:///tmp/x/y.parquet/z/w");
        assert!(stores.resolve("ftp://host/x").is_err());
    }
}
