//! The distributed job against moto's S3 server: input read from S3 (named in Sleeper's
//! scheme-less `bucket/key` form), and table data, transaction log and tracker in S3.

use std::time::Duration;

use bulk_import_core::backend::Backend;
use bulk_import_core::store::ObjectStores;
use bulk_import_core::tracker::JobStatus;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Moto, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_reads_and_writes_everything_in_s3() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(dir.path(), &["input-bucket", "tables"]);
    let s3 = moto.s3_options();
    let (input, splits) = generate_input(dir.path(), 60_000, 3, 8, 31);
    let stores = ObjectStores::with_s3(s3.clone());
    upload_dir(&stores, &input, "s3://input-bucket/jobs/one").await;
    let store = "s3://tables/instance";
    create_table(store, s3.clone(), "in-s3", &splits).await;

    let env = moto.env();
    let cluster = Cluster::start(dir.path(), &env);
    let service = Service::start(dir.path(), "service", store, Some(&cluster.url()), &[], &env);
    let mut client = client(&service.url()).await;
    let accepted = submit(&mut client, job_json("s3-job", "in-s3", &["input-bucket/jobs/one"])).await;
    assert_eq!(accepted.status(), api::JobStatus::Accepted, "{accepted:?}");
    let last = watch_to_end(&mut client, "s3-job", Duration::from_mins(3)).await;
    assert_eq!((last.status(), last.rows_written), (api::JobStatus::Finished, 60_000), "{last:?}");

    let contents = table_contents(store, s3.clone(), "in-s3").await;
    assert_eq!(contents.total_rows(), 60_000);
    assert!(contents.referenced.iter().all(|f| f.starts_with("s3://tables/instance/")), "{:?}", contents.referenced);
    assert!(contents.unsorted_files.is_empty());
    assert_eq!(contents.commits_by_job.get("s3-job"), Some(&1));
    assert_eq!(contents.data_objects, contents.referenced);
    // The tracker is in S3 too, not on this machine.
    let tracker = Backend::open(store, &stores).unwrap().job_tracker;
    assert_eq!(tracker.job("s3-job").await.unwrap().unwrap().status, JobStatus::Finished);
    assert!(!dir.path().join("tables").exists() && !std::path::Path::new("tables").exists());
}
