//! A client of the job service, for the CLI and tests.

use anyhow::Context;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_proto::service::bulk_import_service_client::BulkImportServiceClient;
use tonic::transport::Channel;

pub type ServiceClient = BulkImportServiceClient<Channel>;

/// Connects to the job service at `url` (`http://host:port`, or `host:port`).
pub async fn connect(url: &str) -> anyhow::Result<ServiceClient> {
    let url = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
    let client = BulkImportServiceClient::connect(url.clone()).await.with_context(|| format!("cannot reach the job service at {url}"))?;
    Ok(client.max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES).max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES))
}
