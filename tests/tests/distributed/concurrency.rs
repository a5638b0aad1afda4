//! Through the job service on a scheduler and two executors: two jobs running at once into one
//! table each commit exactly once, and a cancelled job commits nothing and leaves no files.

use std::time::Duration;

use tokio_stream::StreamExt;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_jobs_commit_once_each_and_a_cancelled_job_leaves_nothing() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, splits) = generate_input(dir.path(), 100_000, 2, 16, 21);
    let (second, _) = generate_input(dir.path(), 80_000, 2, 16, 22);
    let (big, _) = generate_input(dir.path(), 1_500_000, 4, 16, 23);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "shared", &splits).await;
    create_table(&store, S3Options::default(), "cancelled", &splits).await;

    let cluster = Cluster::start(dir.path(), &[]);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &["--concurrent-jobs", "2"], &[]);
    let mut client = client(&service.url()).await;

    let a = submit(&mut client, job_json("job-a", "shared", &[first.to_str().unwrap()])).await;
    let b = submit(&mut client, job_json("job-b", "shared", &[second.to_str().unwrap()])).await;
    assert_eq!((a.status(), b.status()), (api::JobStatus::Accepted, api::JobStatus::Accepted));
    let (mut client_a, mut client_b) = (client.clone(), client.clone());
    let (last_a, last_b) =
        tokio::join!(watch_to_end(&mut client_a, "job-a", Duration::from_mins(3)), watch_to_end(&mut client_b, "job-b", Duration::from_mins(3)),);
    assert_eq!((last_a.status(), last_b.status()), (api::JobStatus::Finished, api::JobStatus::Finished), "{last_a:?} {last_b:?}");
    // Both were running at the same time: each started before the other finished.
    let started_and_finished = |job: &api::Job| {
        let time = |event: &str| job.events.iter().find(|e| e.event == event).map(|e| e.time.clone()).unwrap();
        (time("STARTED"), time("FINISHED"))
    };
    let job_a = client.get_job(api::GetJobRequest { job_id: "job-a".into() }).await.unwrap().into_inner();
    let job_b = client.get_job(api::GetJobRequest { job_id: "job-b".into() }).await.unwrap().into_inner();
    let ((a_start, a_end), (b_start, b_end)) = (started_and_finished(&job_a), started_and_finished(&job_b));
    assert!(a_start < b_end && b_start < a_end, "the jobs did not overlap: a {a_start}..{a_end}, b {b_start}..{b_end}");

    let shared = table_contents(&store, S3Options::default(), "shared").await;
    assert_eq!(shared.total_rows(), 180_000);
    assert_eq!(shared.commits_by_job.values().copied().collect::<Vec<_>>(), [1, 1], "{:?}", shared.commits_by_job);
    assert!(shared.unsorted_files.is_empty());
    assert_eq!(shared.data_objects, shared.referenced);

    // A job cancelled while its tasks run.
    submit(&mut client, job_json("job-cancelled", "cancelled", &[big.to_str().unwrap()])).await;
    let running = wait_for_event(&mut client, "job-cancelled", "RUNNING", Duration::from_mins(1)).await;
    assert_eq!(running.status(), api::JobStatus::InProgress, "the job ended before it could be cancelled: {running:?}");
    // Cancel once writers have completed files, so that there is something to remove.
    let mut updates = client.watch_job(api::WatchJobRequest { job_id: "job-cancelled".into() }).await.unwrap().into_inner();
    while let Some(update) = updates.next().await {
        let update = update.unwrap();
        assert_eq!(update.status(), api::JobStatus::InProgress, "the job ended before it could be cancelled: {update:?}");
        if update.rows_written > 0 {
            break;
        }
    }
    let cancelled = client.cancel_job(api::CancelJobRequest { job_id: "job-cancelled".into() }).await.unwrap().into_inner();
    assert_eq!(cancelled.status(), api::JobStatus::Failed, "{cancelled:?}");
    assert!(cancelled.message.contains("cancelled"), "{cancelled:?}");
    let job = client.get_job(api::GetJobRequest { job_id: "job-cancelled".into() }).await.unwrap().into_inner();
    assert_eq!(job.status(), api::JobStatus::Failed);
    let contents = table_contents(&store, S3Options::default(), "cancelled").await;
    assert!(contents.commits_by_job.is_empty(), "{:?}", contents.commits_by_job);
    assert!(contents.data_objects.is_empty(), "files left by a cancelled job: {:?}", contents.data_objects);
    assert!(contents.sketch_objects.is_empty(), "sketches left by a cancelled job: {:?}", contents.sketch_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
}
