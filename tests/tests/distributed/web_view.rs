//! The web view in a real browser: headless Chromium, driven through Selenium by
//! `tests/browser/web_view.py`, against a job service that requires tokens, while a job runs.
//! It checks what a person sees: the login, the job in the listing, its progress moving without
//! a reload, one bar per leaf when it has finished, its plan, a rejected job's reasons, and the
//! table's leaves. Screenshots of every page are kept under the test's target directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_driver::service::client::{ClientSecurity, connect_with};
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::{Service, source_path, venv_binary};
use bulk_import_tests::distributed::*;

const TOKEN: &str = "web-viewer-0123456789abcdef";
/// Enough rows that the job writes for a few of the service's progress polls (500 ms apart):
/// with 2M it saw one count between the first and the last in most runs, and none in some.
const ROWS: u64 = 4_000_000;
const LEAVES: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_follows_a_job_in_the_browser() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), ROWS, 4, LEAVES, 31);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "viewed", &splits).await;
    std::fs::write(dir.path().join("tokens"), format!("viewer {TOKEN}\n")).unwrap();
    let tokens = dir.path().join("tokens");
    let service = Service::start(dir.path(), "service", &store, None, &["--token-file", tokens.to_str().unwrap()], &[]);
    let security = ClientSecurity { tls_ca_pem: None, token: Some(TOKEN.into()) };
    let mut client = connect_with(&service.url(), &security).await.unwrap();
    let rejected = submit(&mut client, job_json("web-rejected", "no-such-table", &["/nowhere"])).await;
    assert_eq!(rejected.status(), api::JobStatus::Rejected);

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-view-screenshots");
    let script = source_path("browser/web_view.py");
    let base = format!("http://127.0.0.1:{}", service.http_port);
    let rows = ROWS.to_string();
    let leaves = LEAVES.to_string();
    let args = [&base, TOKEN, "web-job", &rows, &leaves, "web-rejected", "no-such-table", "viewed", out.to_str().unwrap()];
    let mut browser = Command::new(venv_binary("python"))
        .arg(&script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("browser.log")).unwrap())
        .spawn()
        .expect("the browser script starts");
    // The job is submitted once the browser has logged in, so that it watches the job run.
    let mut lines = BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line == "READY" {
            break;
        }
    }
    if seen.last().map(String::as_str) != Some("READY") {
        let _ = browser.wait();
        let stderr = std::fs::read_to_string(dir.path().join("browser.log")).unwrap_or_default();
        panic!("the browser never logged in: {seen:?}\n{stderr}");
    }
    let input = input.to_str().unwrap();
    assert_eq!(submit(&mut client, job_json("web-job", "viewed", &[input])).await.status(), api::JobStatus::Accepted);
    let finished = watch_to_end(&mut client, "web-job", Duration::from_mins(3)).await;
    assert_eq!(finished.status(), api::JobStatus::Finished);

    seen.extend(lines.map(Result::unwrap));
    let outcome = tokio::task::spawn_blocking(move || browser.wait_with_output()).await.unwrap().unwrap();
    let stderr = std::fs::read_to_string(dir.path().join("browser.log")).unwrap_or_default();
    assert!(outcome.status.success(), "the browser checks failed:\n{}\n{stderr}", seen.join("\n"));
    assert!(seen.iter().any(|l| l.starts_with("web view checks passed")), "{seen:?}");
    for page in ["login", "jobs", "job-running", "job-finished", "job-rejected", "tables", "table"] {
        let shot = out.join(format!("{page}.png"));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "no screenshot {}", shot.display());
    }
}
