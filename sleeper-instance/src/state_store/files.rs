//! A table's files as Sleeper's transactions build them (`StateStoreFiles`): files by name, each
//! with its references by partition. A file with no reference waits for the garbage collector;
//! it is still a file of the table, so no new file may take its name.

use std::collections::BTreeMap;

use bulk_import_core::transaction::TableFile;
use bulk_import_core::transaction_json::{FileReference, TransactionJson};

#[derive(Debug, Clone, Default, PartialEq)]
struct File {
    references: BTreeMap<String, FileReference>,
    /// The bulk import job whose `ADD_FILES` added the file, where the transaction says.
    added_by: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilesState {
    files: BTreeMap<String, File>,
}

impl FilesState {
    pub fn insert(&mut self, filename: String, references: Vec<FileReference>, added_by: Option<String>) {
        let references = references.into_iter().map(|r| (r.partition_id.clone(), r)).collect();
        self.files.insert(filename, File { references, added_by });
    }

    pub fn contains(&self, filename: &str) -> bool {
        self.files.contains_key(filename)
    }

    /// Applies a transaction of the files log as Sleeper does: a transaction or request that
    /// does not fit the state is skipped, never half applied.
    pub fn apply(&mut self, transaction: &TransactionJson) {
        match transaction {
            TransactionJson::AddFiles(add) => {
                if add.files.iter().any(|f| self.contains(&f.filename)) {
                    return;
                }
                for file in &add.files {
                    self.insert(file.filename.clone(), file.references.clone(), add.job_id.clone());
                }
            }
            TransactionJson::AssignJobIds { requests } => {
                for request in requests {
                    for filename in &request.filenames {
                        if let Some(reference) = self.files.get_mut(filename).and_then(|f| f.references.get_mut(&request.partition_id)) {
                            reference.job_id = Some(request.job_id.clone());
                        }
                    }
                }
            }
            TransactionJson::ClearFiles {} => self.files.clear(),
            TransactionJson::DeleteFiles { filenames } => {
                for filename in filenames {
                    self.files.remove(filename);
                }
            }
            TransactionJson::ReplaceFileReferences { jobs } => {
                for job in jobs {
                    let partition = &job.new_reference.reference.partition_id;
                    let inputs_assigned = job.input_files.iter().all(|name| {
                        self.files
                            .get(name)
                            .and_then(|f| f.references.get(partition))
                            .is_some_and(|r| r.job_id.as_deref() == Some(job.job_id.as_str()))
                    });
                    if !inputs_assigned || self.contains(&job.new_reference.filename) {
                        continue;
                    }
                    for name in &job.input_files {
                        if let Some(file) = self.files.get_mut(name) {
                            file.references.remove(partition);
                        }
                    }
                    self.insert(job.new_reference.filename.clone(), vec![job.new_reference.reference.clone()], None);
                }
            }
            TransactionJson::SplitFileReferences { requests } => {
                for request in requests {
                    let Some(file) = self.files.get_mut(&request.old_reference.filename) else { continue };
                    file.references.remove(&request.old_reference.reference.partition_id);
                    for new in &request.new_references {
                        file.references.insert(new.reference.partition_id.clone(), new.reference.clone());
                    }
                }
            }
            TransactionJson::InitialisePartitions { .. } | TransactionJson::SplitPartition { .. } | TransactionJson::ExtendPartitionTree { .. } => {}
        }
    }

    /// Every reference of every file, one row each.
    pub fn table_files(&self) -> Vec<TableFile> {
        self.files
            .iter()
            .flat_map(|(filename, file)| {
                file.references.values().map(|r| TableFile {
                    filename: filename.clone(),
                    partition_id: r.partition_id.clone(),
                    number_of_rows: r.number_of_rows,
                    job_id: file.added_by.clone(),
                })
            })
            .collect()
    }

    /// Whether an `ADD_FILES` of this job added files still in the state.
    pub fn added_by(&self, job_id: &str) -> bool {
        self.files.values().any(|f| f.added_by.as_deref() == Some(job_id))
    }
}

#[cfg(test)]
mod tests {
    use bulk_import_core::transaction_json::{AddFilesJson, AddedFile, AssignJobIdRequest, NamedFileReference, ReplaceFileReferencesJob};

    use super::*;

    fn reference(partition: &str, rows: u64) -> FileReference {
        FileReference {
            partition_id: partition.into(),
            number_of_rows: rows,
            job_id: None,
            count_approximate: false,
            only_contains_data_for_this_partition: true,
        }
    }

    fn add(job: Option<&str>, files: &[(&str, &str, u64)]) -> TransactionJson {
        let files = files.iter().map(|(name, p, rows)| AddedFile { filename: (*name).into(), references: vec![reference(p, *rows)] }).collect();
        TransactionJson::AddFiles(AddFilesJson::new(job.map(str::to_string), files))
    }

    #[test]
    fn a_compaction_replaces_its_inputs_and_the_collector_deletes_them() {
        let mut state = FilesState::default();
        state.apply(&add(Some("import"), &[("a", "root", 10), ("b", "root", 5)]));
        assert!(state.added_by("import"));
        // A second ADD_FILES naming an existing file is skipped whole.
        state.apply(&add(None, &[("c", "root", 1), ("a", "root", 1)]));
        assert!(!state.contains("c"));
        state.apply(&TransactionJson::AssignJobIds {
            requests: vec![AssignJobIdRequest { job_id: "compact".into(), partition_id: "root".into(), filenames: vec!["a".into(), "b".into()] }],
        });
        let replace = |job: &str| TransactionJson::ReplaceFileReferences {
            jobs: vec![ReplaceFileReferencesJob {
                job_id: job.into(),
                task_id: None,
                job_run_id: None,
                input_files: vec!["a".into(), "b".into()],
                new_reference: NamedFileReference { filename: "ab".into(), reference: reference("root", 15) },
            }],
        };
        state.apply(&replace("someone-else"));
        assert!(!state.contains("ab"), "inputs assigned to another job: skipped");
        state.apply(&replace("compact"));
        let files = state.table_files();
        assert_eq!(files.iter().map(|f| (f.filename.as_str(), f.number_of_rows)).collect::<Vec<_>>(), [("ab", 15)]);
        assert!(state.contains("a"), "an unreferenced file is still the table's until deleted");
        state.apply(&TransactionJson::DeleteFiles { filenames: vec!["a".into(), "b".into()] });
        assert!(!state.contains("a") && !state.contains("b"));
        state.apply(&TransactionJson::ClearFiles {});
        assert!(state.table_files().is_empty());
    }
}
