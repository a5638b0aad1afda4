//! `job list|status --report standard|detailed|json`: the tracker's jobs in the shape of
//! Sleeper's ingest job status report (`IngestJobStatusReport`), so that people and scripts used
//! to Sleeper's reports read ours. The text follows `StandardIngestJobStatusReporter`, the JSON
//! `JsonIngestJobStatusReporter` with its field names (`rowsProcessed`, `numFilesWrittenByJob`,
//! ...); unit tests hold both against Sleeper's own golden files.

mod json;
mod model;
mod standard;

pub use json::json_report;
pub use model::{ReportJob, ReportRun, RunUpdate, Timed, jobs_for_report};
pub use standard::{count, detailed_report, duration, standard_report};

/// The report a `job` command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Sleeper's standard report: a summary and a table of runs (for `job list`).
    Standard,
    /// Sleeper's detailed report: every update of every run (for `job status`).
    Detailed,
    /// Sleeper's JSON report.
    Json,
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn timed(update: RunUpdate, recorded: &str) -> Timed {
        Timed { update, recorded: at(recorded) }
    }

    fn finished_job(id: &str, start: &str, finish: &str, rows: (u64, u64), files: u64) -> ReportJob {
        let run = ReportRun {
            task_id: Some("task-id".into()),
            updates: vec![
                timed(RunUpdate::Started { time: at(start), input_files: 1 }, start),
                timed(
                    RunUpdate::Finished {
                        start: at(start),
                        time: at(finish),
                        rows_read: rows.0,
                        rows_written: rows.1,
                        files_written: files,
                        committed_separately: false,
                    },
                    finish,
                ),
            ],
        };
        ReportJob { job_id: id.into(), runs: vec![run] }
    }

    fn rejected_job() -> ReportJob {
        let reasons = (1..=3).map(|i| format!("Test validation reason {i}")).collect();
        let rejected = RunUpdate::Rejected { time: at("2023-06-05T17:20:00Z"), input_files: 2, reasons };
        ReportJob {
            job_id: "job11111-1111-1111-1111-111111111111".into(),
            runs: vec![ReportRun { task_id: None, updates: vec![timed(rejected, "2023-06-05T17:20:00.123Z")] }],
        }
    }

    #[test]
    fn the_standard_report_is_sleepers_to_the_byte() {
        let jobs = [
            finished_job("job44444-4444-4444-4444-444444444444", "2022-10-13T14:02:10Z", "2022-10-13T14:04:13.456Z", (1_234_000, 1_234_000), 4),
            finished_job("job33333-3333-3333-3333-333333333333", "2022-10-13T14:01:10Z", "2022-10-13T14:02:10Z", (1_000_600, 500_300), 3),
            finished_job("job22222-2222-2222-2222-222222222222", "2022-10-13T12:01:10Z", "2022-10-13T14:01:10Z", (1_000_600, 500_300), 2),
            finished_job("job11111-1111-1111-1111-111111111111", "2022-10-13T10:00:10Z", "2022-10-13T10:02:13.123Z", (600_000, 300_000), 1),
        ];
        let golden = include_str!("../../../tests/data/sleeper-reports/standard-all-jobsWithLargeAndDecimalStatistics.txt");
        assert_eq!(standard_report(&jobs, &[("ingest queue", 0)]), golden);
    }

    #[test]
    fn the_detailed_report_of_a_rejection_is_sleepers_to_the_byte() {
        let golden = include_str!("../../../tests/data/sleeper-reports/standard-detailed-rejectedJobWithMultipleReasons.txt");
        assert_eq!(detailed_report(&[rejected_job()]), golden);
    }

    #[test]
    fn the_json_report_has_sleepers_fields() {
        let golden: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/data/sleeper-reports/json-bulkImport-rejectedJob.json")).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&json_report(&[rejected_job()], &[("ingestMessages", 0)])).unwrap();
        assert_eq!(ours, golden);
    }

    #[test]
    fn formats_follow_java() {
        assert_eq!(standard::duration(123_456), "2m 3.456s");
        assert_eq!(standard::duration(7_200_000), "2h");
        assert_eq!(standard::duration(3_723_000), "1h 2m 3s");
        assert_eq!(standard::duration(8_500), "8.5s");
        assert_eq!(standard::duration(0), "0s");
        assert_eq!(standard::count(1_234_000), "1,234,000");
        assert_eq!(standard::count(600), "600");
        assert_eq!(standard::decimal_2dp(9_995.463_970_969_415), "9,995.46");
        assert_eq!(standard::decimal_2dp(0.0), "0.00");
        assert_eq!(standard::instant(at("2023-06-05T17:20:00Z")), "2023-06-05T17:20:00Z");
        assert_eq!(standard::instant(at("2022-10-13T14:04:13.456Z")), "2022-10-13T14:04:13.456Z");
    }
}
