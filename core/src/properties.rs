//! Per-table properties: the Parquet settings of Sleeper's defaults, each overridable by a Sleeper
//! table property of the same name.

use std::collections::BTreeMap;

use arrow::datatypes::Schema as ArrowSchema;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Sleeper's names of the Parquet settings (`TableProperty`), and the names this engine used
/// before it read Sleeper instances, still accepted.
pub const COMPRESSION_CODEC: &str = "sleeper.table.parquet.compression.codec";
/// The instance's default bulk import algorithm (Sleeper's instance property), in the store's
/// `instance.properties`.
pub const INSTANCE_CLASS_NAME: &str = "sleeper.bulk.import.class.name";
/// A table's default bulk import algorithm, over the instance's.
pub const TABLE_CLASS_NAME: &str = "sleeper.table.bulk.import.class.name";
/// A bulk import into a table with fewer leaves than this first splits the table's leaves at
/// quantiles of its input, to this many leaves (Sleeper's property; default 256, 0 turns it off).
pub const MIN_LEAF_PARTITIONS: &str = "sleeper.table.bulk.import.min.leaf.partitions";
/// Whether bulk import writes a `.sketches` sidecar beside each data file (default true, as
/// Sleeper always does).
pub const WRITE_SKETCHES: &str = "sleeper.table.bulk.import.write.sketches";
/// This engine's own: Sleeper 0.36 has no zstd level setting (its Java writer uses level 3).
pub const ZSTD_LEVEL: &str = "sleeper.table.compression.zstd.level";
pub const WRITER_VERSION: &str = "sleeper.table.parquet.writer.version";
pub const ROW_GROUP_ROWS: &str = "sleeper.table.parquet.rowgroup.rows.max";
pub const PAGE_SIZE: &str = "sleeper.table.parquet.page.size";
pub const DICTIONARY_ROW_KEYS: &str = "sleeper.table.parquet.dictionary.encoding.rowkey.fields";
pub const DICTIONARY_SORT_KEYS: &str = "sleeper.table.parquet.dictionary.encoding.sortkey.fields";
/// Earlier names of settings, each read when the Sleeper name is not set.
const LEGACY_NAMES: [(&str, &str); 4] = [
    (COMPRESSION_CODEC, "sleeper.table.compression.codec"),
    (PAGE_SIZE, "sleeper.table.page.size"),
    (DICTIONARY_ROW_KEYS, "sleeper.table.parquet.dictionary.encoding.row.key.fields"),
    (DICTIONARY_SORT_KEYS, "sleeper.table.parquet.dictionary.encoding.sort.key.fields"),
];
pub const DICTIONARY_VALUES: &str = "sleeper.table.parquet.dictionary.encoding.value.fields";
pub const STATISTICS_TRUNCATE: &str = "sleeper.table.parquet.statistics.truncate.length";
pub const COLUMN_INDEX_TRUNCATE: &str = "sleeper.table.parquet.columnindex.truncate.length";

/// Table properties as `key=value` pairs; unknown keys are kept, so a Sleeper table properties
/// file can be given as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableProperties(pub BTreeMap<String, String>);

impl TableProperties {
    /// A property as written, whatever its key (or, for a renamed setting, its earlier name).
    pub fn raw(&self, key: &str) -> Option<&str> {
        let legacy = LEGACY_NAMES.iter().find(|(name, _)| *name == key).map(|(_, old)| *old);
        self.0.get(key).or_else(|| legacy.and_then(|old| self.0.get(old))).map(String::as_str)
    }

    /// Parses Java properties text: `key=value` (or `key: value`) lines, `#`/`!` comments.
    pub fn parse(text: &str) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let split =
                line.find(['=', ':']).ok_or_else(|| Error::InvalidProperties(format!("line {}: expected key=value, found {line:?}", i + 1)))?;
            map.insert(line[..split].trim().to_string(), line[split + 1..].trim().to_string());
        }
        let properties = TableProperties(map);
        properties.parquet_settings()?;
        properties.write_sketches()?;
        properties.min_leaf_partitions()?;
        Ok(properties)
    }

    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Error::InvalidProperties(format!("{key}={v} is not a valid value"))),
        }
    }

    /// How many leaves an import needs before it runs without splitting the table first.
    pub fn min_leaf_partitions(&self) -> Result<usize> {
        self.get(MIN_LEAF_PARTITIONS, 256)
    }

    /// Whether to write sketches beside data files.
    pub fn write_sketches(&self) -> Result<bool> {
        self.get(WRITE_SKETCHES, true)
    }

    /// The Parquet settings, validated.
    pub fn parquet_settings(&self) -> Result<ParquetSettings> {
        let defaults = ParquetSettings::default();
        let compression = match self.raw(COMPRESSION_CODEC) {
            Some(codec) => codec.parse().map_err(|e| Error::InvalidProperties(format!("{COMPRESSION_CODEC}={codec}: {e}")))?,
            None => defaults.compression,
        };
        let writer_version = match self.raw(WRITER_VERSION) {
            Some(version) => version.parse().map_err(|e| Error::InvalidProperties(format!("{WRITER_VERSION}={version}: {e}")))?,
            None => defaults.writer_version,
        };
        let truncate = |key: &str, default: Option<u64>| -> Result<Option<u64>> {
            // Sleeper writes "not truncated" as Integer.MAX_VALUE.
            let v: u64 = self.get(key, default.unwrap_or(i32::MAX as u64))?;
            Ok((v < i32::MAX as u64).then_some(v))
        };
        let settings = ParquetSettings {
            compression,
            zstd_level: self.get(ZSTD_LEVEL, defaults.zstd_level)?,
            writer_version,
            max_row_group_rows: self.get(ROW_GROUP_ROWS, defaults.max_row_group_rows)?,
            data_page_size_bytes: self.get(PAGE_SIZE, defaults.data_page_size_bytes)?,
            dictionary_row_keys: self.get(DICTIONARY_ROW_KEYS, defaults.dictionary_row_keys)?,
            dictionary_sort_keys: self.get(DICTIONARY_SORT_KEYS, defaults.dictionary_sort_keys)?,
            dictionary_values: self.get(DICTIONARY_VALUES, defaults.dictionary_values)?,
            statistics_truncate_length: truncate(STATISTICS_TRUNCATE, defaults.statistics_truncate_length)?,
            column_index_truncate_length: truncate(COLUMN_INDEX_TRUNCATE, defaults.column_index_truncate_length)?,
        };
        ZstdLevel::try_new(settings.zstd_level).map_err(|e| Error::InvalidProperties(format!("{ZSTD_LEVEL}={}: {e}", settings.zstd_level)))?;
        if settings.max_row_group_rows == 0 || settings.data_page_size_bytes == 0 {
            return Err(Error::InvalidProperties("row group and page sizes must be positive".into()));
        }
        Ok(settings)
    }
}

/// The compression codecs Sleeper's tables use (`sleeper.table.compression.codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Zstd,
    Snappy,
    Uncompressed,
}

impl std::str::FromStr for Codec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "zstd" => Ok(Codec::Zstd),
            "snappy" => Ok(Codec::Snappy),
            "uncompressed" => Ok(Codec::Uncompressed),
            _ => Err("supported codecs are zstd, snappy and uncompressed".into()),
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::Uncompressed => "uncompressed",
        })
    }
}

/// The Parquet format versions Sleeper writes (`sleeper.table.parquet.writer.version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParquetVersion {
    V1,
    V2,
}

impl std::str::FromStr for ParquetVersion {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "v1" => Ok(ParquetVersion::V1),
            "v2" => Ok(ParquetVersion::V2),
            _ => Err("expected v1 or v2".into()),
        }
    }
}

impl std::fmt::Display for ParquetVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParquetVersion::V1 => "v1",
            ParquetVersion::V2 => "v2",
        })
    }
}

/// How data files are written; Sleeper's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetSettings {
    pub compression: Codec,
    pub zstd_level: i32,
    pub writer_version: ParquetVersion,
    pub max_row_group_rows: usize,
    pub data_page_size_bytes: usize,
    pub dictionary_row_keys: bool,
    pub dictionary_sort_keys: bool,
    pub dictionary_values: bool,
    /// `None`: statistics are not truncated.
    pub statistics_truncate_length: Option<u64>,
    pub column_index_truncate_length: Option<u64>,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        ParquetSettings {
            compression: Codec::Zstd,
            zstd_level: 3,
            writer_version: ParquetVersion::V2,
            max_row_group_rows: 100_000,
            data_page_size_bytes: 128 * 1024,
            dictionary_row_keys: false,
            dictionary_sort_keys: false,
            dictionary_values: false,
            statistics_truncate_length: None,
            column_index_truncate_length: Some(128),
        }
    }
}

impl ParquetSettings {
    /// The writer properties for files whose columns are `row_keys` row-key columns, then
    /// `sort_keys` sort-key columns, then value columns (the order of a table's Arrow schema).
    pub fn writer_properties(&self, columns: &ArrowSchema, row_keys: usize, sort_keys: usize) -> WriterProperties {
        let compression = match self.compression {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Uncompressed => Compression::UNCOMPRESSED,
            // The level was validated with the properties.
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(self.zstd_level).unwrap_or_default()),
        };
        let writer_version = match self.writer_version {
            ParquetVersion::V1 => WriterVersion::PARQUET_1_0,
            ParquetVersion::V2 => WriterVersion::PARQUET_2_0,
        };
        let mut builder = WriterProperties::builder()
            .set_compression(compression)
            .set_writer_version(writer_version)
            .set_max_row_group_row_count(Some(self.max_row_group_rows))
            .set_data_page_size_limit(self.data_page_size_bytes)
            .set_dictionary_enabled(false)
            .set_statistics_truncate_length(self.statistics_truncate_length.map(|v| v as usize))
            .set_column_index_truncate_length(self.column_index_truncate_length.map(|v| v as usize));
        for (i, field) in columns.fields().iter().enumerate() {
            let dictionary = match i {
                i if i < row_keys => self.dictionary_row_keys,
                i if i < row_keys + sort_keys => self.dictionary_sort_keys,
                _ => self.dictionary_values,
            };
            if dictionary {
                builder = builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), true);
            }
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let p = TableProperties::parse("# comment\nsleeper.table.name=t\nsleeper.table.parquet.rowgroup.rows.max = 10\n").unwrap();
        let s = p.parquet_settings().unwrap();
        assert_eq!(s.max_row_group_rows, 10);
        assert_eq!(s.compression, Codec::Zstd);
        assert_eq!(s.column_index_truncate_length, Some(128));
        assert_eq!(s.statistics_truncate_length, None);
        assert!(TableProperties::parse("sleeper.table.compression.codec=lzma\n").is_err());
        assert!(TableProperties::parse("sleeper.table.parquet.writer.version=v3\n").is_err());
        let snappy = TableProperties::parse("sleeper.table.parquet.compression.codec=SNAPPY\nsleeper.table.parquet.writer.version=v1\n").unwrap();
        let s = snappy.parquet_settings().unwrap();
        assert_eq!((s.compression, s.writer_version), (Codec::Snappy, ParquetVersion::V1));
        assert!(TableProperties::parse("sleeper.table.page.size=big\n").is_err());
        assert!(TableProperties::parse("no separator here\n").is_err());
    }

    #[test]
    fn sleepers_names_win_over_the_earlier_ones() {
        let old = TableProperties::parse("sleeper.table.compression.codec=snappy\nsleeper.table.page.size=4096\n").unwrap();
        let s = old.parquet_settings().unwrap();
        assert_eq!((s.compression, s.data_page_size_bytes), (Codec::Snappy, 4096));
        let both = TableProperties::parse("sleeper.table.compression.codec=snappy\nsleeper.table.parquet.compression.codec=uncompressed\n").unwrap();
        assert_eq!(both.parquet_settings().unwrap().compression, Codec::Uncompressed);
        let dictionary = TableProperties::parse("sleeper.table.parquet.dictionary.encoding.rowkey.fields=true\n").unwrap();
        assert!(dictionary.parquet_settings().unwrap().dictionary_row_keys);
    }
}
