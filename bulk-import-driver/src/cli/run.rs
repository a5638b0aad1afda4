//! `bulk-import run`, `serve` and `submit`: running jobs here, serving them, and sending them
//! to a service.

use std::process::ExitCode;
use std::time::Instant;

use bulk_import_core::s3_args::S3Args;
use bulk_import_core::tracker::JobStatus;
use bulk_import_proto::service as api;
use tokio::sync::watch;
use tokio_stream::StreamExt;

use super::progress_line::ProgressLine;
use super::{EXIT_FAILED, EXIT_REJECTED, read};
use crate::cli::args::{EngineArgs, RunArgs, ServeArgs, ServeSecurityArgs, SubmitArgs};
use crate::cli::output::{self, Output};
use crate::driver::{Driver, EngineChoice, JobOutcome, RunControl, RunOptions};
use crate::execution::engine::EngineConfig;
use crate::execution::progress::Progress;
use crate::intake::{AllowedSources, IntakePolicy, SourcePrefix};
use crate::service::client;
use crate::service::grpc::status_from_api;
use crate::service::recovery::RestartPolicy;
use crate::service::{ServiceConfig, SubmissionLimits, TlsFiles, serve as serve_jobs};
use bulk_import_core::backend::CommitOutcome;

pub(super) fn engine_config(args: &EngineArgs) -> EngineConfig {
    let mut config = EngineConfig::default();
    if let Some(parallelism) = args.parallelism {
        config.parallelism = parallelism.max(1);
    }
    if let Some(bytes) = args.memory_pool {
        config.memory_pool_bytes = bytes;
    }
    if let Some(dir) = &args.spill_dir {
        config.spill_dir.clone_from(dir);
    }
    config.settings.clone_from(&args.settings);
    config.embedded = args.embedded_engine;
    config
}

/// Shows progress every time it changes, until the sender goes away.
async fn show_progress(mut progress: watch::Receiver<Progress>) {
    let mut line = ProgressLine::new();
    while progress.changed().await.is_ok() {
        line.update(&progress.borrow_and_update());
    }
    line.finish();
}

pub async fn run(store: &str, s3: &S3Args, args: RunArgs) -> anyhow::Result<ExitCode> {
    let raw = read(&args.job)?;
    let driver = Driver::open(store, s3.options(), EngineChoice::Embedded(engine_config(&args.engine))).await?;
    let options =
        RunOptions { shuffle_partitions: args.shuffle_partitions, stall_timeout: stall_timeout(args.stall_timeout), fail_after_files: None };
    let control = RunControl::new(0);
    let printer = (!args.quiet).then(|| tokio::spawn(show_progress(control.progress.subscribe())));
    let outcome = driver.run_with(&raw, &options, &control).await?;
    drop(control);
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    Ok(match outcome {
        JobOutcome::Finished { job_id, summary } => {
            let seconds = summary.duration.as_secs_f64();
            let (status, commit) = match summary.commit {
                CommitOutcome::Applied { transaction_number } => ("FINISHED", format!("transaction {transaction_number}")),
                CommitOutcome::Landed => ("FINISHED", "committed; the store's answer was lost on the way".to_string()),
                CommitOutcome::Requested => ("UNCOMMITTED", "sent to the state store committer".to_string()),
            };
            writeln!(
                Output::stdout(),
                "job {job_id}: {status}: {} rows read, {} rows written to {} files in table {} ({commit}), {seconds:.2} s, {:.0} rows/s",
                summary.rows_read,
                summary.rows_written,
                summary.files_written,
                summary.table_name,
                summary.rows_written as f64 / seconds.max(1e-9)
            )?;
            ExitCode::SUCCESS
        }
        JobOutcome::Failed { job_id, reason, .. } => {
            eprintln!("job {job_id}: FAILED: {reason}");
            ExitCode::from(EXIT_FAILED)
        }
        JobOutcome::Rejected { job_id, reasons } => print_rejected(&job_id, &reasons),
    })
}

fn print_rejected(job_id: &str, reasons: &[impl std::fmt::Display]) -> ExitCode {
    eprintln!("job {job_id}: REJECTED:");
    for reason in reasons {
        eprintln!("  - {reason}");
    }
    ExitCode::from(EXIT_REJECTED)
}

pub async fn serve(store: &str, s3: &S3Args, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let engine = match args.scheduler {
        Some(scheduler_url) => {
            let parallelism = args.engine.parallelism.unwrap_or_else(crate::execution::engine::available_cores).max(1);
            EngineChoice::Remote { scheduler_url, parallelism, settings: args.engine.settings.clone() }
        }
        None => EngineChoice::Embedded(engine_config(&args.engine)),
    };
    let security = &args.security;
    let policy = intake_policy(security)?;
    let driver = Driver::open(store, s3.options(), engine).await?.with_policy(policy)?;
    let config = ServiceConfig {
        listen: args.listen,
        http_listen: args.http_listen,
        concurrent_jobs: args.concurrent_jobs,
        restart_policy: RestartPolicy { max_resubmissions: args.resubmit_interrupted },
        run_options: RunOptions {
            shuffle_partitions: args.shuffle_partitions,
            stall_timeout: stall_timeout(args.stall_timeout),
            fail_after_files: None,
        },
        bulk_import_queue: args.queue.clone(),
        exit_before_queue_delete: args.exit_before_queue_delete,
        limits: SubmissionLimits { max_job_json_bytes: security.max_job_json_bytes, max_queued_jobs: security.max_queued_jobs },
        token_file: security.token_file.clone(),
        tls: security.tls_cert.clone().zip(security.tls_key.clone()).map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: security.tls_client_ca.clone(),
        }),
    };
    // Boxed: the service's future is large, and would otherwise sit on this stack.
    Box::pin(serve_jobs(driver, config, shutdown_signal())).await?;
    Ok(ExitCode::SUCCESS)
}

/// What the service's jobs may read. A service reads with its own rights for whoever calls it,
/// so it must be told where input may come from, or explicitly that it may come from anywhere.
fn intake_policy(security: &ServeSecurityArgs) -> anyhow::Result<IntakePolicy> {
    let allowed_sources = if security.allow_any_source {
        AllowedSources::Any
    } else if security.allow_sources.is_empty() {
        anyhow::bail!(
            "serve needs to know what jobs may read: give --allow-source PREFIX (s3://bucket/prefix/ or a local directory) for each source, \
             or --allow-any-source for a service that trusts every caller"
        );
    } else {
        let prefixes = security.allow_sources.iter().map(|s| SourcePrefix::parse(s).map_err(|e| anyhow::anyhow!("--allow-source {e}")));
        AllowedSources::Only(prefixes.collect::<anyhow::Result<_>>()?)
    };
    Ok(IntakePolicy { allowed_sources, max_input_files: Some(security.max_input_files) })
}

/// Ctrl-C or SIGTERM. Jobs still running are taken up by the next start of the service.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let raw = read(&args.job)?;
    let mut client = client::connect_with(&args.server, &args.security.client_security()?).await?;
    let request = api::SubmitJobRequest { job: Some(api::submit_job_request::Job::Json(raw)) };
    let response = client.submit_job(request).await?.into_inner();
    if response.status() == api::JobStatus::Rejected {
        return Ok(print_rejected(&response.job_id, &response.reasons));
    }
    output::unless_closed(writeln!(Output::stdout(), "job {}: ACCEPTED", response.job_id))?;
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let mut line = (!args.quiet).then(ProgressLine::new);
    let mut updates = client.watch_job(api::WatchJobRequest { job_id: response.job_id.clone() }).await?.into_inner();
    let mut last = None;
    while let Some(update) = updates.next().await {
        let update = update?;
        if let Some(line) = line.as_mut() {
            let progress = Progress {
                status: status_from_api(update.status()).unwrap_or(JobStatus::Accepted),
                tasks_done: update.tasks_done,
                tasks_total: update.tasks_total,
                rows_written: update.rows_written,
                rows_total: update.rows_total,
                message: None,
            };
            line.update(&progress);
        }
        last = Some(update);
    }
    if let Some(line) = line {
        line.finish();
    }
    let Some(last) = last else { anyhow::bail!("the service ended the watch of job {} without a status", response.job_id) };
    Ok(match last.status() {
        api::JobStatus::Finished => {
            writeln!(
                Output::stdout(),
                "job {}: FINISHED: {} rows written in {:.2} s",
                last.job_id,
                last.rows_written,
                started.elapsed().as_secs_f64()
            )?;
            ExitCode::SUCCESS
        }
        api::JobStatus::Failed => {
            eprintln!("job {}: FAILED: {}", last.job_id, last.message);
            ExitCode::from(EXIT_FAILED)
        }
        other => {
            eprintln!("job {}: the watch ended while the job was {}", last.job_id, other.as_str_name());
            ExitCode::from(EXIT_FAILED)
        }
    })
}

/// `--stall-timeout`: seconds, 0 for none.
fn stall_timeout(seconds: u64) -> Option<std::time::Duration> {
    (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
}
