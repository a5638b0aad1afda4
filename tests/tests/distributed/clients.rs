//! A scheduler, two executors and the job service as real processes: jobs submitted through
//! the Rust client and through third-party clients (a Python grpcio client generated from the
//! `.proto`, and grpcurl through server reflection) produce exactly what the embedded engine
//! produces from the same input.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_driver::RunOptions;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Cluster, Service, source_path, venv_binary};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const PYTHON_CLIENT: &str = r"
import sys, grpc, service_pb2, service_pb2_grpc
url, job_json = sys.argv[1], sys.argv[2]
stub = service_pb2_grpc.BulkImportServiceStub(grpc.insecure_channel(url))
response = stub.SubmitJob(service_pb2.SubmitJobRequest(json=job_json))
assert response.status == service_pb2.JOB_STATUS_ACCEPTED, response
last = None
for update in stub.WatchJob(service_pb2.WatchJobRequest(job_id=response.job_id)):
    last = update
print(service_pb2.JobStatus.Name(last.status), last.rows_written)
";

/// Generates the Python client from the service's `.proto` and submits `job_json` with it.
fn python_submit(dir: &Path, url: &str, job_json: &str) -> String {
    let proto_dir = source_path("../proto/proto");
    let out = dir.join("python-client");
    std::fs::create_dir_all(&out).unwrap();
    let generated = Command::new(venv_binary("python"))
        .args(["-m", "grpc_tools.protoc", "-I", proto_dir.to_str().unwrap()])
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("--grpc_python_out={}", out.display()))
        .arg("service.proto")
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    std::fs::write(out.join("client.py"), PYTHON_CLIENT).unwrap();
    let run =
        Command::new(venv_binary("python")).current_dir(&out).args(["client.py", url.trim_start_matches("http://"), job_json]).output().unwrap();
    assert!(run.status.success(), "python client failed: {}", String::from_utf8_lossy(&run.stderr));
    String::from_utf8(run.stdout).unwrap()
}

fn grpcurl(args: &[&str]) -> String {
    let output = Command::new(venv_binary("grpcurl")).args(args).output().unwrap();
    assert!(output.status.success(), "grpcurl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_and_third_party_clients_import_exactly_what_the_embedded_engine_does() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), 120_000, 4, 16, 11);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    for table in ["embedded", "via-rust", "via-python", "via-grpcurl"] {
        create_table(&store, S3Options::default(), table, &splits).await;
    }
    let input = input.to_str().unwrap();

    // The reference: the embedded engine, in this process.
    let driver = bulk_import_tests::driver(dir.path()).await;
    let outcome = driver.run(&job_json("embedded-job", "embedded", &[input]), &RunOptions::default()).await.unwrap();
    assert!(matches!(outcome, bulk_import_driver::JobOutcome::Finished { .. }), "{outcome:?}");
    drop(driver);

    let cluster = Cluster::start(dir.path(), &[]);
    let service = Service::start(dir.path(), "service", &store, Some(&cluster.url()), &[], &[]);
    let mut client = client(&service.url()).await;

    // The Rust client, with the job given field by field.
    let fields = api::BulkImportJob { id: "rust-job".into(), table_name: "via-rust".into(), files: vec![input.into()], ..Default::default() };
    let response = client.submit_job(api::SubmitJobRequest { job: Some(api::submit_job_request::Job::Fields(fields)) }).await.unwrap().into_inner();
    assert_eq!(response.status(), api::JobStatus::Accepted, "{response:?}");
    let last = watch_to_end(&mut client, "rust-job", Duration::from_mins(3)).await;
    assert_eq!((last.status(), last.rows_written, last.rows_total), (api::JobStatus::Finished, 120_000, 120_000), "{last:?}");

    // Python, from the .proto.
    let printed = python_submit(dir.path(), &service.url(), &job_json("python-job", "via-python", &[input]));
    assert_eq!(printed.trim(), "JOB_STATUS_FINISHED 120000");

    // grpcurl, knowing nothing but what reflection tells it.
    let address = service.url().trim_start_matches("http://").to_string();
    assert!(grpcurl(&["-plaintext", &address, "list"]).contains("sleeper.bulkimport.v1.BulkImportService"));
    let grpcurl_job = serde_json::json!({"json": job_json("grpcurl-job", "via-grpcurl", &[input])}).to_string();
    let submitted = grpcurl(&["-plaintext", "-d", &grpcurl_job, &address, "sleeper.bulkimport.v1.BulkImportService/SubmitJob"]);
    assert!(submitted.contains("JOB_STATUS_ACCEPTED"), "{submitted}");
    let last = watch_to_end(&mut client, "grpcurl-job", Duration::from_mins(3)).await;
    assert_eq!(last.status(), api::JobStatus::Finished, "{last:?}");

    // Reflection v1 too, which newer clients (buf curl, grpcurl 1.9+) ask first.
    let channel = tonic::transport::Channel::from_shared(service.url()).unwrap().connect().await.unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(MessageRequest::ListServices(String::new())) };
    let mut responses = reflection.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else { panic!("{response:?}") };
    assert!(list.service.iter().any(|s| s.name == "sleeper.bulkimport.v1.BulkImportService"), "{list:?}");

    // A rejection is a reply with every reason, recorded before it is sent.
    let rejected = submit(&mut client, job_json("bad-job", "no-such-table", &["/nowhere"])).await;
    assert_eq!(rejected.status(), api::JobStatus::Rejected);
    assert!(rejected.reasons.iter().any(|r| r.contains("no-such-table")), "{rejected:?}");
    let listed = client.list_jobs(api::ListJobsRequest { status: api::JobStatus::Rejected as i32, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(listed.jobs.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(), ["bad-job"]);

    let reference = table_contents(&store, S3Options::default(), "embedded").await;
    assert_eq!(reference.total_rows(), 120_000);
    for (table, job) in [("via-rust", "rust-job"), ("via-python", "python-job"), ("via-grpcurl", "grpcurl-job")] {
        let contents = table_contents(&store, S3Options::default(), table).await;
        assert_eq!(contents.rows_by_leaf, reference.rows_by_leaf, "{table} differs from the embedded run");
        assert!(contents.unsorted_files.is_empty(), "{table}: unsorted files {:?}", contents.unsorted_files);
        assert_eq!(contents.commits_by_job.get(job), Some(&1), "{table}: {:?}", contents.commits_by_job);
        assert_eq!(contents.data_objects, contents.referenced, "{table}: files on disk beside the referenced ones");
        assert!(contents.one_sketch_per_file(), "{table}: sketches {:?}", contents.sketch_objects);
        assert!(contents.attempt_leftovers.is_empty(), "{table}: {:?}", contents.attempt_leftovers);
    }
    // Both executors ran tasks: shuffle data crossed between processes.
    for executor in &cluster.executors {
        assert!(executor.log().contains("task"), "an executor ran no task");
    }
}
