//! The `bulk-import` command line: its arguments (`args`) and what each command does.

pub mod args;
mod copy_floor;
mod jobs;
pub mod output;
mod progress_line;
pub mod report;
mod run;
mod sleeper_driver;
mod table;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bulk_import_core::split_points::format_split_points;
use bulk_import_core::store::ObjectStores;

use crate::backends::{TaskId, open_backend};
use crate::cli::args::{Cli, Command, GenerateArgs};
use crate::cli::output::Output;
use crate::tools::generate::{GenerateOptions, generate};

/// Exit codes of `bulk-import run` and `bulk-import submit --wait`.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REJECTED: u8 = 3;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let stores = Arc::new(ObjectStores::with_s3(cli.s3.options()));
    let backend = || open_backend(&cli.store, &stores, TaskId::default());
    match cli.command {
        Command::Table(command) => table::table(&backend().await?, command).await,
        Command::Run(args) => run::run(&cli.store, &cli.s3, args).await,
        Command::Serve(args) => run::serve(&cli.store, &cli.s3, args).await,
        Command::Submit(args) => run::submit(args).await,
        Command::Job(command) => jobs::job(backend, command).await,
        Command::Generate(args) => generate_data(&args),
        Command::CopyFloor(args) => copy_floor::copy_floor(stores, &cli.store, args).await,
        Command::SleeperDriver(args) => sleeper_driver::sleeper_driver(&cli.s3, args).await,
    }
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn generate_data(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let options = GenerateOptions { rows: args.rows, files: args.files, out: args.out.clone(), seed: args.seed, split_points_for: args.split_points };
    let started = std::time::Instant::now();
    let points = generate(&options)?;
    eprintln!("generated {} rows in {} files under {} in {:.1} s", args.rows, args.files, args.out.display(), started.elapsed().as_secs_f64());
    write!(Output::stdout(), "{}", format_split_points(&points))?;
    Ok(ExitCode::SUCCESS)
}
