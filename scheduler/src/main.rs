//! `bulk-import-scheduler`: Ballista's scheduler with the bulk import codec and object stores,
//! so that plans holding our nodes can be planned into stages and handed to executors.
//!
//! Flags carry the stock Ballista scheduler's names; each also reads an environment variable
//! `BALLISTA_SCHEDULER_<FLAG>` (for example `BALLISTA_SCHEDULER_BIND_PORT`). Health and readiness
//! are served on the scheduler's port at `/healthz` and `/readyz`; Ballista's Prometheus metrics
//! on `/metrics` of `--metrics-listen`, where it is given.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::response::IntoResponse;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_core::codec::BulkImportCodec;
use bulk_import_core::logging::LogArgs;
use bulk_import_core::s3_args::S3Args;
use bulk_import_core::store::ObjectStores;
use clap::Parser;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use prometheus::Encoder;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bulk-import-scheduler", version, about = "Ballista scheduler for bulk import jobs")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BALLISTA_SCHEDULER_BIND_HOST", default_value = "0.0.0.0")]
    bind_host: String,
    /// Port for gRPC (executors and clients), health and readiness.
    #[arg(long, env = "BALLISTA_SCHEDULER_BIND_PORT", default_value_t = 50050)]
    bind_port: u16,
    /// The host executors and clients reach this scheduler at (default: the bind host).
    #[arg(long, env = "BALLISTA_SCHEDULER_EXTERNAL_HOST")]
    external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is considered lost and its tasks
    /// run elsewhere.
    #[arg(long, env = "BALLISTA_SCHEDULER_EXECUTOR_TIMEOUT_SECONDS", default_value_t = 180)]
    executor_timeout_seconds: u64,
    /// How often lost executors are looked for.
    #[arg(long, env = "BALLISTA_SCHEDULER_EXPIRE_DEAD_EXECUTOR_INTERVAL_SECONDS", default_value_t = 15)]
    expire_dead_executor_interval_seconds: u64,
    /// Attempts of a task before its job fails.
    #[arg(long, env = "BALLISTA_SCHEDULER_TASK_MAX_FAILURES", default_value_t = 4)]
    task_max_failures: usize,
    /// Attempts of a stage (re-run after lost shuffle output) before its job fails.
    #[arg(long, env = "BALLISTA_SCHEDULER_STAGE_MAX_FAILURES", default_value_t = 4)]
    stage_max_failures: usize,
    /// Executors that must be registered before `/readyz` reports ready.
    #[arg(long, env = "BALLISTA_SCHEDULER_MIN_READY_EXECUTORS", default_value_t = 1)]
    min_ready_executors: usize,
    /// Where to serve Ballista's scheduler metrics (Prometheus text on `/metrics`): jobs
    /// submitted, completed, failed and cancelled, planning and run times, pending tasks.
    #[arg(long, env = "BALLISTA_SCHEDULER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    s3: S3Args,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")), false);
    let address: SocketAddr = format!("{}:{}", args.bind_host, args.bind_port).parse().context("invalid --bind-host/--bind-port")?;
    // Ballista's own bind error names neither the address nor the flag.
    std::net::TcpListener::bind(address).with_context(|| format!("cannot bind {address} (--bind-port, with --bind-host)"))?;
    let stores = Arc::new(ObjectStores::with_s3(args.s3.options()));
    let max_message = GRPC_MAX_MESSAGE_BYTES as u32;
    let config = SchedulerConfig {
        external_host: args.external_host.unwrap_or_else(|| args.bind_host.clone()),
        bind_host: args.bind_host,
        bind_port: args.bind_port,
        executor_timeout_seconds: args.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: args.expire_dead_executor_interval_seconds,
        task_max_failures: args.task_max_failures,
        stage_max_failures: args.stage_max_failures,
        min_ready_executors: args.min_ready_executors,
        grpc_server_max_decoding_message_size: max_message,
        grpc_server_max_encoding_message_size: max_message,
        grpc_client_max_message_size: max_message,
        override_physical_codec: Some(Arc::new(BulkImportCodec::new())),
        // Plans are decoded here: file scans resolve their stores through ours.
        override_session_builder: Some(Arc::new(move |config| {
            let runtime = RuntimeEnvBuilder::new().with_object_store_registry(stores.clone()).build_arc()?;
            Ok(SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build())
        })),
        ..SchedulerConfig::default()
    };
    let _metrics = match args.metrics_listen {
        Some(listen) => Some(serve_metrics(listen).await?),
        None => None,
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, address, Arc::new(config)).await?;
    Ok(())
}

/// Serves the process's default Prometheus registry, where Ballista's collector keeps its
/// metrics, on `/metrics`.
async fn serve_metrics(listen: SocketAddr) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    // Ballista registers its collector when its server starts; registering it first makes the
    // metrics present, at zero, from the first scrape.
    ballista_scheduler::metrics::default_metrics_collector().context("Ballista's metrics collector")?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot bind {listen} (--metrics-listen)"))?;
    tracing::info!("scheduler metrics on http://{}/metrics", listener.local_addr()?);
    let metrics = || async {
        let mut text = Vec::new();
        match prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut text) {
            Ok(()) => ([(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
            Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    };
    let router = axum::Router::new().route("/metrics", axum::routing::get(metrics));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("the metrics server stopped: {e}");
        }
    }))
}
