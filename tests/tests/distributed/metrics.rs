//! The service's `/metrics`, scraped as Prometheus would and parsed with the Prometheus
//! project's own Python parser: the values move as jobs are admitted, run and rejected.

use std::process::Command;
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Service, scrape_metrics, source_path};
use bulk_import_tests::distributed::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_follow_jobs_through_the_service() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), 300_000, 3, 8, 5);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "measured", &splits).await;
    let service = Service::start(dir.path(), "service", &store, None, &[], &[]);
    let mut client = client(&service.url()).await;

    let before = scrape_metrics(service.http_port);
    assert_eq!(before.get("bulk_import_running_jobs{}"), Some(&0.0), "{before:?}");
    assert_eq!(before.get("bulk_import_rows_written_total{}"), Some(&0.0));

    let input = input.to_str().unwrap();
    assert_eq!(submit(&mut client, job_json("measured-job", "measured", &[input])).await.status(), api::JobStatus::Accepted);
    // While it runs, it is counted as running.
    let mut seen_running = false;
    for _ in 0..100 {
        let now = scrape_metrics(service.http_port);
        if now.get("bulk_import_running_jobs{}") == Some(&1.0) {
            seen_running = true;
            break;
        }
        if now.contains_key("bulk_import_jobs_total{status=finished}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watch_to_end(&mut client, "measured-job", Duration::from_mins(2)).await.status(), api::JobStatus::Finished);
    let rejected = submit(&mut client, job_json("rejected-job", "no-such-table", &["/nowhere"])).await;
    assert_eq!(rejected.status(), api::JobStatus::Rejected);

    let after = scrape_metrics(service.http_port);
    assert_eq!(after.get("bulk_import_jobs_total{status=accepted}"), Some(&1.0), "{after:?}");
    assert_eq!(after.get("bulk_import_jobs_total{status=finished}"), Some(&1.0));
    assert_eq!(after.get("bulk_import_jobs_total{status=rejected}"), Some(&1.0));
    assert_eq!(after.get("bulk_import_rejections_total{reason=TableNotFound}"), Some(&1.0));
    assert_eq!(after.get("bulk_import_rows_read_total{}"), Some(&300_000.0));
    assert_eq!(after.get("bulk_import_rows_written_total{}"), Some(&300_000.0));
    assert!(after["bulk_import_files_written_total{}"] >= 8.0);
    assert!(after["bulk_import_bytes_written_total{}"] > 1_000_000.0);
    assert_eq!(after.get("bulk_import_job_duration_seconds_count{}"), Some(&1.0));
    assert!(after["bulk_import_job_duration_seconds_sum{}"] > 0.0);
    assert_eq!(after.get("bulk_import_running_jobs{}"), Some(&0.0));
    assert_eq!(after.get("bulk_import_queued_jobs{}"), Some(&0.0));
    assert!(seen_running, "the job was never scraped as running");
    // Commit conflicts and object store errors are served from the start, at zero here.
    assert_eq!(after.get("bulk_import_write_conflicts_total{log=transaction_log}"), Some(&0.0), "{after:?}");
    assert_eq!(after.get("bulk_import_write_retries_total{log=job_tracker}"), Some(&0.0));
    assert_eq!(after.get("bulk_import_object_store_errors_total{operation=put_part}"), Some(&0.0));

    // Sleeper-shaped reports of the same jobs, from the store.
    let cli = |args: &[&str]| {
        let out = Command::new(bulk_import_tests::cluster::workspace_binary("bulk-import")).args(["--store", &store]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let standard = cli(&["job", "list", "--report", "standard"]);
    assert!(standard.contains("Total jobs in report: 2\nTotal jobs in progress: 0\nTotal jobs finished: 1\n"), "{standard}");
    assert!(standard.lines().any(|l| l.starts_with("| FINISHED ") && l.contains("measured-job") && l.contains("300,000")), "{standard}");
    assert!(standard.lines().any(|l| l.starts_with("| REJECTED ") && l.contains("rejected-job")), "{standard}");
    let report: serde_json::Value = serde_json::from_str(&cli(&["job", "status", "measured-job", "--report", "json"])).unwrap();
    let updates = &report["jobList"][0]["jobRuns"][0]["updates"];
    let types: Vec<&str> = updates.as_array().unwrap().iter().map(|u| u["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ACCEPTED", "STARTED", "FINISHED"], "{report}");
    assert_eq!(updates[2]["rowsProcessed"]["rowsWritten"], 300_000);

    // The Grafana dashboard in docs/ asks only for metrics the service serves.
    let dashboard = std::fs::read_to_string(source_path("../docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for (start, _) in expr.match_indices("bulk_import_") {
                let name: String = expr[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(after.keys().any(|sample| sample.starts_with(&name)), "the dashboard asks for {name}, which is not served");
            }
        }
    }
}
