//! Jobs on a Ballista scheduler, submitted as physical plans through its gRPC API.
//!
//! Ballista's own `execute_physical_plan` keeps the scheduler's job id to itself; the job
//! service needs it to cancel a job, to recognise a run after a restart, and to see when the
//! first tasks start. This is the same protocol (submit, poll the status, fetch the final
//! stage's output from the executors), with the job id in hand.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use backon::{ConstantBuilder, Retryable};
use ballista_core::client::BallistaClient;
use ballista_core::serde::protobuf::execute_query_params::Query;
use ballista_core::serde::protobuf::execute_query_result::Result as QueryResult;
use ballista_core::serde::protobuf::job_status::Status;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, ExecuteQueryParams, GetJobStatusParams, KeyValuePair, PartitionLocation, SuccessfulJob};
use ballista_core::version::insert_version_header;
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::physical_plan::{AsExecutionPlan, PhysicalExtensionCodec};
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;
use prost::Message;
use tonic::transport::Channel;

use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;

/// How often a running job's status is asked for: Ballista's client polls at this rate too.
const STATUS_POLL: Duration = Duration::from_millis(50);
/// How long the scheduler may be out of reach while a job runs before the job is given up.
const SCHEDULER_OUTAGE_LIMIT: Duration = Duration::from_secs(30);
/// How often a scheduler out of reach is asked again about a running job.
const UNREACHABLE_RETRY: Duration = Duration::from_millis(500);
/// How long a job just submitted may be unknown to the scheduler before it is taken as lost.
const UNKNOWN_JOB_GRACE: Duration = Duration::from_secs(30);
/// How often a connection to a scheduler that is still starting is tried again.
const CONNECT_RETRY: Duration = Duration::from_millis(50);

/// A connection to a Ballista scheduler.
#[derive(Clone)]
pub struct SchedulerClient {
    client: SchedulerGrpcClient<Channel>,
}

fn grpc_error(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{what}: {e}"))
}

impl SchedulerClient {
    /// Connects to the scheduler at `url` (`http://host:port`), retrying for up to `patience`
    /// while it starts.
    pub async fn connect(url: &str, patience: Duration) -> Result<Self> {
        let endpoint = Channel::from_shared(url.to_string()).map_err(|e| grpc_error(&format!("scheduler URL {url:?}"), e))?;
        let attempts = (patience.as_millis() / CONNECT_RETRY.as_millis()).max(1) as usize;
        let channel = (|| endpoint.connect())
            .retry(ConstantBuilder::default().with_delay(CONNECT_RETRY).with_max_times(attempts))
            .await
            .map_err(|e| grpc_error(&format!("cannot connect to the Ballista scheduler at {url}"), e))?;
        let client =
            SchedulerGrpcClient::new(channel).max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES).max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);
        Ok(SchedulerClient { client })
    }

    /// Submits a physical plan; returns the scheduler's job id.
    pub async fn submit(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        codec: &dyn PhysicalExtensionCodec,
        session_id: &str,
        session_config: &SessionConfig,
    ) -> Result<String> {
        let node = PhysicalPlanNode::try_from_physical_plan(plan, codec)?;
        let settings = session_config.options().entries().into_iter().map(|entry| KeyValuePair { key: entry.key, value: entry.value }).collect();
        let params = ExecuteQueryParams {
            query: Some(Query::PhysicalPlan(node.encode_to_vec())),
            settings,
            session_id: session_id.to_string(),
            operation_id: uuid::Uuid::new_v4().to_string(),
        };
        let mut request = tonic::Request::new(params);
        insert_version_header(request.metadata_mut());
        let response = self.client.clone().execute_query(request).await.map_err(|e| grpc_error("job submission", e))?;
        match response.into_inner().result {
            Some(QueryResult::Success(success)) => Ok(success.job_id),
            Some(QueryResult::Failure(failure)) => Err(DataFusionError::Execution(format!("the scheduler refused the job: {failure:?}"))),
            None => Err(DataFusionError::Execution("the scheduler answered the submission with nothing".into())),
        }
    }

    async fn status(&self, job_id: &str) -> Result<Option<Status>> {
        let params = GetJobStatusParams { job_id: job_id.to_string() };
        let result = self.client.clone().get_job_status(params).await.map_err(|e| grpc_error("job status", e))?;
        Ok(result.into_inner().status.and_then(|s| s.status))
    }

    /// Waits for the job to end and returns the output of its final stage. `on_running` is
    /// called once, when the scheduler first reports the job running.
    pub async fn wait(&self, job_id: &str, on_running: impl FnOnce()) -> Result<Vec<RecordBatch>> {
        let mut on_running = Some(on_running);
        let (submitted, mut known, mut unreachable_since) = (std::time::Instant::now(), false, None);
        loop {
            // A scheduler out of reach for a moment (a network blip, a restart) is asked again,
            // for a while; what it says when it answers decides.
            let status = match self.status(job_id).await {
                Ok(status) => {
                    unreachable_since = None;
                    status
                }
                Err(e) if unreachable_since.get_or_insert_with(std::time::Instant::now).elapsed() < SCHEDULER_OUTAGE_LIMIT => {
                    tracing::warn!("Ballista job {job_id}: the scheduler did not answer ({e}); asking again");
                    tokio::time::sleep(UNREACHABLE_RETRY).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A scheduler keeps its jobs in memory: one that restarted no longer knows the job,
            // and would be asked about it for ever.
            if status.is_none() && (known || submitted.elapsed() > UNKNOWN_JOB_GRACE) {
                return Err(DataFusionError::External(Box::new(super::EngineLostJob(job_id.to_string()))));
            }
            known |= status.is_some();
            match status {
                None | Some(Status::Queued(_)) => {}
                Some(Status::Running(_)) => {
                    if let Some(f) = on_running.take() {
                        f();
                    }
                }
                Some(Status::Failed(failed)) => {
                    return Err(DataFusionError::Execution(format!("Ballista job {job_id} failed: {}", failed.error)));
                }
                Some(Status::Successful(SuccessfulJob { partition_location, .. })) => {
                    if let Some(f) = on_running.take() {
                        f();
                    }
                    let mut batches = Vec::new();
                    for location in partition_location {
                        batches.extend(fetch(location).await?);
                    }
                    return Ok(batches);
                }
            }
            tokio::time::sleep(STATUS_POLL).await;
        }
    }

    /// Asks the scheduler to stop the job's tasks. True if the job was still running.
    pub async fn cancel(&self, job_id: &str) -> Result<bool> {
        let params = CancelJobParams { job_id: job_id.to_string() };
        let result = self.client.clone().cancel_job(params).await.map_err(|e| grpc_error("job cancellation", e))?;
        Ok(result.into_inner().cancelled)
    }
}

/// Reads one partition of a finished job's output from the executor holding it.
async fn fetch(location: PartitionLocation) -> Result<Vec<RecordBatch>> {
    let layout = location.layout();
    let executor = location.executor_meta.ok_or_else(|| DataFusionError::Internal("output partition without an executor".into()))?;
    let partition_id = location.partition_id.ok_or_else(|| DataFusionError::Internal("output partition without an id".into()))?;
    let mut client = BallistaClient::try_new(&executor.host, executor.port as u16, GRPC_MAX_MESSAGE_BYTES, false, None, 3, 100, 0, 0)
        .await
        .map_err(ballista_core::error::BallistaError::into_datafusion)?;
    let stream = client
        .fetch_partition(&executor.id, &partition_id.into(), location.file_id, layout, true)
        .await
        .map_err(ballista_core::error::BallistaError::into_datafusion)?;
    stream.try_collect().await
}
