//! The tracker's jobs as Sleeper's report sees them: runs, each a sequence of updates.

use chrono::{DateTime, Utc};

use bulk_import_core::tracker::{JobEvent, JobRecord};

/// One update of a run, in Sleeper's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum RunUpdate {
    Accepted { time: DateTime<Utc>, input_files: u64 },
    Rejected { time: DateTime<Utc>, input_files: u64, reasons: Vec<String> },
    Started { time: DateTime<Utc>, input_files: u64 },
    Finished { start: DateTime<Utc>, time: DateTime<Utc>, rows_read: u64, rows_written: u64, files_written: u64, committed_separately: bool },
    FilesAdded { time: DateTime<Utc>, files: u64 },
    Failed { start: Option<DateTime<Utc>>, time: DateTime<Utc>, reasons: Vec<String> },
}

/// An update and when it was recorded (Sleeper's `updateTime`, which can trail the time the
/// update is about; the engine records both at once).
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    pub update: RunUpdate,
    pub recorded: DateTime<Utc>,
}

/// One run of a job: its updates in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportRun {
    pub task_id: Option<String>,
    pub updates: Vec<Timed>,
}

/// A job: its runs, latest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportJob {
    pub job_id: String,
    pub runs: Vec<ReportRun>,
}

/// Sleeper's run states, in the order a job's furthest state is chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunState {
    Rejected,
    Accepted,
    Failed,
    InProgress,
    Uncommitted,
    Finished,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Rejected => "REJECTED",
            RunState::Accepted => "ACCEPTED",
            RunState::Failed => "FAILED",
            RunState::InProgress => "IN_PROGRESS",
            RunState::Uncommitted => "UNCOMMITTED",
            RunState::Finished => "FINISHED",
        }
    }
}

impl ReportRun {
    /// The run's state: a failure supersedes everything; a finish committed by separate file
    /// updates is UNCOMMITTED until its files are added.
    pub fn state(&self) -> RunState {
        let mut state = RunState::Accepted;
        let mut waiting_for_files = false;
        for update in self.updates() {
            match update {
                RunUpdate::Failed { .. } => return RunState::Failed,
                RunUpdate::Rejected { .. } => state = RunState::Rejected,
                RunUpdate::Accepted { .. } => {}
                RunUpdate::Started { .. } => state = state.max(RunState::InProgress),
                RunUpdate::Finished { committed_separately, .. } => {
                    waiting_for_files = *committed_separately;
                    state = if waiting_for_files { RunState::Uncommitted } else { RunState::Finished };
                }
                RunUpdate::FilesAdded { .. } => {
                    if waiting_for_files {
                        state = RunState::Finished;
                    }
                }
            }
        }
        state
    }

    /// The updates, without their recording times.
    pub fn updates(&self) -> impl DoubleEndedIterator<Item = &RunUpdate> {
        self.updates.iter().map(|t| &t.update)
    }

    pub fn input_files(&self) -> Option<u64> {
        self.updates().find_map(|u| match u {
            RunUpdate::Accepted { input_files, .. } | RunUpdate::Rejected { input_files, .. } | RunUpdate::Started { input_files, .. } => {
                Some(*input_files)
            }
            _ => None,
        })
    }

    /// When the run began: its validation, or its start.
    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        self.updates().next().map(|u| match u {
            RunUpdate::Accepted { time, .. }
            | RunUpdate::Rejected { time, .. }
            | RunUpdate::Started { time, .. }
            | RunUpdate::Finished { time, .. }
            | RunUpdate::FilesAdded { time, .. }
            | RunUpdate::Failed { time, .. } => *time,
        })
    }

    /// Files the run added to the table.
    pub fn files_added(&self) -> u64 {
        self.updates()
            .map(|u| match u {
                RunUpdate::FilesAdded { files, .. } => *files,
                RunUpdate::Finished { files_written, committed_separately: false, .. } => *files_written,
                _ => 0,
            })
            .sum()
    }

    /// The update that ended the run, if it has ended.
    pub fn end(&self) -> Option<&RunUpdate> {
        self.updates().rev().find(|u| matches!(u, RunUpdate::Finished { .. } | RunUpdate::Failed { .. } | RunUpdate::Rejected { .. }))
    }
}

impl ReportJob {
    /// The furthest state over the job's runs.
    pub fn state(&self) -> RunState {
        self.runs.iter().map(ReportRun::state).max().unwrap_or(RunState::Accepted)
    }
}

/// The tracker's jobs as reports see them. Events are grouped into runs by their run id; the
/// engine's own events (RUNNING, PARTITIONS_SPLIT, FILES_WRITTEN) have no update in Sleeper's
/// reports and are left out.
pub fn jobs_for_report(records: &[JobRecord]) -> Vec<ReportJob> {
    records.iter().map(report_job).collect()
}

fn report_job(record: &JobRecord) -> ReportJob {
    let mut runs: Vec<(Option<String>, ReportRun)> = Vec::new();
    // When each run started, by run id.
    let mut started: Vec<(String, DateTime<Utc>)> = Vec::new();
    let started_at =
        |started: &[(String, DateTime<Utc>)], run_id: Option<&String>| run_id.and_then(|id| started.iter().find(|(r, _)| r == id).map(|(_, t)| *t));
    // Rejected resubmissions interleave with the job's events by time.
    let mut events: Vec<_> = record.events.iter().chain(&record.rejected_submissions).collect();
    events.sort_by_key(|e| e.time);
    for event in events {
        let time = event.time;
        let (run_id, update) = match &event.event {
            JobEvent::Accepted { input_files, run_id, .. } => (run_id.clone(), RunUpdate::Accepted { time, input_files: *input_files }),
            JobEvent::Rejected { reasons, .. } => (None, RunUpdate::Rejected { time, input_files: 0, reasons: reasons.clone() }),
            JobEvent::Started { run_id, input_files: files, .. } => {
                started.push((run_id.clone(), time));
                (Some(run_id.clone()), RunUpdate::Started { time, input_files: *files })
            }
            JobEvent::Finished { run_id, rows_read, rows_written, files_written, committed_when_files_added, duration_seconds, .. } => {
                let start =
                    started_at(&started, Some(run_id)).unwrap_or_else(|| time - chrono::Duration::milliseconds((duration_seconds * 1000.0) as i64));
                let update = RunUpdate::Finished {
                    start,
                    time,
                    rows_read: *rows_read,
                    rows_written: *rows_written,
                    files_written: *files_written,
                    committed_separately: *committed_when_files_added,
                };
                (Some(run_id.clone()), update)
            }
            JobEvent::FilesAdded { run_id, files_added } => (Some(run_id.clone()), RunUpdate::FilesAdded { time, files: *files_added }),
            JobEvent::Failed { run_id, reason, .. } => {
                (run_id.clone(), RunUpdate::Failed { start: started_at(&started, run_id.as_ref()), time, reasons: vec![reason.clone()] })
            }
            JobEvent::Running { .. } | JobEvent::PartitionsSplit { .. } | JobEvent::FilesWritten { .. } => continue,
        };
        // The first run's validation is ACCEPTED under the run id the job was accepted for.
        let update = Timed { update, recorded: time };
        match runs.iter_mut().find(|(id, _)| id.is_some() && *id == run_id) {
            Some((_, run)) => run.updates.push(update),
            None => runs.push((run_id, ReportRun { task_id: None, updates: vec![update] })),
        }
    }
    ReportJob { job_id: record.job_id.clone(), runs: runs.into_iter().rev().map(|(_, run)| run).collect() }
}
