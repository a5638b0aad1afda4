//! The instance's state store committer queue: a FIFO SQS queue of `StateStoreCommitRequest`s
//! (`SqsFifoStateStoreCommitRequestSender`), one message group per table, each message with a
//! fresh deduplication id. A request whose transaction is too large travels as a `bodyKey`
//! naming the transaction's JSON in the data bucket.

use bulk_import_core::store::Location;
use bulk_import_core::transaction_json::TransactionJson;
use bulk_import_core::{Error, Result};
use serde_json::json;

use crate::aws::remote;
use crate::instance::{COMMITTER_QUEUE_URL, InstanceProperties};
use crate::state_store::log::{Body, store_body_if_too_big};

#[derive(Debug, Clone)]
pub struct Committer {
    sqs: aws_sdk_sqs::Client,
    queue_url: Option<String>,
    config_bucket: String,
    data_bucket: Location,
}

impl Committer {
    pub fn new(instance: &InstanceProperties, sqs: aws_sdk_sqs::Client, data_bucket: Location) -> Self {
        Committer {
            sqs,
            queue_url: instance.get(COMMITTER_QUEUE_URL).map(str::to_string),
            config_bucket: instance.config_bucket.clone(),
            data_bucket,
        }
    }

    fn queue_url(&self) -> Result<&str> {
        self.queue_url.as_deref().ok_or_else(|| {
            Error::InvalidProperties(format!(
                "instance.properties of config bucket {} does not set {COMMITTER_QUEUE_URL}, which asynchronous commits need",
                self.config_bucket
            ))
        })
    }

    /// Checks that the committer queue exists.
    pub async fn check_queue(&self) -> Result<()> {
        let url = self.queue_url()?;
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| remote(format!("the state store committer queue {url} cannot be reached"), &e))?;
        Ok(())
    }

    /// The request's message body (`StateStoreCommitRequestSerDe`).
    pub async fn message(&self, table_id: &str, transaction: &TransactionJson) -> Result<String> {
        let body = transaction.body();
        let message = match store_body_if_too_big(&self.data_bucket, table_id, body.to_string()).await? {
            Body::Inline(_) => json!({ "tableId": table_id, "transactionType": transaction.type_name(), "transaction": body }),
            Body::InDataBucket { key } => json!({ "tableId": table_id, "transactionType": transaction.type_name(), "bodyKey": key }),
        };
        Ok(message.to_string())
    }

    /// Sends a transaction to be committed to a table.
    pub async fn send(&self, table_id: &str, transaction: &TransactionJson) -> Result<()> {
        let url = self.queue_url()?;
        let body = self.message(table_id, transaction).await?;
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_group_id(table_id)
            .message_deduplication_id(uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .map_err(|e| remote(format!("cannot send the commit of table {table_id} to the state store committer queue {url}"), &e))?;
        Ok(())
    }
}
