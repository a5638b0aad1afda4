//! The table pages: `/tables`, the store's tables; `/tables/{name}`, a table's leaves in key
//! order with the files and rows each holds, as a chart and a table.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::chart::{self, Bar};
use super::jobs::urlencode;
use super::layout::page;
use super::session::Viewer;
use super::{PageError, WebState, leaf_label};
use crate::cli::report::count;

/// Leaves listed on one page of a table's listing (the chart shows them all).
const LEAVES_PER_PAGE: usize = 500;

pub async fn list(viewer: Viewer, State(state): State<Arc<WebState>>) -> Result<Markup, PageError> {
    let tables = state.driver.backend().table_index.list_tables().await?;
    let body = html! {
        h1 { "Tables" }
        table #tables {
            thead { tr { th { "Name" } th { "Id" } th { "Jobs" } } }
            tbody {
                @for table in &tables {
                    tr {
                        td { a href={ "/tables/" (urlencode(&table.table_name)) } { (table.table_name) } }
                        td { code { (table.table_id) } }
                        td { a href={ "/jobs?table=" (urlencode(&table.table_name)) } { "jobs" } }
                    }
                }
            }
        }
    };
    Ok(page("Tables", viewer.name(), &body))
}

#[derive(Deserialize)]
pub struct LeafPage {
    page: Option<usize>,
}

/// Files and rows a leaf holds.
#[derive(Default, Clone, Copy)]
struct Holding {
    files: u64,
    rows: u64,
}

pub async fn table(
    viewer: Viewer,
    State(state): State<Arc<WebState>>,
    Path(name): Path<String>,
    Query(at): Query<LeafPage>,
) -> Result<Markup, PageError> {
    let backend = state.driver.backend();
    let table = backend.table_by_name(&name).await?.ok_or_else(|| PageError::NotFound(format!("no table is named {name:?}")))?;
    let state_store = backend.state_store(&table);
    let partitions = state_store.partitions().await?;
    let files = state_store.files().await?;
    let mut held: HashMap<&str, Holding> = HashMap::new();
    for file in &files {
        let holding = held.entry(file.partition_id.as_str()).or_default();
        holding.files += 1;
        holding.rows += file.number_of_rows;
    }
    let leaves = partitions.leaves_depth_first();
    let on_leaves: Vec<Holding> = leaves.iter().map(|l| held.get(l.id.as_str()).copied().unwrap_or_default()).collect();
    let (above_files, above_rows) = partitions
        .partitions()
        .iter()
        .filter(|p| !p.is_leaf)
        .filter_map(|p| held.get(p.id.as_str()))
        .fold((0, 0), |(f, r), h| (f + h.files, r + h.rows));
    let bars: Vec<Bar> = leaves.iter().zip(&on_leaves).map(|(leaf, h)| Bar { label: leaf_label(leaf), value: h.rows }).collect();
    let total_rows: u64 = files.iter().map(|f| f.number_of_rows).sum();
    let pages = leaves.len().div_ceil(LEAVES_PER_PAGE).max(1);
    let current = at.page.unwrap_or(1).clamp(1, pages);
    let first = (current - 1) * LEAVES_PER_PAGE;
    let path = format!("/tables/{}", urlencode(&name));
    let body = html! {
        h1 { "Table " (name) }
        dl.facts {
            dt { "Id" } dd { code { (table.id()) } }
            dt { "Leaves" } dd #leaf-count { (count(leaves.len() as u64)) }
            dt { "Files" } dd #file-count { (count(files.len() as u64)) }
            dt { "Rows" } dd #row-count { (count(total_rows)) }
            @if above_files > 0 {
                dt { "On non-leaf partitions" } dd { (count(above_files)) " files, " (count(above_rows)) " rows" }
            }
            dt { "Jobs" } dd { a href={ "/jobs?table=" (urlencode(&name)) } { "this table's jobs" } }
        }
        h2 { "Rows per leaf" }
        (chart::bars("rows-per-leaf", &bars, "rows held"))
        h2 { "Leaves" }
        @if pages > 1 { (pager(&path, current, pages)) }
        table #leaves {
            thead { tr { th { "Leaf" } th { "Range" } th.n { "Files" } th.n { "Rows" } } }
            tbody {
                @for (leaf, holding) in leaves.iter().zip(&on_leaves).skip(first).take(LEAVES_PER_PAGE) {
                    tr { td { code { (leaf.id) } } td { (leaf_label(leaf)) } td.n { (count(holding.files)) } td.n { (count(holding.rows)) } }
                }
            }
        }
    };
    Ok(page(&format!("Table {name}"), viewer.name(), &body))
}

fn pager(path: &str, current: usize, pages: usize) -> Markup {
    html! {
        div.pager {
            @if current > 1 { a href={ (path) "?page=" (current - 1) } { "← previous" } }
            span { "page " (current) " of " (pages) }
            @if current < pages { a href={ (path) "?page=" (current + 1) } { "next →" } }
        }
    }
}
