//! Counters of the trouble the stores meet, in whatever process meets it: appends to a log that
//! found their slot taken by another writer, the attempts made again after them, and requests to
//! an object store that failed. They live in the Prometheus default registry's way (process-wide
//! statics); the job service adds them to the registry it serves on `/metrics`.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{IntCounterVec, Opts};

/// The logs that take appends under a condition, as the `log` label names them.
pub mod logs {
    /// The engine's own transaction log of a table (objects created if absent).
    pub const TRANSACTION_LOG: &str = "transaction_log";
    /// The engine's own job tracker (one object per event, created if absent).
    pub const JOB_TRACKER: &str = "job_tracker";
    /// A Sleeper instance's DynamoDB transaction log.
    pub const SLEEPER_TRANSACTION_LOG: &str = "sleeper_transaction_log";
}

pub struct StoreMetrics {
    write_conflicts: IntCounterVec,
    write_retries: IntCounterVec,
    object_store_errors: IntCounterVec,
}

pub static STORE_METRICS: LazyLock<StoreMetrics> = LazyLock::new(|| {
    let counter = |name: &str, help: &str, label: &str| IntCounterVec::new(Opts::new(name, help), &[label]).expect("the counters' names are valid");
    let metrics = StoreMetrics {
        write_conflicts: counter(
            "bulk_import_write_conflicts_total",
            "Appends (commits, pre-splits, job events) that found their place taken by another writer, by log",
            "log",
        ),
        write_retries: counter("bulk_import_write_retries_total", "Appends tried again after a conflict, by log", "log"),
        object_store_errors: counter(
            "bulk_import_object_store_errors_total",
            "Object store requests that failed after the client's own retries, by operation (not counting absent objects and refused conditional writes)",
            "operation",
        ),
    };
    // Every series exists from the start, at zero, so that rates and alerts see it.
    for log in [logs::TRANSACTION_LOG, logs::JOB_TRACKER, logs::SLEEPER_TRANSACTION_LOG] {
        metrics.write_conflicts.with_label_values(&[log]);
        metrics.write_retries.with_label_values(&[log]);
    }
    for operation in OPERATIONS {
        metrics.object_store_errors.with_label_values(&[operation]);
    }
    metrics
});

/// The object store operations errors are counted by.
pub const OPERATIONS: [&str; 10] =
    ["put", "put_multipart", "put_part", "complete_multipart", "abort_multipart", "get", "delete", "list", "copy", "rename"];

impl StoreMetrics {
    /// A conflict on `log` that will be tried again.
    pub fn retried(&self, log: &str) {
        self.write_conflicts.with_label_values(&[log]).inc();
        self.write_retries.with_label_values(&[log]).inc();
    }

    /// A conflict on `log` after which the append gave up.
    pub fn gave_up(&self, log: &str) {
        self.write_conflicts.with_label_values(&[log]).inc();
    }

    /// An object store request that failed.
    pub fn object_store_error(&self, operation: &str) {
        self.object_store_errors.with_label_values(&[operation]).inc();
    }

    /// Failed requests of `operation` so far.
    pub fn object_store_errors_for(&self, operation: &str) -> u64 {
        self.object_store_errors.with_label_values(&[operation]).get()
    }

    /// The counters, for a registry to serve.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![Box::new(self.write_conflicts.clone()), Box::new(self.write_retries.clone()), Box::new(self.object_store_errors.clone())]
    }
}
