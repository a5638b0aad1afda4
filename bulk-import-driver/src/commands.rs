//! What each `bulk-import` command does.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::partition_json::{tree_from_json, tree_to_json};
use bulk_import_core::properties::TableProperties;
use bulk_import_core::schema::Schema;
use bulk_import_core::split_points::{format_split_points, parse_split_points};
use bulk_import_core::store::ObjectStores;
use bulk_import_core::table::{Table, Tables};
use bulk_import_core::tracker::{JobEvent, JobRecord, JobTracker};
use serde_json::json;

use crate::cli::{Cli, Command, EngineArgs, GenerateArgs, JobCommand, RunArgs, TableCommand};
use crate::engine::EngineConfig;
use crate::generate::{GenerateOptions, generate};
use crate::runner::{Driver, JobOutcome, RunOptions};

/// Exit codes of `bulk-import run`.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REJECTED: u8 = 3;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Table(command) => table(&cli.store, command).await,
        Command::Run(args) => run(&cli.store, args).await,
        Command::Job(command) => job(&cli.store, command).await,
        Command::Generate(args) => generate_data(args),
    }
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn catalog(store: &str) -> anyhow::Result<(Tables, JobTracker)> {
    let root = ObjectStores::new().resolve(store)?;
    Ok((Tables::new(root.clone()), JobTracker::new(&root)))
}

async fn existing_table(tables: &Tables, name: &str) -> anyhow::Result<Table> {
    tables.get(name).await?.with_context(|| format!("table {name:?} does not exist"))
}

async fn table(store: &str, command: TableCommand) -> anyhow::Result<ExitCode> {
    let (tables, _) = catalog(store)?;
    match command {
        TableCommand::Create { name, schema, split_points, split_points_base64, partitions, properties } => {
            let schema = Schema::from_json(&read(&schema)?).with_context(|| format!("in {}", schema.display()))?;
            let row_keys = schema.row_keys();
            let tree = match (split_points, partitions) {
                (Some(path), _) => {
                    let points = parse_split_points(&read(&path)?, row_keys[0].key_type, split_points_base64)
                        .with_context(|| format!("in {}", path.display()))?;
                    PartitionTree::from_split_points(&row_keys, points).with_context(|| format!("in {}", path.display()))?
                }
                (None, Some(path)) => {
                    let value: serde_json::Value = serde_json::from_str(&read(&path)?).with_context(|| format!("{} is not JSON", path.display()))?;
                    tree_from_json(&row_keys, &value).with_context(|| format!("in {}", path.display()))?
                }
                (None, None) => PartitionTree::single_leaf(&row_keys),
            };
            let properties = match properties {
                Some(path) => TableProperties::parse(&read(&path)?).with_context(|| format!("in {}", path.display()))?,
                None => TableProperties::default(),
            };
            let leaves = tree.leaf_count();
            let table = tables.create(&name, schema, properties, tree).await?;
            println!("created table {name} (id {}) with {leaves} leaf partitions", table.id());
        }
        TableCommand::List => {
            for name in tables.list().await? {
                if let Some(table) = tables.get(&name).await? {
                    println!("{name}\t{}", table.id());
                }
            }
        }
        TableCommand::Partitions { name, json } => {
            let state = existing_table(&tables, &name).await?.state_store().state().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tree_to_json(&state.partitions))?);
            } else {
                println!("{} partitions, {} leaves", state.partitions.partitions().len(), state.partitions.leaf_count());
                for leaf in state.partitions.leaves() {
                    println!("{}\t{}", leaf.id, describe_region(&leaf.region));
                }
            }
        }
        TableCommand::Files { name, json } => {
            let state = existing_table(&tables, &name).await?.state_store().state().await?;
            if json {
                let files: Vec<_> = state
                    .files
                    .iter()
                    .map(|f| json!({"filename": f.filename, "partitionId": f.partition_id, "numberOfRows": f.number_of_rows, "jobId": f.job_id}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&files)?);
            } else {
                let mut by_partition: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
                for file in &state.files {
                    let entry = by_partition.entry(&file.partition_id).or_default();
                    entry.0 += 1;
                    entry.1 += file.number_of_rows;
                }
                let total: u64 = state.files.iter().map(|f| f.number_of_rows).sum();
                println!("{} files, {total} rows, in {} of {} leaf partitions", state.files.len(), by_partition.len(), state.partitions.leaf_count());
                println!("{:<36} {:>6} {:>12}  range", "partition", "files", "rows");
                for leaf in state.partitions.leaves() {
                    if let Some((files, rows)) = by_partition.get(leaf.id.as_str()) {
                        println!("{:<36} {files:>6} {rows:>12}  {}", leaf.id, describe_region(&leaf.region));
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A region as `[min, max)` per row key.
fn describe_region(region: &bulk_import_core::partition::Region) -> String {
    let ranges: Vec<String> = region
        .ranges
        .iter()
        .map(|r| format!("[{}, {})", r.min, r.max.as_ref().map_or("+inf".to_string(), |m| m.to_string())))
        .collect();
    ranges.join(" x ")
}

fn engine_config(args: &EngineArgs) -> EngineConfig {
    let mut config = EngineConfig::default();
    if let Some(parallelism) = args.parallelism {
        config.parallelism = parallelism.max(1);
    }
    if let Some(bytes) = args.memory_pool {
        config.memory_pool_bytes = bytes;
    }
    if let Some(dir) = &args.spill_dir {
        config.spill_dir = dir.clone();
    }
    config
}

async fn run(store: &str, args: RunArgs) -> anyhow::Result<ExitCode> {
    let raw = read(&args.job)?;
    let driver = Driver::open_embedded(store, engine_config(&args.engine)).await?;
    let options = RunOptions { shuffle_partitions: args.shuffle_partitions, show_progress: !args.quiet, fail_after_files: None };
    let outcome = driver.run(&raw, &options).await?;
    Ok(match outcome {
        JobOutcome::Finished { job_id, summary } => {
            let seconds = summary.duration.as_secs_f64();
            println!(
                "job {job_id}: FINISHED: {} rows read, {} rows written to {} files in table {} (transaction {}), {seconds:.2} s, {:.0} rows/s",
                summary.rows_read,
                summary.rows_written,
                summary.files_written,
                summary.table_name,
                summary.transaction_number,
                summary.rows_written as f64 / seconds.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        JobOutcome::Failed { job_id, reason } => {
            eprintln!("job {job_id}: FAILED: {reason}");
            ExitCode::from(EXIT_FAILED)
        }
        JobOutcome::Rejected { job_id, reasons } => {
            eprintln!("job {job_id}: REJECTED:");
            for reason in reasons {
                eprintln!("  - {reason}");
            }
            ExitCode::from(EXIT_REJECTED)
        }
    })
}

fn describe(event: &JobEvent) -> String {
    match event {
        JobEvent::Accepted { table_name, input_files, input_rows, class_name, .. } => {
            format!("ACCEPTED into {table_name}: {input_files} files, {input_rows} rows, {class_name}")
        }
        JobEvent::Rejected { reasons, .. } => format!("REJECTED: {}", reasons.join("; ")),
        JobEvent::Started { algorithm, run_id } => format!("STARTED run {run_id} ({algorithm})"),
        JobEvent::FilesWritten { files_written, rows_written, .. } => format!("FILES WRITTEN: {files_written} files, {rows_written} rows"),
        JobEvent::Finished { rows_read, rows_written, files_written, duration_seconds, rows_per_second, .. } => format!(
            "FINISHED: {rows_read} rows read, {rows_written} written, {files_written} files, {duration_seconds:.2} s, {rows_per_second:.0} rows/s"
        ),
        JobEvent::Failed { reason, .. } => format!("FAILED: {reason}"),
    }
}

fn print_job(job: &JobRecord) {
    println!("job {}: {} (table {})", job.job_id, job.status, job.table_name.as_deref().unwrap_or("-"));
    for event in &job.events {
        println!("  {}  {}", event.time.format("%Y-%m-%d %H:%M:%S%.3f"), describe(&event.event));
    }
    for rejected in &job.rejected_submissions {
        println!("  {}  later submission {}", rejected.time.format("%Y-%m-%d %H:%M:%S%.3f"), describe(&rejected.event));
    }
}

async fn job(store: &str, command: JobCommand) -> anyhow::Result<ExitCode> {
    let (_, tracker) = catalog(store)?;
    match command {
        JobCommand::Status { id, json } => {
            let Some(job) = tracker.job(&id).await? else { bail!("no job has id {id:?}") };
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                print_job(&job);
            }
        }
        JobCommand::List { table, status, json } => {
            let jobs = tracker.list(table.as_deref(), status).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else {
                println!("{:<40} {:<12} {:<20} last event", "job", "status", "table");
                for job in jobs {
                    let last = job.events.last().map(|e| e.time.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                    println!("{:<40} {:<12} {:<20} {last}", job.job_id, job.status.to_string(), job.table_name.as_deref().unwrap_or("-"));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn generate_data(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let options = GenerateOptions { rows: args.rows, files: args.files, out: args.out.clone(), seed: args.seed, split_points_for: args.split_points };
    let started = std::time::Instant::now();
    let points = generate(&options)?;
    eprintln!("generated {} rows in {} files under {} in {:.1} s", args.rows, args.files, args.out.display(), started.elapsed().as_secs_f64());
    print!("{}", format_split_points(&points));
    Ok(ExitCode::SUCCESS)
}
