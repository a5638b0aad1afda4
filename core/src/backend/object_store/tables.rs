//! Tables: definitions (name, id, schema, properties) and the index from names to ids.
//!
//! Under the store root:
//! - `table-index/<name>.json` names the table's id; it is created last and only if absent, so a
//!   table exists exactly when its index entry does.
//! - `<table id>/table.json` holds the definition.
//! - `<table id>/statestore/` holds the transaction log, `<table id>/data/` the data files.
//! - `instance.properties`, if present, holds the instance's properties (Java properties text).

use async_trait::async_trait;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use rand::RngExt;

use super::transaction_log::TransactionLog;
use crate::backend::{TableAdmin, TableIndex, TablePropertiesProvider};
use crate::error::{Error, Result};
use crate::partition::PartitionTree;
use crate::properties::TableProperties;
use crate::schema::Schema;
use crate::store::Location;
use crate::table::{Table, TableDefinition, TableStatus, validate_table_name};
use crate::transaction::Transaction;

/// The tables of one store: index entries, definitions, and the instance's properties file.
#[derive(Debug, Clone)]
pub struct Tables {
    root: Location,
}

/// The instance's properties file at the root of the store.
pub const INSTANCE_PROPERTIES: &str = "instance.properties";

impl Tables {
    pub fn new(root: Location) -> Self {
        Tables { root }
    }

    fn index_entry(&self, name: &str) -> Location {
        self.root.child("table-index").child(&format!("{name}.json"))
    }

    /// Creates a table with an initial partition tree. Fails, leaving nothing behind, if the
    /// name is taken.
    pub async fn create(&self, name: &str, schema: Schema, properties: TableProperties, partitions: PartitionTree) -> Result<Table> {
        validate_table_name(name)?;
        properties.parquet_settings()?;
        if self.table_by_name(name).await?.is_some() {
            return Err(Error::TableExists(name.to_string()));
        }
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        // Sleeper's table ids are 8 hex digits; a clash with an existing table is retried.
        let table = loop {
            let table_id = format!("{:08x}", rand::rng().random::<u32>());
            let definition = TableDefinition { table_name: name.to_string(), table_id, schema: schema.clone(), properties: properties.clone() };
            let table = Table::new(definition, self.root.clone());
            let location = table.dir().child("table.json");
            let json = serde_json::to_vec_pretty(&table.definition).expect("definitions serialise");
            match location.store.put_opts(&location.path, PutPayload::from(json), create.clone()).await {
                Ok(_) => break table,
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let result = async {
            TransactionLog::for_table(&table).append(Transaction::InitialisePartitions(partitions)).await?;
            let entry = TableStatus { table_name: name.to_string(), table_id: table.id().to_string() };
            let index = self.index_entry(name);
            let json = serde_json::to_vec_pretty(&entry).expect("index entries serialise");
            match index.store.put_opts(&index.path, PutPayload::from(json), create.clone()).await {
                Err(object_store::Error::AlreadyExists { .. }) => Err(Error::TableExists(name.to_string())),
                other => other.map(|_| ()).map_err(Error::from),
            }
        }
        .await;
        if let Err(e) = result {
            self.delete_dir(&table.dir()).await;
            return Err(e);
        }
        Ok(table)
    }

    async fn delete_dir(&self, dir: &Location) {
        let paths: Vec<_> = dir.store.list(Some(&dir.path)).map_ok(|m| m.location).try_collect().await.unwrap_or_default();
        for path in paths {
            let _ = dir.store.delete(&path).await;
        }
    }

    async fn load_definition(&self, table_id: &str) -> Result<Option<Table>> {
        if table_id.is_empty() || !table_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(None);
        }
        let location = self.root.child(table_id).child("table.json");
        let bytes = match location.store.get(&location.path).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let definition: TableDefinition = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: "table definition",
            location: location.url(),
            reason: e.to_string(),
        })?;
        Ok(Some(Table::new(definition, self.root.clone())))
    }

    async fn get_index_id(&self, name: &str) -> Result<Option<String>> {
        let index = self.index_entry(name);
        match index.store.get(&index.path).await {
            Ok(result) => {
                let entry: TableStatus = serde_json::from_slice(&result.bytes().await?).map_err(|e| Error::Corrupt {
                    what: "table index entry",
                    location: index.url(),
                    reason: e.to_string(),
                })?;
                Ok(Some(entry.table_id))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl TableIndex for Tables {
    async fn table_by_name(&self, name: &str) -> Result<Option<TableStatus>> {
        if validate_table_name(name).is_err() {
            return Ok(None);
        }
        let id = self.get_index_id(name).await?;
        Ok(id.map(|table_id| TableStatus { table_name: name.to_string(), table_id }))
    }

    async fn table_by_id(&self, table_id: &str) -> Result<Option<TableStatus>> {
        let Some(table) = self.load_definition(table_id).await? else {
            return Ok(None);
        };
        // A definition without its index entry is a creation that did not finish.
        match self.get_index_id(table.name()).await? {
            Some(id) if id == table_id => Ok(Some(table.status())),
            _ => Ok(None),
        }
    }

    async fn list_tables(&self) -> Result<Vec<TableStatus>> {
        let dir = self.root.child("table-index");
        let mut names: Vec<String> = dir
            .store
            .list(Some(&dir.path))
            .try_filter_map(|m| async move { Ok(m.location.filename().and_then(|f| f.strip_suffix(".json")).map(str::to_string)) })
            .try_collect()
            .await?;
        names.sort();
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            if let Some(status) = self.table_by_name(&name).await? {
                tables.push(status);
            }
        }
        Ok(tables)
    }
}

#[async_trait]
impl TablePropertiesProvider for Tables {
    async fn table(&self, status: &TableStatus) -> Result<Option<Table>> {
        self.load_definition(&status.table_id).await
    }

    async fn instance_properties(&self) -> Result<TableProperties> {
        let location = self.root.child(INSTANCE_PROPERTIES);
        let invalid = |reason: String| Error::InvalidProperties(format!("{INSTANCE_PROPERTIES}: {reason}"));
        match location.store.get(&location.path).await {
            Ok(found) => {
                let bytes = found.bytes().await?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| invalid("not UTF-8".into()))?;
                TableProperties::parse(&text).map_err(|e| match e {
                    Error::InvalidProperties(reason) => invalid(reason),
                    other => other,
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(TableProperties::default()),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl TableAdmin for Tables {
    async fn create_table(&self, name: &str, schema: Schema, properties: TableProperties, partitions: PartitionTree) -> Result<Table> {
        self.create(name, schema, properties, partitions).await
    }
}
