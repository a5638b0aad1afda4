//! A reader that stops reading, and a peer that goes away.
//!
//! `bulk-import table partitions t | head` ends quietly and successfully: the listing of 10,000
//! leaves is far more than a pipe holds, so the command meets a closed pipe part-way. And the
//! process keeps SIGPIPE ignored to get there: with the signal's default, the job service dies
//! without a word whenever one of its socket writes meets a connection its peer has reset
//! (`writev` has no `MSG_NOSIGNAL`), the likeliest cause of a TLS service a CI run lost between
//! two requests.

use std::process::Command;

use bulk_import_core::key::KeyValue;
use bulk_import_core::store::S3Options;
use bulk_import_tests::cluster::{Service, workspace_binary};
use bulk_import_tests::distributed::create_table;

const LEAVES: usize = 10_000;

#[tokio::test]
async fn a_listing_read_only_in_part_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_str().unwrap().to_string();
    let points: Vec<KeyValue> = (1..LEAVES).map(|i| KeyValue::String(format!("key-{i:05}"))).collect();
    create_table(&store, S3Options::default(), "t", &points).await;

    let binary = workspace_binary("bulk-import");
    let script = format!("set -o pipefail; '{}' --store '{store}' table partitions t | head -n 3", binary.display());
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with(&format!("{} partitions, {LEAVES} leaves\n", 2 * LEAVES - 1)), "{stdout}");

    // Read to the end, the same listing has every leaf.
    let whole = Command::new(&binary).args(["--store", &store, "table", "partitions", "t"]).output().unwrap();
    assert!(whole.status.success());
    assert_eq!(String::from_utf8_lossy(&whole.stdout).lines().count(), LEAVES + 1);
}

/// Bit `n - 1` of `SigIgn` in `/proc/PID/status` is set when signal `n` is ignored.
fn ignores_sigpipe(pid: u32) -> bool {
    const SIGPIPE: u32 = 13;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ignored = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap().trim();
    u64::from_str_radix(ignored, 16).unwrap() & (1 << (SIGPIPE - 1)) != 0
}

#[test]
fn the_job_service_survives_writes_to_reset_connections() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").to_str().unwrap().to_string();
    let service = Service::start(dir.path(), "service", &store, None, &[], &[]);
    assert!(ignores_sigpipe(service.process.pid()), "the service would die on a write to a reset connection");
}
