//! The benchmark's copy floor: every input row read and written once, with the table's Parquet
//! settings, and nothing else: no routing, no shuffle, no sort, no commit. One file per reading
//! task, all tasks at once. An import can approach this time but not beat it, so the ratio of
//! the two says how much of an import is the unavoidable decode and encode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bulk_import_core::table::Table;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use parquet::arrow::AsyncArrowWriter;

use crate::intake::inputs::InputFile;
use crate::planning::pipeline;

/// What a copy wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub rows: u64,
    pub files: Vec<PathBuf>,
}

/// Copies `files` into `out` (a local directory), `parallelism` tasks at once.
pub async fn copy(
    table: &Table,
    files: &[InputFile],
    registry: Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry>,
    out: &Path,
    parallelism: usize,
) -> anyhow::Result<Copied> {
    let scan = pipeline::scan(table, files, parallelism)?;
    let runtime = RuntimeEnvBuilder::new().with_object_store_registry(registry).build_arc()?;
    let context = SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(parallelism), runtime);
    let settings = table.definition.properties.parquet_settings()?;
    let schema = table.schema();
    let properties = settings.writer_properties(&scan.schema(), schema.row_key_fields.len(), schema.sort_key_fields.len());
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut tasks = Vec::new();
    for partition in 0..scan.properties().partitioning.partition_count() {
        let mut stream = scan.execute(partition, context.task_ctx())?;
        let path = out.join(format!("part-{partition:05}.parquet"));
        let properties = properties.clone();
        tasks.push(tokio::spawn(async move {
            let file = tokio::fs::File::create(&path).await.with_context(|| format!("cannot create {}", path.display()))?;
            let mut writer = AsyncArrowWriter::try_new(file, stream.schema(), Some(properties))?;
            let mut rows = 0u64;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch).await?;
            }
            writer.close().await?;
            anyhow::Ok((rows, path))
        }));
    }
    let mut copied = Copied { rows: 0, files: Vec::new() };
    for task in tasks {
        let (rows, path) = task.await??;
        copied.rows += rows;
        copied.files.push(path);
    }
    Ok(copied)
}
