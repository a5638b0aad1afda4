//! Plans run on Ballista: a scheduler reached over the network (the distributed mode), or a
//! scheduler and an executor started in this process (`--embedded-engine ballista`), which
//! exchange rows through shuffle files exactly as a distributed deployment does.

use std::sync::Arc;
use std::time::Duration;

use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_core::codec::BulkImportCodec;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;

use super::SchedulerClient;

/// A Ballista scheduler, and the client session jobs are submitted in.
pub struct BallistaRunner {
    pub scheduler: SchedulerClient,
    session_id: String,
    codec: Arc<BulkImportCodec>,
}

impl BallistaRunner {
    /// Starts a scheduler and an executor of `parallelism` task slots in this process, on
    /// loopback ports the OS picks, running in `runtime`.
    pub async fn start_in_process(
        session_config: &SessionConfig,
        runtime: Arc<RuntimeEnv>,
        codec: Arc<BulkImportCodec>,
        parallelism: usize,
    ) -> Result<Self> {
        let state = SessionStateBuilder::new().with_config(session_config.clone()).with_runtime_env(runtime).with_default_features().build();
        let address =
            ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state).await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let url = format!("http://{address}");
        let scheduler = SchedulerClient::connect(&url, Duration::from_secs(5)).await?;
        // The executor's link to the scheduler carries whole tasks, and a task of a job into a
        // table of 10,000 leaves holds its routing tree: tonic's 4 MiB default would fail every
        // poll for it, leaving the job waiting on a task that never arrives.
        let executor_link = SchedulerGrpcClient::connect(url.clone())
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
            .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);
        ballista_executor::new_standalone_executor_from_state(executor_link, parallelism, &state)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(BallistaRunner { scheduler, session_id: state.session_id().to_string(), codec })
    }

    /// Uses the Ballista scheduler at `url`.
    pub async fn connect(url: &str, codec: Arc<BulkImportCodec>) -> Result<Self> {
        let scheduler = SchedulerClient::connect(url, Duration::from_secs(10)).await?;
        Ok(BallistaRunner { scheduler, session_id: uuid::Uuid::new_v4().to_string(), codec })
    }

    /// Submits a plan; returns the scheduler's id for the job.
    pub async fn submit(&self, plan: Arc<dyn ExecutionPlan>, session_config: &SessionConfig) -> Result<String> {
        self.scheduler.submit(plan, self.codec.as_ref(), &self.session_id, session_config).await
    }
}
