//! `bulk-import sleeper-driver CONFIG_BUCKET JOB_ID TASK_ID JOB_RUN_ID MODE`: the engine in the
//! place of Sleeper's Spark driver (`BulkImportJobDriver`), so that Sleeper's own starter (its
//! EKS state machine, say) can launch this image instead of Spark.
//!
//! The starter has validated the job, recorded it as accepted under JOB_RUN_ID, and written it to
//! `bulk_import/<JOB_ID>-<JOB_RUN_ID>.json` in the bulk import bucket. The driver reads that
//! object and deletes it (whatever its content, as Sleeper's driver does), then runs the job as
//! that run: `started`, then `finished` or `failed`, with TASK_ID.

use std::process::ExitCode;

use anyhow::Context;
use object_store::ObjectStoreExt;

use super::EXIT_FAILED;
use super::args::SleeperDriverArgs;
use super::output::Output;
use super::run::engine_config;
use crate::backends::TaskId;
use crate::driver::{Driver, EngineChoice, JobOutcome, RunControl, RunOptions};
use crate::intake::Reloaded;
use bulk_import_core::s3_args::S3Args;
use bulk_import_core::tracker::JobEvent;

/// The instance property naming the bucket the starter leaves jobs in.
const BULK_IMPORT_BUCKET: &str = "sleeper.bulk.import.bucket";

pub async fn sleeper_driver(s3: &S3Args, args: SleeperDriverArgs) -> anyhow::Result<ExitCode> {
    let SleeperDriverArgs { config_bucket, job_id, task_id, job_run_id, mode, engine } = args;
    tracing::info!("driving job {job_id} run {job_run_id} as task {task_id} ({mode})");
    let store = format!("sleeper://{config_bucket}");
    let driver = Driver::open_as(&store, s3.options(), EngineChoice::Embedded(engine_config(&engine)), TaskId(task_id)).await?;
    let raw_json = take_job(&driver, &config_bucket, &job_id, &job_run_id).await?;
    let accepted = match driver.validate_accepted(&raw_json, job_run_id.clone()).await? {
        Reloaded::Runnable(accepted) => accepted,
        Reloaded::NoLongerValid(reason) => {
            driver.tracker().record(&job_id, JobEvent::Failed { run_id: Some(job_run_id), reason: reason.clone(), interrupted: false }).await?;
            eprintln!("job {job_id}: FAILED: {reason}");
            return Ok(ExitCode::from(EXIT_FAILED));
        }
    };
    let outcome = driver.execute(&accepted, &RunOptions::default(), &RunControl::new(accepted.rows)).await?;
    Ok(match outcome {
        JobOutcome::Finished { job_id, summary } => {
            writeln!(Output::stdout(), "job {job_id}: {} rows written to {} files", summary.rows_written, summary.files_written)?;
            ExitCode::SUCCESS
        }
        JobOutcome::Failed { job_id, reason, .. } => {
            eprintln!("job {job_id}: FAILED: {reason}");
            ExitCode::from(EXIT_FAILED)
        }
        JobOutcome::Rejected { job_id, .. } => {
            eprintln!("job {job_id}: REJECTED");
            ExitCode::from(EXIT_FAILED)
        }
    })
}

/// Reads the job the starter left for this run, and deletes it.
async fn take_job(driver: &Driver, config_bucket: &str, job_id: &str, job_run_id: &str) -> anyhow::Result<String> {
    let instance = driver.backend().table_properties.instance_properties().await?;
    let bucket = instance
        .raw(BULK_IMPORT_BUCKET)
        .with_context(|| format!("{BULK_IMPORT_BUCKET} is not set in the instance of {config_bucket}: has a bulk import stack been deployed?"))?;
    let location = driver.stores().resolve(&format!("s3://{bucket}/bulk_import/{job_id}-{job_run_id}.json"))?;
    let bytes = location.store.get(&location.path).await.with_context(|| format!("cannot read the job from {}", location.url()))?.bytes().await?;
    location.store.delete(&location.path).await.with_context(|| format!("cannot delete {}", location.url()))?;
    String::from_utf8(bytes.to_vec()).with_context(|| format!("{} is not UTF-8", location.url()))
}
