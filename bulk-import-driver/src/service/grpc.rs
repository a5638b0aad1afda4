//! `BulkImportService` over gRPC: the tracker and the queue behind the API of
//! `proto/service.proto`.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bulk_import_core::tracker::{JobEvent, JobRecord, JobStatus};
use bulk_import_proto::service as api;
use bulk_import_proto::service::bulk_import_service_server::BulkImportService;
use futures::Stream;
use serde::Serialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};

use crate::driver::Driver;
use crate::execution::progress::Progress;
use crate::intake::Admission;
use crate::intake::rejection::sentences;
use crate::service::auth::Caller;
use crate::service::queue::{Cancellation, JobQueue};

pub struct JobService {
    driver: Arc<Driver>,
    queue: Arc<JobQueue>,
    limits: SubmissionLimits,
    /// Set once unfinished jobs have been taken up; submissions wait for it.
    ready: Arc<AtomicBool>,
}

/// What one submission, and the queue, may hold.
#[derive(Debug, Clone, Copy)]
pub struct SubmissionLimits {
    pub max_job_json_bytes: usize,
    /// Accepted jobs queued or running; beyond it submissions are refused, unrecorded.
    pub max_queued_jobs: usize,
}

impl Default for SubmissionLimits {
    fn default() -> Self {
        SubmissionLimits { max_job_json_bytes: 16 << 20, max_queued_jobs: 1_000 }
    }
}

impl JobService {
    pub fn new(driver: Arc<Driver>, queue: Arc<JobQueue>, limits: SubmissionLimits, ready: Arc<AtomicBool>) -> Self {
        JobService { driver, queue, limits, ready }
    }

    async fn record(&self, job_id: &str) -> Result<JobRecord, Status> {
        self.driver.tracker().job(job_id).await.map_err(internal)?.ok_or_else(|| Status::not_found(format!("no job has id {job_id:?}")))
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("{e:#}"))
}

/// Sleeper's `BulkImportJob` JSON of a job given field by field; empty fields are left out, as
/// protobuf cannot tell them from absent ones.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    table_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    table_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    class_name: &'a str,
    files: &'a [String],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    spark_conf: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    platform_spec: BTreeMap<&'a str, &'a str>,
}

fn sorted(map: &std::collections::HashMap<String, String>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Sleeper's job JSON for a job given field by field.
pub fn job_json(job: &api::BulkImportJob) -> String {
    let json = JobJson {
        id: &job.id,
        table_name: &job.table_name,
        table_id: &job.table_id,
        class_name: &job.class_name,
        files: &job.files,
        spark_conf: sorted(&job.spark_conf),
        platform_spec: sorted(&job.platform_spec),
    };
    // Strings and maps of strings always serialise.
    serde_json::to_string(&json).unwrap_or_default()
}

pub fn status_to_api(status: JobStatus) -> api::JobStatus {
    match status {
        JobStatus::Rejected => api::JobStatus::Rejected,
        JobStatus::Accepted => api::JobStatus::Accepted,
        JobStatus::InProgress => api::JobStatus::InProgress,
        JobStatus::Uncommitted => api::JobStatus::Uncommitted,
        JobStatus::Finished => api::JobStatus::Finished,
        JobStatus::Failed => api::JobStatus::Failed,
    }
}

pub fn status_from_api(status: api::JobStatus) -> Option<JobStatus> {
    match status {
        api::JobStatus::Unspecified => None,
        api::JobStatus::Rejected => Some(JobStatus::Rejected),
        api::JobStatus::Accepted => Some(JobStatus::Accepted),
        api::JobStatus::InProgress => Some(JobStatus::InProgress),
        api::JobStatus::Uncommitted => Some(JobStatus::Uncommitted),
        api::JobStatus::Finished => Some(JobStatus::Finished),
        api::JobStatus::Failed => Some(JobStatus::Failed),
    }
}

fn job_to_api(record: &JobRecord) -> api::Job {
    let mut job = api::Job {
        job_id: record.job_id.clone(),
        status: status_to_api(record.status) as i32,
        table_name: record.table_name.clone().unwrap_or_default(),
        rejected_submissions: record.rejected_submissions.len() as u32,
        ..api::Job::default()
    };
    for event in &record.events {
        let json = serde_json::to_value(event).unwrap_or_default();
        job.events.push(api::JobEvent {
            time: event.time.to_rfc3339(),
            event: json["event"].as_str().unwrap_or_default().to_string(),
            status: status_to_api(event.event.status()) as i32,
            json: json.to_string(),
        });
    }
    for event in record.current_events() {
        match &event.event {
            JobEvent::Accepted { input_rows, .. } => job.input_rows = *input_rows,
            JobEvent::Finished { rows_written, files_written, .. } => (job.rows_written, job.files_written) = (*rows_written, *files_written),
            JobEvent::Failed { reason, .. } => job.reasons = vec![reason.clone()],
            _ => {}
        }
    }
    if let Some(JobEvent::Rejected { reasons, .. }) = record.events.last().map(|r| &r.event) {
        job.reasons.clone_from(reasons);
    }
    job
}

fn update(job_id: &str, progress: &Progress) -> api::JobUpdate {
    api::JobUpdate {
        job_id: job_id.to_string(),
        status: status_to_api(progress.status) as i32,
        tasks_done: progress.tasks_done,
        tasks_total: progress.tasks_total,
        rows_written: progress.rows_written,
        rows_total: progress.rows_total,
        message: progress.message.clone().unwrap_or_default(),
    }
}

/// The last update of a job that is not queued or running here, from the tracker.
fn final_update(record: &JobRecord) -> api::JobUpdate {
    let job = job_to_api(record);
    api::JobUpdate {
        job_id: job.job_id,
        status: job.status,
        tasks_done: 0,
        tasks_total: 0,
        rows_written: job.rows_written,
        rows_total: job.input_rows,
        message: job.reasons.join("; "),
    }
}

fn is_final(status: JobStatus) -> bool {
    matches!(status, JobStatus::Finished | JobStatus::Failed | JobStatus::Rejected)
}

type UpdateStream = Pin<Box<dyn Stream<Item = Result<api::JobUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl BulkImportService for JobService {
    async fn submit_job(&self, request: Request<api::SubmitJobRequest>) -> Result<Response<api::SubmitJobResponse>, Status> {
        if !self.ready.load(Ordering::Acquire) {
            return Err(Status::unavailable("the service is taking up unfinished jobs; submit again shortly"));
        }
        let caller = request.extensions().get::<Caller>().map(|c| c.0.clone());
        let raw_json = match request.into_inner().job {
            Some(api::submit_job_request::Job::Json(json)) => json,
            Some(api::submit_job_request::Job::Fields(fields)) => job_json(&fields),
            None => return Err(Status::invalid_argument("the request holds no job: set `fields` or `json`")),
        };
        if raw_json.len() > self.limits.max_job_json_bytes {
            let limit = self.limits.max_job_json_bytes;
            return Err(Status::invalid_argument(format!("the job JSON is {} bytes; this service takes at most {limit}", raw_json.len())));
        }
        let place = self.queue.hold_place(self.limits.max_queued_jobs).map_err(|queued| {
            Status::resource_exhausted(format!(
                "{queued} jobs are queued, running or being admitted, the most this service holds; submit again later"
            ))
        })?;
        let admission = self.driver.admit_from(&raw_json, caller.as_deref()).await.map_err(internal)?;
        self.queue.metrics().admitted(&admission);
        let response = match admission {
            Admission::Accepted(accepted) => {
                let job_id = accepted.job.id.clone();
                place.enqueue(*accepted);
                api::SubmitJobResponse { job_id, status: api::JobStatus::Accepted as i32, reasons: vec![] }
            }
            Admission::Rejected { job_id, reasons } => {
                api::SubmitJobResponse { job_id, status: api::JobStatus::Rejected as i32, reasons: sentences(&reasons) }
            }
        };
        Ok(Response::new(response))
    }

    async fn get_job(&self, request: Request<api::GetJobRequest>) -> Result<Response<api::Job>, Status> {
        Ok(Response::new(job_to_api(&self.record(&request.into_inner().job_id).await?)))
    }

    async fn list_jobs(&self, request: Request<api::ListJobsRequest>) -> Result<Response<api::ListJobsResponse>, Status> {
        let request = request.into_inner();
        let table = Some(request.table_name.as_str()).filter(|t| !t.is_empty());
        let status = status_from_api(request.status());
        let jobs = self.driver.tracker().list(table, status).await.map_err(internal)?;
        Ok(Response::new(api::ListJobsResponse { jobs: jobs.iter().map(job_to_api).collect() }))
    }

    type WatchJobStream = UpdateStream;

    async fn watch_job(&self, request: Request<api::WatchJobRequest>) -> Result<Response<UpdateStream>, Status> {
        let job_id = request.into_inner().job_id;
        let Some(receiver) = self.queue.watch(&job_id) else {
            let record = self.record(&job_id).await?;
            let stream: UpdateStream = Box::pin(tokio_stream::once(Ok(final_update(&record))));
            return Ok(Response::new(stream));
        };
        // Every change until the job ends, the final update included.
        let id = job_id.clone();
        let updates = WatchStream::new(receiver).map(move |p| (is_final(p.status), update(&id, &p)));
        let mut ended = false;
        let stream = updates.take_while(move |(last, _)| {
            let more = !ended;
            ended |= *last;
            more
        });
        let stream: UpdateStream = Box::pin(stream.map(|(_, u)| Ok(u)));
        Ok(Response::new(stream))
    }

    async fn cancel_job(&self, request: Request<api::CancelJobRequest>) -> Result<Response<api::CancelJobResponse>, Status> {
        let job_id = request.into_inner().job_id;
        let response = match self.queue.cancel(&job_id).await.map_err(internal)? {
            Cancellation::Cancelled(progress) => {
                api::CancelJobResponse { job_id, status: status_to_api(progress.status) as i32, message: progress.message.unwrap_or_default() }
            }
            Cancellation::NotActive => {
                let record = self.record(&job_id).await?;
                api::CancelJobResponse {
                    status: status_to_api(record.status) as i32,
                    message: format!("job {job_id} is not queued or running: it is {}", record.status),
                    job_id,
                }
            }
        };
        Ok(Response::new(response))
    }
}
