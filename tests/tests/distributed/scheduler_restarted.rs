//! The scheduler killed in the middle of a job and started again: Ballista keeps its jobs in
//! memory, so the job is lost to it. The service notices rather than wait for ever, records the
//! run FAILED (interrupted), discards its attempt, and runs the job again once the executors
//! have registered with the new scheduler. The job commits exactly once, with no stray file.

use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 1_500_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_lost_by_a_restarted_scheduler_is_run_again_and_commits_once() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), ROWS, 4, 16, 81);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let mut cluster = Cluster::start(dir.path(), &[]);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &[], &[]);
    let mut client = client(&service.url()).await;
    let job = job_json("job-1", "t", &[input.to_str().unwrap()]);

    assert_eq!(submit(&mut client, job.clone()).await.status(), api::JobStatus::Accepted);
    let running = wait_for_event(&mut client, "job-1", "RUNNING", Duration::from_mins(1)).await;
    assert_eq!(running.status(), api::JobStatus::InProgress, "the job ended before the scheduler could be killed");
    let restart = tokio::task::spawn_blocking(move || {
        cluster.restart_scheduler();
        cluster
    });
    // The run the scheduler lost fails, its attempt discarded; the service runs the job again
    // on the restarted scheduler, where the executors have registered again.
    let job = wait_until_finished(&mut client, "job-1", Duration::from_mins(5)).await;
    let _cluster = restart.await.unwrap();
    let failed: Vec<&str> = job.events.iter().filter(|e| e.event == "FAILED").map(|e| e.json.as_str()).collect();
    assert_eq!(failed.len(), 1, "{:?}", job.events);
    assert!(failed[0].contains("no longer knows job") && failed[0].contains("\"interrupted\":true"), "{}", failed[0]);
    assert_eq!(job.events.iter().filter(|e| e.event == "STARTED").count(), 2, "{:?}", job.events);
    let contents = table_contents(&store, S3Options::default(), "t").await;
    contents.assert_committed_once("job-1", ROWS);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
}
