//! Tables: what the index names (a name and an id), and what a job imports into (the schema,
//! the properties, and where the data files go).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::properties::TableProperties;
use crate::schema::Schema;
use crate::store::Location;

/// A table as the table index names it (Sleeper's `TableStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableStatus {
    pub table_name: String,
    pub table_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableDefinition {
    pub table_name: String,
    pub table_id: String,
    pub schema: Schema,
    #[serde(default)]
    pub properties: TableProperties,
}

/// A table: its definition and where its files live.
#[derive(Debug, Clone)]
pub struct Table {
    pub definition: TableDefinition,
    /// The table data root: files are written under `<root>/<table id>/data/`.
    pub data_root: Location,
    /// The data root as data files' names start with it. Sleeper names its files `s3a://…`
    /// (its `sleeper.filesystem`), which the object stores read as `s3://…`.
    pub data_root_url: String,
}

impl Table {
    /// A table whose files are named by their location's own URL.
    pub fn new(definition: TableDefinition, data_root: Location) -> Self {
        let data_root_url = data_root.url();
        Table { definition, data_root, data_root_url }
    }

    pub fn name(&self) -> &str {
        &self.definition.table_name
    }

    pub fn id(&self) -> &str {
        &self.definition.table_id
    }

    pub fn schema(&self) -> &Schema {
        &self.definition.schema
    }

    pub fn status(&self) -> TableStatus {
        TableStatus { table_name: self.name().to_string(), table_id: self.id().to_string() }
    }

    /// The directory of this table's data files and bulk import attempts.
    pub fn dir(&self) -> Location {
        self.data_root.child(self.id())
    }
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
        Err(Error::InvalidSchema(format!("invalid table name {name:?}: use letters, digits, '_', '-' and '.', at most 200 characters")))
    }
}
