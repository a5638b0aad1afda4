//! `bulk-import table ...`: create, list and inspect tables.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use bulk_import_core::backend::Backend;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::partition_json::{tree_from_json, tree_to_json};
use bulk_import_core::properties::TableProperties;
use bulk_import_core::schema::Schema;
use bulk_import_core::split_points::parse_split_points;
use bulk_import_core::table::Table;

use super::read;
use crate::cli::args::TableCommand;
use crate::cli::output::Output;

async fn existing_table(backend: &Backend, name: &str) -> anyhow::Result<Table> {
    backend.table_by_name(name).await?.with_context(|| format!("table {name:?} does not exist"))
}

pub async fn table(backend: &Backend, command: TableCommand) -> anyhow::Result<ExitCode> {
    let mut out = Output::stdout();
    match command {
        TableCommand::Create { name, schema, split_points, split_points_base64, partitions, properties } => {
            let schema = Schema::from_json(&read(&schema)?).with_context(|| format!("in {}", schema.display()))?;
            let row_keys = schema.row_keys();
            let tree = match (split_points, partitions) {
                (Some(path), _) => {
                    let points = parse_split_points(&read(&path)?, row_keys[0].key_type, split_points_base64)
                        .with_context(|| format!("in {}", path.display()))?;
                    PartitionTree::from_split_points(&row_keys, &points).with_context(|| format!("in {}", path.display()))?
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
            let table = backend.create_table(&name, schema, properties, tree).await?;
            writeln!(out, "created table {name} (id {}) with {leaves} leaf partitions", table.id())?;
        }
        TableCommand::List => {
            for table in backend.table_index.list_tables().await? {
                writeln!(out, "{}\t{}", table.table_name, table.table_id)?;
            }
        }
        TableCommand::Partitions { name, json } => {
            let partitions = backend.state_store(&existing_table(backend, &name).await?).partitions().await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&tree_to_json(&partitions))?)?;
            } else {
                writeln!(out, "{} partitions, {} leaves", partitions.partitions().len(), partitions.leaf_count())?;
                for leaf in partitions.leaves() {
                    writeln!(out, "{}\t{}", leaf.id, describe_region(&leaf.region))?;
                }
            }
        }
        TableCommand::Files { name, json } => {
            let state_store = backend.state_store(&existing_table(backend, &name).await?);
            let (partitions, files) = (state_store.partitions().await?, state_store.files().await?);
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&files)?)?;
            } else {
                let mut by_partition: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
                for file in &files {
                    let entry = by_partition.entry(&file.partition_id).or_default();
                    entry.0 += 1;
                    entry.1 += file.number_of_rows;
                }
                let total: u64 = files.iter().map(|f| f.number_of_rows).sum();
                writeln!(out, "{} files, {total} rows, in {} of {} leaf partitions", files.len(), by_partition.len(), partitions.leaf_count())?;
                writeln!(out, "{:<36} {:>6} {:>12}  range", "partition", "files", "rows")?;
                for leaf in partitions.leaves() {
                    if let Some((files, rows)) = by_partition.get(leaf.id.as_str()) {
                        writeln!(out, "{:<36} {files:>6} {rows:>12}  {}", leaf.id, describe_region(&leaf.region))?;
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
        .map(|r| format!("[{}, {})", r.min, r.max.as_ref().map_or("+inf".to_string(), std::string::ToString::to_string)))
        .collect();
    ranges.join(" x ")
}
