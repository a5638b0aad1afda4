//! Planning: one module per algorithm, chosen by the job's `className`. Every algorithm builds
//! one physical plan whose output is one row per file written.

pub mod global_sort;
pub mod input_reader;
pub mod key_sample;
pub mod local_sort;
pub mod pipeline;
pub mod pre_split;

use std::sync::Arc;

use bulk_import_core::partition::PartitionTree;
use bulk_import_core::properties::{INSTANCE_CLASS_NAME, TABLE_CLASS_NAME};
use bulk_import_core::table::Table;
use datafusion::common::Result;
use datafusion::physical_plan::ExecutionPlan;

use crate::intake::inputs::InputFile;
use crate::intake::rejection::RejectionReason;

/// An import algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Sleeper's default `BulkImportDataframeLocalSortDriver`: one file per leaf.
    LocalSort,
    /// Sleeper's `BulkImportJobRDDDriver`, run as local sort: Spark's
    /// `repartitionAndSortWithinPartitions` gives the same files by a slower road. The job's
    /// events record that local sort ran in its place.
    RddAsLocalSort,
    /// Sleeper's `BulkImportJobDataframeDriver`: rows spread over tasks by sampled key ranges,
    /// a file per (range, leaf).
    GlobalSort,
}

/// The names `className` may take for each algorithm: Sleeper's Java class names, and ours.
const ALGORITHM_NAMES: &[(&str, Algorithm)] = &[
    ("sleeper.bulkimport.runner.dataframelocalsort.BulkImportDataframeLocalSortDriver", Algorithm::LocalSort),
    ("local-sort", Algorithm::LocalSort),
    ("sleeper.bulkimport.runner.rdd.BulkImportJobRDDDriver", Algorithm::RddAsLocalSort),
    ("sleeper.bulkimport.runner.dataframe.BulkImportJobDataframeDriver", Algorithm::GlobalSort),
    ("global-sort", Algorithm::GlobalSort),
];

/// Where the name of a job's algorithm comes from, first found wins: the job's `className`, the
/// table property, the instance property (Sleeper's), then local sort.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlgorithmChoice<'a> {
    pub job: Option<&'a str>,
    pub table_default: Option<&'a str>,
    pub instance_default: Option<&'a str>,
}

impl Algorithm {
    /// The algorithm `choice` selects; an unknown name is refused with the valid names.
    pub fn select(choice: AlgorithmChoice<'_>) -> Result<Algorithm, RejectionReason> {
        let named = [(choice.job, "className"), (choice.table_default, TABLE_CLASS_NAME), (choice.instance_default, INSTANCE_CLASS_NAME)];
        let Some((name, source)) = named.into_iter().find_map(|(name, source)| name.map(|n| (n, source))) else {
            return Ok(Algorithm::LocalSort);
        };
        ALGORITHM_NAMES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).ok_or_else(|| {
            let valid: Vec<&str> = ALGORITHM_NAMES.iter().map(|(n, _)| *n).collect();
            RejectionReason::UnknownAlgorithm { property: source, name: name.to_string(), valid: valid.join(", ") }
        })
    }

    /// The name recorded in the job's events for the algorithm that ran.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::LocalSort => "local-sort",
            Algorithm::RddAsLocalSort => "local-sort (in place of sleeper.bulkimport.runner.rdd.BulkImportJobRDDDriver)",
            Algorithm::GlobalSort => "global-sort",
        }
    }

    /// How many tasks sort and write when neither the job nor the caller says.
    ///
    /// Local sort: four per task slot, at most one per leaf. Sleeper's Spark job uses one task per
    /// leaf; here a task writes its leaves one after the other (still one file per leaf), and
    /// fewer, larger tasks avoid paying Ballista's per-task scheduling round trip hundreds of
    /// times (BENCHMARKS.md, "Engine settings").
    ///
    /// Global sort: one range per task slot, whatever the number of leaves.
    pub fn default_write_tasks(self, task_slots: usize, leaves: usize) -> usize {
        match self {
            Algorithm::LocalSort | Algorithm::RddAsLocalSort => (4 * task_slots).min(leaves),
            Algorithm::GlobalSort => task_slots,
        }
        .max(1)
    }

    pub async fn plan(self, input: &PlanInput<'_>) -> Result<Arc<dyn ExecutionPlan>> {
        match self {
            Algorithm::LocalSort | Algorithm::RddAsLocalSort => local_sort::plan(input),
            Algorithm::GlobalSort => global_sort::plan(input).await,
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
    /// How many tasks sort and write (for global sort, also how many key ranges).
    pub shuffle_partitions: usize,
    /// Where the writers record every file they start (see `PartitionFileWriterExec`).
    pub attempt_dir_url: String,
    pub fail_after_files: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "sleeper.bulkimport.runner.dataframelocalsort.BulkImportDataframeLocalSortDriver";
    const RDD: &str = "sleeper.bulkimport.runner.rdd.BulkImportJobRDDDriver";
    const DATAFRAME: &str = "sleeper.bulkimport.runner.dataframe.BulkImportJobDataframeDriver";

    fn select(job: Option<&str>, table: Option<&str>, instance: Option<&str>) -> Result<Algorithm, String> {
        Algorithm::select(AlgorithmChoice { job, table_default: table, instance_default: instance }).map_err(|r| r.to_string())
    }

    #[test]
    fn every_name_selects_its_algorithm() {
        assert_eq!(select(Some(LOCAL), None, None), Ok(Algorithm::LocalSort));
        assert_eq!(select(Some("local-sort"), None, None), Ok(Algorithm::LocalSort));
        assert_eq!(select(Some(RDD), None, None), Ok(Algorithm::RddAsLocalSort));
        assert_eq!(select(Some(DATAFRAME), None, None), Ok(Algorithm::GlobalSort));
        assert_eq!(select(Some("global-sort"), None, None), Ok(Algorithm::GlobalSort));
        assert!(Algorithm::RddAsLocalSort.name().contains(RDD), "the events say what ran in the RDD driver's place");
    }

    #[test]
    fn the_job_wins_then_the_table_then_the_instance_then_local_sort() {
        assert_eq!(select(Some("local-sort"), Some(RDD), Some(RDD)), Ok(Algorithm::LocalSort));
        assert_eq!(select(None, Some(RDD), Some("local-sort")), Ok(Algorithm::RddAsLocalSort));
        assert_eq!(select(None, None, Some(RDD)), Ok(Algorithm::RddAsLocalSort));
        assert_eq!(select(None, Some("global-sort"), Some(RDD)), Ok(Algorithm::GlobalSort));
        assert_eq!(select(None, None, None), Ok(Algorithm::LocalSort));
    }

    #[test]
    fn an_unknown_name_is_refused_with_its_source_and_the_valid_names() {
        let reason = select(None, Some("com.example.Nope"), None).unwrap_err();
        assert!(reason.starts_with("unknown sleeper.table.bulk.import.class.name \"com.example.Nope\""), "{reason}");
        for name in [LOCAL, "local-sort", RDD, DATAFRAME, "global-sort"] {
            assert!(reason.contains(name), "{reason}");
        }
        assert!(select(None, None, Some("nope")).unwrap_err().contains("sleeper.bulk.import.class.name"));
    }
}
