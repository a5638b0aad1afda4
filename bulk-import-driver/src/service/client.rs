//! A client of the job service, for the CLI and tests: plaintext, or TLS with the CA that signed
//! the service's certificate, presenting a bearer token when it has one.

use anyhow::Context;
use bulk_import_core::GRPC_MAX_MESSAGE_BYTES;
use bulk_import_proto::service::bulk_import_service_client::BulkImportServiceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

pub type ServiceClient = BulkImportServiceClient<InterceptedService<Channel, BearerToken>>;

/// What a client needs to reach a locked-down service.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    /// The PEM of the CA that signed the service's certificate.
    pub tls_ca_pem: Option<Vec<u8>>,
    pub token: Option<String>,
}

impl ClientSecurity {
    /// The token of a token file: its first line that is not blank or a comment, or the token
    /// of a `NAME TOKEN` line.
    pub fn token_from_file(text: &str) -> anyhow::Result<String> {
        let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).context("the token file holds no token")?;
        Ok(line.split_whitespace().last().unwrap_or(line).to_string())
    }
}

/// Adds `authorization: Bearer TOKEN` to every request.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Connects to the job service at `url` (`http://host:port`, or `host:port`) in plaintext.
pub async fn connect(url: &str) -> anyhow::Result<ServiceClient> {
    connect_with(url, &ClientSecurity::default()).await
}

/// Connects to the job service at `url`; with a CA, over TLS (`https://`).
pub async fn connect_with(url: &str, security: &ClientSecurity) -> anyhow::Result<ServiceClient> {
    let scheme = if security.tls_ca_pem.is_some() { "https" } else { "http" };
    let url = if url.contains("://") { url.to_string() } else { format!("{scheme}://{url}") };
    // A token must not go out in plaintext because a URL said http while a CA was given.
    anyhow::ensure!(security.tls_ca_pem.is_none() || url.starts_with("https://"), "{url}: with a TLS CA, the service's URL must be https://");
    let mut endpoint = Endpoint::from_shared(url.clone()).with_context(|| format!("{url} is not a service URL"))?;
    if let Some(ca) = &security.tls_ca_pem {
        endpoint = endpoint.tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca))).context("TLS settings")?;
    }
    let channel = endpoint.connect().await.with_context(|| format!("cannot reach the job service at {url}"))?;
    let token = match &security.token {
        Some(token) => Some(format!("Bearer {token}").parse().context("the token holds characters a header cannot carry")?),
        None => None,
    };
    let client = BulkImportServiceClient::with_interceptor(channel, BearerToken(token));
    Ok(client.max_decoding_message_size(GRPC_MAX_MESSAGE_BYTES).max_encoding_message_size(GRPC_MAX_MESSAGE_BYTES))
}
