//! What a table holds, read through the object store (local or S3): rows per leaf, whether
//! each file is sorted and inside its leaf, which data files exist beside those referenced, and how many times
//! each job committed.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::AsArray;
use bulk_import_core::attempt::AttemptDir;
use bulk_import_core::backend::Backend;
use bulk_import_core::key::KeyRef;
use bulk_import_core::sketch::sketches_path;
use bulk_import_core::store::{Location, ObjectStores, S3Options};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::{is_sorted_by, rows_as_strings};

#[derive(Debug)]
pub struct TableContents {
    /// The rows of each leaf (by its position among the tree's leaves), sorted.
    pub rows_by_leaf: BTreeMap<usize, Vec<String>>,
    /// Files the table references.
    pub referenced: BTreeSet<String>,
    /// Every object under the table's data directory but the sketches.
    pub data_objects: BTreeSet<String>,
    /// The `.sketches` sidecars under the table's data directory.
    pub sketch_objects: BTreeSet<String>,
    /// The row counts of the referenced files of each leaf.
    pub file_rows_by_leaf: BTreeMap<usize, Vec<usize>>,
    /// Referenced files whose rows are not sorted by key then timestamp.
    pub unsorted_files: Vec<String>,
    /// Referenced files holding a key outside their partition's region.
    pub misrouted_files: Vec<String>,
    /// `AddFiles` transactions per job id.
    pub commits_by_job: BTreeMap<String, usize>,
    /// Objects left in attempt directories other than the manifests of committed runs and the
    /// marks of abandoned ones.
    pub attempt_leftovers: Vec<String>,
}

impl TableContents {
    pub fn total_rows(&self) -> usize {
        self.rows_by_leaf.values().map(Vec::len).sum()
    }

    /// Whether the sidecars are exactly one per referenced file.
    pub fn one_sketch_per_file(&self) -> bool {
        self.sketch_objects == self.referenced.iter().map(|f| sketches_path(f)).collect()
    }

    /// Fails unless the table holds `rows` rows, `job_id` committed exactly once, and the data
    /// directory holds exactly the referenced files: nothing stray, nothing missing.
    pub fn assert_committed_once(&self, job_id: &str, rows: u64) {
        assert_eq!(self.total_rows() as u64, rows, "rows in the table");
        assert_eq!(self.commits_by_job.get(job_id), Some(&1), "commits of {job_id}: {:?}", self.commits_by_job);
        let stray: Vec<_> = self.data_objects.difference(&self.referenced).collect();
        let missing: Vec<_> = self.referenced.difference(&self.data_objects).collect();
        assert!(stray.is_empty() && missing.is_empty(), "data objects not the referenced files: stray {stray:?}, missing {missing:?}");
    }

    /// Every row of the table, sorted.
    pub fn all_rows(&self) -> Vec<String> {
        let mut rows: Vec<String> = self.rows_by_leaf.values().flatten().cloned().collect();
        rows.sort();
        rows
    }
}

async fn list(location: &Location) -> Vec<String> {
    let metas: Vec<_> = location.store.list(Some(&location.path)).try_collect().await.unwrap();
    metas.into_iter().map(|m| location.at(m.location).url()).collect()
}

pub async fn table_contents(store: &str, s3: S3Options, table_name: &str) -> TableContents {
    let stores = ObjectStores::with_s3(s3);
    let backend = Backend::open(store, &stores).unwrap();
    let table = backend.table_by_name(table_name).await.unwrap().expect("the table exists");
    let state_store = backend.state_store(&table);
    let (partitions, files) = (state_store.partitions().await.unwrap(), state_store.files().await.unwrap());
    let leaf_index: BTreeMap<String, usize> = partitions.leaves().enumerate().map(|(i, leaf)| (leaf.id.clone(), i)).collect();

    let mut rows_by_leaf: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unsorted_files = Vec::new();
    let mut misrouted_files = Vec::new();
    let mut file_rows_by_leaf: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for file in &files {
        let location = stores.resolve(&file.filename).unwrap();
        let bytes = location.store.get(&location.path).await.unwrap().bytes().await.unwrap();
        let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap().map(|b| b.unwrap()).collect();
        if !is_sorted_by(&batches, &["key", "timestamp"]) {
            unsorted_files.push(file.filename.clone());
        }
        let region = &partitions.get(&file.partition_id).expect("a referenced partition").region;
        let keys = batches.iter().flat_map(|b| b.column_by_name("key").expect("a key column").as_string::<i32>().iter());
        if !keys.into_iter().all(|key| region.contains(&[KeyRef::String(key.expect("keys are never null"))])) {
            misrouted_files.push(file.filename.clone());
        }
        let rows = rows_as_strings(&batches);
        file_rows_by_leaf.entry(leaf_index[&file.partition_id]).or_default().push(rows.len());
        rows_by_leaf.entry(leaf_index[&file.partition_id]).or_default().extend(rows);
    }
    for rows in rows_by_leaf.values_mut() {
        rows.sort();
    }

    let mut commits_by_job: BTreeMap<String, usize> = BTreeMap::new();
    let transactions = table.dir().child("statestore/transactions");
    for url in list(&transactions).await {
        let location = stores.resolve(&url).unwrap();
        let bytes = location.store.get(&location.path).await.unwrap().bytes().await.unwrap();
        let envelope: Value = serde_json::from_slice(&bytes).unwrap();
        if envelope["type"] == "ADD_FILES" {
            let job = envelope["transaction"]["jobId"].as_str().unwrap_or_default().to_string();
            *commits_by_job.entry(job).or_default() += 1;
        }
    }
    let attempt_leftovers = list(&AttemptDir::all_attempts(&table)).await.into_iter().filter(|u| !AttemptDir::is_kept_after_run(u)).collect();
    let data_objects = list(&table.dir().child("data")).await;
    TableContents {
        rows_by_leaf,
        referenced: files.iter().map(|f| f.filename.clone()).collect(),
        data_objects: data_objects.iter().filter(|o| !o.ends_with(".sketches")).cloned().collect(),
        sketch_objects: data_objects.iter().filter(|o| o.ends_with(".sketches")).cloned().collect(),
        file_rows_by_leaf,
        unsorted_files,
        misrouted_files,
        commits_by_job,
        attempt_leftovers,
    }
}
