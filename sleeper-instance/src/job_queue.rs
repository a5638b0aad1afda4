//! A Sleeper bulk import queue (standard SQS: the EKS queue, or any of the platforms'): jobs as
//! Sleeper's `BulkImportJob` JSON. A message is deleted only after its job has been recorded as
//! accepted or rejected; one received and not deleted returns to the queue for the next consumer
//! when its visibility timeout runs out.

use bulk_import_core::Result;

use crate::aws::{Clients, remote};

/// A message taken from the queue, to delete once its job is recorded.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    pub body: String,
    receipt_handle: String,
}

#[derive(Debug, Clone)]
pub struct BulkImportQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl BulkImportQueue {
    pub async fn connect(url: &str) -> Result<Self> {
        let sqs = Clients::from_environment().await.sqs;
        sqs.get_queue_attributes().queue_url(url).send().await.map_err(|e| remote(format!("the bulk import queue {url} cannot be reached"), &e))?;
        Ok(BulkImportQueue { sqs, url: url.to_string() })
    }

    /// The next job, waiting up to `wait_seconds` for one (SQS long polling).
    pub async fn receive(&self, wait_seconds: i32) -> Result<Option<QueuedJob>> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(1)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|e| remote(format!("cannot receive from the bulk import queue {}", self.url), &e))?;
        Ok(output.messages().first().and_then(|m| Some(QueuedJob { body: m.body()?.to_string(), receipt_handle: m.receipt_handle()?.to_string() })))
    }

    pub async fn delete(&self, job: &QueuedJob) -> Result<()> {
        self.sqs
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&job.receipt_handle)
            .send()
            .await
            .map_err(|e| remote(format!("cannot delete a message from the bulk import queue {}", self.url), &e))?;
        Ok(())
    }
}
