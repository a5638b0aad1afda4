//! The scheduler killed in the middle of a job and started again: Ballista keeps its jobs in
//! memory, so the job is lost to it. The service must not wait for it for ever: the job ends
//! FAILED with nothing committed and no files left. The executors register with the new
//! scheduler, and the job, submitted again, commits exactly once.

use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 1_500_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_lost_by_a_restarted_scheduler_fails_cleanly_and_runs_again() {
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
    let last = watch_to_end(&mut client, "job-1", Duration::from_mins(2)).await;
    let _cluster = restart.await.unwrap();
    assert_eq!(last.status(), api::JobStatus::Failed, "{last:?}");
    assert!(last.message.contains("no longer knows job"), "{}", last.message);
    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert!(contents.commits_by_job.is_empty(), "{:?}", contents.commits_by_job);
    assert!(contents.data_objects.is_empty(), "orphan files: {:?}", contents.data_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);

    // On the restarted scheduler, with the executors registered again, it runs once.
    assert_eq!(submit(&mut client, job).await.status(), api::JobStatus::Accepted);
    let last = watch_to_end(&mut client, "job-1", Duration::from_mins(5)).await;
    assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");
    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert_eq!(contents.total_rows() as u64, ROWS);
    assert_eq!(contents.commits_by_job.get("job-1"), Some(&1));
    assert_eq!(contents.data_objects, contents.referenced);
}
