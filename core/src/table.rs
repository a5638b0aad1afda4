//! Tables: definitions (name, id, schema, properties) and the index from names to ids.
//!
//! Under the store root:
//! - `table-index/<name>.json` names the table's id; it is created last and only if absent, so a
//!   table exists exactly when its index entry does.
//! - `<table id>/table.json` holds the definition.
//! - `<table id>/statestore/` holds the transaction log, `<table id>/data/` the data files.

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::partition::PartitionTree;
use crate::properties::TableProperties;
use crate::schema::Schema;
use crate::state_store::StateStore;
use crate::store::Location;
use crate::transaction::Transaction;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDefinition {
    pub table_name: String,
    pub table_id: String,
    pub schema: Schema,
    #[serde(default)]
    pub properties: TableProperties,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    table_name: String,
    table_id: String,
}

/// A table of the store: its definition and where its files and log live.
#[derive(Debug, Clone)]
pub struct Table {
    pub definition: TableDefinition,
    /// The table data root: files are written under `<root>/<table id>/data/`.
    pub data_root: Location,
}

impl Table {
    pub fn name(&self) -> &str {
        &self.definition.table_name
    }

    pub fn id(&self) -> &str {
        &self.definition.table_id
    }

    pub fn schema(&self) -> &Schema {
        &self.definition.schema
    }

    /// The directory holding this table's definition, log and data.
    pub fn dir(&self) -> Location {
        self.data_root.child(self.id())
    }

    pub fn state_store(&self) -> StateStore {
        StateStore::new(self.dir().child("statestore"), self.schema().row_keys())
    }
}

/// The tables of one store.
#[derive(Debug, Clone)]
pub struct Tables {
    root: Location,
}

/// Table names as Sleeper allows them.
pub fn validate_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSchema(format!(
            "invalid table name {name:?}: use letters, digits, '_', '-' and '.', at most 200 characters"
        )))
    }
}

impl Tables {
    pub fn new(root: Location) -> Self {
        Tables { root }
    }

    fn index_entry(&self, name: &str) -> Location {
        self.root.child("table-index").child(&format!("{name}.json"))
    }

    /// Creates a table with an initial partition tree. Fails, leaving nothing behind, if the
    /// name is taken.
    pub async fn create(
        &self,
        name: &str,
        schema: Schema,
        properties: TableProperties,
        partitions: PartitionTree,
    ) -> Result<Table> {
        validate_table_name(name)?;
        properties.parquet_settings()?;
        if self.get(name).await?.is_some() {
            return Err(Error::TableExists(name.to_string()));
        }
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        // Sleeper's table ids are 8 hex digits; a clash with an existing table is retried.
        let table = loop {
            let table_id = format!("{:08x}", rand::rng().random::<u32>());
            let definition = TableDefinition { table_name: name.to_string(), table_id, schema: schema.clone(), properties: properties.clone() };
            let table = Table { definition, data_root: self.root.clone() };
            let location = table.dir().child("table.json");
            let json = serde_json::to_vec_pretty(&table.definition).expect("definitions serialise");
            match location.store.put_opts(&location.path, PutPayload::from(json), create.clone()).await {
                Ok(_) => break table,
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let result = async {
            table.state_store().append(Transaction::InitialisePartitions(partitions)).await?;
            let entry = IndexEntry { table_name: name.to_string(), table_id: table.id().to_string() };
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

    /// The table with this name, if there is one.
    pub async fn get(&self, name: &str) -> Result<Option<Table>> {
        if validate_table_name(name).is_err() {
            return Ok(None);
        }
        match self.get_index_id(name).await? {
            Some(id) => self.load_definition(&id).await,
            None => Ok(None),
        }
    }

    /// The table with this id, if there is one.
    pub async fn get_by_id(&self, table_id: &str) -> Result<Option<Table>> {
        let Some(table) = self.load_definition(table_id).await? else {
            return Ok(None);
        };
        // A definition without its index entry is a creation that did not finish.
        match self.get_index_id(table.name()).await? {
            Some(id) if id == table_id => Ok(Some(table)),
            _ => Ok(None),
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
        let definition: TableDefinition = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt { what: "table definition", location: location.url(), reason: e.to_string() })?;
        Ok(Some(Table { definition, data_root: self.root.clone() }))
    }

    async fn get_index_id(&self, name: &str) -> Result<Option<String>> {
        let index = self.index_entry(name);
        match index.store.get(&index.path).await {
            Ok(result) => {
                let entry: IndexEntry = serde_json::from_slice(&result.bytes().await?)
                    .map_err(|e| Error::Corrupt { what: "table index entry", location: index.url(), reason: e.to_string() })?;
                Ok(Some(entry.table_id))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The names of all tables, sorted.
    pub async fn list(&self) -> Result<Vec<String>> {
        let dir = self.root.child("table-index");
        let mut names: Vec<String> = dir
            .store
            .list(Some(&dir.path))
            .try_filter_map(|m| async move { Ok(m.location.filename().and_then(|f| f.strip_suffix(".json")).map(str::to_string)) })
            .try_collect()
            .await?;
        names.sort();
        Ok(names)
    }
}
