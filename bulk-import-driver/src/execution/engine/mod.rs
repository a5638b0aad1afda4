//! The execution engine. Embedded, plans run in this process on DataFusion ([`in_process`]),
//! or on a Ballista scheduler and executor started in this process; distributed, on a Ballista
//! scheduler reached over the network ([`ballista`]). The plan is the same in every case.

mod ballista;
mod in_process;
mod scheduler_client;

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use ballista_core::extension::SessionConfigExt;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_core::codec::BulkImportCodec;
use bulk_import_core::store::ObjectStores;
use datafusion::common::config::SpillCompression;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use datafusion::prelude::SessionConfig;
use tokio::sync::oneshot;

use ballista::BallistaRunner;
use in_process::InProcessRunner;
pub use scheduler_client::SchedulerClient;

/// Resources of the embedded engine. Defaults come from the machine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Task slots of the executor, and the number of input splits.
    pub parallelism: usize,
    /// Bytes the memory pool may hand out before operators spill.
    pub memory_pool_bytes: usize,
    /// Where sorts spill.
    pub spill_dir: PathBuf,
    /// DataFusion (`datafusion.*`) and Ballista (`ballista.*`) session settings for every job.
    pub settings: Vec<(String, String)>,
    /// How plans run.
    pub embedded: EmbeddedEngine,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            parallelism: available_cores(),
            memory_pool_bytes: default_memory_pool_bytes(),
            spill_dir: std::env::temp_dir(),
            settings: Vec::new(),
            embedded: EmbeddedEngine::default(),
        }
    }
}

pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// 60% of the memory available to this process now, leaving room for what the pool does not
/// track (Parquet writers' buffers, shuffle files in the page cache); 4 GiB where that cannot be
/// read. In a container the limit is its cgroup's, not the node's: a pod on a 64 GiB node with a
/// 4 GiB limit gets a 2.4 GiB pool, not one that the kernel would kill it for using.
fn default_memory_pool_bytes() -> usize {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let available = available_memory(read("/proc/meminfo").as_deref(), cgroup_memory_headroom(&read));
    available.map_or(4 << 30, |bytes| bytes / 10 * 6)
}

/// The smaller of the node's available memory (`MemAvailable` of `/proc/meminfo`) and the
/// cgroup's headroom.
fn available_memory(meminfo: Option<&str>, cgroup_headroom: Option<usize>) -> Option<usize> {
    let node = meminfo.and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace().nth(1)?.parse::<usize>().ok().map(|kib| kib * 1024)
    });
    match (node, cgroup_headroom) {
        (Some(node), Some(cgroup)) => Some(node.min(cgroup)),
        (node, cgroup) => node.or(cgroup),
    }
}

/// What the process's memory cgroup still allows: its limit less its usage, in cgroup v2
/// (`memory.max`, `memory.current`) or v1 (`memory.limit_in_bytes`, `memory.usage_in_bytes`);
/// `None` without a limit.
fn cgroup_memory_headroom(read: &impl Fn(&str) -> Option<String>) -> Option<usize> {
    let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<usize>().ok());
    let (limit, usage) = match number(read("/sys/fs/cgroup/memory.max")) {
        Some(limit) => (limit, number(read("/sys/fs/cgroup/memory.current"))),
        // "max" in v2, or a v1 hierarchy.
        None => (number(read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?, number(read("/sys/fs/cgroup/memory/memory.usage_in_bytes"))),
    };
    // v1 writes "no limit" as a number near 2^63.
    (limit < (1 << 60)).then(|| limit.saturating_sub(usage.unwrap_or(0)))
}

/// Rows per batch between operators: DataFusion's default.
const BATCH_SIZE: usize = 8192;

const SHUFFLE_MEMORY_LIMIT_PER_TASK: &str = "ballista.shuffle.sort_based.memory_limit_per_task_bytes";
const MAX_PARTITIONS_PER_TASK: &str = "ballista.scheduler.max_partitions_per_task";
const CLIENT_GRPC_MAX_MESSAGE_SIZE: &str = "ballista.client.grpc_max_message_size";

/// What one shuffle-writing task of the embedded executor may buffer: half the pool's share per
/// task slot. Ballista's default (256 MiB) spilled even with memory to spare, and no per-task
/// bound at all let a spilling writer's copies take the process well past its pool
/// (BENCHMARKS.md, "Engine settings"); the other half of the share is room for those copies.
fn shuffle_buffer_per_task(config: &EngineConfig) -> usize {
    (config.memory_pool_bytes / (2 * config.parallelism.max(1))).max(1)
}

/// The session every job runs in: its settings travel with the plan to the executors.
///
/// `shuffle_buffer_per_task` bounds what one task of Ballista's sort-based shuffle writer
/// buffers before it spills; 0 leaves it to the memory pool.
fn session_config(
    parallelism: usize,
    codec: Arc<BulkImportCodec>,
    shuffle_buffer_per_task: usize,
    settings: &[(String, String)],
) -> Result<SessionConfig> {
    let mut config = SessionConfig::new_with_ballista()
        .with_target_partitions(parallelism)
        .with_batch_size(BATCH_SIZE)
        .with_ballista_physical_extension_codec(codec)
        .with_ballista_standalone_parallelism(parallelism)
        .with_ballista_job_name("bulk-import")
        .set_usize(SHUFFLE_MEMORY_LIMIT_PER_TASK, shuffle_buffer_per_task)
        // One partition per task. Ballista otherwise packs as many partitions into a task as
        // the executor has free slots, and a packed task ran its partitions in about the time
        // separate tasks took one after another (BENCHMARKS.md, "Engine settings").
        .set_usize(MAX_PARTITIONS_PER_TASK, 1)
        // Plans of jobs with thousands of files and leaves exceed gRPC's usual 16 MiB.
        .set_usize(CLIENT_GRPC_MAX_MESSAGE_SIZE, GRPC_MAX_MESSAGE_BYTES);
    // Spilled rows in zstd: 30% less spill disk than LZ4 (and LZ4 a third less than none) for
    // the same time or less (BENCHMARKS.md, "Engine settings"). A job's settings may say otherwise.
    config.options_mut().execution.spill_compression = SpillCompression::Zstd;
    apply_settings(&mut config, settings)?;
    Ok(config)
}

/// Sets DataFusion and Ballista settings on `config`; an error names the one refused.
fn apply_settings(config: &mut SessionConfig, settings: &[(String, String)]) -> Result<()> {
    for (key, value) in settings {
        config.options_mut().set(key, value).map_err(|e| DataFusionError::Configuration(format!("{key}={value}: {e}")))?;
    }
    Ok(())
}

/// How the embedded engine runs plans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbeddedEngine {
    /// DataFusion in this process, exchanging rows between the stages in memory.
    #[default]
    InProcess,
    /// A Ballista scheduler and executor in this process, exchanging rows through shuffle files
    /// as a distributed deployment does.
    Ballista,
}

/// The engine no longer knows a job it was running: a Ballista scheduler keeps its jobs in
/// memory, and one that restarted has lost them. The run was cut short, not failed by the job,
/// so a job service runs the job again.
#[derive(Debug, thiserror::Error)]
#[error("the Ballista scheduler no longer knows job {0}: it restarted and lost it")]
pub struct EngineLostJob(pub String);

/// Where plans run.
enum Runner {
    InProcess(InProcessRunner),
    Ballista(BallistaRunner),
}

/// The engine jobs run on, and the session they run in.
pub struct Engine {
    runner: Runner,
    session_config: SessionConfig,
    parallelism: usize,
}

impl Engine {
    /// Starts the embedded engine: it reads and writes through `stores`.
    pub async fn start_embedded(config: EngineConfig, stores: Arc<ObjectStores>) -> Result<Self> {
        let codec = Arc::new(BulkImportCodec::new());
        let session_config = session_config(config.parallelism, codec.clone(), shuffle_buffer_per_task(&config), &config.settings)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(config.memory_pool_bytes)))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Directories(vec![config.spill_dir.clone()])))
            .with_object_store_registry(stores)
            .build_arc()?;
        let runner = match config.embedded {
            EmbeddedEngine::InProcess => Runner::InProcess(InProcessRunner::new(runtime)),
            EmbeddedEngine::Ballista => {
                Runner::Ballista(BallistaRunner::start_in_process(&session_config, runtime, codec, config.parallelism).await?)
            }
        };
        Ok(Engine { runner, session_config, parallelism: config.parallelism })
    }

    /// Uses the Ballista scheduler at `url`, whose executors have `parallelism` task slots in
    /// all. They must run this project's executor binary (its codec and object stores).
    pub async fn connect(url: &str, parallelism: usize, settings: &[(String, String)]) -> Result<Self> {
        let codec = Arc::new(BulkImportCodec::new());
        // The executors' pools are theirs to know; they bound what the shuffle writers hold.
        let session_config = session_config(parallelism, codec.clone(), 0, settings)?;
        let runner = Runner::Ballista(BallistaRunner::connect(url, codec).await?);
        Ok(Engine { runner, session_config, parallelism })
    }

    /// The task slots plans are sized for.
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// Submits `plan` for the job `job_id`, with the job's own session settings on top of the
    /// engine's; returns the engine's id for the run.
    pub async fn submit(&self, plan: Arc<dyn ExecutionPlan>, job_id: &str, settings: &[(String, String)]) -> Result<String> {
        let session_config = self.session_for(job_id, settings)?;
        match &self.runner {
            Runner::InProcess(runner) => Ok(runner.submit(plan, session_config)),
            Runner::Ballista(runner) => runner.submit(plan, &session_config).await,
        }
    }

    /// The session a job runs in: the engine's, named for the job, with `settings` applied;
    /// an error names a setting DataFusion or Ballista does not know or cannot take.
    pub fn session_for(&self, job_id: &str, settings: &[(String, String)]) -> Result<SessionConfig> {
        let mut config = self.session_config.clone().with_ballista_job_name(&format!("bulk-import-{job_id}"));
        apply_settings(&mut config, settings)?;
        Ok(config)
    }

    /// Waits for a submitted run and collects its output; `on_running` is called once its
    /// first tasks run.
    pub async fn wait(&self, engine_job_id: &str, on_running: impl FnOnce()) -> Result<Vec<RecordBatch>> {
        match &self.runner {
            Runner::InProcess(runner) => runner.wait(engine_job_id, on_running).await,
            Runner::Ballista(runner) => runner.scheduler.wait(engine_job_id, on_running).await,
        }
    }

    /// A plan this engine has run, indented, one operator a line. The in-process engine ran
    /// `plan` itself, so each operator carries its metrics (rows, time, spills); Ballista ran
    /// a copy decoded on its executors, whose metrics stay with its scheduler.
    ///
    /// Shown on a blocking thread, which then lets the plan go, so that the caller can commit
    /// meanwhile and need not wait for the plan to be freed: a scan of 10,000 files carries
    /// about 190,000 of DataFusion's per-file metrics (380,000 before the scan's own reader,
    /// `planning::input_reader`), and summing and freeing them took 0.2 s
    /// between a wide job's last file and its commit. Unless `wanted`, the plan is only let
    /// go: summing those metrics for a text nobody reads cost a command-line run about 0.05 s.
    /// `None` if not wanted, said at once rather than once the plan is freed (which kept a wide
    /// job from finishing for 0.07 s), or if the showing failed.
    pub fn show_executed(&self, plan: Arc<dyn ExecutionPlan>, wanted: bool) -> impl Future<Output = Option<String>> + use<> {
        show_then_let_go(plan, wanted, matches!(self.runner, Runner::InProcess(_)))
    }

    /// Stops a submitted run's tasks; true if it was still running.
    pub async fn cancel(&self, engine_job_id: &str) -> Result<bool> {
        match &self.runner {
            Runner::InProcess(runner) => Ok(runner.cancel(engine_job_id)),
            Runner::Ballista(runner) => runner.scheduler.cancel(engine_job_id).await,
        }
    }
}

/// [`Engine::show_executed`]: the text, told as soon as it is made (or at once that there is
/// none), then the plan freed on the same blocking thread.
fn show_then_let_go(plan: Arc<dyn ExecutionPlan>, wanted: bool, with_metrics: bool) -> impl Future<Output = Option<String>> {
    let (shown, text) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        if wanted {
            let text = if with_metrics {
                DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true).to_string()
            } else {
                format!("(run by Ballista: operator metrics are in its scheduler's UI)\n{}", displayable(plan.as_ref()).indent(true))
            };
            let _ = shown.send(text);
        } else {
            drop(shown);
        }
        drop(plan);
    });
    async move { text.await.ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_respects_a_containers_memory_limit() {
        let meminfo = "MemTotal: 67108864 kB\nMemAvailable: 62914560 kB\n";
        let files = |v2_max: &'static str| {
            move |path: &str| match path {
                "/sys/fs/cgroup/memory.max" => Some(v2_max.to_string()),
                "/sys/fs/cgroup/memory.current" => Some("1073741824\n".to_string()),
                _ => None,
            }
        };
        // A 4 GiB limit with 1 GiB used leaves 3 GiB, below the node's 60 GiB.
        let headroom = cgroup_memory_headroom(&files("4294967296\n"));
        assert_eq!(headroom, Some(3 << 30));
        assert_eq!(available_memory(Some(meminfo), headroom), Some(3 << 30));
        // No limit: the node's.
        assert_eq!(cgroup_memory_headroom(&files("max\n")), None);
        assert_eq!(available_memory(Some(meminfo), None), Some(60 << 30));
        // cgroup v1, unlimited (its "no limit" is a number near 2^63).
        let v1 = |path: &str| (path == "/sys/fs/cgroup/memory/memory.limit_in_bytes").then(|| "9223372036854771712".to_string());
        assert_eq!(cgroup_memory_headroom(&v1), None);
        assert_eq!(available_memory(None, None), None);
    }

    #[test]
    fn session_settings_are_applied_and_unknown_ones_refused() {
        let codec = Arc::new(BulkImportCodec::new());
        let settings = [("datafusion.execution.batch_size".to_string(), "16384".to_string())];
        assert_eq!(session_config(2, codec.clone(), 0, &settings).unwrap().batch_size(), 16384);
        assert_eq!(session_config(2, codec.clone(), 0, &[]).unwrap().spill_compression(), SpillCompression::Zstd);
        let lz4 = [("datafusion.execution.spill_compression".to_string(), "lz4_frame".to_string())];
        assert_eq!(session_config(2, codec.clone(), 0, &lz4).unwrap().spill_compression(), SpillCompression::Lz4Frame);
        let unknown = [("datafusion.execution.no_such_setting".to_string(), "1".to_string())];
        assert!(session_config(2, codec, 0, &unknown).is_err());
    }

    /// Bytes whose freeing waits until the test lets them go.
    struct FreedWhenReleased {
        bytes: Vec<u8>,
        release: std::sync::mpsc::Receiver<()>,
    }

    impl AsRef<[u8]> for FreedWhenReleased {
        fn as_ref(&self) -> &[u8] {
            &self.bytes
        }
    }

    impl Drop for FreedWhenReleased {
        fn drop(&mut self) {
            let _ = self.release.recv();
        }
    }

    #[tokio::test]
    async fn a_plan_nobody_reads_is_let_go_without_the_caller_waiting_for_it_to_be_freed() {
        use arrow::array::{ArrayRef, UInt8Array};
        use arrow::buffer::{Buffer, ScalarBuffer};
        use datafusion::datasource::memory::MemorySourceConfig;

        let (release, released) = std::sync::mpsc::channel();
        let held = Buffer::from(bytes::Bytes::from_owner(FreedWhenReleased { bytes: vec![7; 64], release: released }));
        let column: ArrayRef = Arc::new(UInt8Array::new(ScalarBuffer::new(held, 0, 64), None));
        let batch = RecordBatch::try_from_iter([("v", column)]).unwrap();
        let plan = MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None).unwrap();
        drop(batch);
        // The plan holds the only reference to the bytes: freeing it waits for `release`.
        let shown = tokio::time::timeout(std::time::Duration::from_secs(10), show_then_let_go(plan, false, true)).await;
        release.send(()).unwrap();
        assert_eq!(shown.expect("the caller waited for the plan to be freed"), None);
        let plan = MemorySourceConfig::try_new_exec(&[vec![]], Arc::new(arrow::datatypes::Schema::empty()), None).unwrap();
        let text = show_then_let_go(plan, true, true).await.expect("a plan that is wanted is shown");
        assert!(text.contains("DataSourceExec"), "{text}");
    }
}
