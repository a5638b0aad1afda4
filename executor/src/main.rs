//! `bulk-import-executor`: Ballista's executor with the bulk import codec and object stores, so
//! that it can decode and run the engine's plan nodes (leaf routing, the partition file writer)
//! against local paths and S3.
//!
//! Flags carry the stock Ballista executor's names; each also reads an environment variable
//! `BALLISTA_EXECUTOR_<FLAG>` (for example `BALLISTA_EXECUTOR_VCORES`).

mod health;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_core::codec::BulkImportCodec;
use bulk_import_core::logging::LogArgs;
use bulk_import_core::s3_args::S3Args;
use bulk_import_core::store::ObjectStores;
use clap::Parser;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bulk-import-executor", version, about = "Ballista executor for bulk import jobs")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BALLISTA_EXECUTOR_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// The host the scheduler and other executors reach this executor at (default: the bind
    /// host, or the machine's name when binding to all interfaces).
    #[arg(long, env = "BALLISTA_EXECUTOR_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Port of the Arrow Flight service that serves shuffle data.
    #[arg(long, env = "BALLISTA_EXECUTOR_BIND_PORT", default_value_t = 50051)]
    bind_port: u16,
    /// Port of the executor's gRPC service.
    #[arg(long, env = "BALLISTA_EXECUTOR_BIND_GRPC_PORT", default_value_t = 50052)]
    bind_grpc_port: u16,
    /// Port of `/healthz` (liveness) and `/readyz` (the last heartbeat to the scheduler worked);
    /// by default one the OS picks, logged at start, so that executors started side by side
    /// with distinct `--bind-port` and `--bind-grpc-port` do not collide on it.
    #[arg(long, env = "BALLISTA_EXECUTOR_BIND_HEALTH_PORT")]
    bind_health_port: Option<u16>,
    #[arg(long, env = "BALLISTA_EXECUTOR_SCHEDULER_HOST", default_value = "localhost")]
    scheduler_host: String,
    #[arg(long, env = "BALLISTA_EXECUTOR_SCHEDULER_PORT", default_value_t = 50050)]
    scheduler_port: u16,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(long, env = "BALLISTA_EXECUTOR_SCHEDULER_CONNECT_TIMEOUT_SECONDS", default_value_t = 60)]
    scheduler_connect_timeout_seconds: u16,
    /// Directory for shuffle files and spills (default: a new temporary directory).
    #[arg(long, env = "BALLISTA_EXECUTOR_WORK_DIR")]
    work_dir: Option<String>,
    /// Task slots (default: the machine's cores).
    #[arg(long, env = "BALLISTA_EXECUTOR_VCORES")]
    vcores: Option<usize>,
    /// Bytes of memory tasks may use before they spill, shared across task slots (default:
    /// Ballista's share of the machine's or container's memory; 0 for no limit).
    #[arg(long, env = "BALLISTA_EXECUTOR_MEMORY_POOL_SIZE")]
    memory_pool_size: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, env = "BALLISTA_EXECUTOR_HEARTBEAT_INTERVAL_SECONDS", default_value_t = 60)]
    executor_heartbeat_interval_seconds: u64,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")), false);
    let health_address: SocketAddr =
        format!("{}:{}", args.bind_host, args.bind_health_port.unwrap_or(0)).parse().context("invalid --bind-host/--bind-health-port")?;
    // Ballista's own bind errors name neither the address nor the flag.
    for (port, flag) in [(args.bind_port, "--bind-port"), (args.bind_grpc_port, "--bind-grpc-port")] {
        let address = format!("{}:{port}", args.bind_host);
        std::net::TcpListener::bind(&address).with_context(|| format!("cannot bind {address} ({flag}, with --bind-host)"))?;
    }
    let stores = Arc::new(ObjectStores::with_s3(args.s3.options()));
    let defaults = ExecutorProcessConfig::default();
    let work_dir = args.work_dir.clone();
    let max_message = GRPC_MAX_MESSAGE_BYTES as u32;
    let config = ExecutorProcessConfig {
        bind_host: args.bind_host,
        external_host: args.external_host,
        port: args.bind_port,
        grpc_port: args.bind_grpc_port,
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        scheduler_connect_timeout_seconds: args.scheduler_connect_timeout_seconds,
        work_dir: args.work_dir,
        vcores: args.vcores.unwrap_or(defaults.vcores),
        memory_pool_size: args.memory_pool_size,
        executor_heartbeat_interval_seconds: args.executor_heartbeat_interval_seconds,
        grpc_max_decoding_message_size: max_message,
        grpc_max_encoding_message_size: max_message,
        override_physical_codec: Some(Arc::new(BulkImportCodec::new())),
        // Every task's runtime reads and writes through our stores, and spills to the work dir.
        override_runtime_producer: Some(Arc::new(move |_| {
            let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(stores.clone());
            if let Some(dir) = &work_dir {
                builder = builder.with_temp_file_path(dir);
            }
            builder.build_arc()
        })),
        ..defaults
    };
    let health = health::serve(health_address, config.health.clone()).await?;
    let result = start_executor_process(Arc::new(config)).await;
    health.abort();
    result?;
    Ok(())
}
