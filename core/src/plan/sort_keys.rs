//! The sort columns of held batches, compared where they lie.
//!
//! A leaf's rows are radix-sorted on an 8-byte prefix of their first sort column, which
//! decides almost every row's place, and rows whose prefixes tie are sorted on the full
//! columns. The prefix used to be taken from arrow-row's normalised form of every row; building
//! that form wrote every key again into fresh memory, and with its page faults it was about a
//! fifth of an import's sort and write phase. Here the prefix comes from the column's own
//! values, and a tie is broken by comparing the typed values, in the order arrow-row gives them:
//! numbers by value, strings and byte arrays byte by byte (a shorter one first when it is a
//! prefix of the other), nulls last.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, LargeBinaryArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use datafusion::common::{DataFusionError, Result};

use crate::key::byte_prefix;

/// The values of one sort column of one batch, typed.
enum Values<'a> {
    Int32(&'a [i32]),
    Int64(&'a [i64]),
    Bytes(&'a BinaryArray),
    LargeBytes(&'a LargeBinaryArray),
    BytesView(&'a BinaryViewArray),
}

/// One sort column of one batch.
struct KeyColumn<'a> {
    values: Values<'a>,
    nulls: Option<&'a NullBuffer>,
}

impl<'a> KeyColumn<'a> {
    fn value_bytes(&self, row: usize) -> Option<&'a [u8]> {
        match self.values {
            Values::Bytes(a) => Some(a.value(row)),
            Values::LargeBytes(a) => Some(a.value(row)),
            Values::BytesView(a) => Some(a.value(row)),
            Values::Int32(_) | Values::Int64(_) => None,
        }
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(row))
    }

    /// A number whose order agrees with the column's wherever two numbers differ.
    fn prefix(&self, row: usize) -> u64 {
        if self.is_null(row) {
            return u64::MAX;
        }
        match self.values {
            Values::Int32(v) => (i64::from(v[row]) as u64) ^ (1 << 63),
            Values::Int64(v) => (v[row] as u64) ^ (1 << 63),
            _ => byte_prefix(self.value_bytes(row).unwrap_or_default()),
        }
    }

    fn compare(&self, row: usize, other: &KeyColumn<'_>, other_row: usize) -> Ordering {
        match (self.is_null(row), other.is_null(other_row)) {
            (false, false) => {}
            (a, b) => return a.cmp(&b),
        }
        match (&self.values, &other.values) {
            (Values::Int32(a), Values::Int32(b)) => a[row].cmp(&b[other_row]),
            (Values::Int64(a), Values::Int64(b)) => a[row].cmp(&b[other_row]),
            _ => self.value_bytes(row).cmp(&other.value_bytes(other_row)),
        }
    }
}

/// One row's place in the sort: its key's prefix ([`SortKeys::prefix`]), and where the row is.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) prefix: u64,
    pub(super) batch: u32,
    pub(super) row: u32,
}

/// Below this many rows a leaf is sorted by comparisons: a radix sort's fixed cost, its
/// histograms, is not repaid.
const RADIX_SORT_MIN_ROWS: usize = 256;

/// The sort columns of every held batch.
pub(super) struct SortKeys<'a> {
    /// `columns[batch][key]`.
    columns: Vec<Vec<KeyColumn<'a>>>,
}

/// Arrays the typed columns borrow from: string arrays re-read as byte arrays.
pub(super) struct KeyArrays {
    arrays: Vec<Vec<ArrayRef>>,
}

impl KeyArrays {
    /// The sort columns (`indices`) of `batches`: integers, strings or byte arrays, as Sleeper's
    /// key types are.
    pub(super) fn new(batches: &[RecordBatch], indices: &[usize]) -> Result<Self> {
        let arrays =
            batches.iter().map(|batch| indices.iter().map(|&i| comparable(batch.column(i))).collect::<Result<Vec<_>>>()).collect::<Result<_>>()?;
        Ok(KeyArrays { arrays })
    }

    pub(super) fn keys(&self) -> SortKeys<'_> {
        let columns = self.arrays.iter().map(|batch| batch.iter().map(|array| typed(array)).collect()).collect();
        SortKeys { columns }
    }
}

/// `array` in a type [`typed`] reads: strings become byte arrays of the same buffers, as the
/// order of strings is the order of their UTF-8 bytes.
fn comparable(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Int32 | DataType::Int64 | DataType::Binary | DataType::LargeBinary | DataType::BinaryView => array.clone(),
        DataType::Utf8 => Arc::new(BinaryArray::from(array.as_string::<i32>().clone())),
        DataType::LargeUtf8 => Arc::new(LargeBinaryArray::from(array.as_string::<i64>().clone())),
        DataType::Utf8View => Arc::new(array.as_string_view().clone().to_binary_view()),
        other => return Err(DataFusionError::NotImplemented(format!("sorting on a column of type {other}"))),
    })
}

fn typed(array: &ArrayRef) -> KeyColumn<'_> {
    let values = match array.data_type() {
        DataType::Int32 => Values::Int32(array.as_primitive::<Int32Type>().values()),
        DataType::Int64 => Values::Int64(array.as_primitive::<Int64Type>().values()),
        DataType::LargeBinary => Values::LargeBytes(array.as_binary::<i64>()),
        DataType::BinaryView => Values::BytesView(array.as_binary_view()),
        _ => Values::Bytes(array.as_binary::<i32>()),
    };
    KeyColumn { values, nulls: array.nulls() }
}

impl SortKeys<'_> {
    /// Row `row` of batch `batch`'s prefix: its first sort column's first 8 bytes, or its number.
    pub(super) fn prefix(&self, batch: usize, row: usize) -> u64 {
        self.columns[batch].first().map_or(0, |c| c.prefix(row))
    }

    /// Sorts one leaf's rows by their sort columns. A leaf holds tens of thousands of rows, and
    /// comparing their prefixes was most of the sort: an LSD radix sort orders them by prefix in
    /// a few linear passes (a byte that all the leaf's prefixes share, such as a leading byte of
    /// the leaf's key range, costs no pass), and only runs of equal prefixes are then sorted by
    /// comparing their columns.
    pub(super) fn sort(&self, entries: &mut [Entry]) {
        let by_columns = |x: &Entry, y: &Entry| self.compare((x.batch as usize, x.row as usize), (y.batch as usize, y.row as usize));
        if entries.len() < RADIX_SORT_MIN_ROWS {
            entries.sort_unstable_by(|x, y| x.prefix.cmp(&y.prefix).then_with(|| by_columns(x, y)));
            return;
        }
        radsort::sort_by_key(entries, |entry| entry.prefix);
        for tied in entries.chunk_by_mut(|x, y| x.prefix == y.prefix) {
            if tied.len() > 1 {
                tied.sort_unstable_by(by_columns);
            }
        }
    }

    /// Two rows' order on every sort column.
    pub(super) fn compare(&self, (batch, row): (usize, usize), (other_batch, other_row): (usize, usize)) -> Ordering {
        for (a, b) in self.columns[batch].iter().zip(&self.columns[other_batch]) {
            let order = a.compare(row, b, other_row);
            if order.is_ne() {
                return order;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray};
    use arrow::datatypes::{Field, Schema};
    use arrow::row::{RowConverter, SortField};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::plan::leaf_sort::ASCENDING;

    /// Values drawn from a few, so that prefixes and whole keys tie often.
    fn bytes(rng: &mut StdRng) -> Vec<u8> {
        let alphabet: &[&[u8]] = &[b"", b"a", b"ab", b"ab\0", b"abcdefgh", b"abcdefghi", b"abcdefgh\0", b"\xff", b"\x01", "é".as_bytes()];
        (0..rng.random_range(0..3)).flat_map(|_| alphabet[rng.random_range(0..alphabet.len())].iter().copied()).collect()
    }

    fn batch(rng: &mut StdRng, rows: usize, nulls: bool) -> RecordBatch {
        let null = |rng: &mut StdRng| nulls && rng.random_range(0..7) == 0;
        let strings: Vec<Option<String>> =
            (0..rows).map(|_| (!null(rng)).then(|| String::from_utf8(bytes(rng)).unwrap_or_else(|_| "\u{10348}x".to_string()))).collect();
        let binaries: Vec<Option<Vec<u8>>> = (0..rows).map(|_| (!null(rng)).then(|| bytes(rng))).collect();
        let longs: Vec<Option<i64>> = (0..rows).map(|_| (!null(rng)).then(|| [i64::MIN, -1, 0, 1, i64::MAX][rng.random_range(0..5)])).collect();
        let ints: Vec<Option<i32>> = (0..rows).map(|_| (!null(rng)).then(|| rng.random_range(-3..3))).collect();
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("v", DataType::Utf8View, true),
            Field::new("l", DataType::LargeUtf8, true),
            Field::new("b", DataType::Binary, true),
            Field::new("i", DataType::Int64, true),
            Field::new("n", DataType::Int32, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(strings.clone())),
                Arc::new(StringViewArray::from(strings.clone())),
                Arc::new(LargeStringArray::from(strings)),
                Arc::new(BinaryArray::from(binaries.iter().map(Option::as_deref).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(longs)),
                Arc::new(Int32Array::from(ints)),
            ],
        )
        .unwrap()
    }

    /// Sorts every row of `batches` by prefix and then by the typed columns, and by arrow-row's
    /// normalised keys: the two orders must agree on every pair of neighbours.
    fn assert_orders_as_arrow_row(batches: &[RecordBatch], indices: &[usize]) {
        let arrays = KeyArrays::new(batches, indices).unwrap();
        let keys = arrays.keys();
        let converter = RowConverter::new(
            indices.iter().map(|&i| SortField::new_with_options(batches[0].schema().field(i).data_type().clone(), ASCENDING)).collect(),
        )
        .unwrap();
        let rows: Vec<_> =
            batches.iter().map(|b| converter.convert_columns(&indices.iter().map(|&i| b.column(i).clone()).collect::<Vec<_>>()).unwrap()).collect();
        let keys = &keys;
        let mut entries: Vec<Entry> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| Entry { prefix: keys.prefix(b, r), batch: b as u32, row: r as u32 }))
            .collect();
        keys.sort(&mut entries);
        for pair in entries.windows(2) {
            let (x, y) = ((pair[0].batch as usize, pair[0].row as usize), (pair[1].batch as usize, pair[1].row as usize));
            let expected = rows[x.0].row(x.1).cmp(&rows[y.0].row(y.1));
            assert_ne!(expected, Ordering::Greater, "columns {indices:?}: {x:?} before {y:?}");
            assert_eq!(keys.compare(x, y), expected, "columns {indices:?}: {x:?} against {y:?}");
        }
    }

    #[test]
    fn rows_order_as_their_normalised_keys_do() {
        let mut rng = StdRng::seed_from_u64(17);
        for nulls in [false, true] {
            // 1,200 rows go through the radix sort, 200 (a leaf below its threshold) through comparisons only.
            let batches: Vec<RecordBatch> = (0..4).map(|_| batch(&mut rng, 300, nulls)).collect();
            let small: Vec<RecordBatch> = (0..2).map(|_| batch(&mut rng, 100, nulls)).collect();
            for indices in [vec![0, 4], vec![1, 4], vec![2, 5], vec![3, 4], vec![4, 0], vec![5, 1, 3], vec![1], vec![4]] {
                assert_orders_as_arrow_row(&batches, &indices);
                assert_orders_as_arrow_row(&small, &indices);
            }
        }
    }

    #[test]
    fn other_column_types_are_refused() {
        let batch = RecordBatch::try_from_iter([("f", Arc::new(arrow::array::Float64Array::from(vec![1.0])) as ArrayRef)]).unwrap();
        assert!(KeyArrays::new(&[batch], &[0]).is_err());
    }
}
