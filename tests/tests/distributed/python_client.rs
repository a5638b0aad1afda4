//! The Python client package (`clients/python`), installed with pip into a fresh virtual
//! environment, against a real job service that requires a token: submit, wait, status, list,
//! cancel, and its typed errors. Its committed gRPC stubs must match the `.proto`.

use std::path::Path;
use std::process::Command;

use bulk_import_core::store::S3Options;
use bulk_import_tests::cluster::{Service, source_path, venv_binary};
use bulk_import_tests::distributed::*;

const TOKEN: &str = "python-client-0123456789";

const SCRIPT: &str = r#"
import json, sys
from bulk_import_client import Client, JobFailed, JobRejected, Unauthenticated
url, token, small, big, job_file = sys.argv[1:]

try:
    Client(url).submit({"id": "anonymous", "tableName": "py", "files": [small]})
    sys.exit("a call without a token was taken")
except Unauthenticated:
    print("unauthenticated")

client = Client(url, token=token)
job = client.submit({"id": "py-job", "tableName": "py", "files": [small]})
print("waited", job.wait(progress=True))
print("status", job.status())
print("listed", [j.job_id for j in client.jobs(table="py", status="FINISHED")])

try:
    client.submit({"id": "py-rejected", "tableName": "no-such-table", "files": [small]})
    sys.exit("a job into a missing table was accepted")
except JobRejected as e:
    print("rejected", e.job_id, any("no-such-table" in r for r in e.reasons))

from_file = client.submit(job_file)
print("from file", from_file.wait(progress=False))

big_job = client.submit({"id": "py-cancelled", "tableName": "py", "files": [big]})
print("cancel", big_job.cancel())
try:
    big_job.wait(progress=False)
    sys.exit("a cancelled job finished")
except JobFailed as e:
    print("failed", "cancelled" in e.reason)
"#;

fn run(program: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program).args(args).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}:\n{}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_client_installs_with_pip_and_drives_a_real_service() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let package = source_path("../clients/python").canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    run(&venv_binary("python"), &[package.join("generate.py").to_str().unwrap(), "--check"], dir.path());

    let venv = dir.path().join("venv");
    run(Path::new("python3"), &["-m", "venv", venv.to_str().unwrap()], dir.path());
    let python = venv.join("bin/python");
    // pip builds a local package in its own directory: a copy keeps the clone clean.
    let copy = dir.path().join("package");
    run(Path::new("cp"), &["-r", package.to_str().unwrap(), copy.to_str().unwrap()], dir.path());
    run(&python, &["-m", "pip", "install", "-q", "--disable-pip-version-check", copy.to_str().unwrap()], dir.path());

    let (small, splits) = generate_input(dir.path(), 20_000, 2, 8, 21);
    let (big, _) = generate_input(dir.path(), 2_000_000, 4, 8, 22);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "py", &splits).await;
    std::fs::write(dir.path().join("tokens"), format!("python {TOKEN}\n")).unwrap();
    let job_file = dir.path().join("job.json");
    std::fs::write(&job_file, job_json("py-file-job", "py", &[small.to_str().unwrap()])).unwrap();
    let token_file = format!("--token-file={}", dir.path().join("tokens").display());
    let service = Service::start(dir.path(), "service", &store, None, &[&token_file], &[]);

    std::fs::write(dir.path().join("script.py"), SCRIPT).unwrap();
    let args = [small.to_str().unwrap(), big.to_str().unwrap(), job_file.to_str().unwrap()];
    let printed = run(&python, &["script.py", &service.url(), TOKEN, args[0], args[1], args[2]], dir.path());
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            "unauthenticated",
            "waited FINISHED",
            "status FINISHED",
            "listed ['py-job']",
            "rejected py-rejected True",
            "from file FINISHED",
            "cancel FAILED",
            "failed True"
        ],
        "{printed}"
    );
}
