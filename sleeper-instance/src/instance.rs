//! The instance's properties: `instance.properties` in its config bucket, Java properties text
//! (`S3InstanceProperties`), and the names of everything a bulk import touches.

use std::collections::BTreeMap;
use std::sync::Arc;

use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_core::{Error, Result};
use object_store::ObjectStoreExt;

pub const ID: &str = "sleeper.id";
pub const FILE_SYSTEM: &str = "sleeper.filesystem";
pub const DATA_BUCKET: &str = "sleeper.data.bucket";
pub const BULK_IMPORT_BUCKET: &str = "sleeper.bulk.import.bucket";
pub const COMMITTER_QUEUE_URL: &str = "sleeper.statestore.committer.queue.url";
pub const TABLE_NAME_INDEX: &str = "sleeper.tables.name.index.dynamo.table";
pub const TABLE_ID_INDEX: &str = "sleeper.tables.id.index.dynamo.table";
pub const FILES_LOG: &str = "sleeper.statestore.transactionlog.dynamo.file.log.table";
pub const PARTITIONS_LOG: &str = "sleeper.statestore.transactionlog.dynamo.partition.log.table";
pub const LATEST_SNAPSHOTS: &str = "sleeper.statestore.transactionlog.dynamo.latest.snapshots.table";
pub const TRACKER_ENABLED: &str = "sleeper.ingest.tracker.enabled";
pub const TRACKER_TTL_SECONDS: &str = "sleeper.ingest.job.status.ttl";
/// Where an instance's table properties take their defaults: `sleeper.table.X` falls back to
/// `sleeper.default.table.X`.
pub const TABLE_DEFAULT_PREFIX: &str = "sleeper.default.table.";
pub const DEFAULT_ASYNC_COMMIT_BEHAVIOUR: &str = "sleeper.default.table.statestore.commit.async.behaviour";

/// The object holding the instance's properties in its config bucket.
pub const INSTANCE_PROPERTIES_OBJECT: &str = "instance.properties";

/// Java properties text as Sleeper writes it (`java.util.Properties.store`: escaped `:` and `=`,
/// `\uXXXX`, continuation lines), as a map.
pub fn parse_java_properties(text: &str, what: &str) -> Result<BTreeMap<String, String>> {
    let map = java_properties::read(text.as_bytes()).map_err(|e| Error::InvalidProperties(format!("{what}: {e}")))?;
    Ok(map.into_iter().collect())
}

#[derive(Debug, Clone)]
pub struct InstanceProperties {
    pub config_bucket: String,
    values: BTreeMap<String, String>,
}

impl InstanceProperties {
    /// Reads `instance.properties` from the config bucket.
    pub async fn load(config_bucket: &str, stores: &Arc<ObjectStores>) -> Result<Self> {
        let location = stores.resolve(&format!("s3://{config_bucket}/{INSTANCE_PROPERTIES_OBJECT}"))?;
        let bytes = match location.store.get(&location.path).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::InvalidStore(
                    format!("sleeper://{config_bucket}"),
                    format!("{} does not exist: is {config_bucket} the config bucket of a Sleeper instance?", location.url()),
                ));
            }
            Err(e) => return Err(Error::InvalidStore(format!("sleeper://{config_bucket}"), format!("cannot read {}: {e}", location.url()))),
        };
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| Error::InvalidProperties(format!("{} is not UTF-8", location.url())))?;
        let values = parse_java_properties(&text, &location.url())?;
        let properties = InstanceProperties { config_bucket: config_bucket.to_string(), values };
        for key in [ID, DATA_BUCKET, TABLE_NAME_INDEX, TABLE_ID_INDEX, FILES_LOG, PARTITIONS_LOG, LATEST_SNAPSHOTS] {
            properties.require(key)?;
        }
        Ok(properties)
    }

    /// Properties given directly (tests, tools).
    pub fn from_map(config_bucket: &str, values: BTreeMap<String, String>) -> Self {
        InstanceProperties { config_bucket: config_bucket.to_string(), values }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A property the backend cannot work without.
    pub fn require(&self, key: &str) -> Result<&str> {
        self.get(key)
            .ok_or_else(|| Error::InvalidProperties(format!("instance.properties of config bucket {} does not set {key}", self.config_bucket)))
    }

    pub fn all(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// `sleeper.filesystem`: how data files' names start (Sleeper's default `s3a://`).
    pub fn file_system(&self) -> &str {
        self.get(FILE_SYSTEM).unwrap_or("s3a://")
    }

    /// The URL data files' names start with: `s3a://<data bucket>`.
    pub fn data_root_url(&self) -> Result<String> {
        Ok(format!("{}{}", self.file_system(), self.require(DATA_BUCKET)?))
    }

    /// The data bucket, as a location of the object stores.
    pub fn data_bucket(&self, stores: &ObjectStores) -> Result<Location> {
        stores.resolve(&format!("s3://{}", self.require(DATA_BUCKET)?))
    }

    /// The config bucket, as a location of the object stores.
    pub fn config_root(&self, stores: &ObjectStores) -> Result<Location> {
        stores.resolve(&format!("s3://{}", self.config_bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_are_unescaped_as_java_reads_them() {
        let text = "#Written by java.util.Properties.store\nsleeper.table.schema={\"rowKeyFields\"\\:[{\"name\"\\:\"key\",\"type\"\\:\"StringType\"}]}\nsleeper.id=my-instance\nlong=a\\\n    b\nunicode=caf\\u00e9\n";
        let map = parse_java_properties(text, "test").unwrap();
        assert_eq!(map["sleeper.table.schema"], r#"{"rowKeyFields":[{"name":"key","type":"StringType"}]}"#);
        assert_eq!(map["sleeper.id"], "my-instance");
        assert_eq!(map["long"], "ab");
        assert_eq!(map["unicode"], "café");
    }
}
