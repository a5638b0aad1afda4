//! `bulk-import job ...`: jobs from the tracker in the store, or from a running job service.

use std::process::ExitCode;

use anyhow::{Context, bail};
use bulk_import_core::backend::Backend;
use bulk_import_core::tracker::{JobEventRecord, JobRecord};
use bulk_import_proto::service as api;

use crate::cli::args::{ClientSecurityArgs, JobCommand};
use crate::cli::output::Output;
use crate::cli::report::{ReportFormat, detailed_report, jobs_for_report, json_report, standard_report};
use crate::service::client;
use crate::service::grpc::{status_from_api, status_to_api};

fn print_job(out: &mut Output, job: &JobRecord) -> anyhow::Result<()> {
    writeln!(out, "job {}: {} (table {})", job.job_id, job.status, job.table_name.as_deref().unwrap_or("-"))?;
    for event in &job.events {
        writeln!(out, "  {}  {}", event.time.format("%Y-%m-%d %H:%M:%S%.3f"), event.event.describe())?;
    }
    for rejected in &job.rejected_submissions {
        writeln!(out, "  {}  later submission {}", rejected.time.format("%Y-%m-%d %H:%M:%S%.3f"), rejected.event.describe())?;
    }
    Ok(())
}

/// A job as the service reports it, in the tracker's terms: its events carry the records.
fn record_from_api(job: api::Job) -> anyhow::Result<JobRecord> {
    let events = job
        .events
        .iter()
        .map(|e| serde_json::from_str::<JobEventRecord>(&e.json))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the service sent an event of job {} that this client does not understand", job.job_id))?;
    let status = status_from_api(job.status()).with_context(|| format!("job {} has no status", job.job_id))?;
    let table_name = Some(job.table_name).filter(|t| !t.is_empty());
    Ok(JobRecord { job_id: job.job_id, status, table_name, events, rejected_submissions: vec![] })
}

async fn remote_jobs(server: &str, security: &ClientSecurityArgs, command: &JobCommand) -> anyhow::Result<Vec<JobRecord>> {
    let mut client = client::connect_with(server, &security.client_security()?).await?;
    let jobs = match command {
        JobCommand::Status { id, .. } => vec![client.get_job(api::GetJobRequest { job_id: id.clone() }).await?.into_inner()],
        JobCommand::List { table, status, .. } => {
            let request = api::ListJobsRequest {
                table_name: table.clone().unwrap_or_default(),
                status: status.map_or(api::JobStatus::Unspecified, status_to_api) as i32,
            };
            client.list_jobs(request).await?.into_inner().jobs
        }
    };
    jobs.into_iter().map(record_from_api).collect()
}

pub async fn job<F>(backend: impl FnOnce() -> F, command: JobCommand) -> anyhow::Result<ExitCode>
where
    F: Future<Output = bulk_import_core::Result<Backend>>,
{
    let (server, security) = match &command {
        JobCommand::Status { server, security, .. } | JobCommand::List { server, security, .. } => (server.clone(), security.clone()),
    };
    let jobs = if let Some(server) = &server {
        remote_jobs(server, &security, &command).await?
    } else {
        let tracker = backend().await?.job_tracker;
        match &command {
            JobCommand::Status { id, .. } => match tracker.job(id).await? {
                Some(job) => vec![job],
                None => bail!("no job has id {id:?}"),
            },
            JobCommand::List { table, status, .. } => tracker.list(table.as_deref(), *status).await?,
        }
    };
    let mut out = Output::stdout();
    match command {
        JobCommand::Status { report: Some(format), .. } | JobCommand::List { report: Some(format), .. } => {
            let for_report = jobs_for_report(&jobs);
            let text = match (format, matches!(command, JobCommand::Status { .. })) {
                (ReportFormat::Json, _) => json_report(&for_report, &[]),
                (ReportFormat::Detailed, _) | (ReportFormat::Standard, true) => detailed_report(&for_report),
                (ReportFormat::Standard, false) => standard_report(&for_report, &[]),
            };
            write!(out, "{text}")?;
            if format == ReportFormat::Json {
                writeln!(out)?;
            }
        }
        JobCommand::Status { json, .. } => {
            let job = &jobs[0];
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(job)?)?;
            } else {
                print_job(&mut out, job)?;
            }
        }
        JobCommand::List { json, .. } => {
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?;
            } else {
                writeln!(out, "{:<40} {:<12} {:<20} last event", "job", "status", "table")?;
                for job in jobs {
                    let last = job.events.last().map(|e| e.time.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                    writeln!(out, "{:<40} {:<12} {:<20} {last}", job.job_id, job.status.to_string(), job.table_name.as_deref().unwrap_or("-"))?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
