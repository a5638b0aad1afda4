//! The service's start sweep in S3 aborts the incomplete multipart uploads of the attempts it
//! discards, and only theirs. A service is killed in the middle of a job writing to moto's S3;
//! a writer that died in the middle of a file is staged in its attempt (a marker naming the
//! file, and the file's upload started and never completed), beside another upload under the
//! table's prefix that no attempt names. The restarted service takes the run over: the dead
//! writer's upload is aborted, the other is left, and the job commits once.

use std::time::Duration;

use bulk_import_core::attempt::AttemptDir;
use bulk_import_core::backend::Backend;
use bulk_import_core::store::{Location, ObjectStores};
use bulk_import_driver::s3_uploads::S3Uploads;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Moto, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use object_store::{ObjectStoreExt, PutPayload};

/// Starts a multipart upload of `file` with one part, and leaves it incomplete.
async fn start_upload(file: &Location) {
    let mut upload = file.store.put_multipart(&file.path).await.unwrap();
    upload.put_part(PutPayload::from(vec![7u8; 64 << 10])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_start_sweep_aborts_the_incomplete_uploads_of_discarded_attempts_only() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path(), &["input-bucket", "tables"]);
    let s3 = moto.s3_options();
    let stores = ObjectStores::with_s3(s3.clone());
    let (input, splits) = generate_input(dir.path(), 1_000_000, 4, 16, 61);
    upload_dir(&stores, &input, "s3://input-bucket/jobs/one").await;
    let store = "s3://tables/instance";
    create_table(store, s3.clone(), "t", &splits).await;
    let env = moto.env();

    let mut service = Service::start(dir.path(), "service-1", store, None, &[], &env);
    let port = service.port;
    let mut client = client(&service.url()).await;
    submit(&mut client, job_json("killed-job", "t", &["input-bucket/jobs/one"])).await;
    let running = wait_for_event(&mut client, "killed-job", "RUNNING", Duration::from_mins(1)).await;
    assert_eq!(running.status(), api::JobStatus::InProgress, "the job ended before the service could be killed");
    service.process.kill();

    // What a writer killed in the middle of a file leaves: its marker, and the file's parts.
    let backend = Backend::open(store, &stores).unwrap();
    let table = backend.table_by_name("t").await.unwrap().unwrap();
    let job = backend.job_tracker.job("killed-job").await.unwrap().unwrap();
    let attempt = AttemptDir::for_run(&table, "killed-job", job.current_run_id().unwrap());
    let dead_writers_file = table.dir().child("data/partition_dead/dead-writer.parquet");
    let marker = stores.resolve(&format!("{}/files/dead-writer", attempt.url())).unwrap();
    marker.store.put(&marker.path, PutPayload::from(dead_writers_file.url().into_bytes())).await.unwrap();
    start_upload(&dead_writers_file).await;
    // An upload no attempt of the job names: another job's live writer, as far as anyone knows.
    let other_file = table.dir().child("data/partition_live/other-writer.parquet");
    start_upload(&other_file).await;

    let uploads = S3Uploads::new(s3.clone());
    let table_prefix = format!("{}/", table.dir().path);
    let keys = |list: Vec<bulk_import_driver::s3_uploads::IncompleteUpload>| list.into_iter().map(|u| u.key).collect::<Vec<_>>();
    let before = keys(uploads.list("tables", &table_prefix).await.unwrap());
    assert!(before.contains(&dead_writers_file.path.to_string()) && before.contains(&other_file.path.to_string()), "{before:?}");

    let service = Service::start_on(dir.path(), "service-2", port, store, None, &[], &env);
    let mut client = bulk_import_tests::distributed::client(&service.url()).await;
    let finished = wait_until_finished(&mut client, "killed-job", Duration::from_mins(4)).await;
    assert!(finished.events.iter().any(|e| e.event == "FAILED" && e.json.contains("\"interrupted\":true")), "{finished:?}");

    let after = keys(uploads.list("tables", &table_prefix).await.unwrap());
    assert_eq!(after, vec![other_file.path.to_string()], "only the upload no attempt named is left");
    assert!(service.process.log().contains("incomplete multipart uploads of attempt"), "{}", service.process.log());
    let contents = table_contents(store, s3, "t").await;
    contents.assert_committed_once("killed-job", 1_000_000);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
}
