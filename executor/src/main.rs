//! `bulk-import-executor`: Ballista's executor with the bulk import codec, so that it can decode
//! and run the engine's plan nodes (leaf routing, the partition file writer).

use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use bulk_import_core::codec::BulkImportCodec;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bulk-import-executor", version, about = "Ballista executor for bulk import jobs")]
struct Args {
    #[arg(long, env = "BIND_HOST", default_value = "127.0.0.1")]
    bind_host: String,
    #[arg(long, env = "BIND_PORT", default_value_t = 50051)]
    bind_port: u16,
    #[arg(long, env = "BIND_GRPC_PORT", default_value_t = 50052)]
    bind_grpc_port: u16,
    #[arg(long, env = "SCHEDULER_HOST", default_value = "127.0.0.1")]
    scheduler_host: String,
    #[arg(long, env = "SCHEDULER_PORT", default_value_t = 50050)]
    scheduler_port: u16,
    /// Directory for shuffle files.
    #[arg(long, env = "WORK_DIR")]
    work_dir: Option<String>,
    /// Task slots (default: the machine's cores).
    #[arg(long, env = "VCORES")]
    vcores: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))).init();
    let args = Args::parse();
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: args.bind_host,
        port: args.bind_port,
        grpc_port: args.bind_grpc_port,
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        work_dir: args.work_dir,
        vcores: args.vcores.unwrap_or(defaults.vcores),
        override_physical_codec: Some(Arc::new(BulkImportCodec::new())),
        ..defaults
    };
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
