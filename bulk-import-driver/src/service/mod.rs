//! The job service (`bulk-import serve`): `BulkImportService` over gRPC, with server reflection,
//! in front of a queue of accepted jobs that run on the embedded engine or a remote scheduler;
//! and KEDA's external scaler API, which sizes an executor pool by that queue.

pub mod client;
pub mod grpc;
pub mod queue;
pub mod recovery;
pub mod scaler;
pub mod sqs_intake;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_proto::keda::external_scaler_server::ExternalScalerServer;
use bulk_import_proto::service::FILE_DESCRIPTOR_SET;
use bulk_import_proto::service::bulk_import_service_server::BulkImportServiceServer;

use crate::driver::{Driver, RunOptions};
use grpc::JobService;
use queue::JobQueue;
use recovery::{RestartPolicy, recover};
use scaler::QueueScaler;

/// How the service runs jobs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub listen: SocketAddr,
    /// Jobs running at once; the rest wait in order.
    pub concurrent_jobs: usize,
    pub restart_policy: RestartPolicy,
    pub run_options: RunOptions,
    /// A Sleeper bulk import queue to take jobs from, beside gRPC submissions.
    pub bulk_import_queue: Option<String>,
    /// Test hook: exit after recording a queued job, before deleting its message.
    pub exit_before_queue_delete: bool,
}

/// Takes up unfinished jobs, then serves until `shutdown` completes.
pub async fn serve(driver: Driver, config: ServiceConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let driver = Arc::new(driver);
    let queue = JobQueue::start(driver.clone(), &config.run_options, config.concurrent_jobs);
    let requeued = recover(&driver, &queue, config.restart_policy).await.context("taking up unfinished jobs")?;
    if requeued > 0 {
        tracing::info!("{requeued} unfinished jobs queued again");
    }
    let _consumer = match &config.bulk_import_queue {
        Some(url) => {
            let bulk_import_queue = sleeper_instance::job_queue::BulkImportQueue::connect(url).await?;
            tracing::info!("taking jobs from {url}");
            let consumer = sqs_intake::consume(bulk_import_queue, driver.clone(), queue.clone(), config.exit_before_queue_delete);
            Some(AbortOnDrop(tokio::spawn(consumer)))
        }
        None => None,
    };
    let scaler = ExternalScalerServer::new(QueueScaler::new(queue.clone()));
    let service = BulkImportServiceServer::new(JobService::new(driver, queue))
        .max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES)
        .max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES);
    // Both reflection versions: grpcurl speaks v1alpha, newer clients v1.
    let reflection_v1 = tonic_reflection::server::Builder::configure().register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET).build_v1()?;
    let reflection_v1alpha =
        tonic_reflection::server::Builder::configure().register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET).build_v1alpha()?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // Tests and scripts wait for this line to know the service is ready, and on which port.
    println!("bulk-import service listening on {address}");
    tonic::transport::Server::builder()
        .add_service(service)
        .add_service(scaler)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}

/// Stops a background task when the service stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
