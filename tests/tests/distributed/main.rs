//! The multi-process tests: a scheduler, executors and the job service as separate processes
//! on 127.0.0.1 (and moto for S3), started and stopped by each test. Slower than the embedded
//! tests, so in a binary of their own: `cargo test -p bulk-import-tests --test distributed`.

mod abandoned_uploads;
mod bad_inputs;
mod clients;
mod concurrency;
mod executor_killed;
mod executor_ports;
mod global_sort;
mod json_logs;
mod keda_scaler;
mod lease;
mod locked_down;
mod metrics;
mod python_client;
mod s3;
mod s3_faults;
mod scheduler_restarted;
mod service_killed;
mod soak;
mod stalled_executors;
mod web_view;

/// Each test runs its processes alone. Their waits are sized for one cluster on two cores (and
/// the kill tests time their kills against the job's progress), as when each file was its own
/// test binary; two clusters at once would starve each other into timeouts.
async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}
