//! The instance's table index: DynamoDB tables keyed by `TableName` and by `TableId`, each item
//! holding both as strings and `Online` (`DynamoDBTableIndex`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use bulk_import_core::Result;
use bulk_import_core::backend::TableIndex;
use bulk_import_core::table::TableStatus;

use crate::aws::remote;
use crate::instance::{InstanceProperties, TABLE_ID_INDEX, TABLE_NAME_INDEX};

const TABLE_NAME: &str = "TableName";
const TABLE_ID: &str = "TableId";

#[derive(Debug, Clone)]
pub struct DynamoTableIndex {
    dynamo: aws_sdk_dynamodb::Client,
    by_name: String,
    by_id: String,
}

fn string(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn status(item: &HashMap<String, AttributeValue>) -> Option<TableStatus> {
    Some(TableStatus { table_name: string(item, TABLE_NAME)?, table_id: string(item, TABLE_ID)? })
}

impl DynamoTableIndex {
    pub fn new(instance: &InstanceProperties, dynamo: aws_sdk_dynamodb::Client) -> Result<Self> {
        Ok(DynamoTableIndex {
            dynamo,
            by_name: instance.require(TABLE_NAME_INDEX)?.to_string(),
            by_id: instance.require(TABLE_ID_INDEX)?.to_string(),
        })
    }

    async fn query_one(&self, table: &str, key: &str, value: &str) -> Result<Option<TableStatus>> {
        let output = self
            .dynamo
            .query()
            .table_name(table)
            .key_condition_expression("#Key = :value")
            .expression_attribute_names("#Key", key)
            .expression_attribute_values(":value", AttributeValue::S(value.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| remote(format!("cannot look up {key} {value:?} in the table index {table}"), &e))?;
        Ok(output.items().iter().find_map(status))
    }
}

#[async_trait]
impl TableIndex for DynamoTableIndex {
    async fn table_by_name(&self, name: &str) -> Result<Option<TableStatus>> {
        self.query_one(&self.by_name, TABLE_NAME, name).await
    }

    async fn table_by_id(&self, table_id: &str) -> Result<Option<TableStatus>> {
        self.query_one(&self.by_id, TABLE_ID, table_id).await
    }

    async fn list_tables(&self) -> Result<Vec<TableStatus>> {
        let mut tables = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .dynamo
                .scan()
                .table_name(&self.by_name)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| remote(format!("cannot list the table index {}", self.by_name), &e))?;
            tables.extend(output.items().iter().filter_map(status));
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        tables.sort_by(|a, b| a.table_name.cmp(&b.table_name));
        Ok(tables)
    }
}
