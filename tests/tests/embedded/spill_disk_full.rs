//! A spill disk that fills up: the job's sorts spill to a 2 MiB tmpfs, which cannot hold them.
//! The job ends FAILED with the operating system's "No space left on device", nothing is
//! committed, no file is left in the table or on the spill disk, and the same job, run again
//! with room to spill, commits every row once. The test mounts the tmpfs itself (as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use bulk_import_core::store::S3Options;
use bulk_import_core::tracker::JobStatus;
use bulk_import_tests::cluster::workspace_binary;
use bulk_import_tests::distributed::{create_table, generate_input, job_json};
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 1_000_000;

/// A tmpfs of `size`, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", at.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "this test mounts a small tmpfs and must run as root: {}", String::from_utf8_lossy(&out.stderr));
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn run(store: &str, job: &Path, spill_dir: &Path) -> std::process::Output {
    Command::new(workspace_binary("bulk-import"))
        .args(["--store", store, "run", job.to_str().unwrap(), "--quiet", "--parallelism", "2", "--memory-pool", "48MiB"])
        .arg("--spill-dir")
        .arg(spill_dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_spill_disk_fails_the_job_cleanly_and_a_bigger_one_lets_it_commit_once() {
    let dir = tempfile::tempdir().unwrap();
    let (input, splits) = generate_input(dir.path(), ROWS, 4, 8, 91);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &splits).await;
    let job = dir.path().join("job.json");
    std::fs::write(&job, job_json("spilled", "t", &[input.to_str().unwrap()])).unwrap();

    let small = SmallDisk::mount(&dir.path().join("small-spill"), "2m");
    let out = run(&store, &job, &small.0);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the job did not fail: {said}");
    assert!(said.contains("FAILED") && said.contains("No space left on device"), "{said}");
    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert!(contents.commits_by_job.is_empty(), "{:?}", contents.commits_by_job);
    assert!(contents.data_objects.is_empty(), "orphan files: {:?}", contents.data_objects);
    assert!(contents.attempt_leftovers.is_empty(), "{:?}", contents.attempt_leftovers);
    assert_eq!(std::fs::read_dir(&small.0).unwrap().count(), 0, "spill files were left on the small disk");
    drop(small);

    // With room to spill, the same job (a FAILED job may be run again) commits once.
    let big = dir.path().join("big-spill");
    std::fs::create_dir_all(&big).unwrap();
    let out = run(&store, &job, &big);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let contents = table_contents(&store, S3Options::default(), "t").await;
    contents.assert_committed_once("spilled", ROWS);
    let driver = bulk_import_tests::driver(dir.path()).await;
    assert_eq!(driver.tracker().job("spilled").await.unwrap().unwrap().status, JobStatus::Finished);
}
