//! Set-up shared by the distributed tests: generated input, tables, and following jobs through
//! the job service's API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulk_import_core::backend::Backend;
use bulk_import_core::key::KeyValue;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::store::{ObjectStores, S3Options};
use bulk_import_driver::service::client::{ServiceClient, connect};
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_proto::service as api;
use object_store::ObjectStoreExt;
use tokio_stream::StreamExt;

/// Generates `rows` rows in `files` files under `dir/input`; returns the input directory and
/// the split points of `leaves` even leaves.
pub fn generate_input(dir: &Path, rows: u64, files: usize, leaves: usize, seed: u64) -> (PathBuf, Vec<KeyValue>) {
    let input = dir.join(format!("input-{seed}"));
    let points = generate(&GenerateOptions { rows, files, out: input.clone(), seed, split_points_for: Some(leaves) }).unwrap();
    (input, points)
}

/// Creates a table of the system-test schema in the store at `store`, keeping its leaves.
pub async fn create_table(store: &str, s3: S3Options, name: &str, split_points: &[KeyValue]) {
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let tree = PartitionTree::from_split_points(&schema.row_keys(), split_points).unwrap();
    let backend = Backend::open(store, &ObjectStores::with_s3(s3)).unwrap();
    backend.create_table(name, schema, crate::without_pre_split(), tree).await.unwrap();
}

pub fn job_json(id: &str, table: &str, files: &[&str]) -> String {
    serde_json::json!({"id": id, "tableName": table, "files": files}).to_string()
}

pub async fn submit(client: &mut ServiceClient, json: String) -> api::SubmitJobResponse {
    let request = api::SubmitJobRequest { job: Some(api::submit_job_request::Job::Json(json)) };
    client.submit_job(request).await.unwrap().into_inner()
}

/// Follows a job with `WatchJob` to its end; returns the last update.
pub async fn watch_to_end(client: &mut ServiceClient, job_id: &str, timeout: Duration) -> api::JobUpdate {
    let follow = async {
        let mut updates = client.watch_job(api::WatchJobRequest { job_id: job_id.into() }).await.unwrap().into_inner();
        let mut last = None;
        while let Some(update) = updates.next().await {
            last = Some(update.unwrap());
        }
        last.expect("at least one update")
    };
    tokio::time::timeout(timeout, follow).await.unwrap_or_else(|_| panic!("job {job_id} did not end within {timeout:?}"))
}

/// Polls `GetJob` until the job's events include `event` (or it ended); returns the job.
pub async fn wait_for_event(client: &mut ServiceClient, job_id: &str, event: &str, timeout: Duration) -> api::Job {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = client.get_job(api::GetJobRequest { job_id: job_id.into() }).await.unwrap().into_inner();
        if job.events.iter().any(|e| e.event == event) || matches!(job.status(), api::JobStatus::Finished | api::JobStatus::Failed) {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job {job_id} never recorded {event}: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `GetJob` until the job is FINISHED, through any failed runs the service runs again;
/// returns the job.
pub async fn wait_until_finished(client: &mut ServiceClient, job_id: &str, timeout: Duration) -> api::Job {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = client.get_job(api::GetJobRequest { job_id: job_id.into() }).await.unwrap().into_inner();
        if job.status() == api::JobStatus::Finished {
            return job;
        }
        assert!(tokio::time::Instant::now() < deadline, "job {job_id} never finished: {job:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects to the service, retrying while it starts.
pub async fn client(url: &str) -> ServiceClient {
    for _ in 0..200 {
        if let Ok(client) = connect(url).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect to the job service at {url}")
}

/// Copies the files of the local directory `dir` to `prefix/NAME` (an `s3://` URL) in `stores`.
pub async fn upload_dir(stores: &ObjectStores, dir: &Path, prefix: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let target = stores.resolve(&format!("{prefix}/{}", path.file_name().unwrap().to_str().unwrap())).unwrap();
        target.store.put(&target.path, std::fs::read(&path).unwrap().into()).await.unwrap();
    }
}
