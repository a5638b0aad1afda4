//! `bulk-import-scheduler`: Ballista's scheduler with the bulk import codec, so that plans holding
//! our nodes can be planned into stages and handed to executors.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use bulk_import_core::codec::BulkImportCodec;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bulk-import-scheduler", version, about = "Ballista scheduler for bulk import jobs")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BIND_HOST", default_value = "127.0.0.1")]
    bind_host: String,
    /// Port to listen on.
    #[arg(long, env = "BIND_PORT", default_value_t = 50050)]
    bind_port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))).init();
    let args = Args::parse();
    let address: SocketAddr = format!("{}:{}", args.bind_host, args.bind_port).parse().context("invalid --bind-host/--bind-port")?;
    let mut config = SchedulerConfig { bind_host: args.bind_host, bind_port: args.bind_port, ..SchedulerConfig::default() };
    config.override_physical_codec = Some(Arc::new(BulkImportCodec::new()));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, address, Arc::new(config)).await?;
    Ok(())
}
