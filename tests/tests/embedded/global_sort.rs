//! Global sort (Sleeper's `BulkImportJobDataframeDriver`) on the embedded engine: on skewed data
//! (90% of rows in one leaf) the big leaf is written by several tasks, each file sorted and
//! inside its leaf, and the table holds exactly the rows local sort gives; on a 2-leaf table
//! the big leaf is split too.

use bulk_import_core::key::KeyValue;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::Schema;
use bulk_import_core::store::S3Options;
use bulk_import_core::tracker::JobEvent;
use bulk_import_driver::tools::generate::{GenerateOptions, SCHEMA_JSON, generate};
use bulk_import_driver::{JobOutcome, RunOptions};
use bulk_import_tests::table_contents::{TableContents, table_contents};
use bulk_import_tests::*;

/// Split points of random lowercase keys that put about 90% of rows in leaf 2, `[ac, xp)`.
const SKEWED: [&str; 5] = ["ab", "ac", "xp", "y", "z"];
const SKEWED_BIG_LEAF: usize = 2;
/// One split point with about 90% of rows in leaf 0, `[, xm)`.
const TWO_LEAVES: [&str; 1] = ["xm"];

const ROWS: usize = 60_000;

fn points(points: &[&str]) -> Vec<KeyValue> {
    points.iter().map(|p| KeyValue::String(p.to_string())).collect()
}

/// A table's contents after one job: every row there, once, sorted and routed, one commit, no
/// stray files.
fn assert_complete(contents: &TableContents, name: &str) {
    assert_eq!(contents.total_rows(), ROWS, "{name}");
    assert!(contents.unsorted_files.is_empty(), "{name}: unsorted {:?}", contents.unsorted_files);
    assert!(contents.misrouted_files.is_empty(), "{name}: rows outside their leaf in {:?}", contents.misrouted_files);
    assert_eq!(contents.commits_by_job.values().copied().collect::<Vec<_>>(), [1], "{name}");
    assert_eq!(contents.data_objects, contents.referenced, "{name}");
    assert!(contents.one_sketch_per_file(), "{name}: {:?}", contents.sketch_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{name}: {:?}", contents.attempt_leftovers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn global_sort_spreads_a_big_leaf_over_tasks_and_writes_what_local_sort_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(&GenerateOptions { rows: ROWS as u64, files: 3, out: input.clone(), seed: 11, split_points_for: None }).unwrap();
    let driver = driver(dir.path()).await;
    let schema = Schema::from_json(SCHEMA_JSON).unwrap();
    for (name, split) in [("skewed-global", &SKEWED[..]), ("skewed-local", &SKEWED[..]), ("two-leaves", &TWO_LEAVES[..])] {
        let tree = PartitionTree::from_split_points(&schema.row_keys(), &points(split)).unwrap();
        driver.backend().create_table(name, schema.clone(), without_pre_split(), tree).await.unwrap();
    }
    let job = |id: &str, table: &str, extra: &str| format!(r#"{{"id": "{id}", "tableName": "{table}", "files": ["{}"]{extra}}}"#, input.display());

    let four_ranges = r#", "className": "global-sort", "sparkConf": {"spark.sql.shuffle.partitions": "4"}"#;
    let dataframe = r#", "className": "sleeper.bulkimport.runner.dataframe.BulkImportJobDataframeDriver""#;
    for (id, table, extra) in [("global", "skewed-global", four_ranges), ("local", "skewed-local", ""), ("two", "two-leaves", dataframe)] {
        let outcome = driver.run(&job(id, table, extra), &RunOptions::default()).await.unwrap();
        assert!(matches!(outcome, JobOutcome::Finished { .. }), "{id}: {outcome:?}");
    }
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let global = table_contents(store, S3Options::default(), "skewed-global").await;
    let local = table_contents(store, S3Options::default(), "skewed-local").await;
    let two = table_contents(store, S3Options::default(), "two-leaves").await;
    assert_complete(&global, "skewed-global");
    assert_complete(&local, "skewed-local");
    assert_complete(&two, "two-leaves");

    // The same rows in the same leaves as local sort, which writes one file per leaf.
    assert_eq!(global.rows_by_leaf, local.rows_by_leaf);
    assert!(local.file_rows_by_leaf.values().all(|files| files.len() == 1), "{:?}", local.file_rows_by_leaf);
    let big_leaf_rows = local.rows_by_leaf[&SKEWED_BIG_LEAF].len();
    assert!(big_leaf_rows > ROWS * 85 / 100, "the data is not skewed as meant: {big_leaf_rows} rows in the big leaf");

    // Four ranges of about a quarter of the rows each: the big leaf is written by at least three
    // tasks, none holding much more than its quarter.
    let big = &global.file_rows_by_leaf[&SKEWED_BIG_LEAF];
    assert!(big.len() >= 3, "the big leaf's files: {big:?}");
    assert!(big.iter().all(|&rows| rows < ROWS * 35 / 100), "uneven ranges: {big:?}");

    // Two leaves, two task slots: the leaf with 90% of the rows is cut in two.
    assert!(two.file_rows_by_leaf[&0].len() >= 2, "{:?}", two.file_rows_by_leaf);

    let record = driver.tracker().job("two").await.unwrap().unwrap();
    let algorithm = record.current_events().iter().find_map(|e| match &e.event {
        JobEvent::Started { algorithm, .. } => Some(algorithm.clone()),
        _ => None,
    });
    assert_eq!(algorithm.as_deref(), Some("global-sort"));
}
