//! Global sort through the job service on a scheduler and two executors, on skewed data: the
//! big leaf is written by several tasks across the executors, and the table holds exactly the
//! input rows, sorted and routed, committed once.

use std::time::Duration;

use bulk_import_core::key::KeyValue;
use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service, scrape_metrics};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use bulk_import_tests::{files_below, read_parquet, rows_as_strings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn global_sort_on_a_cluster_splits_the_big_leaf() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = generate_input(dir.path(), 200_000, 4, 2, 31);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    // About 90% of random lowercase keys fall in [ac, xp).
    let skewed: Vec<KeyValue> = ["ab", "ac", "xp", "y", "z"].iter().map(|p| KeyValue::String(p.to_string())).collect();
    create_table(&store, S3Options::default(), "skewed", &skewed).await;

    let cluster = Cluster::start(dir.path(), &[]);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &[], &[]);
    let mut client = client(&service.url()).await;
    let job = serde_json::json!({"id": "global", "tableName": "skewed", "files": [input], "className": "global-sort"});
    let accepted = submit(&mut client, job.to_string()).await;
    assert_eq!(accepted.status(), api::JobStatus::Accepted, "{accepted:?}");
    let last = watch_to_end(&mut client, "global", Duration::from_mins(3)).await;
    assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");
    // Ballista's scheduler metrics saw the job (planned once, completed once).
    let scheduler = scrape_metrics(cluster.scheduler_metrics_port);
    assert_eq!(scheduler.get("job_submitted_total{}"), Some(&1.0), "{scheduler:?}");
    assert_eq!(scheduler.get("job_completed_total{}"), Some(&1.0), "{scheduler:?}");
    assert_eq!(scheduler.get("job_failed_total{}"), Some(&0.0), "{scheduler:?}");

    let contents = table_contents(&store, S3Options::default(), "skewed").await;
    let mut expected: Vec<String> = files_below(&input).iter().flat_map(|f| rows_as_strings(&read_parquet(f))).collect();
    expected.sort();
    assert_eq!(contents.all_rows(), expected, "the table holds other rows than the input");
    assert!(contents.unsorted_files.is_empty(), "{:?}", contents.unsorted_files);
    assert!(contents.misrouted_files.is_empty(), "{:?}", contents.misrouted_files);
    assert_eq!(contents.commits_by_job.values().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(contents.data_objects, contents.referenced);
    assert!(contents.one_sketch_per_file(), "{:?}", contents.sketch_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
    // The service's four task slots make four ranges; the big leaf spans at least three.
    let big = &contents.file_rows_by_leaf[&2];
    assert!(big.len() >= 3, "the big leaf's files: {big:?}");
    assert!(big.iter().all(|&rows| rows < 70_000), "uneven ranges: {big:?}");
}
