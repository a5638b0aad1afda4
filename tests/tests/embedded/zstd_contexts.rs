//! The `bulk-import` binary reuses zstd contexts (`bulk_import_core::zstd_contexts`): it is
//! linked with zstd's context constructors and destructors wrapped, so that parquet's codec,
//! which makes two contexts for every column chunk it reads or writes, takes kept ones instead.
//! It is linked with `ZSTD_compress2` wrapped too, so that zstd's tables are sized to each small
//! page (`bulk_import_core::zstd_table_sizes`). Without the link flags the wrappers would never
//! be called and this would count nothing.

use std::process::Command;

use bulk_import_core::store::S3Options;
use bulk_import_driver::tools::generate::{GenerateOptions, generate};
use bulk_import_tests::cluster::workspace_binary;
use bulk_import_tests::distributed::{create_table, job_json};
use bulk_import_tests::table_contents::table_contents;

const ROWS: u64 = 20_000;
const FILES: usize = 40;

/// `created=N reused=M sized_tables=K` from the binary's debug line on zstd contexts.
fn context_counts(stderr: &str) -> (u64, u64, u64) {
    let line = stderr.lines().find(|l| l.contains("zstd contexts")).unwrap_or_else(|| panic!("no zstd contexts line in:\n{stderr}"));
    let field = |name: &str| -> u64 {
        let start = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} missing: {line}")) + name.len() + 1;
        line[start..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    (field("created"), field("reused"), field("sized_tables"))
}

#[tokio::test]
async fn a_job_reuses_zstd_contexts_and_sizes_their_tables_to_its_pages() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    // zstd Parquet input; the table writes zstd too (Sleeper's default codec).
    let split_points = generate(&GenerateOptions { rows: ROWS, files: FILES, out: input.clone(), seed: 5, split_points_for: Some(64) }).unwrap();
    let store = dir.path().join("store").to_str().unwrap().to_string();
    create_table(&store, S3Options::default(), "t", &split_points).await;
    let job = dir.path().join("job.json");
    std::fs::write(&job, job_json("zstd-job", "t", &[input.to_str().unwrap()])).unwrap();

    let out = Command::new(workspace_binary("bulk-import"))
        .args(["--store", &store, "run", job.to_str().unwrap(), "--quiet", "--parallelism", "2"])
        .env("BULK_IMPORT_LOG", "bulk_import=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // 40 input files and 64 output files of 3 columns: at least 2 × 3 × 104 contexts asked for.
    let (created, reused, sized_tables) = context_counts(&stderr);
    assert!(created + reused >= 2 * 3 * (FILES as u64 + 64), "created {created}, reused {reused}");
    assert!(reused > 3 * created, "most contexts are reused: created {created}, reused {reused}");
    // 64 files of about 300 rows: every page is small, each one compressed with smaller tables.
    assert!(sized_tables >= 3 * 64, "pages compressed with tables sized to them: {sized_tables}");

    // And the reused contexts wrote and read what new ones would have.
    let contents = table_contents(&store, S3Options::default(), "t").await;
    assert_eq!(contents.total_rows(), ROWS as usize);
    assert!(contents.unsorted_files.is_empty() && contents.misrouted_files.is_empty());
}
