//! The job service locked down, as a real process: TLS, bearer tokens reloaded on SIGHUP,
//! allowed sources that `..` and symlinks cannot escape, limits on files, JSON and queue, and
//! gRPC health. Every refusal leaves the table and the tracker as they were.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_driver::service::client::{ClientSecurity, ServiceClient, connect_with};
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Service, workspace_binary};
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const LOADER_TOKEN: &str = "loader-0123456789abcdef";
const NEW_TOKEN: &str = "rotated-fedcba9876543210";

/// A CA, and a certificate it signed for localhost and 127.0.0.1.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca"]);
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    ]);
}

async fn client(url: &str, ca: &[u8], token: Option<&str>) -> ServiceClient {
    connect_with(url, &ClientSecurity { tls_ca_pem: Some(ca.to_vec()), token: token.map(str::to_string) }).await.unwrap()
}

async fn submit_status(client: &mut ServiceClient, json: String) -> Result<api::SubmitJobResponse, tonic::Status> {
    client.submit_job(api::SubmitJobRequest { job: Some(api::submit_job_request::Job::Json(json)) }).await.map(tonic::Response::into_inner)
}

/// Sources outside the allowed one, however they are reached, are rejected by name; so are
/// too many files, and JSON too large, which is refused before anything is recorded.
async fn assert_refusals(loader: &mut ServiceClient, allowed: &Path, [good, many]: [&Path; 2], outside: &Path, outside_file: &Path) {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let linked = allowed.join("linked");
    let escapes = [
        ("etc", "/etc/hosts".to_string(), "/etc/hosts".to_string()),
        ("dot-dot", format!("{}/../{}", path(allowed), outside.file_name().unwrap().to_str().unwrap()), path(outside)),
        ("symlink", path(&linked), path(outside_file)),
        ("s3", "s3://another-team/data/".to_string(), "s3://another-team/data/".to_string()),
    ];
    for (id, source, leads_to) in &escapes {
        let rejected = submit_status(loader, job_json(id, "locked", &[source])).await.unwrap();
        assert_eq!(rejected.status(), api::JobStatus::Rejected, "{id}: {rejected:?}");
        assert!(rejected.reasons.iter().any(|r| r.contains(leads_to.as_str()) && r.contains("outside")), "{id}: {:?}", rejected.reasons);
    }
    let too_many = submit_status(loader, job_json("too-many", "locked", &[&path(many)])).await.unwrap();
    assert_eq!(too_many.status(), api::JobStatus::Rejected);
    assert!(too_many.reasons.iter().any(|r| r.contains("more than 3 input files")), "{:?}", too_many.reasons);

    // Oversize JSON is refused before anything is recorded.
    let padding = "x".repeat(150_000);
    let oversize = serde_json::json!({"id": "oversize", "tableName": "locked", "files": [path(good)], "platformSpec": {"pad": padding}});
    let status = submit_status(loader, oversize.to_string()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // Far larger, it is not even decoded: the transport refuses it.
    let padding = "x".repeat(1_000_000);
    let huge = serde_json::json!({"id": "huge", "tableName": "locked", "files": [path(good)], "platformSpec": {"pad": padding}});
    let status = submit_status(loader, huge.to_string()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_down_service_takes_only_authenticated_jobs_from_allowed_sources() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let (good, splits) = generate_input(&allowed, 40_000, 2, 8, 1);
    let (big, _) = generate_input(&allowed, 400_000, 2, 8, 2);
    let (many, _) = generate_input(&allowed, 4_000, 4, 8, 3);
    let (outside, _) = generate_input(dir.path(), 1_000, 1, 8, 4);
    let linked = allowed.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    let outside_file = std::fs::read_dir(&outside).unwrap().next().unwrap().unwrap().path();
    std::os::unix::fs::symlink(&outside_file, linked.join("escape.parquet")).unwrap();
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "locked", &splits).await;
    certificates(dir.path());
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# who may submit\nloader {LOADER_TOKEN}\n")).unwrap();

    // Without being told what jobs may read, the service does not start.
    let refused = Command::new(workspace_binary("bulk-import")).args(["--store", &store, "serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-source"), "{}", String::from_utf8_lossy(&refused.stderr));

    let path = |p: &Path| p.to_str().unwrap().to_string();
    let extra = [
        format!("--allow-source={}", path(&allowed)),
        format!("--token-file={}", path(&tokens)),
        format!("--tls-cert={}", path(&dir.path().join("server.crt"))),
        format!("--tls-key={}", path(&dir.path().join("server.key"))),
        "--max-input-files=3".to_string(),
        "--max-job-json-bytes=100000".to_string(),
        "--max-queued-jobs=1".to_string(),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let service = Service::start(dir.path(), "service", &store, None, &extra, &[]);
    let url = format!("https://localhost:{}", service.port);
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();

    // Health, over TLS and without a token: SERVING once the service listens.
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(&ca)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel).check(HealthCheckRequest { service: "sleeper.bulkimport.v1.BulkImportService".into() }).await.unwrap();
    assert_eq!(health.into_inner().status(), ServingStatus::Serving);

    // Plaintext is not served, and no token or a wrong one is UNAUTHENTICATED.
    let plaintext = bulk_import_driver::service::client::connect(&format!("http://127.0.0.1:{}", service.port)).await;
    if let Ok(mut plaintext) = plaintext {
        assert!(submit_status(&mut plaintext, job_json("plain", "locked", &[&path(&good)])).await.is_err());
    }
    let mut anonymous = client(&url, &ca, None).await;
    let status = submit_status(&mut anonymous, job_json("anonymous", "locked", &[&path(&good)])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let mut wrong = client(&url, &ca, Some("loader-0123456789abcdeX")).await;
    assert_eq!(submit_status(&mut wrong, job_json("wrong", "locked", &[&path(&good)])).await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // A valid token's job runs, recorded with the token's name.
    let mut loader = client(&url, &ca, Some(LOADER_TOKEN)).await;
    let accepted = submit_status(&mut loader, job_json("good", "locked", &[&path(&good)])).await.unwrap();
    assert_eq!(accepted.status(), api::JobStatus::Accepted, "{accepted:?}");
    let last = watch_to_end(&mut loader, "good", Duration::from_mins(2)).await;
    assert_eq!((last.status(), last.rows_written), (api::JobStatus::Finished, 40_000), "{last:?}");
    let job = loader.get_job(api::GetJobRequest { job_id: "good".into() }).await.unwrap().into_inner();
    let accepted_event = job.events.iter().find(|e| e.event == "ACCEPTED").expect("an ACCEPTED event");
    assert!(accepted_event.json.contains(r#""submittedBy":"loader""#), "{}", accepted_event.json);

    assert_refusals(&mut loader, &allowed, [&good, &many], &outside, &outside_file).await;

    // With one job running, the queue is full: the next is refused, unrecorded.
    let running = submit_status(&mut loader, job_json("big", "locked", &[&path(&big)])).await.unwrap();
    assert_eq!(running.status(), api::JobStatus::Accepted);
    let status = submit_status(&mut loader, job_json("queue-full", "locked", &[&path(&good)])).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(watch_to_end(&mut loader, "big", Duration::from_mins(3)).await.status(), api::JobStatus::Finished);

    // SIGHUP rereads the tokens: the rotated one works, the old one no longer does.
    std::fs::write(&tokens, format!("loader {NEW_TOKEN}\n")).unwrap();
    let hup = Command::new("kill").args(["-HUP", &service.process.pid().to_string()]).status().unwrap();
    assert!(hup.success());
    let mut rotated = client(&url, &ca, Some(NEW_TOKEN)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rotated.list_jobs(api::ListJobsRequest::default()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the rotated token was never taken");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(loader.list_jobs(api::ListJobsRequest::default()).await.unwrap_err().code(), tonic::Code::Unauthenticated);

    // The CLI reaches it too, with the CA and a token file.
    let token_file = dir.path().join("my-token");
    std::fs::write(&token_file, format!("{NEW_TOKEN}\n")).unwrap();
    let job_file = dir.path().join("cli-job.json");
    std::fs::write(&job_file, job_json("via-cli", "locked", &[&path(&good)])).unwrap();
    let cli = Command::new(workspace_binary("bulk-import"))
        .args(["submit", job_file.to_str().unwrap(), "--server", &url, "--wait", "--quiet"])
        .args(["--tls-ca", dir.path().join("ca.crt").to_str().unwrap(), "--token-file", token_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));

    // Only what was allowed reached the table, and the tracker holds only what was admitted.
    let contents = table_contents(&store, S3Options::default(), "locked").await;
    assert_eq!(contents.total_rows(), 40_000 + 400_000 + 40_000);
    assert_eq!(contents.commits_by_job.keys().collect::<Vec<_>>(), ["big", "good", "via-cli"]);
    let listed = rotated.list_jobs(api::ListJobsRequest::default()).await.unwrap().into_inner();
    let mut ids: Vec<&str> = listed.jobs.iter().map(|j| j.job_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["big", "dot-dot", "etc", "good", "s3", "symlink", "too-many", "via-cli"]);
}
