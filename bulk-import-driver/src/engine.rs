//! The execution engine: a Ballista scheduler and executor started in this process (the embedded
//! default), with the project's codec, a bounded memory pool and a spill directory. Plans are
//! submitted to the scheduler as physical plans, exactly as they would be to a remote cluster.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use bulk_import_core::codec::BulkImportCodec;
use bulk_import_core::store::ObjectStores;
use datafusion::common::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::PhysicalPlanNode;
use futures::TryStreamExt;

/// Resources of the embedded engine. Defaults come from the machine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Task slots of the executor, and the number of input splits.
    pub parallelism: usize,
    /// Bytes the memory pool may hand out before operators spill.
    pub memory_pool_bytes: usize,
    /// Where sorts spill.
    pub spill_dir: PathBuf,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_pool_bytes: default_memory_pool_bytes(),
            spill_dir: std::env::temp_dir(),
        }
    }
}

/// 60% of the memory available now, leaving room for what the pool does not track (Parquet
/// writers' buffers, shuffle files in the page cache); 4 GiB where that cannot be read.
fn default_memory_pool_bytes() -> usize {
    let available_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<usize>().ok())
    });
    available_kib.map_or(4 << 30, |kib| kib * 1024 / 10 * 6)
}

/// Rows per batch between operators: DataFusion's default.
const BATCH_SIZE: usize = 8192;

const SHUFFLE_MEMORY_LIMIT_PER_TASK: &str = "ballista.shuffle.sort_based.memory_limit_per_task_bytes";

/// A running Ballista scheduler and executor, and the session plans are submitted in.
pub struct Engine {
    state: SessionState,
    scheduler_url: String,
    codec: Arc<BulkImportCodec>,
    config: EngineConfig,
}

impl Engine {
    /// Starts a scheduler and an executor in this process, on loopback ports the OS picks.
    pub async fn start_embedded(config: EngineConfig) -> Result<Self> {
        let codec = Arc::new(BulkImportCodec::new());
        let session_config = SessionConfig::new_with_ballista()
            .with_target_partitions(config.parallelism)
            .with_batch_size(BATCH_SIZE)
            .with_ballista_physical_extension_codec(codec.clone())
            .with_ballista_standalone_parallelism(config.parallelism)
            .with_ballista_job_name("bulk-import")
            // Ballista's sort-based shuffle writer otherwise spills every 256 MiB a task buffers,
            // even with memory to spare; the memory pool below already bounds what tasks hold.
            .set_usize(SHUFFLE_MEMORY_LIMIT_PER_TASK, 0);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(config.memory_pool_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![config.spill_dir.clone()])),
            )
            .build_arc()?;
        let state = SessionStateBuilder::new().with_config(session_config).with_runtime_env(runtime).with_default_features().build();

        let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
            .await
            .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
        let scheduler_url = format!("http://{address}");
        let mut attempts = 0;
        let scheduler = loop {
            match SchedulerGrpcClient::connect(scheduler_url.clone()).await {
                Ok(client) => break client,
                Err(e) if attempts >= 250 => {
                    return Err(datafusion::common::DataFusionError::External(Box::new(e)));
                }
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        };
        ballista_executor::new_standalone_executor_from_state(scheduler, config.parallelism, &state)
            .await
            .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?;
        Ok(Engine { state, scheduler_url, codec, config })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Makes the stores resolved so far readable and writable by plans.
    pub fn register_stores(&self, stores: &ObjectStores) {
        stores.register_all(self.state.runtime_env());
    }

    /// Submits a physical plan to the scheduler and collects its output.
    pub async fn execute(&self, plan: Arc<dyn ExecutionPlan>, job_name: &str) -> Result<Vec<RecordBatch>> {
        let session_config = self.state.config().clone().with_ballista_job_name(job_name);
        let stream = execute_physical_plan::<PhysicalPlanNode>(
            self.scheduler_url.clone(),
            &session_config.ballista_config(),
            plan,
            self.codec.as_ref(),
            self.state.session_id().to_string(),
            session_config,
        )
        .await?;
        stream.try_collect().await
    }
}
