//! A soak through the job service: many jobs with `--concurrent-jobs 2` into two tables, some
//! cancelled, the service restarted on the way. Every finished job is committed exactly once,
//! every cancelled or failed one left no file, the tables hold exactly the finished jobs' rows,
//! nothing is left under `bulk_import/`, and the service's memory does not grow with the jobs.
//!
//! `SOAK_JOBS` sets the number of jobs (CI runs 24; `bench/soak` runs 100).

use std::collections::BTreeMap;
use std::time::Duration;

use bulk_import_core::store::S3Options;
use bulk_import_proto::service as api;
use bulk_import_tests::cluster::Service;
use bulk_import_tests::distributed::*;
use bulk_import_tests::table_contents::table_contents;

/// The resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_soak_of_jobs_with_cancels_and_a_restart_loses_and_duplicates_nothing() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let jobs: usize = std::env::var("SOAK_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(24).max(12);
    let dir = tempfile::tempdir().unwrap();
    let (input_a, splits) = generate_input(dir.path(), 30_000, 2, 8, 61);
    let (input_b, _) = generate_input(dir.path(), 20_000, 2, 8, 62);
    let store = dir.path().join("store").to_str().unwrap().to_string();
    for table in ["soak-a", "soak-b"] {
        create_table(&store, S3Options::default(), table, &splits).await;
    }
    let extra = ["--concurrent-jobs=2"];
    let mut service = Some(Service::start(dir.path(), "service-1", &store, None, &extra, &[]));
    let port = service.as_ref().unwrap().port;
    let mut client = client(&service.as_ref().unwrap().url()).await;
    // An even job, which is not waited for: it is in flight when the service is killed.
    let restart_at = (jobs / 4) & !1;
    let (mut rss_at_10, mut rss_at_end) = (0, 0);
    let mut expected_rows: BTreeMap<&str, u64> = BTreeMap::new();
    let mut cancelled = Vec::new();
    // A fixed pseudo-random choice of jobs to cancel: about one in five.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut coin = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.is_multiple_of(5)
    };
    for i in 0..jobs {
        let (table, input, rows) = if i.is_multiple_of(2) { ("soak-a", &input_a, 30_000) } else { ("soak-b", &input_b, 20_000) };
        let id = format!("soak-{i:03}");
        let accepted = submit(&mut client, job_json(&id, table, &[input.to_str().unwrap()])).await;
        assert_eq!(accepted.status(), api::JobStatus::Accepted, "{id}: {accepted:?}");
        let mut was_cancelled = false;
        if coin() {
            let response = client.cancel_job(api::CancelJobRequest { job_id: id.clone() }).await.unwrap().into_inner();
            if response.status() == api::JobStatus::Failed {
                cancelled.push(id.clone());
                was_cancelled = true;
            }
        }
        if i == restart_at {
            // Killed with a job in flight: the next service takes it over once its lease runs out.
            service.take().unwrap().process.kill();
            service = Some(Service::start_on(dir.path(), "service-2", port, &store, None, &extra, &[]));
            client = bulk_import_tests::distributed::client(&service.as_ref().unwrap().url()).await;
        }
        if was_cancelled {
            continue;
        }
        if i % 2 == 1 {
            // Two at a time: wait for every second job, so that the service holds two.
            let last = watch_to_end(&mut client, &id, Duration::from_mins(3)).await;
            assert_eq!(last.status(), api::JobStatus::Finished, "{id}: {last:?}");
        }
        *expected_rows.entry(table).or_default() += rows;
        let pid = service.as_ref().unwrap().process.pid();
        if i + 1 == 10.max(restart_at + 4) {
            rss_at_10 = rss_bytes(pid);
        }
        if i + 1 == jobs {
            rss_at_end = rss_bytes(pid);
        }
    }
    // Every job that was not cancelled finishes.
    let deadline = tokio::time::Instant::now() + Duration::from_mins(5);
    loop {
        let listed = client.list_jobs(api::ListJobsRequest::default()).await.unwrap().into_inner();
        let unfinished: Vec<&api::Job> =
            listed.jobs.iter().filter(|j| !cancelled.contains(&j.job_id) && j.status() != api::JobStatus::Finished).collect();
        if unfinished.is_empty() {
            assert_eq!(listed.jobs.len(), jobs);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs never finished: {unfinished:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("soak: cancelled {cancelled:?}, restart after job {restart_at}");
    for table in ["soak-a", "soak-b"] {
        let contents = table_contents(&store, S3Options::default(), table).await;
        assert_eq!(contents.total_rows() as u64, expected_rows[table], "{table}");
        assert!(contents.commits_by_job.values().all(|&n| n == 1), "{table}: {:?}", contents.commits_by_job);
        assert!(contents.commits_by_job.keys().all(|id| !cancelled.contains(id)), "{table}: a cancelled job committed");
        assert_eq!(contents.data_objects, contents.referenced, "{table}: files beside the referenced ones");
        if !contents.attempt_leftovers.is_empty() {
            for log in ["service-1", "service-2"] {
                let text = std::fs::read_to_string(dir.path().join("logs").join(format!("{log}.log"))).unwrap_or_default();
                let wanted = contents.attempt_leftovers[0].split("/bulk_import/").nth(1).unwrap_or_default().split('/').next().unwrap_or_default();
                eprintln!("--- {log}: lines of {wanted}");
                for line in text.lines().filter(|l| l.contains(wanted)) {
                    eprintln!("{line}");
                }
            }
        }
        assert!(contents.attempt_leftovers.is_empty(), "{table}: {:?}", contents.attempt_leftovers);
        assert!(contents.unsorted_files.is_empty() && contents.misrouted_files.is_empty());
    }
    let growth = rss_at_end as f64 / rss_at_10 as f64;
    eprintln!(
        "soak: {jobs} jobs, {} cancelled, 1 restart, rows {:?}, service RSS {} MiB at job 10 and {} MiB at the end",
        cancelled.len(),
        expected_rows,
        rss_at_10 >> 20,
        rss_at_end >> 20
    );
    assert!(growth < 1.2, "the service's memory grew by {:.0}% between job 10 and the end", (growth - 1.0) * 100.0);
}
