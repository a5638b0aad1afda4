//! Input files' footers: how intake reads them, and which it keeps for the scan.

use std::fmt;
use std::sync::Arc;

use bulk_import_core::store::Location;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::ParquetMetaData;

/// How many bytes at a file's end intake reads first, for its footer. Intake reads nothing
/// else of a file whose keys have null counts, so this is far less than the scan's
/// [`FOOTER_READ_BYTES`](bulk_import_core::small_object_cache::FOOTER_READ_BYTES), which reads
/// a small file whole: a 25 KB file was read twice, whole. A footer that does not fit (hundreds
/// of row groups) costs one more read, of the rest.
const INTAKE_FOOTER_READ_BYTES: usize = 16 * 1024;

/// The most memory a job's kept footers take, by `ParquetMetaData::memory_size`. A job waiting
/// in the service's queue holds them. Files past it have their footers read again by the scan.
pub const KEPT_FOOTER_BYTES: usize = 64 * 1024 * 1024;

/// A Parquet reader over an object, whose first read for the footer is `footer_hint` bytes.
/// arrow-rs 59 deprecates `ParquetObjectReader` in favour of each application implementing
/// `AsyncFileReader`; ours would be a copy of it, so it is used here, in this one place, until
/// arrow-rs offers its replacement.
#[allow(deprecated)]
pub(crate) fn object_reader(
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    footer_hint: Option<usize>,
) -> impl AsyncFileReader + Unpin + 'static {
    let reader = parquet::arrow::async_reader::ParquetObjectReader::new(store, path).with_file_size(size);
    match footer_hint {
        Some(hint) => reader.with_footer_size_hint(hint),
        None => reader,
    }
}

/// A reader of a file for intake's checks.
pub(crate) fn reader(location: &Location, size: u64) -> impl AsyncFileReader + Unpin + 'static {
    object_reader(location.store.clone(), location.path.clone(), size, Some(INTAKE_FOOTER_READ_BYTES))
}

/// A footer intake read and decoded, kept for the scan of the same file: the file whose e-tag
/// was `e_tag` when it was listed.
#[derive(Clone)]
pub struct KeptFooter {
    pub metadata: Arc<ParquetMetaData>,
    pub e_tag: String,
}

impl fmt::Debug for KeptFooter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptFooter").field("e_tag", &self.e_tag).field("bytes", &self.metadata.memory_size()).finish()
    }
}

/// What is left of a job's [`KEPT_FOOTER_BYTES`]: footers are kept first come, first kept.
#[derive(Debug)]
pub struct FooterBudget {
    left: usize,
}

impl FooterBudget {
    pub fn new(bytes: usize) -> Self {
        FooterBudget { left: bytes }
    }

    /// What is left of the budget, in bytes.
    pub fn left(&self) -> usize {
        self.left
    }

    /// `footer`, if there is room left for it.
    pub fn keep(&mut self, footer: Option<KeptFooter>) -> Option<KeptFooter> {
        let footer = footer?;
        let bytes = footer.metadata.memory_size();
        self.left = self.left.checked_sub(bytes)?;
        Some(footer)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, RecordBatch};
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::ParquetMetaDataReader;

    use super::*;

    fn footer() -> KeptFooter {
        let batch = RecordBatch::try_from_iter([("key", Arc::new(Int64Array::from_iter_values(0..10)) as _)]).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&Bytes::from(bytes)).unwrap();
        KeptFooter { metadata: Arc::new(metadata), e_tag: "e".into() }
    }

    #[test]
    fn footers_are_kept_until_the_budget_is_spent() {
        let bytes = footer().metadata.memory_size();
        let mut budget = FooterBudget::new(2 * bytes + bytes / 2);
        assert!(budget.keep(Some(footer())).is_some());
        assert!(budget.keep(None).is_none());
        assert!(budget.keep(Some(footer())).is_some());
        assert!(budget.keep(Some(footer())).is_none(), "half a footer's room is left");
        assert!(budget.keep(Some(footer())).is_none());
        assert_eq!(budget.left(), bytes / 2);
    }
}
