//! S3's incomplete multipart uploads, listed and aborted through the AWS SDK: object_store
//! aborts an upload it holds, but cannot list a bucket's uploads, and a writer that died holds
//! none. The attempt sweep ([`bulk_import_core::attempt::AttemptDir::sweep`]) calls this with
//! the files the attempt's writers named.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError;
use bulk_import_core::incomplete_uploads::IncompleteUploads;
use bulk_import_core::store::S3Options;
use bulk_import_core::{Error, Result};
use sleeper_instance::aws::{remote, sdk_config};
use tokio::sync::OnceCell;

/// One incomplete upload: the object it would create, and its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IncompleteUpload {
    pub key: String,
    pub upload_id: String,
}

/// S3's uploads, reached as the object stores reach S3 ([`S3Options`] over the environment). The
/// client is built on first use, so that a process working only on local files never loads AWS
/// configuration.
#[derive(Debug)]
pub struct S3Uploads {
    options: S3Options,
    client: OnceCell<aws_sdk_s3::Client>,
}

impl S3Uploads {
    pub fn new(options: S3Options) -> Self {
        S3Uploads { options, client: OnceCell::new() }
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let mut config = aws_sdk_s3::config::Builder::from(&sdk_config().await);
                let options = &self.options;
                if let Some(endpoint) = &options.endpoint {
                    config = config.endpoint_url(endpoint);
                }
                if let Some(region) = &options.region {
                    config = config.region(Region::new(region.clone()));
                }
                if let (Some(key), Some(secret)) = (&options.access_key_id, &options.secret_access_key) {
                    config = config.credentials_provider(Credentials::new(key, secret, options.session_token.clone(), None, "bulk-import"));
                }
                // object_store addresses buckets by path unless told otherwise; an S3-compatible
                // server at its own endpoint (MinIO, moto) may serve no other style.
                let virtual_hosted = std::env::var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
                let own_endpoint = options.endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
                aws_sdk_s3::Client::from_conf(config.force_path_style(own_endpoint && !virtual_hosted).build())
            })
            .await
    }

    /// The incomplete uploads of `bucket` under `prefix`, in key order.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<IncompleteUpload>> {
        let client = self.client().await;
        let (mut uploads, mut key_marker, mut upload_id_marker) = (Vec::new(), None, None);
        loop {
            let page = client
                .list_multipart_uploads()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_id_marker.take())
                .send()
                .await
                .map_err(|e| remote(format!("listing the incomplete multipart uploads of s3://{bucket}/{prefix}"), &e))?;
            uploads.extend(
                page.uploads().iter().filter_map(|u| Some(IncompleteUpload { key: u.key()?.to_string(), upload_id: u.upload_id()?.to_string() })),
            );
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            upload_id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() && upload_id_marker.is_none() {
                return Err(Error::Remote {
                    context: format!("listing the incomplete multipart uploads of s3://{bucket}/{prefix}"),
                    message: "a truncated page with no marker to go on from".into(),
                });
            }
        }
        Ok(uploads)
    }
}

#[async_trait]
impl IncompleteUploads for S3Uploads {
    async fn abort(&self, bucket: &str, prefix: &str, keys: &BTreeSet<String>) -> Result<usize> {
        let mut aborted = 0;
        for upload in self.list(bucket, prefix).await?.into_iter().filter(|u| keys.contains(&u.key)) {
            let result = self.client().await.abort_multipart_upload().bucket(bucket).key(&upload.key).upload_id(&upload.upload_id).send().await;
            match result {
                Ok(_) => aborted += 1,
                // Completed or aborted since the listing (by its own writer, say).
                Err(e) if e.as_service_error().is_some_and(AbortMultipartUploadError::is_no_such_upload) => {}
                Err(e) => return Err(remote(format!("aborting the multipart upload of s3://{bucket}/{}", upload.key), &e)),
            }
        }
        Ok(aborted)
    }
}
