//! Jobs from a Sleeper bulk import queue: each message admitted as a submission over gRPC would
//! be (recorded ACCEPTED or REJECTED, accepted jobs queued to run), then deleted. A message whose
//! job could not be recorded (the store did not answer) is left for the queue to deliver again.

use std::sync::Arc;
use std::time::Duration;

use sleeper_instance::job_queue::BulkImportQueue;

use crate::driver::Driver;
use crate::intake::Admission;
use crate::service::queue::JobQueue;

/// How long one receive waits for a message.
const WAIT_SECONDS: i32 = 10;
/// How long the consumer waits after the queue failed to answer.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Takes jobs from `queue` until the task is dropped.
pub async fn consume(queue: BulkImportQueue, driver: Arc<Driver>, jobs: Arc<JobQueue>, exit_before_delete: bool) {
    loop {
        let message = match queue.receive(WAIT_SECONDS).await {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("{e}");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        match driver.admit(&message.body).await {
            Ok(admission) => {
                jobs.metrics().admitted(&admission);
                if exit_before_delete {
                    tracing::warn!("exiting before deleting the message, as the test hook asks");
                    std::process::exit(9);
                }
                if let Err(e) = queue.delete(&message).await {
                    tracing::warn!("{e}: the job was recorded; a second delivery will be refused as a resubmission");
                }
                match admission {
                    Admission::Accepted(accepted) => jobs.enqueue(*accepted),
                    Admission::Rejected { job_id, reasons } => {
                        tracing::info!("job {job_id} from the queue was rejected: {}", crate::intake::rejection::sentences(&reasons).join("; "));
                    }
                }
            }
            Err(e) => tracing::warn!("a job from the queue could not be recorded, and stays on the queue: {e:#}"),
        }
    }
}
