//! Where things live: URLs and local paths resolved to object stores.
//!
//! Everything the engine persists (table definitions, the transaction log, the job tracker, data
//! files) lives in an object store under one root, so that the embedded default needs only a
//! local directory and a deployment only S3. Input files may live in any store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::DataFusionError;
use datafusion::execution::object_store::{ObjectStoreRegistry, ObjectStoreUrl};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, RetryConfig};

use crate::confined_store::{ConfinedLocalStore, LocalReadRoots};
use crate::counted_store::CountedStore;
use crate::incomplete_uploads::{IncompleteUploads, s3_keys_by_bucket, shared_directory};
use crate::small_local_io::SmallLocalIo;
use crate::small_object_cache::SmallObjectCache;
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
    #[must_use]
    pub fn child(&self, relative: &str) -> Location {
        let mut path = self.path.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.join(part);
        }
        Location { path, ..self.clone() }
    }

    /// The same store, at another path.
    #[must_use]
    pub fn at(&self, path: Path) -> Location {
        Location { path, ..self.clone() }
    }

    /// Creates the object with `bytes` unless one exists there; true if the object now holds
    /// this writer's bytes, false if another writer's. An object that holds exactly these bytes
    /// is this writer's own: a creation that landed but whose answer was lost, which the client
    /// then retried and found in its way. (Callers' bytes carry a timestamp or an id of their
    /// own, so two writers never write the same bytes.)
    pub async fn create(&self, bytes: Vec<u8>) -> Result<bool> {
        let payload = PutPayload::from(bytes.clone());
        match self.store.put_opts(&self.path, payload, PutMode::Create.into()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                let existing = self.store.get(&self.path).await?.bytes().await?;
                Ok(existing.as_ref() == bytes.as_slice())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The URL of `path` in the store at `store_url` (`file://` or `s3://bucket/`).
pub fn join_url(store_url: &str, path: &Path) -> String {
    let base = store_url.trim_end_matches('/');
    if base == "file:" || base == "file://" { format!("file:///{path}") } else { format!("{base}/{path}") }
}

/// How to reach S3 or an S3-compatible server. Unset fields fall back to the standard AWS
/// environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), then to the instance's role.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub allow_http: Option<bool>,
    /// Attempts after a failed request (throttling, 5xx, connection errors); object_store's
    /// default when unset.
    pub max_retries: Option<usize>,
}

impl S3Options {
    fn builder(&self, bucket: &str) -> AmazonS3Builder {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        if let Some(allow_http) = self.allow_http {
            builder = builder.with_allow_http(allow_http);
        }
        if let Some(max_retries) = self.max_retries {
            builder = builder.with_retry(RetryConfig { max_retries, ..RetryConfig::default() });
        }
        builder
    }
}

/// Resolves URLs and local paths to object stores, building each store once (one per S3
/// bucket). It is also DataFusion's object store registry in every process that runs plans, so
/// that a plan naming `s3://any-bucket/...` finds its store without registering it up front.
#[derive(Debug, Default)]
pub struct ObjectStores {
    s3: S3Options,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    /// How S3's incomplete multipart uploads are aborted, in the processes that sweep attempts.
    incomplete_uploads: Option<Arc<dyn IncompleteUploads>>,
    /// Where local reads may lead, once a job service's policy confines them.
    local_read_roots: LocalReadRoots,
}

impl ObjectStores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores whose S3 buckets are reached with `s3`.
    pub fn with_s3(s3: S3Options) -> Self {
        ObjectStores { s3, ..Self::default() }
    }

    /// Stores that abort the incomplete multipart uploads of the files a sweep removes.
    #[must_use]
    pub fn with_incomplete_uploads(mut self, uploads: Arc<dyn IncompleteUploads>) -> Self {
        self.incomplete_uploads = Some(uploads);
        self
    }

    /// Confines every local read from now on to `roots` (directories), judged by the file
    /// actually opened ([`crate::confined_store`]); an error if already confined.
    pub fn confine_local_reads(&self, roots: &[std::path::PathBuf]) -> Result<()> {
        self.local_read_roots.confine(roots).map_err(|reason| Error::InvalidStore("local reads".into(), reason))
    }

    /// Aborts the incomplete multipart uploads of `files` (those in S3; one listing per bucket);
    /// returns how many were aborted. Without [`Self::with_incomplete_uploads`], none are.
    pub async fn abort_incomplete_uploads(&self, files: &[Location]) -> Result<usize> {
        let Some(uploads) = &self.incomplete_uploads else { return Ok(0) };
        let mut aborted = 0;
        for (bucket, keys) in s3_keys_by_bucket(files) {
            aborted += uploads.abort(&bucket, shared_directory(&keys), &keys).await?;
        }
        Ok(aborted)
    }

    /// Resolves a `file://` or `s3://` URL, or a local path (relative to the working directory).
    pub fn resolve(&self, location: &str) -> Result<Location> {
        let invalid = |reason: String| Error::InvalidStore(location.to_string(), reason);
        match Url::parse(location) {
            Ok(url) if url.scheme() == "s3" || url.scheme() == "s3a" => {
                let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| invalid("no bucket".into()))?;
                let store_url = ObjectStoreUrl::parse(format!("s3://{bucket}")).map_err(|e| invalid(e.to_string()))?;
                let store = self.s3_store(bucket).map_err(|e| invalid(e.to_string()))?;
                let path = Path::from_url_path(url.path()).map_err(|e| invalid(e.to_string()))?;
                Ok(Location { store_url, store, path })
            }
            Ok(url) if url.scheme() == "file" => {
                let fs_path = url.to_file_path().map_err(|()| invalid("not a local file URL".into()))?;
                self.local(&fs_path).map_err(|e| invalid(e.to_string()))
            }
            Ok(url) if url.scheme().len() > 1 => Err(invalid(format!("unsupported scheme {:?}", url.scheme()))),
            // Not a URL, or a Windows drive letter: a local path.
            _ => self.local(std::path::Path::new(location)).map_err(|e| invalid(e.to_string())),
        }
    }

    /// Resolves a path as a job names it. Sleeper writes input paths without a scheme, as
    /// `bucket/key`: when the table store is in S3 (`relative_to` is an `s3://` location), such a
    /// path means `s3://bucket/key`; otherwise it is a local path.
    pub fn resolve_input(&self, path: &str, relative_to: &Location) -> Result<Location> {
        let has_scheme = Url::parse(path).is_ok_and(|u| u.scheme().len() > 1);
        if !has_scheme && relative_to.store_url.as_str().starts_with("s3://") {
            return self.resolve(&format!("s3://{}", path.trim_start_matches('/')));
        }
        self.resolve(path)
    }

    fn s3_store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        self.store_for(&format!("s3://{bucket}/"), || Ok(CountedStore::wrap(SmallObjectCache::wrap(Arc::new(self.s3.builder(bucket).build()?)))))
    }

    fn local(&self, fs_path: &std::path::Path) -> Result<Location> {
        let absolute = std::path::absolute(fs_path).map_err(|e| Error::InvalidStore(fs_path.display().to_string(), e.to_string()))?;
        let store_url = ObjectStoreUrl::local_filesystem();
        let store = self.store_for(store_url.as_str(), || Ok(self.local_filesystem()))?;
        let path = Path::from_absolute_path(&absolute).map_err(|e| Error::InvalidStore(absolute.display().to_string(), e.to_string()))?;
        Ok(Location { store_url, store, path })
    }

    /// The machine's file system, its reads confined once [`Self::confine_local_reads`] is
    /// called, its failures counted, small files read whole kept for the reads that follow,
    /// small files read and written on the calling thread.
    fn local_filesystem(&self) -> Arc<dyn ObjectStore> {
        let file_system = SmallLocalIo::wrap(Arc::new(LocalFileSystem::new()));
        let confined = Arc::new(ConfinedLocalStore::new(file_system, self.local_read_roots.clone()));
        CountedStore::wrap(SmallObjectCache::wrap(confined))
    }

    fn store_for(&self, key: &str, build: impl FnOnce() -> Result<Arc<dyn ObjectStore>>) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores.lock().expect("object store cache poisoned");
        if let Some(store) = stores.get(key) {
            return Ok(store.clone());
        }
        let store = build()?;
        stores.insert(key.to_string(), store.clone());
        Ok(store)
    }
}

/// The key of a store URL: `scheme://host/`, the form `ObjectStoreUrl` gives.
fn store_key(url: &Url) -> String {
    format!("{}://{}/", url.scheme(), url.host_str().unwrap_or(""))
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.lock().expect("object store cache poisoned").insert(store_key(url), store)
    }

    fn get_store(&self, url: &Url) -> datafusion::common::Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(store) = self.stores.lock().expect("object store cache poisoned").get(&key) {
            return Ok(store.clone());
        }
        match url.scheme() {
            "file" => self.store_for(&key, || Ok(self.local_filesystem())).map_err(DataFusionError::from),
            "s3" | "s3a" => match url.host_str() {
                Some(bucket) if !bucket.is_empty() => self.s3_store(bucket).map_err(DataFusionError::from),
                _ => Err(DataFusionError::Configuration(format!("no bucket in {url}"))),
            },
            scheme => Err(DataFusionError::Configuration(format!("no object store for scheme {scheme:?} ({url})"))),
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

    #[test]
    fn scheme_less_inputs_are_buckets_only_when_the_store_is_s3() {
        let stores = ObjectStores::with_s3(S3Options { region: Some("eu-west-2".into()), ..S3Options::default() });
        let s3_root = stores.resolve("s3://tables/root").unwrap();
        let local_root = stores.resolve("/tmp/root").unwrap();
        assert_eq!(stores.resolve_input("input-bucket/dir/a.parquet", &s3_root).unwrap().url(), "s3://input-bucket/dir/a.parquet");
        assert_eq!(stores.resolve_input("/tmp/in/a.parquet", &local_root).unwrap().url(), "file:///tmp/in/a.parquet");
        assert_eq!(stores.resolve_input("file:///tmp/a.parquet", &s3_root).unwrap().url(), "file:///tmp/a.parquet");
        let url = Url::parse("s3://other-bucket/x").unwrap();
        assert!(stores.get_store(&url).is_ok(), "S3 stores are created on first use");
        assert!(stores.get_store(&Url::parse("gs://b/x").unwrap()).is_err());
    }
}
