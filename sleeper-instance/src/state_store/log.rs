//! A table's transaction log in DynamoDB (`DynamoDBTransactionLogStore`): one item per
//! transaction, keyed by `TABLE_ID` and `TRANSACTION_NUMBER`, holding its `TYPE` and its JSON as
//! `BODY`, or the key of the JSON in the data bucket as `BODY_S3_KEY` when it is large.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use bulk_import_core::store::Location;
use bulk_import_core::transaction_json::TransactionJson;
use bulk_import_core::{Error, Result};
use object_store::ObjectStoreExt;

use crate::aws::remote;

const TABLE_ID: &str = "TABLE_ID";
const TRANSACTION_NUMBER: &str = "TRANSACTION_NUMBER";
const UPDATE_TIME: &str = "UPDATE_TIME";
const TYPE: &str = "TYPE";
const BODY: &str = "BODY";
const BODY_S3_KEY: &str = "BODY_S3_KEY";

/// Transactions whose JSON is this long or longer (in UTF-16 units, as Java counts) go to the
/// data bucket (`S3TransactionBodyStore.DEFAULT_JSON_LENGTH_TO_STORE`): a DynamoDB item holds
/// 400 KiB and an SQS message 256 KiB.
pub const BODY_LENGTH_TO_STORE: usize = 200 * 1024;

/// A transaction's JSON, or where it was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Inline(String),
    InDataBucket { key: String },
}

/// Puts a transaction's JSON in the data bucket if it is too large to travel inline, at
/// `<tableId>/statestore/transactions/<instant>-<uuid>.json` (`TransactionBodyStore`).
pub async fn store_body_if_too_big(data_bucket: &Location, table_id: &str, json: String) -> Result<Body> {
    if json.encode_utf16().count() < BODY_LENGTH_TO_STORE {
        return Ok(Body::Inline(json));
    }
    // Java's Instant.toString: fractional seconds in groups of three digits, none when zero.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let key = format!("{table_id}/statestore/transactions/{now}-{}.json", uuid::Uuid::new_v4());
    let location = data_bucket.child(&key);
    location.store.put(&location.path, json.into_bytes().into()).await?;
    Ok(Body::InDataBucket { key })
}

/// A transaction read from a log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub number: u64,
    pub transaction: TransactionJson,
}

#[derive(Debug, Clone)]
pub struct TransactionLog {
    dynamo: aws_sdk_dynamodb::Client,
    /// The DynamoDB table of the log (the instance's files or partitions log).
    log_table: String,
    table_id: String,
    data_bucket: Location,
}

fn attribute<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a AttributeValue> {
    item.get(name)
}

impl TransactionLog {
    pub fn new(dynamo: aws_sdk_dynamodb::Client, log_table: &str, table_id: &str, data_bucket: Location) -> Self {
        TransactionLog { dynamo, log_table: log_table.to_string(), table_id: table_id.to_string(), data_bucket }
    }

    fn describe(&self, number: u64) -> String {
        format!("transaction {number} of table {} in {}", self.table_id, self.log_table)
    }

    /// Every transaction numbered `start` or later, in order, with bodies in the data bucket read.
    pub async fn read_from(&self, start: u64) -> Result<Vec<LogEntry>> {
        let mut entries = Vec::new();
        let mut from: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .dynamo
                .query()
                .table_name(&self.log_table)
                .key_condition_expression("#TableId = :table_id AND #Number >= :start")
                .expression_attribute_names("#TableId", TABLE_ID)
                .expression_attribute_names("#Number", TRANSACTION_NUMBER)
                .expression_attribute_values(":table_id", AttributeValue::S(self.table_id.clone()))
                .expression_attribute_values(":start", AttributeValue::N(start.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(from.take())
                .send()
                .await
                .map_err(|e| remote(format!("cannot read the transaction log {} of table {}", self.log_table, self.table_id), &e))?;
            for item in output.items() {
                entries.push(self.entry(item).await?);
            }
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => from = Some(key.clone()),
                _ => break,
            }
        }
        Ok(entries)
    }

    async fn entry(&self, item: &HashMap<String, AttributeValue>) -> Result<LogEntry> {
        let corrupt = |location: String, reason: String| Error::Corrupt { what: "transaction log item", location, reason };
        let number = attribute(item, TRANSACTION_NUMBER)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| corrupt(self.log_table.clone(), format!("an item of table {} has no transaction number", self.table_id)))?;
        let type_name = attribute(item, TYPE).and_then(|v| v.as_s().ok()).ok_or_else(|| corrupt(self.describe(number), "no TYPE".into()))?;
        let body = match (attribute(item, BODY).and_then(|v| v.as_s().ok()), attribute(item, BODY_S3_KEY).and_then(|v| v.as_s().ok())) {
            (Some(body), _) => body.clone(),
            (None, Some(key)) => {
                let location = self.data_bucket.child(key);
                let bytes = location
                    .store
                    .get(&location.path)
                    .await
                    .map_err(|e| corrupt(self.describe(number), format!("its body {}: {e}", location.url())))?;
                String::from_utf8(bytes.bytes().await?.to_vec()).map_err(|_| corrupt(location.url(), "not UTF-8".into()))?
            }
            (None, None) => return Err(corrupt(self.describe(number), "neither BODY nor BODY_S3_KEY".into())),
        };
        let transaction = TransactionJson::from_type_and_body(type_name, &body)
            .map_err(|e| corrupt(self.describe(number), format!("a {type_name} Sleeper would not write: {e}")))?;
        Ok(LogEntry { number, transaction })
    }

    /// Appends `transaction` as number `number`, unless another writer has taken that number:
    /// `false` then, and nothing is left behind.
    pub async fn try_append(&self, number: u64, transaction: &TransactionJson) -> Result<bool> {
        let json = serde_json::to_string(&transaction.body()).map_err(|e| Error::Corrupt {
            what: "transaction",
            location: self.describe(number),
            reason: e.to_string(),
        })?;
        let body = store_body_if_too_big(&self.data_bucket, &self.table_id, json).await?;
        let (name, value) = match &body {
            Body::Inline(json) => (BODY, json.clone()),
            Body::InDataBucket { key } => (BODY_S3_KEY, key.clone()),
        };
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.log_table)
            .item(TABLE_ID, AttributeValue::S(self.table_id.clone()))
            .item(TRANSACTION_NUMBER, AttributeValue::N(number.to_string()))
            .item(UPDATE_TIME, AttributeValue::N(chrono::Utc::now().timestamp_millis().to_string()))
            .item(TYPE, AttributeValue::S(transaction.type_name().to_string()))
            .item(name, AttributeValue::S(value))
            .condition_expression("attribute_not_exists(#Number)")
            .expression_attribute_names("#Number", TRANSACTION_NUMBER)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                if let Body::InDataBucket { key } = &body {
                    let location = self.data_bucket.child(key);
                    let _ = location.store.delete(&location.path).await;
                }
                if e.as_service_error().is_some_and(aws_sdk_dynamodb::operation::put_item::PutItemError::is_conditional_check_failed_exception) {
                    Ok(false)
                } else {
                    Err(remote(format!("cannot append {}", self.describe(number)), &e))
                }
            }
        }
    }
}
