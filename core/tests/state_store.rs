//! The transaction log under concurrent writers: conditional creates, re-validation on conflict,
//! at most one commit per job, snapshots.
#![allow(clippy::unwrap_used)] // A test: a failed step fails it.

use std::sync::Arc;

use bulk_import_core::Error;
use bulk_import_core::backend::object_store::TransactionLog;
use bulk_import_core::key::KeyType;
use bulk_import_core::partition::PartitionTree;
use bulk_import_core::schema::KeyField;
use bulk_import_core::store::ObjectStores;
use bulk_import_core::transaction::{AddedFile, FileReference, Transaction};

fn keys() -> Vec<KeyField> {
    vec![KeyField { name: "key".into(), key_type: KeyType::Long }]
}

fn add(job: &str, file: &str) -> Transaction {
    Transaction::AddFiles {
        job_id: Some(job.into()),
        files: vec![AddedFile {
            filename: file.into(),
            references: vec![FileReference {
                job_id: None,
                partition_id: "root".into(),
                number_of_rows: 10,
                count_approximate: false,
                only_contains_data_for_this_partition: true,
            }],
        }],
    }
}

async fn initialised(dir: &std::path::Path) -> Arc<ObjectStores> {
    let stores = Arc::new(ObjectStores::new());
    let store = TransactionLog::new(stores.resolve(dir.to_str().unwrap()).unwrap(), keys());
    store.append(Transaction::InitialisePartitions(PartitionTree::single_leaf(&keys()))).await.unwrap();
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_each_commit_once_and_the_same_job_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let stores = initialised(dir.path()).await;
    let root = stores.resolve(dir.path().to_str().unwrap()).unwrap();
    // Eight writers, each with its own view of the log, each committing 15 jobs, and every job
    // id also raced by a second writer.
    let mut handles = Vec::new();
    for writer in 0..8 {
        let root = root.clone();
        handles.push(tokio::spawn(async move {
            let store = TransactionLog::new(root, keys());
            let mut committed = 0;
            for job in 0..15 {
                let job_id = format!("job-{}-{job}", writer / 2);
                match store.append(add(&job_id, &format!("file-{writer}-{job}"))).await {
                    Ok(_) => committed += 1,
                    Err(Error::JobAlreadyCommitted(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            committed
        }));
    }
    let mut committed = 0;
    for handle in handles {
        committed += handle.await.unwrap();
    }
    assert_eq!(committed, 4 * 15, "each of the 60 job ids commits exactly once");
    let state = TransactionLog::new(root, keys()).state().await.unwrap();
    assert_eq!(state.transaction_number, 61);
    assert_eq!(state.files.len(), 60);
    assert_eq!(state.committed_jobs.len(), 60);
}

#[tokio::test]
async fn a_reader_starting_from_a_snapshot_sees_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let stores = initialised(dir.path()).await;
    let root = stores.resolve(dir.path().to_str().unwrap()).unwrap();
    let writer = TransactionLog::new(root.clone(), keys());
    for i in 0..120 {
        writer.append(add(&format!("j{i}"), &format!("f{i}"))).await.unwrap();
    }
    assert!(dir.path().join("snapshots").read_dir().unwrap().count() >= 1, "a snapshot was written at 100");
    // Remove the transactions the snapshot covers: a fresh reader must not need them.
    for n in 1..=100u64 {
        std::fs::remove_file(dir.path().join("transactions").join(format!("{n:020}.json"))).unwrap();
    }
    let state = TransactionLog::new(root, keys()).state().await.unwrap();
    assert_eq!(state.transaction_number, 121);
    assert_eq!(state.files.len(), 120);
    assert!(matches!(writer.append(add("j5", "other")).await, Err(Error::JobAlreadyCommitted(_))));
    assert!(matches!(writer.append(add("new", "f7")).await, Err(Error::FileAlreadyReferenced(_))));
}

#[tokio::test]
async fn a_kept_state_is_brought_up_to_date_and_a_log_replaced_under_it_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let stores = initialised(dir.path()).await;
    let root = stores.resolve(dir.path().to_str().unwrap()).unwrap();
    let reader = TransactionLog::new(root.clone(), keys());
    TransactionLog::new(root.clone(), keys()).append(add("j1", "f1")).await.unwrap();
    let state = reader.state().await.unwrap();
    assert_eq!((state.transaction_number, state.files.len()), (2, 1));

    // Appended by another writer: the kept state reads it.
    TransactionLog::new(root.clone(), keys()).append(add("j2", "f2")).await.unwrap();
    let state = reader.state().await.unwrap();
    assert_eq!(state.transaction_number, 3);
    assert_eq!(state.files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);

    // Another log in its place, as far as the same number: not read on top of the kept state.
    std::fs::remove_dir_all(dir.path().join("transactions")).unwrap();
    let other = TransactionLog::new(root.clone(), keys());
    other.append(Transaction::InitialisePartitions(PartitionTree::single_leaf(&keys()))).await.unwrap();
    other.append(add("k1", "g1")).await.unwrap();
    other.append(add("k2", "g2")).await.unwrap();
    let state = reader.state().await.unwrap();
    assert_eq!(state.files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>(), ["g1", "g2"]);
    assert!(state.committed_jobs.contains("k1") && !state.committed_jobs.contains("j1"));

    // A shorter log in its place.
    std::fs::remove_dir_all(dir.path().join("transactions")).unwrap();
    TransactionLog::new(root, keys()).append(Transaction::InitialisePartitions(PartitionTree::single_leaf(&keys()))).await.unwrap();
    let state = reader.state().await.unwrap();
    assert_eq!((state.transaction_number, state.files.len()), (1, 0));
}
