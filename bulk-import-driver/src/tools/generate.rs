//! Generates data in the schema of Sleeper's system tests: row key `key` (10 random lowercase
//! letters), sort key `timestamp` (a random long), value `value` (10 random lowercase letters).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bulk_import_core::key::KeyValue;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEY_LENGTH: usize = 10;
const BATCH_ROWS: usize = 65_536;

/// The Sleeper schema of the generated data.
pub const SCHEMA_JSON: &str = r#"{
  "rowKeyFields": [{"name": "key", "type": "StringType"}],
  "sortKeyFields": [{"name": "timestamp", "type": "LongType"}],
  "valueFields": [{"name": "value", "type": "StringType"}]
}"#;

fn arrow_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("value", DataType::Utf8, false),
    ]))
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub rows: u64,
    pub files: usize,
    pub out: PathBuf,
    pub seed: u64,
    /// Also compute this many leaves' worth of split points (one fewer than the number).
    pub split_points_for: Option<usize>,
}

fn letters(rng: &mut StdRng, out: &mut [u8; KEY_LENGTH]) {
    // Two letters from each 32-bit draw keeps generation cheap; 26*26 divides 2^32 unevenly by
    // under one part in six million, far below anything a test of ordering could notice.
    for pair in out.chunks_mut(2) {
        let v = rng.next_u32() % (26 * 26);
        pair[0] = b'a' + (v / 26) as u8;
        if let Some(second) = pair.get_mut(1) {
            *second = b'a' + (v % 26) as u8;
        }
    }
}

/// Writes one file; returns its keys when asked (for split points).
fn write_file(path: &Path, rows: u64, seed: u64, keep_keys: bool) -> anyhow::Result<Vec<[u8; KEY_LENGTH]>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?)).set_max_row_group_row_count(Some(1_000_000)).build();
    let mut writer = ArrowWriter::try_new(File::create(path)?, arrow_schema(), Some(props))?;
    let mut kept = Vec::new();
    let mut remaining = rows;
    let mut key = [0u8; KEY_LENGTH];
    while remaining > 0 {
        let n = remaining.min(BATCH_ROWS as u64) as usize;
        let mut keys = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut timestamps = Vec::with_capacity(n);
        for _ in 0..n {
            letters(&mut rng, &mut key);
            if keep_keys {
                kept.push(key);
            }
            keys.push(String::from_utf8(key.to_vec()).expect("ASCII letters"));
            timestamps.push(rng.next_u64() as i64);
            letters(&mut rng, &mut key);
            values.push(String::from_utf8(key.to_vec()).expect("ASCII letters"));
        }
        let batch = RecordBatch::try_new(
            arrow_schema(),
            vec![Arc::new(StringArray::from(keys)), Arc::new(Int64Array::from(timestamps)), Arc::new(StringArray::from(values))],
        )?;
        writer.write(&batch)?;
        remaining -= n as u64;
    }
    writer.close()?;
    Ok(kept)
}

/// Generates the files (in parallel, one thread per core); returns the split points asked for.
pub fn generate(options: &GenerateOptions) -> anyhow::Result<Vec<KeyValue>> {
    anyhow::ensure!(options.files > 0, "--files must be at least 1");
    std::fs::create_dir_all(&options.out)?;
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(options.files);
    let keep_keys = options.split_points_for.is_some();
    let per_file = |i: usize| options.rows / options.files as u64 + u64::from((i as u64) < options.rows % options.files as u64);
    let mut keys: Vec<[u8; KEY_LENGTH]> = Vec::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> anyhow::Result<Vec<[u8; KEY_LENGTH]>> {
                    let mut kept = Vec::new();
                    for i in (t..options.files).step_by(threads) {
                        let path = options.out.join(format!("part-{i:05}.parquet"));
                        let seed = options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64);
                        kept.extend(write_file(&path, per_file(i), seed, keep_keys)?);
                    }
                    Ok(kept)
                })
            })
            .collect();
        for handle in handles {
            keys.extend(handle.join().map_err(|_| anyhow::anyhow!("a generator thread panicked"))??);
        }
        Ok(())
    })?;
    let Some(leaves) = options.split_points_for else {
        return Ok(Vec::new());
    };
    keys.sort_unstable();
    let mut points: Vec<KeyValue> = Vec::with_capacity(leaves.saturating_sub(1));
    for i in 1..leaves {
        let Some(key) = keys.get(i * keys.len() / leaves) else { break };
        let point = KeyValue::String(String::from_utf8(key.to_vec()).expect("ASCII letters"));
        if points.last().is_none_or(|last| *last < point) {
            points.push(point);
        }
    }
    Ok(points)
}
