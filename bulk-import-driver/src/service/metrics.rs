//! The job service's Prometheus metrics, served on `/metrics` of its HTTP port.
//!
//! Counters follow the jobs this service admitted and ran since it started; the queue gauges are
//! read from the queue at each scrape. Names follow Prometheus' conventions (`_total` counters,
//! base units).

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::driver::JobOutcome;
use crate::intake::Admission;

pub struct ServiceMetrics {
    registry: Registry,
    jobs: IntCounterVec,
    rejections: IntCounterVec,
    queued: IntGauge,
    running: IntGauge,
    duration: Histogram,
    rows_read: IntCounter,
    rows_written: IntCounter,
    files_written: IntCounter,
    bytes_written: IntCounter,
}

impl ServiceMetrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let jobs = IntCounterVec::new(
            Opts::new("bulk_import_jobs_total", "Jobs by the status they reached here: accepted, rejected, finished, failed"),
            &["status"],
        )?;
        let rejections = IntCounterVec::new(Opts::new("bulk_import_rejections_total", "Reasons jobs were rejected for, by kind"), &["reason"])?;
        let queued = IntGauge::new("bulk_import_queued_jobs", "Accepted jobs waiting for a run slot")?;
        let running = IntGauge::new("bulk_import_running_jobs", "Jobs running")?;
        let buckets = vec![1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0];
        let duration = Histogram::with_opts(
            HistogramOpts::new("bulk_import_job_duration_seconds", "Run time of jobs that finished or failed").buckets(buckets),
        )?;
        let rows_read = IntCounter::new("bulk_import_rows_read_total", "Rows read by finished jobs")?;
        let rows_written = IntCounter::new("bulk_import_rows_written_total", "Rows written by finished jobs")?;
        let files_written = IntCounter::new("bulk_import_files_written_total", "Data files written by finished jobs")?;
        let bytes_written = IntCounter::new("bulk_import_bytes_written_total", "Bytes of data files written by finished jobs")?;
        registry.register(Box::new(jobs.clone()))?;
        registry.register(Box::new(rejections.clone()))?;
        registry.register(Box::new(queued.clone()))?;
        registry.register(Box::new(running.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(rows_read.clone()))?;
        registry.register(Box::new(rows_written.clone()))?;
        registry.register(Box::new(files_written.clone()))?;
        registry.register(Box::new(bytes_written.clone()))?;
        // Commit conflicts and object store errors, counted where the stores meet them.
        for collector in bulk_import_core::store_metrics::STORE_METRICS.collectors() {
            registry.register(collector)?;
        }
        Ok(ServiceMetrics { registry, jobs, rejections, queued, running, duration, rows_read, rows_written, files_written, bytes_written })
    }

    /// Counts an admission's verdict, and a rejection's reasons by kind.
    pub fn admitted(&self, admission: &Admission) {
        match admission {
            Admission::Accepted(_) => self.jobs.with_label_values(&["accepted"]).inc(),
            Admission::Rejected { reasons, .. } => {
                self.jobs.with_label_values(&["rejected"]).inc();
                for reason in reasons {
                    self.rejections.with_label_values(&[reason.kind()]).inc();
                }
            }
        }
    }

    /// Counts a run's outcome, its duration, and what a finished run read and wrote.
    pub fn ran(&self, outcome: &JobOutcome, seconds: f64) {
        match outcome {
            JobOutcome::Finished { summary, .. } => {
                self.jobs.with_label_values(&["finished"]).inc();
                self.rows_read.inc_by(summary.rows_read);
                self.rows_written.inc_by(summary.rows_written);
                self.files_written.inc_by(summary.files_written);
                self.bytes_written.inc_by(summary.bytes_written);
            }
            JobOutcome::Failed { .. } => self.jobs.with_label_values(&["failed"]).inc(),
            JobOutcome::Rejected { .. } => return,
        }
        self.duration.observe(seconds);
    }

    /// The exposition text, with the queue's gauges as they are now.
    pub fn render(&self, queued: usize, running: usize) -> String {
        self.queued.set(queued as i64);
        self.running.set(running as i64);
        let mut text = Vec::new();
        // Encoding into memory fails only on metric families that break the format's rules,
        // which the registry does not let in.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!("cannot encode the metrics: {e}");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}
