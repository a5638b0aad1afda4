//! The S3 settings every binary takes, as flags or the standard AWS environment variables.

use clap::Args;

use crate::store::S3Options;

#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// S3 endpoint, for S3-compatible servers (e.g. http://127.0.0.1:9000).
    #[arg(long = "s3-endpoint", env = "AWS_ENDPOINT_URL", global = true)]
    pub endpoint: Option<String>,
    /// S3 region.
    #[arg(long = "s3-region", env = "AWS_REGION", global = true)]
    pub region: Option<String>,
    /// S3 access key id (default: the instance's or pod's role).
    #[arg(long = "s3-access-key-id", env = "AWS_ACCESS_KEY_ID", global = true, hide_env_values = true)]
    pub access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(long = "s3-secret-access-key", env = "AWS_SECRET_ACCESS_KEY", global = true, hide_env_values = true)]
    pub secret_access_key: Option<String>,
    /// Allow plain-HTTP endpoints.
    #[arg(long = "s3-allow-http", env = "AWS_ALLOW_HTTP", global = true)]
    pub allow_http: Option<bool>,
    /// Retries of a failed S3 request (throttling, 5xx, broken connections).
    #[arg(long = "s3-max-retries", env = "BULK_IMPORT_S3_MAX_RETRIES", global = true, default_value_t = 10)]
    pub max_retries: usize,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: None,
            allow_http: self.allow_http,
            max_retries: Some(self.max_retries),
        }
    }
}
