//! `--log-format json` (here through `BULK_IMPORT_LOG_FORMAT`) on the scheduler, the executors
//! and the service: every log line is one JSON object, and the lines of a job carry its id and
//! its Ballista job id (and, on the executors, the stage of the task).

use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service};
use bulk_import_tests::distributed::*;
use serde_json::Value;

/// Every line of a log as JSON, but the service's readiness line, which is its stdout.
fn json_lines(name: &str, log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.starts_with("bulk-import service listening on"))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: a line that is not JSON ({e}): {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_binary_logs_json_lines_and_a_jobs_lines_name_it() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), 50_000, 2, 8, 9);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "logged", &splits).await;
    let json = [("BULK_IMPORT_LOG_FORMAT".to_string(), "json".to_string())];
    let cluster = Cluster::start(dir.path(), &json);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &[], &json);
    let mut client = client(&service.url()).await;
    assert_eq!(submit(&mut client, job_json("logged-job", "logged", &[input.to_str().unwrap()])).await.status(), api::JobStatus::Accepted);
    let last = watch_to_end(&mut client, "logged-job", Duration::from_mins(2)).await;
    assert_eq!(last.status(), api::JobStatus::Finished);
    let job = client.get_job(api::GetJobRequest { job_id: "logged-job".into() }).await.unwrap().into_inner();
    let running = job.events.iter().find(|e| e.event == "RUNNING").expect("a RUNNING event");
    let engine_job_id = serde_json::from_str::<Value>(&running.json).unwrap()["engineJobId"].as_str().unwrap().to_string();

    let service_lines = json_lines("service", &service.process.log());
    let job_lines: Vec<&Value> = service_lines.iter().filter(|l| l["span"]["job_id"] == "logged-job").collect();
    assert!(job_lines.len() >= 3, "the job's lines: {job_lines:?}");
    assert!(job_lines.iter().all(|l| l["level"].is_string() && l["timestamp"].is_string() && l["message"].is_string()));
    let submitted: Vec<&&Value> = job_lines.iter().filter(|l| l["message"].as_str().unwrap().starts_with("submitted")).collect();
    assert_eq!(submitted.len(), 1, "{job_lines:?}");
    assert_eq!(submitted[0]["span"]["engine_job_id"], engine_job_id.as_str());
    assert!(job_lines.iter().any(|l| l["message"].as_str().unwrap().starts_with("FINISHED")), "{job_lines:?}");
    let scheduler_lines = json_lines("scheduler", &cluster.scheduler.log());
    assert!(scheduler_lines.iter().any(|l| l.to_string().contains(&engine_job_id)), "the scheduler never logged job {engine_job_id}");
    // On the executors, each writer task's lines name the job, the Ballista job and its stage.
    let mut task_lines = Vec::new();
    for (i, executor) in cluster.executors.iter().enumerate() {
        let lines = json_lines(&format!("executor {i}"), &executor.log());
        assert!(!lines.is_empty());
        task_lines.extend(lines.into_iter().filter(|l| l["span"]["job_id"] == "logged-job"));
    }
    assert!(task_lines.iter().any(|l| l["message"].as_str().unwrap().starts_with("wrote ")), "{task_lines:?}");
    for line in &task_lines {
        assert_eq!(line["span"]["engine_job_id"], engine_job_id.as_str(), "{line}");
        assert!(line["span"]["stage"].as_str().is_some_and(|s| s.parse::<u32>().is_ok()), "{line}");
    }
}
