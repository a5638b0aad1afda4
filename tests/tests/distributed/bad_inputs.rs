//! A catalogue of bad submissions through the gRPC service: each gets a clear answer (REJECTED
//! with reasons, or a gRPC error) and none of them leaves anything in the table or an admitted
//! job in the tracker.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::Service;
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use bulk_import_tests::{system_test_batch, write_parquet};
use serde_json::json;

/// Input files that are wrong in every way a file can be.
fn bad_files(dir: &Path) {
    std::fs::create_dir_all(dir.join("empty-dir")).unwrap();
    std::fs::write(dir.join("empty-dir/notes.txt"), "no parquet here").unwrap();
    std::fs::write(dir.join("zero-bytes.parquet"), b"").unwrap();
    std::fs::write(dir.join("text.parquet"), b"this is not parquet at all").unwrap();
    // Parquet's magic at both ends, and a footer length pointing far outside the file.
    std::fs::write(dir.join("corrupt-footer.parquet"), [b"PAR1".as_slice(), &[0u8; 32], &u32::MAX.to_le_bytes(), b"PAR1"].concat()).unwrap();
    let no_key =
        RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("other", DataType::Int32, false)])), vec![Arc::new(Int32Array::from(vec![1]))]);
    write_parquet(&dir.join("no-key.parquet"), &[no_key.unwrap()], None);
    let int_key =
        RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("key", DataType::Int32, false)])), vec![Arc::new(Int32Array::from(vec![1]))]);
    write_parquet(&dir.join("int-key.parquet"), &[int_key.unwrap()], None);
    write_parquet(&dir.join("null-keys.parquet"), &[system_test_batch(vec![Some("a".into()), None])], None);
    // 100,000 entries: refused by count before a footer is read.
    let crowded = dir.join("crowded");
    std::fs::create_dir_all(&crowded).unwrap();
    for i in 0..100_000 {
        std::fs::write(crowded.join(format!("{i:06}.parquet")), b"").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_submission_is_refused_with_a_reason_and_leaves_nothing() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let (good, splits) = generate_input(&allowed, 1_000, 1, 4, 31);
    bad_files(&allowed);
    let (outside, _) = generate_input(dir.path(), 1_000, 1, 4, 32);
    std::os::unix::fs::symlink(&outside, allowed.join("link-out")).unwrap();
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "target", &splits).await;
    let allow = format!("--allow-source={}", allowed.display());
    let service = Service::start(dir.path(), "service", &store, None, &[&allow, "--max-input-files=1000", "--max-job-json-bytes=65536"], &[]);
    let mut client = client(&service.url()).await;

    let at = |name: &str| allowed.join(name).to_str().unwrap().to_string();
    let good = good.to_str().unwrap().to_string();
    let job = |files: serde_json::Value| json!({"id": "bad", "tableName": "target", "files": files}).to_string();
    let catalogue: Vec<(&str, String)> = vec![
        ("empty text", String::new()),
        ("null", "null".into()),
        ("an array", "[]".into()),
        ("a string", r#""job""#.into()),
        // (A job without an id is given one, as Sleeper's starter does: not a bad input.)
        ("upper-case id", json!({"id": "Bad", "tableName": "target", "files": [good]}).to_string()),
        ("unicode id", json!({"id": "j\u{f6}b", "tableName": "target", "files": [good]}).to_string()),
        ("control character in id", json!({"id": "a\u{1}b", "tableName": "target", "files": [good]}).to_string()),
        ("newline in id", json!({"id": "a\nb", "tableName": "target", "files": [good]}).to_string()),
        ("empty id", json!({"id": "", "tableName": "target", "files": [good]}).to_string()),
        ("id of 64 characters", json!({"id": "a".repeat(64), "tableName": "target", "files": [good]}).to_string()),
        ("no table", json!({"id": "bad", "files": [good]}).to_string()),
        ("unicode table name", json!({"id": "bad", "tableName": "tabl\u{e9}", "files": [good]}).to_string()),
        ("control characters in table name", json!({"id": "bad", "tableName": "t\u{0}\u{7}", "files": [good]}).to_string()),
        ("table name a number", json!({"id": "bad", "tableName": 7, "files": [good]}).to_string()),
        ("no files", json!({"id": "bad", "tableName": "target"}).to_string()),
        ("empty files", job(json!([]))),
        ("files a string", job(json!(good))),
        ("a null file", job(json!([null]))),
        ("an empty path", job(json!([""]))),
        ("a number for a path", job(json!([12]))),
        ("a missing file", job(json!([at("no-such-file.parquet")]))),
        ("a directory without Parquet", job(json!([at("empty-dir")]))),
        ("a 0-byte Parquet file", job(json!([at("zero-bytes.parquet")]))),
        ("text named .parquet", job(json!([at("text.parquet")]))),
        ("a corrupt footer", job(json!([at("corrupt-footer.parquet")]))),
        ("no key column", job(json!([at("no-key.parquet")]))),
        ("a key of the wrong type", job(json!([at("int-key.parquet")]))),
        ("null keys", job(json!([at("null-keys.parquet")]))),
        ("a directory of 100,000 entries", job(json!([at("crowded")]))),
        ("a path with ..", job(json!([format!("{}/../{}", allowed.display(), outside.file_name().unwrap().to_str().unwrap())]))),
        ("a symlink out", job(json!([at("link-out")]))),
        ("/etc/passwd", job(json!(["/etc/passwd"]))),
        ("another bucket", job(json!(["s3://someone-else/data/"]))),
        ("a good file beside a bad one", job(json!([good, at("text.parquet")]))),
        ("sparkConf values not strings", json!({"id": "bad", "tableName": "target", "files": [good], "sparkConf": {"a": [1]}}).to_string()),
        (
            "an unknown engine setting",
            json!({"id": "bad", "tableName": "target", "files": [good], "sparkConf": {"bulkimport.nope": "1"}}).to_string(),
        ),
        ("an unknown class name", json!({"id": "bad", "tableName": "target", "files": [good], "className": "NoSuchDriver"}).to_string()),
        ("platformSpec not an object", json!({"id": "bad", "tableName": "target", "files": [good], "platformSpec": []}).to_string()),
        ("deeply nested JSON", format!(r#"{{"id": "bad", "tableName": "target", "files": {}{}}}"#, "[".repeat(10_000), "]".repeat(10_000))),
        (
            "JSON over the size limit",
            json!({"id": "bad", "tableName": "target", "files": [good], "platformSpec": {"pad": "x".repeat(70_000)}}).to_string(),
        ),
        ("trailing garbage", format!("{} trailing", job(json!([good])))),
    ];
    assert!(catalogue.len() >= 30);
    let mut refused = 0;
    for (what, text) in &catalogue {
        let request = api::SubmitJobRequest { job: Some(api::submit_job_request::Job::Json(text.clone())) };
        match client.submit_job(request).await {
            Ok(response) => {
                let response = response.into_inner();
                assert_eq!(response.status(), api::JobStatus::Rejected, "{what}: {response:?}");
                assert!(!response.reasons.is_empty() && response.reasons.iter().all(|r| !r.trim().is_empty()), "{what}: {response:?}");
            }
            Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}"),
        }
        refused += 1;
    }
    assert_eq!(refused, catalogue.len());

    // Nothing was admitted, nothing reached the table, and the service still works.
    for status in [api::JobStatus::Accepted, api::JobStatus::InProgress, api::JobStatus::Finished, api::JobStatus::Failed] {
        let listed = client.list_jobs(api::ListJobsRequest { status: status as i32, ..Default::default() }).await.unwrap().into_inner();
        assert!(listed.jobs.is_empty(), "{status:?}: {:?}", listed.jobs);
    }
    let contents = table_contents(&store, S3Options::default(), "target").await;
    assert_eq!((contents.total_rows(), contents.data_objects.len()), (0, 0));
    let fine = submit(&mut client, json!({"id": "fine", "tableName": "target", "files": [good]}).to_string()).await;
    assert_eq!(fine.status(), api::JobStatus::Accepted, "{fine:?}");
    eprintln!("{} bad submissions refused", catalogue.len());
}

/// A file admitted from an allowed source and then swapped for a symlink out of it, while its
/// job waits in the queue: the run reads nothing outside, fails naming where the path led, and
/// commits nothing; the job ahead of it is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_swapped_for_a_symlink_after_admission_is_not_read() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let (ahead, splits) = generate_input(&allowed, 600_000, 2, 4, 33);
    let (swapped, _) = generate_input(&allowed, 1_000, 1, 4, 34);
    let (outside, _) = generate_input(dir.path(), 1_000, 1, 4, 35);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "target", &splits).await;
    let allow = format!("--allow-source={}", allowed.display());
    let service = Service::start(dir.path(), "service", &store, None, &[&allow, "--concurrent-jobs=1"], &[]);
    let mut client = client(&service.url()).await;

    let file_of = |dir: &Path| std::fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
    let swapped_file = file_of(&swapped);
    let job = |id: &str, files: &[&Path]| json!({"id": id, "tableName": "target", "files": files}).to_string();
    submit(&mut client, job("ahead", &[&ahead])).await;
    let accepted = submit(&mut client, job("swapped", &[&swapped_file])).await;
    assert_eq!(accepted.status(), api::JobStatus::Accepted, "{accepted:?}");
    let waiting = client.get_job(api::GetJobRequest { job_id: "swapped".into() }).await.unwrap().into_inner();
    assert_eq!(waiting.status(), api::JobStatus::Accepted, "the job started before its file could be swapped: the test proves nothing");
    std::fs::remove_file(&swapped_file).unwrap();
    std::os::unix::fs::symlink(file_of(&outside), &swapped_file).unwrap();

    let last = watch_to_end(&mut client, "swapped", std::time::Duration::from_mins(3)).await;
    assert_eq!(last.status(), api::JobStatus::Failed, "{last:?}");
    assert!(last.message.contains("outside every allowed source"), "{last:?}");
    eprintln!("the swapped job failed: {}", last.message);
    let ahead = watch_to_end(&mut client, "ahead", std::time::Duration::from_mins(3)).await;
    assert_eq!(ahead.status(), api::JobStatus::Finished, "{ahead:?}");
    let contents = table_contents(&store, S3Options::default(), "target").await;
    assert_eq!(contents.total_rows(), 600_000);
    assert_eq!(contents.commits_by_job.get("swapped"), None);
    assert_eq!(contents.data_objects, contents.referenced, "the failed run left files behind");
}
