//! The `bulk-import` command as a user runs it: generate, create a table, import, inspect.
#![allow(clippy::unwrap_used)] // A test: a failed step fails it.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bulk_import(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulk-import")).current_dir(dir).args(args).env_remove("BULK_IMPORT_STORE").output().expect("bulk-import runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bulk_import(dir, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generate_create_run_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let splits = ok(d, &["generate", "--rows", "30000", "--files", "3", "--out", "input", "--split-points", "8"]);
    assert_eq!(splits.lines().count(), 7);
    std::fs::write(d.join("splits.txt"), &splits).unwrap();
    std::fs::write(d.join("schema.json"), bulk_import_driver::tools::generate::SCHEMA_JSON).unwrap();
    // Keep the 8 leaves: no automatic pre-split.
    std::fs::write(d.join("table.properties"), "sleeper.table.bulk.import.min.leaf.partitions=0\n").unwrap();
    let created =
        ok(d, &["table", "create", "events", "--schema", "schema.json", "--split-points", "splits.txt", "--properties", "table.properties"]);
    assert!(created.contains("with 8 leaf partitions"), "{created}");
    assert!(ok(d, &["table", "list"]).starts_with("events\t"));

    std::fs::write(d.join("job.json"), r#"{"id": "cli-job", "tableName": "events", "files": ["input"]}"#).unwrap();
    let run = ok(d, &["run", "job.json", "--parallelism", "2"]);
    assert!(run.contains("FINISHED: 30000 rows read, 30000 rows written to 8 files"), "{run}");

    let files: Vec<Value> = serde_json::from_str(&ok(d, &["table", "files", "events", "--json"])).unwrap();
    assert_eq!(files.len(), 8);
    assert_eq!(files.iter().map(|f| f["numberOfRows"].as_u64().unwrap()).sum::<u64>(), 30000);
    assert!(files.iter().all(|f| f["jobId"] == "cli-job" && f["filename"].as_str().unwrap().starts_with("file:///")));
    let partitions: Vec<Value> = serde_json::from_str(&ok(d, &["table", "partitions", "events", "--json"])).unwrap();
    assert_eq!(partitions.iter().filter(|p| p["isLeafPartition"] == true).count(), 8);
    assert!(partitions.iter().all(|p| p["region"]["key"]["minInclusive"] == true && p.get("dimension").is_some()));

    let status: Value = serde_json::from_str(&ok(d, &["job", "status", "cli-job", "--json"])).unwrap();
    assert_eq!(status["status"], "FINISHED");
    let events: Vec<&str> = status["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["ACCEPTED", "STARTED", "RUNNING", "FILES_WRITTEN", "FINISHED"]);

    // A rejected job: non-zero exit, the reason on standard error, listed as REJECTED.
    std::fs::write(d.join("bad.json"), r#"{"id": "bad-job", "tableName": "events", "files": ["missing"]}"#).unwrap();
    let rejected = bulk_import(d, &["run", "bad.json"]);
    assert_eq!(rejected.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&rejected.stderr).contains("missing does not exist"));
    let listed: Vec<Value> = serde_json::from_str(&ok(d, &["job", "list", "--status", "rejected", "--json"])).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["jobId"], "bad-job");
    let by_table: Vec<Value> = serde_json::from_str(&ok(d, &["job", "list", "--table", "events", "--json"])).unwrap();
    assert_eq!(by_table.len(), 2);
}

#[test]
fn bad_table_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("schema.json"), bulk_import_driver::tools::generate::SCHEMA_JSON).unwrap();
    std::fs::write(d.join("splits.txt"), "m\nc\n").unwrap();
    let out = bulk_import(d, &["table", "create", "t", "--schema", "schema.json", "--split-points", "splits.txt"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("strictly increasing"), "{}", String::from_utf8_lossy(&out.stderr));
    ok(d, &["table", "create", "t", "--schema", "schema.json"]);
    let again = bulk_import(d, &["table", "create", "t", "--schema", "schema.json"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("table \"t\" already exists"));
}
