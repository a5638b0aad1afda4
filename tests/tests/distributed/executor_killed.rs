//! An executor killed in the middle of a job: the job either completes correctly, or ends
//! FAILED with nothing committed and no files left; a resubmission then commits exactly once.

use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 1_500_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_executor_loses_and_duplicates_nothing() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), ROWS, 4, 16, 41);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let mut cluster = Cluster::start(dir.path(), &[]);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &[], &[]);
    let mut client = client(&service.url()).await;
    let job = job_json("job-1", "t", &[input.to_str().unwrap()]);

    submit(&mut client, job.clone()).await;
    let running = wait_for_event(&mut client, "job-1", "RUNNING", Duration::from_mins(1)).await;
    assert_eq!(running.status(), api::JobStatus::InProgress, "the job ended before the executor could be killed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.executors[0].kill();
    let last = watch_to_end(&mut client, "job-1", Duration::from_mins(5)).await;
    let contents = table_contents(&store, S3Options::default(), "t").await;
    match last.status() {
        api::JobStatus::Finished => {
            contents.assert_committed_once("job-1", ROWS);
            assert!(contents.unsorted_files.is_empty());
            eprintln!("the job completed on the surviving executor");
        }
        api::JobStatus::Failed => {
            assert!(contents.commits_by_job.is_empty(), "{:?}", contents.commits_by_job);
            assert!(contents.data_objects.is_empty(), "orphan files: {:?}", contents.data_objects);
            assert!(contents.sketch_objects.is_empty(), "orphan sketches: {:?}", contents.sketch_objects);
            assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
            eprintln!("the job failed cleanly: {}", last.message);
            // A failed job may be submitted again under its id; it runs on what is left.
            let again = submit(&mut client, job).await;
            assert_eq!(again.status(), api::JobStatus::Accepted, "{again:?}");
            let last = watch_to_end(&mut client, "job-1", Duration::from_mins(5)).await;
            assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");
            let contents = table_contents(&store, S3Options::default(), "t").await;
            contents.assert_committed_once("job-1", ROWS);
        }
        other => panic!("the job ended {other:?}: {last:?}"),
    }
}
