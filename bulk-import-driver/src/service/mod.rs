//! The job service (`bulk-import serve`): `BulkImportService` over gRPC, with server reflection,
//! in front of a queue of accepted jobs that run on the embedded engine or a remote scheduler;
//! and KEDA's external scaler API, which sizes an executor pool by that queue.

pub mod auth;
pub mod client;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod plan_archive;
pub mod queue;
pub mod recovery;
pub mod scaler;
pub mod sqs_intake;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_proto::keda::external_scaler_server::ExternalScalerServer;
use bulk_import_proto::service::FILE_DESCRIPTOR_SET;
use bulk_import_proto::service::bulk_import_service_server::BulkImportServiceServer;

use tokio_util::task::AbortOnDropHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::driver::{Driver, RunOptions};
use auth::{Authenticate, TokenAuth};
use grpc::JobService;
pub use grpc::SubmissionLimits;
use metrics::ServiceMetrics;
use queue::JobQueue;
use recovery::{RestartPolicy, recover};
use scaler::QueueScaler;

/// How the service runs jobs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    /// Where `/metrics` is served over HTTP.
    pub http_listen: SocketAddr,
    /// Jobs running at once; the rest wait in order.
    pub concurrent_jobs: usize,
    pub restart_policy: RestartPolicy,
    pub run_options: RunOptions,
    /// A Sleeper bulk import queue to take jobs from, beside gRPC submissions.
    pub bulk_import_queue: Option<String>,
    /// Test hook: exit after recording a queued job, before deleting its message.
    pub exit_before_queue_delete: bool,
    pub limits: SubmissionLimits,
    /// Tokens callers must present; without them, anyone who reaches the port may call.
    pub token_file: Option<PathBuf>,
    /// TLS; without it, plaintext.
    pub tls: Option<TlsFiles>,
}

/// The PEM files of the service's TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    fn server_config(&self) -> anyhow::Result<ServerTlsConfig> {
        let read = |path: &PathBuf, what: &str| std::fs::read(path).with_context(|| format!("cannot read the TLS {what} {}", path.display()));
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(read(&self.cert, "certificate")?, read(&self.key, "key")?));
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(read(ca, "client CA")?));
        }
        Ok(config)
    }
}

/// Serves health at once, takes up unfinished jobs (NOT_SERVING until then), then serves jobs
/// until `shutdown` completes.
pub async fn serve(driver: Driver, config: ServiceConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() && (config.tls.is_none() || config.token_file.is_none()) {
        tracing::warn!(
            "SECURITY: serving on {address}, beyond this machine, without {}: anyone who reaches the port can {} (see --tls-cert, --token-file)",
            match (&config.tls, &config.token_file) {
                (None, None) => "TLS or tokens",
                (None, Some(_)) => "TLS",
                _ => "tokens",
            },
            if config.token_file.is_none() { "submit and cancel jobs" } else { "read the tokens on the wire" },
        );
    }
    if !config.http_listen.ip().is_loopback() && config.token_file.is_some() {
        tracing::warn!(
            "SECURITY: the web view on {} is plain HTTP: a token typed into its login form crosses the network in the clear; put it behind a TLS ingress or proxy",
            config.http_listen
        );
    }
    let auth = config.token_file.as_deref().map(TokenAuth::load).transpose()?;
    let _reloader = auth.as_ref().map(TokenAuth::reload_on_hangup).transpose()?.map(AbortOnDropHandle::new);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_not_serving::<BulkImportServiceServer<JobService>>().await;
    health.set_service_status("", ServingStatus::NotServing).await;

    let driver = Arc::new(driver);
    let metrics = Arc::new(ServiceMetrics::new()?);
    let queue = JobQueue::start(driver.clone(), &config.run_options, config.concurrent_jobs, metrics, config.restart_policy);
    let web = web::WebState { driver: driver.clone(), queue: queue.clone(), sessions: web::Sessions::new(auth.clone()) };
    let _http = AbortOnDropHandle::new(http::serve(config.http_listen, queue.clone(), web).await?);
    let ready = Arc::new(AtomicBool::new(false));
    let scaler = ExternalScalerServer::new(QueueScaler::new(queue.clone()));
    // A request is decoded only up to the job JSON limit (with room for the message around
    // it): a larger one is refused by the transport before it is held in memory.
    let max_request = config.limits.max_job_json_bytes.saturating_add(64 << 10).min(GRPC_MAX_MESSAGE_BYTES);
    let service = BulkImportServiceServer::new(JobService::new(driver.clone(), queue.clone(), config.limits, ready.clone()))
        .max_decoding_message_size(max_request)
        .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);
    // Both reflection versions: grpcurl speaks v1alpha, newer clients v1.
    let reflection_v1 = tonic_reflection::server::Builder::configure().register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET).build_v1()?;
    let reflection_v1alpha =
        tonic_reflection::server::Builder::configure().register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET).build_v1alpha()?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        builder = builder.tls_config(tls.server_config()?).context("TLS settings")?;
    }
    // Health and the scaler stay open to probes and KEDA; the jobs API needs a token.
    let server = builder
        .add_service(health_service)
        .add_service(InterceptedService::new(service, Authenticate(auth)))
        .add_service(scaler)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown);
    let start_up = async {
        let requeued = recover(&driver, &queue, config.restart_policy).await.context("taking up unfinished jobs")?;
        if requeued > 0 {
            tracing::info!("{requeued} unfinished jobs queued again");
        }
        let consumer = match &config.bulk_import_queue {
            Some(url) => {
                let bulk_import_queue = sleeper_instance::job_queue::BulkImportQueue::connect(url).await?;
                tracing::info!("taking jobs from {url}");
                let consumer = sqs_intake::consume(bulk_import_queue, driver.clone(), queue.clone(), config.exit_before_queue_delete);
                Some(AbortOnDropHandle::new(tokio::spawn(consumer)))
            }
            None => None,
        };
        ready.store(true, Ordering::Release);
        health.set_serving::<BulkImportServiceServer<JobService>>().await;
        health.set_service_status("", ServingStatus::Serving).await;
        // Tests and scripts wait for this line to know the service is ready, and on which port.
        println!("bulk-import service listening on {address}");
        anyhow::Ok(consumer)
    };
    let ((), _consumer) = tokio::try_join!(async { server.await.map_err(anyhow::Error::from) }, start_up)?;
    Ok(())
}
