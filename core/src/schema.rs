//! Sleeper's table schema: row keys, sort keys and values, read from Sleeper's schema JSON, and
//! the Arrow schema the engine reads and writes with.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema as ArrowSchema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::KeyType;

/// A field's type in Sleeper's schema JSON: a name (`"StringType"`) or, for nested value types,
/// an object (`{"ListType": {"elementType": "IntType"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldType {
    Primitive(PrimitiveType),
    Nested(NestedType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrimitiveType {
    IntType,
    LongType,
    StringType,
    ByteArrayType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NestedType {
    ListType {
        #[serde(rename = "elementType")]
        element_type: PrimitiveType,
    },
    MapType {
        #[serde(rename = "keyType")]
        key_type: PrimitiveType,
        #[serde(rename = "valueType")]
        value_type: PrimitiveType,
    },
}

impl PrimitiveType {
    pub fn key_type(self) -> KeyType {
        match self {
            PrimitiveType::IntType => KeyType::Int,
            PrimitiveType::LongType => KeyType::Long,
            PrimitiveType::StringType => KeyType::String,
            PrimitiveType::ByteArrayType => KeyType::ByteArray,
        }
    }

    fn arrow_type(self) -> DataType {
        match self {
            PrimitiveType::IntType => DataType::Int32,
            PrimitiveType::LongType => DataType::Int64,
            PrimitiveType::StringType => DataType::Utf8,
            PrimitiveType::ByteArrayType => DataType::Binary,
        }
    }
}

impl FieldType {
    fn arrow_type(&self) -> DataType {
        match self {
            FieldType::Primitive(p) => p.arrow_type(),
            FieldType::Nested(NestedType::ListType { element_type }) => {
                DataType::List(Arc::new(Field::new("element", element_type.arrow_type(), true)))
            }
            FieldType::Nested(NestedType::MapType { key_type, value_type }) => {
                let entries = Fields::from(vec![Field::new("key", key_type.arrow_type(), false), Field::new("value", value_type.arrow_type(), true)]);
                DataType::Map(Arc::new(Field::new("key_value", DataType::Struct(entries), false)), false)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaField {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Only value fields may be nullable; keys never hold nulls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nullable: bool,
}

/// A key field: a name and one of the four key types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyField {
    pub name: String,
    pub key_type: KeyType,
}

/// A Sleeper table schema, as in `schema-*.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub row_key_fields: Vec<SchemaField>,
    #[serde(default)]
    pub sort_key_fields: Vec<SchemaField>,
    #[serde(default)]
    pub value_fields: Vec<SchemaField>,
}

impl Schema {
    /// Parses and validates Sleeper schema JSON.
    pub fn from_json(json: &str) -> Result<Self> {
        let schema: Schema = serde_json::from_str(json).map_err(|e| Error::InvalidSchema(e.to_string()))?;
        schema.validate()?;
        Ok(schema)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schema always serialises")
    }

    fn validate(&self) -> Result<()> {
        if self.row_key_fields.is_empty() {
            return Err(Error::InvalidSchema("a schema needs at least one row key field".into()));
        }
        let mut names = std::collections::HashSet::new();
        for field in self.all_fields() {
            if field.name.is_empty() {
                return Err(Error::InvalidSchema("a field has an empty name".into()));
            }
            if !names.insert(field.name.as_str()) {
                return Err(Error::InvalidSchema(format!("field {:?} appears twice", field.name)));
            }
        }
        for field in self.row_key_fields.iter().chain(&self.sort_key_fields) {
            if !matches!(field.field_type, FieldType::Primitive(_)) {
                return Err(Error::InvalidSchema(format!("key field {:?} must be IntType, LongType, StringType or ByteArrayType", field.name)));
            }
            if field.nullable {
                return Err(Error::InvalidSchema(format!("key field {:?} cannot be nullable", field.name)));
            }
        }
        Ok(())
    }

    pub fn all_fields(&self) -> impl Iterator<Item = &SchemaField> {
        self.row_key_fields.iter().chain(&self.sort_key_fields).chain(&self.value_fields)
    }

    fn key_fields(fields: &[SchemaField]) -> Vec<KeyField> {
        fields
            .iter()
            .map(|f| match f.field_type {
                FieldType::Primitive(p) => KeyField { name: f.name.clone(), key_type: p.key_type() },
                FieldType::Nested(_) => unreachable!("validated: key fields are primitive"),
            })
            .collect()
    }

    pub fn row_keys(&self) -> Vec<KeyField> {
        Self::key_fields(&self.row_key_fields)
    }

    pub fn sort_keys(&self) -> Vec<KeyField> {
        Self::key_fields(&self.sort_key_fields)
    }

    /// The row keys then the sort keys: the order rows are sorted by inside a file.
    pub fn row_and_sort_keys(&self) -> Vec<KeyField> {
        let mut keys = self.row_keys();
        keys.extend(self.sort_keys());
        keys
    }

    /// The Arrow schema of the table's files: row keys, sort keys, values, in that order.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self.all_fields().map(|f| Field::new(&f.name, f.field_type.arrow_type(), f.nullable)).collect();
        Arc::new(ArrowSchema::new(fields))
    }

    /// The table's columns as the engine holds them between reading and writing: top-level
    /// strings and byte arrays as views (`Utf8View`, `BinaryView`). Gathering rows into sorted
    /// order then moves 16-byte views, with values of up to 12 bytes inline, instead of copying
    /// every value into a new buffer; the Parquet files written are the same.
    pub fn scan_arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .arrow_schema()
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::Utf8 => field.as_ref().clone().with_data_type(DataType::Utf8View),
                DataType::Binary => field.as_ref().clone().with_data_type(DataType::BinaryView),
                _ => field.as_ref().clone(),
            })
            .collect();
        Arc::new(ArrowSchema::new(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sleeper_full_schema() {
        let json = r#"{
          "rowKeyFields": [{"name": "a", "type": "StringType"}, {"name": "b", "type": "LongType"}],
          "sortKeyFields": [{"name": "c", "type": "IntType"}, {"name": "d", "type": "ByteArrayType"}],
          "valueFields": [
            {"name": "e", "type": "IntType"},
            {"name": "g", "type": {"MapType": {"keyType": "IntType", "valueType": "StringType"}}},
            {"name": "h", "type": {"ListType": {"elementType": "IntType"}}, "nullable": true}
          ]}"#;
        let schema = Schema::from_json(json).unwrap();
        assert_eq!(schema.row_keys()[1].key_type, KeyType::Long);
        let arrow = schema.arrow_schema();
        assert_eq!(arrow.fields().len(), 7);
        assert!(matches!(arrow.field(5).data_type(), DataType::Map(_, false)));
        assert!(arrow.field(6).is_nullable());
        assert!(!arrow.field(0).is_nullable());
        let back = Schema::from_json(&schema.to_json()).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn rejects_nested_key_and_missing_row_key() {
        let nested = r#"{"rowKeyFields": [{"name": "a", "type": {"ListType": {"elementType": "IntType"}}}]}"#;
        assert!(Schema::from_json(nested).is_err());
        assert!(Schema::from_json(r#"{"rowKeyFields": []}"#).is_err());
        assert!(Schema::from_json(r#"{"rowKeyFields": [{"name": "a", "type": "FloatType"}]}"#).is_err());
    }
}
