//! Imports into a Sleeper instance on a local AWS emulator (moto: S3, DynamoDB, SQS on
//! 127.0.0.1). `tests/sleeper/sleeper_instance.py` lays each instance out as Sleeper's own code
//! does and reads back what the import left with boto3 and pyarrow; the import is the
//! `bulk-import` binary with `--store sleeper://<config bucket>`.
//!
//! `cargo test -p bulk-import-tests --test sleeper` runs these alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use bulk_import_tests::cluster::{FaultProxy, Moto, Service, source_path, venv_binary, wait_until, workspace_binary};
use bulk_import_tests::{system_test_batch, write_parquet};

/// One emulator at a time: each test runs its own, and an import on two cores at once would
/// only slow the others.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

struct Instance {
    dir: tempfile::TempDir,
    moto: Moto,
}

impl Instance {
    fn start() -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let moto = Moto::start(dir.path(), &["input-bucket"]);
        Instance { dir, moto }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Runs a step of a scenario of the fixture; returns what it printed.
    fn fixture(&self, scenario: &str, step: &str) -> String {
        let script = source_path("sleeper/sleeper_instance.py");
        let output = Command::new(venv_binary("python"))
            .arg(script)
            .args([self.moto.endpoint.as_str(), scenario, step, self.dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{scenario} {step}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `bulk-import --store sleeper://<config bucket> ARGS...` against the emulator.
    fn bulk_import(&self, config_bucket: &str, args: &[&str]) -> Output {
        bulk_import_with(config_bucket, args, &self.moto.env())
    }

    /// Uploads a local directory of Parquet files to `s3://input-bucket/<prefix>/`.
    fn upload(&self, local: &Path, prefix: &str) {
        let script = format!(
            "import boto3, os, sys\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\nfor name in sorted(os.listdir(sys.argv[1])):\n    s3.upload_file(os.path.join(sys.argv[1], name), 'input-bucket', '{prefix}/' + name)\n",
            self.moto.endpoint
        );
        let status = Command::new(venv_binary("python")).args(["-c", &script, local.to_str().unwrap()]).status().unwrap();
        assert!(status.success());
    }

    /// Writes the job and the rows it imports where the fixture's checks read them.
    fn job(&self, id: &str, table: &str, prefix: &str, rows: u64) -> PathBuf {
        let job = serde_json::json!({ "id": id, "tableName": table, "files": [format!("input-bucket/{prefix}/")] });
        std::fs::write(self.path("job.json"), job.to_string()).unwrap();
        std::fs::write(self.path("rows.json"), rows.to_string()).unwrap();
        self.path("job.json")
    }
}

/// `bulk-import --store sleeper://<config bucket> ARGS...` with the AWS environment `env` (the
/// emulator, or the emulator behind a fault proxy).
fn bulk_import_with(config_bucket: &str, args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(workspace_binary("bulk-import"))
        .args(["--store", &format!("sleeper://{config_bucket}")])
        .args(args)
        .envs(env.iter().cloned())
        .env("BULK_IMPORT_MEMORY_POOL", "512MiB")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Sleeper's system-test rows, and keys at the edges of Java's order: characters whose UTF-16
/// order differs from their UTF-8 order, around the table's split points.
fn string_input(instance: &Instance) -> (PathBuf, u64) {
    let dir = instance.path("input");
    let generate = Command::new(workspace_binary("bulk-import"))
        .args(["generate", "--rows", "40000", "--files", "3", "--out", dir.to_str().unwrap(), "--seed", "5"])
        .output()
        .unwrap();
    assert!(generate.status.success(), "{}", text(&generate));
    let edges = ["", "a", "b", "bz", "m", "\u{FFFF}", "\u{E000}", "\u{E000}a", "\u{1F600}", "\u{1F600}z", "\u{10000}", "z\u{1F600}", "\u{D7FF}"];
    write_parquet(&dir.join("edges.parquet"), &[system_test_batch(edges.iter().map(|k| Some((*k).to_string())).collect())], None);
    (dir, 40_000 + edges.len() as u64)
}

/// `n` rows of long keys spread over the whole range, with the extremes and the sync table's
/// split points among them.
fn long_keys_batch(n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("value", DataType::Utf8, false),
    ]));
    let ids: Vec<i64> =
        (0..n).map(|i| (i * 7_919_993).rem_euclid(1 << 42) - (1 << 41) + i % 3).chain([i64::MIN, -1000, -1, 0, 1 << 40, i64::MAX]).collect();
    let rows = ids.len();
    let columns: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i % 11))),
        Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("v{i}")))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_import_sends_one_commit_and_is_uncommitted_until_sleeper_adds_the_files() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("async", "setup");
    let (input, rows) = string_input(&instance);
    instance.upload(&input, "async");
    let job = instance.job("async-job", "strings", "async", rows);
    let run = instance.bulk_import("sleeper-async-config", &["run", job.to_str().unwrap(), "-q"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("job async-job: UNCOMMITTED"), "{}", text(&run));
    assert_eq!(instance.fixture("async", "check").trim(), "UNCOMMITTED");
    let status = instance.bulk_import("sleeper-async-config", &["job", "status", "async-job"]);
    assert!(text(&status).contains("job async-job: UNCOMMITTED"), "{}", text(&status));
    // Sleeper's committer adds the files; its log follower records it.
    instance.fixture("async", "commit");
    let status = instance.bulk_import("sleeper-async-config", &["job", "status", "async-job"]);
    assert!(text(&status).contains("job async-job: FINISHED"), "{}", text(&status));
    let files = instance.bulk_import("sleeper-async-config", &["table", "files", "strings", "--json"]);
    let files: serde_json::Value = serde_json::from_slice(&files.stdout).unwrap_or_else(|_| panic!("{}", text(&files)));
    let total: u64 = files.as_array().unwrap().iter().map(|f| f["numberOfRows"].as_u64().unwrap()).sum();
    assert_eq!(total, rows + 7 + 3, "the table holds the import's rows and the two files it had");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_import_appends_one_files_log_item() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("sync", "setup");
    let batch = long_keys_batch(30_000);
    let n = batch.num_rows();
    write_parquet(&instance.path("longs/part-0.parquet"), &[batch], None);
    instance.upload(&instance.path("longs"), "longs");
    let job = instance.job("sync-job", "longs", "longs", n as u64);
    let run = instance.bulk_import("sleeper-sync-config", &["run", job.to_str().unwrap(), "-q"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("job sync-job: FINISHED") && text(&run).contains("(transaction 1)"), "{}", text(&run));
    assert_eq!(instance.fixture("sync", "check").trim(), "FINISHED");
}

/// The synchronous import with S3, DynamoDB and SQS behind the fault proxy: 503s, 500s, resets,
/// delays, and PUTs whose answers are lost (the data files' and sketches'). The SDK's clients
/// are given ten attempts (`AWS_MAX_ATTEMPTS`), as object_store's retries are ten. The import
/// still appends exactly one files-log item, the tracker holds each update once, and the data
/// directory holds exactly the committed files and their sketches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_import_through_faults_commits_once_and_leaves_nothing_stray() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("sync", "setup");
    let batch = long_keys_batch(30_000);
    let rows = batch.num_rows() as u64;
    write_parquet(&instance.path("longs/part-0.parquet"), &[batch], None);
    instance.upload(&instance.path("longs"), "longs");
    let job = instance.job("sync-job", "longs", "longs", rows);
    let proxy = FaultProxy::start(instance.dir.path(), &instance.moto.endpoint, 11, "/data/partition_");
    let mut env = proxy.env(&instance.moto.env());
    env.push(("AWS_MAX_ATTEMPTS".into(), "10".into()));
    let run = bulk_import_with("sleeper-sync-config", &["run", job.to_str().unwrap(), "-q"], &env);
    let stats = proxy.stats();
    eprintln!("faults injected: {stats:?}");
    assert!(run.status.success(), "{}\n{}", text(&run), proxy.process.log());
    assert!(text(&run).contains("job sync-job: FINISHED") && text(&run).contains("(transaction 1)"), "{}", text(&run));
    for fault in ["slow_down", "internal_error", "reset", "lost_answer"] {
        assert!(stats.get(fault).copied().unwrap_or(0) >= 1, "no {fault} met the import: {stats:?}");
    }
    assert_eq!(instance.fixture("sync", "check").trim(), "FINISHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_four_leaves_is_split_in_its_partitions_log_before_the_import() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("presplit", "setup");
    let (input, rows) = string_input(&instance);
    instance.upload(&input, "split");
    let job = instance.job("split-job", "split", "split", rows);
    let run = instance.bulk_import("sleeper-presplit-config", &["run", job.to_str().unwrap(), "-q"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(instance.fixture("presplit", "check").starts_with("LEAVES "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_instances_tables_and_inputs_fail_clearly_and_write_nothing() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("bad", "setup");
    let (input, rows) = string_input(&instance);
    instance.upload(&input, "bad");
    let run = |config: &str, table: &str, files: &str| {
        let job = serde_json::json!({ "id": format!("job-{}", table.replace('.', "-")), "tableName": table, "files": [files] });
        std::fs::write(instance.path("job.json"), job.to_string()).unwrap();
        instance.bulk_import(config, &["run", instance.path("job.json").to_str().unwrap(), "-q"])
    };
    let cases: [(&str, &str, &str, u8, &str); 8] = [
        ("sleeper-nothere-config", "ok", "input-bucket/bad/", 1, "sleeper://sleeper-nothere-config"),
        ("sleeper-incomplete-config", "ok", "input-bucket/bad/", 1, "does not set sleeper.data.bucket"),
        ("sleeper-bad-config", "nope", "input-bucket/bad/", 3, "table \"nope\" does not exist"),
        ("sleeper-bad-config", "s3store", "input-bucket/bad/", 1, "uses the state store S3StateStore"),
        ("sleeper-bad-config", "nosnapshot", "input-bucket/bad/", 1, "the snapshot the latest-snapshots table names does not exist"),
        ("sleeper-bad-config", "gap", "input-bucket/bad/", 1, "transaction 4 is missing"),
        ("sleeper-noqueue-config", "ok", "input-bucket/bad/", 1, "the state store committer queue"),
        ("sleeper-bad-config", "ok", "no-such-bucket/input/", 3, "no-such-bucket/input/"),
    ];
    for (config, table, files, code, message) in cases {
        let output = run(config, table, files);
        assert_eq!(output.status.code(), Some(i32::from(code)), "{config} {table} {files}:\n{}", text(&output));
        assert!(text(&output).contains(message), "{config} {table} {files}: no {message:?} in\n{}", text(&output));
    }
    assert_eq!(instance.fixture("bad", "check").trim(), "NOTHING WRITTEN");
    // The same table imports once its input is there: the cases above failed for their reasons.
    let ok = run("sleeper-bad-config", "ok", "input-bucket/bad/");
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("{rows} rows written")), "{}", text(&ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_runs_the_job_sleepers_starter_accepted_with_its_five_arguments() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    instance.fixture("swap", "setup");
    let (input, rows) = string_input(&instance);
    instance.upload(&input, "swap");
    std::fs::write(instance.path("rows.json"), rows.to_string()).unwrap();
    let output = Command::new(workspace_binary("bulk-import"))
        .args(["sleeper-driver", "sleeper-swap-config", "swap-job", "eks-state-machine-arn", "run-from-starter", "EKS"])
        .envs(instance.moto.env())
        .env("BULK_IMPORT_MEMORY_POOL", "512MiB")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(instance.fixture("swap", "check").trim(), "DRIVEN");
    // The job's JSON is gone: a second launch of the same run fails clearly.
    let again = Command::new(workspace_binary("bulk-import"))
        .args(["sleeper-driver", "sleeper-swap-config", "swap-job", "eks-state-machine-arn", "run-from-starter", "EKS"])
        .envs(instance.moto.env())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        text(&again).contains("cannot read the job from s3://sleeper-swap-bulk-import/bulk_import/swap-job-run-from-starter.json"),
        "{}",
        text(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_takes_jobs_from_a_sleeper_bulk_import_queue_and_deletes_each_once_recorded() {
    let _one = one_at_a_time().await;
    let instance = Instance::start();
    let queue_url = instance.fixture("queue", "setup").trim().to_string();
    let (input, rows) = string_input(&instance);
    instance.upload(&input, "queue");
    std::fs::write(instance.path("rows.json"), rows.to_string()).unwrap();
    let mut env = instance.moto.env();
    env.push(("BULK_IMPORT_MEMORY_POOL".into(), "512MiB".into()));
    // A service killed after recording the job as accepted, before deleting its message.
    let mut killed = Service::start(
        instance.dir.path(),
        "killed",
        "sleeper://sleeper-queue-config",
        None,
        &["--queue", &queue_url, "--exit-before-queue-delete"],
        &env,
    );
    instance.fixture("queue", "send");
    wait_until("the first service to stop", std::time::Duration::from_mins(1), || killed.process.has_exited());
    let status = instance.bulk_import("sleeper-queue-config", &["job", "status", "queued-job"]);
    assert!(text(&status).contains("job queued-job: ACCEPTED"), "{}", text(&status));
    // The next consumer settles the job its predecessor accepted (as failed: Sleeper's tracker
    // does not hold the job to run it again), takes the message again, and runs the job once;
    // a repeat of the message is refused as a resubmission and deleted.
    let service = Service::start(instance.dir.path(), "service", "sleeper://sleeper-queue-config", None, &["--queue", &queue_url], &env);
    instance.fixture("queue", "send");
    wait_until("the job to finish", std::time::Duration::from_mins(3), || {
        let status = instance.bulk_import("sleeper-queue-config", &["job", "status", "queued-job"]);
        text(&status).contains("job queued-job: FINISHED")
    });
    // Both messages are gone once the second is recorded as a resubmission.
    wait_until("the queue to empty", std::time::Duration::from_mins(1), || {
        let check = Command::new(venv_binary("python"))
            .arg(source_path("sleeper/sleeper_instance.py"))
            .args([instance.moto.endpoint.as_str(), "queue", "check", instance.dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        check.status.success()
    });
    assert_eq!(instance.fixture("queue", "check").trim(), "CONSUMED");
    // A job submitted over gRPC to the same service imports into the instance too.
    let job = serde_json::json!({ "id": "grpc-job", "tableName": "queued", "files": ["input-bucket/queue/"] });
    std::fs::write(instance.path("grpc-job.json"), job.to_string()).unwrap();
    let submitted = Command::new(workspace_binary("bulk-import"))
        .args(["submit", instance.path("grpc-job.json").to_str().unwrap(), "--server", &service.url(), "--wait", "-q"])
        .output()
        .unwrap();
    assert!(submitted.status.success(), "{}", text(&submitted));
    let status = instance.bulk_import("sleeper-queue-config", &["job", "status", "grpc-job"]);
    assert!(text(&status).contains("job grpc-job: FINISHED"), "{}", text(&status));
    drop(service);
}
