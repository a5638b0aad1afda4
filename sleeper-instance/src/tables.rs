//! Table definitions of a Sleeper instance: `tables/table-<id>.properties` in the config bucket
//! (`S3TableProperties`), with each setting the engine uses resolved as Sleeper resolves it:
//! the table's value, then the instance's `sleeper.default.table.*`, then Sleeper's default
//! (which is the engine's own default for every Parquet setting).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bulk_import_core::backend::TablePropertiesProvider;
use bulk_import_core::properties::{
    COLUMN_INDEX_TRUNCATE, COMPRESSION_CODEC, DICTIONARY_ROW_KEYS, DICTIONARY_SORT_KEYS, DICTIONARY_VALUES, MIN_LEAF_PARTITIONS, PAGE_SIZE,
    ROW_GROUP_ROWS, STATISTICS_TRUNCATE, TABLE_CLASS_NAME, TableProperties, WRITE_SKETCHES, WRITER_VERSION,
};
use bulk_import_core::schema::Schema;
use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_core::table::{Table, TableDefinition, TableStatus};
use bulk_import_core::{Error, Result};
use object_store::ObjectStoreExt;

use crate::instance::{DEFAULT_ASYNC_COMMIT_BEHAVIOUR, InstanceProperties, TABLE_DEFAULT_PREFIX, parse_java_properties};

pub const SCHEMA: &str = "sleeper.table.schema";
pub const STATESTORE_CLASSNAME: &str = "sleeper.table.statestore.classname";
pub const ASYNC_COMMITS_ENABLED: &str = "sleeper.table.statestore.commit.async.enabled";
/// Whether a bulk import's files are committed through the committer queue; the resolved value
/// is kept in the table's properties under this name for its state store.
pub const BULK_IMPORT_COMMIT_ASYNC: &str = "sleeper.table.bulk.import.job.files.commit.async";
const DEFAULT_STATESTORE_CLASSNAME: &str = "DynamoDBTransactionLogStateStore";

/// The settings a bulk import reads, each with an instance default `sleeper.default.table.*`.
const DEFAULTED: [&str; 11] = [
    COMPRESSION_CODEC,
    WRITER_VERSION,
    ROW_GROUP_ROWS,
    PAGE_SIZE,
    DICTIONARY_ROW_KEYS,
    DICTIONARY_SORT_KEYS,
    DICTIONARY_VALUES,
    STATISTICS_TRUNCATE,
    COLUMN_INDEX_TRUNCATE,
    MIN_LEAF_PARTITIONS,
    TABLE_CLASS_NAME,
];

/// The instance default of a table property: `sleeper.table.X` → `sleeper.default.table.X`.
fn default_name(table_property: &str) -> Option<String> {
    table_property.strip_prefix("sleeper.table.").map(|suffix| format!("{TABLE_DEFAULT_PREFIX}{suffix}"))
}

fn boolean(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

/// Sleeper's `DefaultAsyncCommitBehaviour.computeAsyncCommitForUpdate` for bulk import.
pub fn bulk_import_commits_async(instance: &InstanceProperties, table: &BTreeMap<String, String>) -> bool {
    let classname = table.get(STATESTORE_CLASSNAME).map_or(DEFAULT_STATESTORE_CLASSNAME, String::as_str);
    let table_enabled = match table.get(ASYNC_COMMITS_ENABLED) {
        Some(value) => boolean(value),
        None => match instance.get(DEFAULT_ASYNC_COMMIT_BEHAVIOUR).unwrap_or("PER_IMPLEMENTATION").to_ascii_uppercase().as_str() {
            "DISABLED" => false,
            "ALL_IMPLEMENTATIONS" => true,
            _ => classname.contains("TransactionLog"),
        },
    };
    match table.get(BULK_IMPORT_COMMIT_ASYNC) {
        None => {
            let by_default = default_name(BULK_IMPORT_COMMIT_ASYNC).and_then(|name| instance.get(&name).map(boolean)).unwrap_or(true);
            by_default && table_enabled
        }
        Some(value) if table.contains_key(ASYNC_COMMITS_ENABLED) => boolean(value) && table_enabled,
        Some(value) => boolean(value),
    }
}

/// The properties the engine reads, resolved: every property of the table as written, and each
/// setting it left unset taken from the instance's defaults.
pub fn resolve_properties(instance: &InstanceProperties, table: &BTreeMap<String, String>) -> TableProperties {
    let mut resolved = table.clone();
    for key in DEFAULTED {
        if !resolved.contains_key(key)
            && let Some(value) = default_name(key).and_then(|name| instance.get(&name))
        {
            resolved.insert(key.to_string(), value.to_string());
        }
    }
    resolved.insert(BULK_IMPORT_COMMIT_ASYNC.to_string(), bulk_import_commits_async(instance, table).to_string());
    // Sleeper always writes sketches; the engine's own switch stays on.
    resolved.remove(WRITE_SKETCHES);
    TableProperties(resolved)
}

/// Table definitions from the config bucket.
#[derive(Debug)]
pub struct SleeperTables {
    instance: Arc<InstanceProperties>,
    config_root: Location,
    data_root: Location,
    data_root_url: String,
}

impl SleeperTables {
    pub fn new(instance: Arc<InstanceProperties>, stores: &ObjectStores) -> Result<Self> {
        let config_root = instance.config_root(stores)?;
        let data_root = instance.data_bucket(stores)?;
        let data_root_url = instance.data_root_url()?;
        Ok(SleeperTables { instance, config_root, data_root, data_root_url })
    }

    /// The data bucket: where tables' files, snapshots and large transactions are.
    pub fn data_root(&self) -> &Location {
        &self.data_root
    }
}

#[async_trait]
impl TablePropertiesProvider for SleeperTables {
    async fn table(&self, status: &TableStatus) -> Result<Option<Table>> {
        let location = self.config_root.child(&format!("tables/table-{}.properties", status.table_id));
        let bytes = match location.store.get(&location.path).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::Corrupt {
                    what: "table properties",
                    location: location.url(),
                    reason: format!("the table index names table {:?} but its properties do not exist", status.table_name),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| Error::InvalidProperties(format!("{} is not UTF-8", location.url())))?;
        let values = parse_java_properties(&text, &location.url())?;
        let classname = values.get(STATESTORE_CLASSNAME).map_or(DEFAULT_STATESTORE_CLASSNAME, String::as_str);
        if !classname.contains("TransactionLog") {
            return Err(Error::Unsupported(format!(
                "table {:?} uses the state store {classname}; bulk import supports Sleeper's transaction log state stores \
                 (DynamoDBTransactionLogStateStore, DynamoDBTransactionLogStateStoreNoSnapshots)",
                status.table_name
            )));
        }
        let schema_json = values.get(SCHEMA).ok_or_else(|| Error::InvalidSchema(format!("{} does not set {SCHEMA}", location.url())))?;
        let schema = Schema::from_json(schema_json).map_err(|e| Error::InvalidSchema(format!("{SCHEMA} of table {:?}: {e}", status.table_name)))?;
        let properties = resolve_properties(&self.instance, &values);
        properties.parquet_settings()?;
        let definition = TableDefinition { table_name: status.table_name.clone(), table_id: status.table_id.clone(), schema, properties };
        let mut table = Table::new(definition, self.data_root.clone());
        table.data_root_url.clone_from(&self.data_root_url);
        Ok(Some(table))
    }

    async fn instance_properties(&self) -> Result<TableProperties> {
        Ok(TableProperties(self.instance.all().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(pairs: &[(&str, &str)]) -> InstanceProperties {
        InstanceProperties::from_map("config", pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect())
    }

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn commits_are_asynchronous_unless_turned_off_as_sleeper_resolves_it() {
        let none = instance(&[]);
        assert!(bulk_import_commits_async(&none, &table(&[])), "a transaction log table on a default instance");
        let docker = instance(&[(DEFAULT_ASYNC_COMMIT_BEHAVIOUR, "DISABLED")]);
        assert!(!bulk_import_commits_async(&docker, &table(&[])), "Sleeper's LocalStack deployment");
        assert!(!bulk_import_commits_async(&none, &table(&[(BULK_IMPORT_COMMIT_ASYNC, "false")])));
        assert!(bulk_import_commits_async(&docker, &table(&[(BULK_IMPORT_COMMIT_ASYNC, "true")])), "the table's own value wins");
        assert!(!bulk_import_commits_async(&none, &table(&[(BULK_IMPORT_COMMIT_ASYNC, "true"), (ASYNC_COMMITS_ENABLED, "false")])));
        let off_by_default = instance(&[("sleeper.default.table.bulk.import.job.files.commit.async", "false")]);
        assert!(!bulk_import_commits_async(&off_by_default, &table(&[])));
    }

    #[test]
    fn unset_settings_come_from_the_instance_defaults() {
        let instance = instance(&[
            ("sleeper.default.table.parquet.compression.codec", "snappy"),
            ("sleeper.default.table.bulk.import.min.leaf.partitions", "4"),
        ]);
        let resolved = resolve_properties(&instance, &table(&[("sleeper.table.parquet.writer.version", "v1")]));
        let parquet = resolved.parquet_settings().unwrap();
        assert_eq!(parquet.compression.to_string(), "snappy");
        assert_eq!(parquet.writer_version.to_string(), "v1");
        assert_eq!(resolved.min_leaf_partitions().unwrap(), 4);
        let own = resolve_properties(&instance, &table(&[("sleeper.table.parquet.compression.codec", "zstd")]));
        assert_eq!(own.parquet_settings().unwrap().compression.to_string(), "zstd", "the table's value wins");
    }
}
