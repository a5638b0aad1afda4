//! The AWS clients, configured as every AWS tool is: `AWS_ENDPOINT_URL`, `AWS_REGION` and
//! credentials from the environment, a profile or the pod's role.

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use bulk_import_core::Error;

#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    pub async fn from_environment() -> Self {
        let config = sdk_config().await;
        Clients { dynamo: aws_sdk_dynamodb::Client::new(&config), sqs: aws_sdk_sqs::Client::new(&config) }
    }
}

/// The AWS SDK's configuration from the environment, on the HTTPS client (rustls with ring) the
/// object stores already use rather than the SDK's default, which builds aws-lc.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await
}

/// An SDK error as the core's, with what was being done and the whole chain of causes.
pub fn remote<E: std::error::Error + 'static>(context: impl Into<String>, error: &E) -> Error {
    Error::Remote { context: context.into(), message: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string() }
}
