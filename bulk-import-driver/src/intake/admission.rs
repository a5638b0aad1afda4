//! Admission: a job's JSON is parsed and validated (the table, the algorithm, the engine
//! settings, every input file), then recorded in the tracker as ACCEPTED, or as REJECTED with
//! every reason found. An accepted job is ready to execute.

use bulk_import_core::properties::{INSTANCE_CLASS_NAME, TABLE_CLASS_NAME};
use bulk_import_core::table::Table;
use bulk_import_core::tracker::{AcceptError, JobEvent, JobRecord};
use tokio_util::task::AbortOnDropHandle;

use super::inputs::{InputFile, total_rows, validate_inputs};
use super::job::{BulkImportJob, parse_job};
use super::rejection::{RejectionReason, sentences};
use super::settings::{JobSettings, job_settings};
use crate::driver::Driver;
use crate::planning::{Algorithm, AlgorithmChoice};

/// A job that passed validation and was recorded as accepted: ready to execute.
#[derive(Debug, Clone)]
pub struct AcceptedJob {
    pub job: BulkImportJob,
    pub table: Table,
    pub algorithm: Algorithm,
    pub files: Vec<InputFile>,
    /// The rows of all input files, from their footers: what the job must write.
    pub rows: u64,
    /// What the job's `sparkConf` asks of the engine.
    pub settings: JobSettings,
    /// The id of the run it is accepted for: its events and its attempt directory carry it.
    pub run_id: String,
}

/// The result of admitting a job: recorded as accepted, or as rejected with every reason.
#[derive(Debug)]
pub enum Admission {
    Accepted(Box<AcceptedJob>),
    Rejected { job_id: String, reasons: Vec<RejectionReason> },
}

/// What validation found: all a job needs to run, or every reason it cannot.
#[derive(Debug)]
enum Validation {
    Valid(Box<ValidJob>),
    Invalid(Vec<RejectionReason>),
}

/// What a valid job runs with.
#[derive(Debug)]
struct ValidJob {
    table: Table,
    algorithm: Algorithm,
    files: Vec<InputFile>,
    settings: JobSettings,
}

/// A job the tracker holds as accepted, looked at again after a restart.
#[derive(Debug)]
pub enum Reloaded {
    Runnable(Box<AcceptedJob>),
    /// Why it can no longer run.
    NoLongerValid(String),
}

impl Driver {
    /// Parses and validates a job and records it as accepted or rejected.
    pub async fn admit(&self, raw_json: &str) -> anyhow::Result<Admission> {
        self.admit_from(raw_json, None).await
    }

    /// As [`Driver::admit`], recording who submitted the job: the name of the caller's token.
    pub async fn admit_from(&self, raw_json: &str, submitted_by: Option<&str>) -> anyhow::Result<Admission> {
        let job = match parse_job(raw_json) {
            Ok(job) => job,
            Err(failure) => return self.reject(&failure.id, failure.table_name, failure.reasons, raw_json).await,
        };
        let ValidJob { table, algorithm, files, settings } = match self.validate(&job).await? {
            Validation::Valid(valid) => *valid,
            Validation::Invalid(reasons) => return self.reject(&job.id, job.table_name.clone(), reasons, raw_json).await,
        };
        let rows = total_rows(&files);
        let run_id = uuid::Uuid::new_v4().to_string();
        let accepted = JobEvent::Accepted {
            table_name: table.name().to_string(),
            table_id: table.id().to_string(),
            input_files: files.len() as u64,
            input_rows: rows,
            class_name: job.class_name.clone().unwrap_or_else(|| algorithm.name().to_string()),
            raw_json: Some(raw_json.to_string()),
            submitted_by: submitted_by.map(str::to_string),
            warnings: settings.warnings.clone(),
            platform_spec: job.platform_spec.clone(),
            run_id: Some(run_id.clone()),
        };
        match self.tracker().accept(&job.id, accepted).await {
            Ok(()) => Ok(Admission::Accepted(Box::new(AcceptedJob { job, table, algorithm, files, rows, settings, run_id }))),
            Err(AcceptError::AlreadyAccepted(_)) => {
                let reasons = vec![RejectionReason::AlreadyAccepted(job.id.clone())];
                self.tracker().record_rejected_resubmission(&job.id, sentences(&reasons), raw_json.to_string()).await?;
                Ok(Admission::Rejected { job_id: job.id, reasons })
            }
            Err(AcceptError::Store(e)) => Err(e.into()),
        }
    }

    /// Validates again a job the tracker holds as accepted, from the JSON it was accepted
    /// with, to run it after a restart.
    pub async fn reload(&self, record: &JobRecord) -> anyhow::Result<Reloaded> {
        let Some(JobEvent::Accepted { raw_json: Some(raw_json), .. }) = record.accepted() else {
            return Ok(Reloaded::NoLongerValid("the job's accepted record does not hold its JSON".into()));
        };
        // A new run: the one the job was accepted for was cut short.
        self.validate_accepted(raw_json, uuid::Uuid::new_v4().to_string()).await
    }

    /// Validates a job someone else has already accepted (Sleeper's starter, or a previous
    /// instance of the service), to run it as run `run_id`; records nothing.
    pub async fn validate_accepted(&self, raw_json: &str, run_id: String) -> anyhow::Result<Reloaded> {
        let job = match parse_job(raw_json) {
            Ok(job) => job,
            Err(failure) => return Ok(Reloaded::NoLongerValid(sentences(&failure.reasons).join("; "))),
        };
        Ok(match self.validate(&job).await? {
            Validation::Valid(valid) => {
                let ValidJob { table, algorithm, files, settings } = *valid;
                let rows = total_rows(&files);
                Reloaded::Runnable(Box::new(AcceptedJob { job, table, algorithm, files, rows, settings, run_id }))
            }
            Validation::Invalid(reasons) => Reloaded::NoLongerValid(format!("the job is no longer valid: {}", sentences(&reasons).join("; "))),
        })
    }

    /// Records a rejection. A job id that belongs to an accepted job keeps that job's status:
    /// the rejection is recorded beside it, as a rejected submission.
    async fn reject(&self, job_id: &str, table_name: Option<String>, mut reasons: Vec<RejectionReason>, raw_json: &str) -> anyhow::Result<Admission> {
        let owned = self.tracker().job(job_id).await?.is_some_and(|j| j.accepted().is_some());
        if owned {
            reasons.push(RejectionReason::AlreadyAccepted(job_id.to_string()));
            self.tracker().record_rejected_resubmission(job_id, self.wording.sentences(&reasons), raw_json.to_string()).await?;
        } else {
            let event = JobEvent::Rejected { table_name, reasons: self.wording.sentences(&reasons), raw_json: raw_json.to_string() };
            self.tracker().record(job_id, event).await?;
        }
        Ok(Admission::Rejected { job_id: job_id.to_string(), reasons })
    }

    /// Checks the table, the algorithm and the input; `Err` holds every reason to reject.
    async fn validate(&self, job: &BulkImportJob) -> anyhow::Result<Validation> {
        let mut reasons = Vec::new();
        let settings = match job_settings(&job.spark_conf) {
            Ok(settings) => match self.engine.session_for(&job.id, &settings.session) {
                Ok(_) => Some(settings),
                Err(e) => {
                    reasons.push(RejectionReason::InvalidSessionSetting(e.to_string()));
                    None
                }
            },
            Err(problems) => {
                reasons.extend(problems);
                None
            }
        };
        let table = match (&job.table_name, &job.table_id) {
            (Some(name), id) => {
                let table = self.backend.table_by_name(name).await?;
                match (&table, id) {
                    (None, _) => reasons.push(RejectionReason::TableNotFound(name.clone())),
                    (Some(t), Some(id)) if t.id() != id => {
                        reasons.push(RejectionReason::TableIdMismatch { name: name.clone(), actual: t.id().to_string(), given: id.clone() });
                    }
                    _ => {}
                }
                table
            }
            (None, Some(id)) => {
                let table = self.backend.table_by_id(id).await?;
                if table.is_none() {
                    reasons.push(RejectionReason::NoTableWithId(id.clone()));
                }
                table
            }
            (None, None) => None,
        };
        let instance = self.backend.table_properties.instance_properties().await?;
        let choice = AlgorithmChoice {
            job: job.class_name.as_deref(),
            table_default: table.as_ref().and_then(|t| t.definition.properties.raw(TABLE_CLASS_NAME)),
            instance_default: instance.raw(INSTANCE_CLASS_NAME),
        };
        let algorithm = Algorithm::select(choice).map_err(|r| reasons.push(r)).ok();
        let files = match &table {
            Some(table) => {
                // The table's state is read meanwhile, on a task of its own (by a store that
                // keeps it): listing the inputs leaves a core free for it.
                let read_ahead = AbortOnDropHandle::new(tokio::spawn(self.backend.state_stores.read_ahead(table)));
                let files = validate_inputs(&self.stores, &self.backend.root, &job.files, table.schema(), &self.policy).await;
                // A job that cannot run does not wait for it; one that can needs the state next.
                if files.is_ok() && reasons.is_empty() {
                    let _ = read_ahead.await;
                }
                files.map_err(|r| reasons.extend(r)).ok()
            }
            None => None,
        };
        Ok(match (table, algorithm, files, settings) {
            (Some(table), Some(algorithm), Some(files), Some(settings)) if reasons.is_empty() => {
                Validation::Valid(Box::new(ValidJob { table, algorithm, files, settings }))
            }
            _ => Validation::Invalid(reasons),
        })
    }
}
