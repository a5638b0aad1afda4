//! The `bulk-import` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::execution::engine::EmbeddedEngine;

#[derive(Debug, Parser)]
#[command(name = "bulk-import", version, about = "Bulk import into Sleeper tables on DataFusion and Ballista")]
pub struct Cli {
    /// Where tables, their data, transaction logs and the job tracker live: a local directory or
    /// an s3:// URL.
    #[arg(long, global = true, env = "BULK_IMPORT_STORE", default_value = "bulk-import-store")]
    pub store: String,

    #[command(flatten)]
    pub s3: bulk_import_core::s3_args::S3Args,

    #[command(flatten)]
    pub log: bulk_import_core::logging::LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list and inspect tables.
    #[command(subcommand)]
    Table(TableCommand),
    /// Run a bulk import job (Sleeper's job JSON) on the embedded engine.
    Run(RunArgs),
    /// Serve the job service: jobs submitted over gRPC run on the embedded engine or on a
    /// Ballista scheduler.
    Serve(ServeArgs),
    /// Submit a job (Sleeper's job JSON) to a running job service.
    Submit(SubmitArgs),
    /// Query the job tracker.
    #[command(subcommand)]
    Job(JobCommand),
    /// Generate Parquet data in the schema of Sleeper's system tests.
    Generate(GenerateArgs),
    /// The benchmark's copy floor: read a job's input and write it once with a table's Parquet
    /// settings, without routing, sorting or committing.
    CopyFloor(CopyFloorArgs),
    /// Run as Sleeper's Spark driver would, with its five arguments: the job Sleeper's starter
    /// accepted and left in the bulk import bucket, into the instance of CONFIG_BUCKET.
    SleeperDriver(SleeperDriverArgs),
}

#[derive(Debug, Args)]
pub struct SleeperDriverArgs {
    pub config_bucket: String,
    pub job_id: String,
    pub task_id: String,
    pub job_run_id: String,
    /// EMR or EKS: how Sleeper launched the driver; recorded in the log only.
    pub mode: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Create a table from a Sleeper schema, with partitions from split points or partitions JSON.
    Create {
        name: String,
        /// Sleeper schema JSON.
        #[arg(long)]
        schema: PathBuf,
        /// Values of the first row key, one per line, strictly increasing: a balanced tree.
        #[arg(long, conflicts_with = "partitions")]
        split_points: Option<PathBuf>,
        /// String split points are base64-encoded.
        #[arg(long, requires = "split_points")]
        split_points_base64: bool,
        /// Partitions in Sleeper's JSON shape.
        #[arg(long)]
        partitions: Option<PathBuf>,
        /// Table properties (key=value lines) overriding the Parquet defaults.
        #[arg(long)]
        properties: Option<PathBuf>,
    },
    /// List the tables.
    List,
    /// Show a table's partitions.
    Partitions {
        name: String,
        /// Print a JSON array of partitions in Sleeper's shape.
        #[arg(long)]
        json: bool,
    },
    /// Show a table's files.
    Files {
        name: String,
        /// Print a JSON array of {filename, partitionId, numberOfRows, jobId}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job: Sleeper's bulk import job JSON.
    pub job: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// How many tasks sort and write (default: local sort four per task slot, at most one per
    /// leaf; global sort one per task slot, each writing one key range).
    #[arg(long)]
    pub shuffle_partitions: Option<usize>,
    /// Fail a run whose progress (files completed, rows written) has not moved for this many
    /// seconds: its engine job is cancelled and its files removed. It must exceed the longest
    /// stretch a run spends before its first file completes (reading and sorting a leaf).
    /// 0 waits for ever.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub stall_timeout: u64,
    /// Print only the outcome.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub security: ClientSecurityArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on.
    #[arg(long, env = "BULK_IMPORT_LISTEN", default_value = "127.0.0.1:50060")]
    pub listen: std::net::SocketAddr,
    /// Address to serve Prometheus metrics (`/metrics`) on, over HTTP.
    #[arg(long, env = "BULK_IMPORT_HTTP_LISTEN", default_value = "127.0.0.1:50061")]
    pub http_listen: std::net::SocketAddr,
    /// A Ballista scheduler (http://host:port) running this project's executors; without it,
    /// jobs run on an engine embedded in the service.
    #[arg(long, env = "BULK_IMPORT_SCHEDULER")]
    pub scheduler: Option<String>,
    /// Jobs running at once, like EMR's step concurrency; the rest wait in order.
    #[arg(long, env = "BULK_IMPORT_CONCURRENT_JOBS", default_value_t = 1)]
    pub concurrent_jobs: usize,
    /// How many times a job cut short by the service stopping runs again after a restart.
    #[arg(long, env = "BULK_IMPORT_RESUBMIT_INTERRUPTED", default_value_t = 1)]
    pub resubmit_interrupted: usize,
    /// A Sleeper bulk import SQS queue (such as the instance's EKS queue) to take jobs from, as
    /// well as gRPC submissions; a message is deleted once its job is recorded.
    #[arg(long, env = "BULK_IMPORT_QUEUE")]
    pub queue: Option<String>,
    /// Test hook: the service exits as if killed after recording a queued job and before
    /// deleting its message.
    #[arg(long, hide = true)]
    pub exit_before_queue_delete: bool,
    /// How many tasks sort and write (default: local sort four per task slot, at most one per
    /// leaf; global sort one per task slot, each writing one key range).
    #[arg(long)]
    pub shuffle_partitions: Option<usize>,
    /// Fail a run whose progress (files completed, rows written) has not moved for this many
    /// seconds: its engine job is cancelled and its files removed. It must exceed the longest
    /// stretch a run spends before its first file completes (reading and sorting a leaf).
    /// 0 waits for ever.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub stall_timeout: u64,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub security: ServeSecurityArgs,
}

/// Who may use the job service, and what their jobs may read.
#[derive(Debug, Args)]
pub struct ServeSecurityArgs {
    /// A source jobs may read: `s3://bucket/prefix/` or a local directory; repeat for more. A
    /// job naming anything else is rejected. Local paths are judged after `..` and symlinks.
    #[arg(long = "allow-source", value_name = "PREFIX", env = "BULK_IMPORT_ALLOW_SOURCES", value_delimiter = ',')]
    pub allow_sources: Vec<String>,
    /// Let jobs read anything the service can: only for a service that trusts every caller.
    #[arg(long, env = "BULK_IMPORT_ALLOW_ANY_SOURCE", conflicts_with = "allow_sources")]
    pub allow_any_source: bool,
    /// The most input files a job may have, after directories are expanded.
    #[arg(long, env = "BULK_IMPORT_MAX_INPUT_FILES", default_value_t = 100_000)]
    pub max_input_files: usize,
    /// The largest job JSON taken, in bytes.
    #[arg(long, env = "BULK_IMPORT_MAX_JOB_JSON_BYTES", default_value_t = 16 << 20)]
    pub max_job_json_bytes: usize,
    /// The most accepted jobs waiting to run; beyond it a submission is refused with
    /// RESOURCE_EXHAUSTED and nothing is recorded.
    #[arg(long, env = "BULK_IMPORT_MAX_QUEUED_JOBS", default_value_t = 1_000)]
    pub max_queued_jobs: usize,
    /// Bearer tokens callers must present: one `NAME TOKEN` a line (`#` starts a comment).
    /// Reread on SIGHUP. The name is recorded with each job its token submits.
    #[arg(long, env = "BULK_IMPORT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The service's TLS certificate chain (PEM); with `--tls-key`, the service speaks TLS only.
    #[arg(long, env = "BULK_IMPORT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `--tls-cert` (PEM).
    #[arg(long, env = "BULK_IMPORT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long, env = "BULK_IMPORT_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

/// How a client reaches a job service that requires TLS or a token.
#[derive(Debug, Args, Default, Clone)]
pub struct ClientSecurityArgs {
    /// The CA (PEM) that signed the service's certificate; the URL then uses https.
    #[arg(long, env = "BULK_IMPORT_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// A file holding the bearer token to present (its first line, or the token of a
    /// `NAME TOKEN` line).
    #[arg(long, env = "BULK_IMPORT_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The bearer token to present. Prefer the environment to the command line, which others
    /// on the machine can read.
    #[arg(long, env = "BULK_IMPORT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job: Sleeper's bulk import job JSON.
    pub job: PathBuf,
    /// The job service (http://host:port).
    #[arg(long, env = "BULK_IMPORT_SERVER")]
    pub server: String,
    /// Follow the job to its end; the exit code is its outcome.
    #[arg(long)]
    pub wait: bool,
    /// Print only the outcome.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub security: ClientSecurityArgs,
}

#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Task slots of the embedded executor (default: the machine's cores); with a remote
    /// scheduler, the task slots of all its executors together.
    #[arg(long, env = "BULK_IMPORT_PARALLELISM")]
    pub parallelism: Option<usize>,
    /// Memory the engine may use before sorts spill, e.g. 4GiB (default: 60% of available memory).
    #[arg(long, env = "BULK_IMPORT_MEMORY_POOL", value_parser = parse_bytes)]
    pub memory_pool: Option<usize>,
    /// Directory sorts spill to (default: the system temporary directory).
    #[arg(long, env = "BULK_IMPORT_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,
    /// A DataFusion or Ballista session setting for every job, e.g.
    /// `datafusion.execution.batch_size=16384` or `ballista.shuffle.compression.codec=none`;
    /// repeat for more.
    #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// How the embedded engine runs plans: in this process on DataFusion, rows exchanged in
    /// memory (the default), or on a Ballista scheduler and executor in this process, rows
    /// exchanged through shuffle files as in a distributed deployment.
    #[arg(long, env = "BULK_IMPORT_EMBEDDED_ENGINE", value_enum, default_value_t)]
    pub embedded_engine: EmbeddedEngine,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not KEY=VALUE"))?;
    if !crate::intake::settings::is_session_key(key) {
        return Err(format!("{key}: settings begin with datafusion. or ballista."));
    }
    Ok((key.trim().to_string(), value.trim().to_string()))
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Show one job's status and events.
    Status {
        id: String,
        #[arg(long)]
        json: bool,
        /// Print Sleeper's ingest job status report instead: detailed, or json.
        #[arg(long, value_enum, conflicts_with = "json")]
        report: Option<crate::cli::report::ReportFormat>,
        /// Ask a running job service (http://host:port) instead of reading the store.
        #[arg(long, env = "BULK_IMPORT_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        security: ClientSecurityArgs,
    },
    /// List jobs.
    List {
        #[arg(long)]
        table: Option<String>,
        /// REJECTED, ACCEPTED, IN_PROGRESS, UNCOMMITTED, FINISHED or FAILED.
        #[arg(long)]
        status: Option<bulk_import_core::tracker::JobStatus>,
        #[arg(long)]
        json: bool,
        /// Print Sleeper's ingest job status report instead: standard, or json.
        #[arg(long, value_enum, conflicts_with = "json")]
        report: Option<crate::cli::report::ReportFormat>,
        /// Ask a running job service (http://host:port) instead of reading the store.
        #[arg(long, env = "BULK_IMPORT_SERVER")]
        server: Option<String>,
        #[command(flatten)]
        security: ClientSecurityArgs,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub rows: u64,
    #[arg(long, default_value_t = 1)]
    pub files: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the K-1 split points that divide the generated keys into K even parts.
    #[arg(long, value_name = "K")]
    pub split_points: Option<usize>,
}

/// Parses a byte size: a number with an optional unit (B, KiB, MiB, GiB, TiB; KB, MB, GB, TB).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size such as 4GiB"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    Ok((number * multiplier) as usize)
}

#[derive(Debug, Args)]
pub struct CopyFloorArgs {
    /// The table whose schema and Parquet settings to use.
    #[arg(long)]
    pub table: String,
    /// A local directory for the copies (one file per task).
    #[arg(long)]
    pub out: PathBuf,
    /// Reading and writing tasks at once (default: one per core).
    #[arg(long)]
    pub parallelism: Option<usize>,
    /// Input files or directories, as in a job's `files`.
    #[arg(required = true)]
    pub inputs: Vec<String>,
}

impl ClientSecurityArgs {
    /// Reads the CA and the token the arguments name.
    pub fn client_security(&self) -> anyhow::Result<crate::service::client::ClientSecurity> {
        use crate::service::client::ClientSecurity;
        use anyhow::Context;
        let tls_ca_pem = match &self.tls_ca {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read the CA {}", path.display()))?),
            None => None,
        };
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.trim().to_string()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the token file {}", path.display()))?;
                Some(ClientSecurity::token_from_file(&text)?)
            }
            (None, None) => None,
        };
        Ok(ClientSecurity { tls_ca_pem, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn parses_engine_settings() {
        assert_eq!(parse_setting("datafusion.execution.batch_size = 16384").unwrap(), ("datafusion.execution.batch_size".into(), "16384".into()));
        assert!(parse_setting("ballista.shuffle.compression.codec").is_err(), "no value");
        assert!(parse_setting("spark.executor.cores=2").is_err(), "not ours to pass on");
    }
}
