//! `bulk-import copy-floor`: the benchmark's lower bound (see [`crate::tools::copy_floor`]).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bulk_import_core::store::ObjectStores;

use crate::backends::{TaskId, open_backend};
use crate::cli::args::CopyFloorArgs;
use crate::cli::output::Output;
use crate::intake::IntakePolicy;
use crate::intake::inputs::validate_inputs;
use crate::tools::copy_floor::copy;

pub async fn copy_floor(stores: Arc<ObjectStores>, store: &str, args: CopyFloorArgs) -> anyhow::Result<ExitCode> {
    let backend = open_backend(store, &stores, TaskId::default()).await?;
    let table = backend.table_by_name(&args.table).await?.with_context(|| format!("no table named {:?}", args.table))?;
    let files = validate_inputs(&stores, &backend.root, &args.inputs, table.schema(), &IntakePolicy::default())
        .await
        .map_err(|reasons| anyhow::anyhow!("the input cannot be read:\n  {}", crate::intake::rejection::sentences(&reasons).join("\n  ")))?;
    let parallelism = args.parallelism.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get)).max(1);
    let started = Instant::now();
    let copied = copy(&table, &files, stores, &args.out, parallelism).await?;
    writeln!(
        Output::stdout(),
        "copied {} rows into {} files under {} in {:.2} s",
        copied.rows,
        copied.files.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}
