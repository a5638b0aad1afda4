//! The job service killed (SIGKILL) in the middle of a job and started again: no job is lost,
//! nothing is committed twice, and the table holds exactly the input's rows.

use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_service_loses_no_job_and_commits_once() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (running_input, splits) = generate_input(dir.path(), 1_500_000, 4, 16, 51);
    let (queued_input, _) = generate_input(dir.path(), 50_000, 2, 16, 52);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let cluster = Cluster::start(dir.path(), &[]);
    let mut service = Service::start(dir.path(), "service-1", &store, Some(&cluster.url()), &[], &[]);
    let port = service.port;
    let mut client = client(&service.url()).await;

    // One job running and one waiting behind it (one job at a time) when the service dies.
    submit(&mut client, job_json("running-job", "t", &[running_input.to_str().unwrap()])).await;
    submit(&mut client, job_json("queued-job", "t", &[queued_input.to_str().unwrap()])).await;
    let running = wait_for_event(&mut client, "running-job", "RUNNING", Duration::from_mins(1)).await;
    assert_eq!(running.status(), api::JobStatus::InProgress, "the job ended before the service could be killed");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    service.process.kill();
    let queued = table_contents(&store, S3Options::default(), "t").await;
    assert!(queued.commits_by_job.is_empty(), "a job committed before the kill: the test proves nothing");

    let service = Service::start_on(dir.path(), "service-2", port, &store, Some(&cluster.url()), &[], &[]);
    let mut client = bulk_import_tests::distributed::client(&service.url()).await;
    // The killed run's lease holds for up to LEASE_TERM after the kill; the new service takes the
    // run over once it runs out, and the job runs again.
    let running = wait_until_finished(&mut client, "running-job", Duration::from_mins(5)).await;
    let queued = watch_to_end(&mut client, "queued-job", Duration::from_mins(5)).await;
    assert_eq!((running.status(), queued.status()), (api::JobStatus::Finished, api::JobStatus::Finished), "{running:?} {queued:?}");
    assert!(service.process.log().contains("stopped renewing its lease"), "{}", service.process.log());

    // The interrupted run is on record, followed by the run that finished.
    let job = client.get_job(api::GetJobRequest { job_id: "running-job".into() }).await.unwrap().into_inner();
    let events: Vec<&str> = job.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events.iter().filter(|e| **e == "STARTED").count(), 2, "{events:?}");
    assert!(job.events.iter().any(|e| e.event == "FAILED" && e.json.contains("\"interrupted\":true")), "{events:?}");

    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert_eq!(contents.total_rows(), 1_550_000);
    assert_eq!(contents.commits_by_job.get("running-job"), Some(&1));
    assert_eq!(contents.commits_by_job.get("queued-job"), Some(&1));
    assert_eq!(contents.data_objects, contents.referenced, "files of the interrupted run were left behind");
    assert!(contents.one_sketch_per_file(), "sketches of the interrupted run were left behind: {:?}", contents.sketch_objects);
    assert!(contents.unsorted_files.is_empty());
}
