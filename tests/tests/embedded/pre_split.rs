//! Automatic pre-split: an import into a table with fewer leaves than
//! `sleeper.table.bulk.import.min.leaf.partitions` (default 256) first splits the table at
//! quantiles of its input, in one `ExtendPartitionTree` transaction in Sleeper's shape, and
//! imports into the new leaves. Two jobs racing to split one table leave one consistent tree.

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::store::S3Options;
use bulk_import_core::tracker::JobEvent;
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{Driver, JobOutcome, RunOptions};
use bulk_import_tests::table_contents::{TableContents, table_contents};
use bulk_import_tests::*;

fn generate_input(dir: &std::path::Path, name: &str, rows: u64, seed: u64) -> std::path::PathBuf {
    let input = dir.join(name);
    generate(&GenerateOptions { rows, files: 4, out: input.clone(), seed, split_points_for: None }).unwrap();
    input
}

/// Creates a one-leaf table with the default properties.
async fn one_leaf_table(driver: &Driver) -> String {
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    let table = driver
        .backend()
        .create_table("t", schema.clone(), bulk_import_core::properties::TableProperties::default(), PartitionTree::single_leaf(&schema.row_keys()))
        .await
        .unwrap();
    table.id().to_string()
}

fn split_events(driver_events: &[JobEvent]) -> Vec<(u64, u64)> {
    driver_events
        .iter()
        .filter_map(|e| match e {
            JobEvent::PartitionsSplit { leaves_before, leaves_after, .. } => Some((*leaves_before, *leaves_after)),
            _ => None,
        })
        .collect()
}

async fn events(driver: &Driver, job: &str) -> Vec<JobEvent> {
    driver.tracker().job(job).await.unwrap().unwrap().current_events().iter().map(|e| e.event.clone()).collect()
}

/// The table's rows are complete, sorted, routed and committed once per job.
fn assert_imported(contents: &TableContents, rows: usize, jobs: usize) {
    assert_eq!(contents.total_rows(), rows);
    assert!(contents.unsorted_files.is_empty(), "{:?}", contents.unsorted_files);
    assert!(contents.misrouted_files.is_empty(), "{:?}", contents.misrouted_files);
    assert_eq!(contents.commits_by_job.values().copied().collect::<Vec<_>>(), vec![1; jobs]);
    assert_eq!(contents.data_objects, contents.referenced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_leaf_table_is_split_into_balanced_leaves_before_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 200_000;
    let input = generate_input(dir.path(), "input", rows, 3);
    let driver = driver(dir.path()).await;
    let table_id = one_leaf_table(&driver).await;

    let job = format!(r#"{{"id": "split", "tableName": "t", "files": ["{}"]}}"#, input.display());
    let outcome = driver.run(&job, &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");

    // One extension in the log, in Sleeper's shape: the root updated to a parent, the rest new.
    let log = Log::read(&dir.path().join("store"), &table_id);
    let extensions: Vec<_> = log.of_type("EXTEND_PARTITION_TREE").collect();
    assert_eq!(extensions.len(), 1);
    let updated = extensions[0]["updatePartitions"].as_array().unwrap();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["partitionId"], "root");
    assert_eq!(updated[0]["isLeafPartition"], false);
    assert_eq!(updated[0]["childPartitionIds"].as_array().unwrap().len(), 2);
    let tree = log.partitions(&Schema::from_json(SCHEMA_JSON).unwrap());
    assert_eq!(extensions[0]["newPartitions"].as_array().unwrap().len(), 2 * tree.leaf_count() - 2, "a binary tree");
    assert!((240..=256).contains(&tree.leaf_count()), "{} leaves", tree.leaf_count());

    let contents = table_contents(dir.path().join("store").to_str().unwrap(), S3Options::default(), "t").await;
    assert_imported(&contents, rows as usize, 1);
    let mean = rows as f64 / tree.leaf_count() as f64;
    let largest = contents.rows_by_leaf.values().map(Vec::len).max().unwrap();
    assert!((largest as f64) <= 2.0 * mean, "largest leaf {largest} rows, mean {mean:.0}");
    assert_eq!(contents.rows_by_leaf.len(), tree.leaf_count(), "every leaf got rows");
    assert_eq!(split_events(&events(&driver, "split").await), [(1, tree.leaf_count() as u64)]);

    // A second import finds enough leaves and splits nothing.
    let again = format!(r#"{{"id": "again", "tableName": "t", "files": ["{}"]}}"#, input.display());
    driver.run(&again, &RunOptions::default()).await.unwrap();
    assert!(split_events(&events(&driver, "again").await).is_empty());
    assert_eq!(Log::read(&dir.path().join("store"), &table_id).of_type("EXTEND_PARTITION_TREE").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_jobs_racing_to_split_one_table_leave_one_tree() {
    let dir = tempfile::tempdir().unwrap();
    let first = generate_input(dir.path(), "first", 100_000, 5);
    let second = generate_input(dir.path(), "second", 80_000, 6);
    // Two drivers on one store, as two job services or CLI runs would be.
    let (a, b) = (driver(dir.path()).await, driver(dir.path()).await);
    let table_id = one_leaf_table(&a).await;

    let job = |id: &str, input: &std::path::Path| format!(r#"{{"id": "{id}", "tableName": "t", "files": ["{}"]}}"#, input.display());
    let (job_a, job_b) = (job("a", &first), job("b", &second));
    let options = RunOptions::default();
    let (outcome_a, outcome_b) = tokio::join!(a.run(&job_a, &options), b.run(&job_b, &options));
    for outcome in [outcome_a.unwrap(), outcome_b.unwrap()] {
        assert!(matches!(outcome, JobOutcome::Finished { .. }), "{outcome:?}");
    }
    let log = Log::read(&dir.path().join("store"), &table_id);
    assert_eq!(log.of_type("EXTEND_PARTITION_TREE").count(), 1, "the tree was extended once");
    let tree = log.partitions(&Schema::from_json(SCHEMA_JSON).unwrap());
    assert!(tree.leaf_count() >= 240, "{} leaves", tree.leaf_count());
    let splits = [split_events(&events(&a, "a").await), split_events(&events(&a, "b").await)];
    assert_eq!(splits.iter().map(Vec::len).sum::<usize>(), 1, "exactly one job records the split: {splits:?}");
    let contents = table_contents(dir.path().join("store").to_str().unwrap(), S3Options::default(), "t").await;
    assert_imported(&contents, 180_000, 2);
}
