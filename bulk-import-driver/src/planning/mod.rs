//! Planning: one module per algorithm, chosen by the job's `className`. Every algorithm builds
//! one physical plan whose output is one row per file written.

pub mod local_sort;

use std::sync::Arc;

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::table::Table;
use datafusion::common::Result;
use datafusion::physical_plan::ExecutionPlan;

use crate::validation::InputFile;

/// An import algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Sleeper's default `BulkImportDataframeLocalSortDriver`: one file per leaf.
    LocalSort,
}

/// The names `className` may take for each algorithm: Sleeper's Java class names, and ours.
const ALGORITHM_NAMES: &[(&str, Algorithm)] = &[
    ("sleeper.bulkimport.runner.dataframelocalsort.BulkImportDataframeLocalSortDriver", Algorithm::LocalSort),
    ("local-sort", Algorithm::LocalSort),
];

impl Algorithm {
    /// The algorithm a job's `className` selects; local sort when it names none.
    pub fn select(class_name: Option<&str>) -> Result<Algorithm, String> {
        let Some(name) = class_name else {
            return Ok(Algorithm::LocalSort);
        };
        ALGORITHM_NAMES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).ok_or_else(|| {
            let valid: Vec<&str> = ALGORITHM_NAMES.iter().map(|(n, _)| *n).collect();
            format!("unknown className {name:?}; valid names: {}", valid.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::LocalSort => "local-sort",
        }
    }

    pub fn plan(self, input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
        match self {
            Algorithm::LocalSort => local_sort::plan(input),
        }
    }
}

/// Everything an algorithm plans from.
pub struct PlanInput<'a> {
    pub table: &'a Table,
    pub partitions: Arc<PartitionTree>,
    pub files: &'a [InputFile],
    /// How many tasks read the input.
    pub read_parallelism: usize,
    /// How many tasks sort and write.
    pub shuffle_partitions: usize,
    /// Where the writers record every file they start (see `PartitionFileWriterExec`).
    pub attempt_dir_url: String,
    pub fail_after_files: Option<u32>,
}
