//! Sleeper's `.sketches` sidecar: for every data file, one DataSketches classic quantiles sketch
//! (Java's `quantiles.ItemsSketch`, C++'s `quantiles_sketch`) per row-key field, in schema order,
//! each as a 4-byte big-endian length and the sketch's bytes. Sleeper reads them to find split
//! points when it splits partitions, and so does our pre-split.
//!
//! The sketch is the classic algorithm: items collect in a base buffer of `2k`; a full buffer is
//! sorted and halved (every other item, from a random offset) into a level of `k` items of
//! twice the weight, carrying upwards like a binary counter. Items compare as Sleeper's
//! comparators do: longs (ints widened), strings in Java's `String.compareTo` order, byte arrays
//! as signed bytes. The serialised form is DataSketches' compact, ordered layout (serial
//! version 3), with items encoded by `ArrayOfLongsSerDe`, `ArrayOfStringsSerDe` and Sleeper's
//! `ArrayOfByteArraysSerSe` (a 4-byte little-endian length and the bytes).

use std::cmp::Ordering;

use arrow::array::{Array, ArrayAccessor, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::key::{java_string_cmp, java_utf8_cmp, signed_bytes_cmp};

/// Sleeper's sketch size: normalised rank error about 0.17%.
pub const K: usize = 1024;

const SERIAL_VERSION: u8 = 3;
const FAMILY_QUANTILES: u8 = 8;
const FLAG_EMPTY: u8 = 0x04;
const FLAG_COMPACT: u8 = 0x08;
const FLAG_ORDERED: u8 = 0x10;

/// An item a sketch holds: how it orders and how it is serialised.
pub trait SketchItem: Clone {
    fn order(a: &Self, b: &Self) -> Ordering;
    fn serialise(&self, out: &mut Vec<u8>);
    /// How many bytes [`SketchItem::serialise`] writes.
    fn serialised_len(&self) -> usize;
}

impl SketchItem for i64 {
    fn order(a: &Self, b: &Self) -> Ordering {
        a.cmp(b)
    }

    fn serialise(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }

    fn serialised_len(&self) -> usize {
        8
    }
}

/// The bytes of a sketched string or byte array: keys up to 24 bytes are held inline, so that
/// the items a sketch keeps (one for every two rows it sees) cost no allocation each.
type ItemBytes = SmallVec<[u8; 24]>;

/// A string, in Java's order; its bytes are UTF-8, as it is only made from a `&str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaString(ItemBytes);

impl JavaString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for JavaString {
    fn from(value: &str) -> Self {
        JavaString(ItemBytes::from_slice(value.as_bytes()))
    }
}

impl SketchItem for JavaString {
    fn order(a: &Self, b: &Self) -> Ordering {
        java_utf8_cmp(&a.0, &b.0)
    }

    fn serialise(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.0);
    }

    fn serialised_len(&self) -> usize {
        4 + self.0.len()
    }
}

/// A byte array, in Java's signed-byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaBytes(ItemBytes);

impl JavaBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for JavaBytes {
    fn from(value: &[u8]) -> Self {
        JavaBytes(ItemBytes::from_slice(value))
    }
}

impl SketchItem for JavaBytes {
    fn order(a: &Self, b: &Self) -> Ordering {
        signed_bytes_cmp(&a.0, &b.0)
    }

    fn serialise(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.0);
    }

    fn serialised_len(&self) -> usize {
        4 + self.0.len()
    }
}

/// A classic quantiles sketch of `T`.
#[derive(Debug)]
pub struct QuantilesSketch<T> {
    n: u64,
    min: Option<T>,
    max: Option<T>,
    /// Unsorted, fewer than `2k` items, each of weight 1.
    base: Vec<T>,
    /// Whether `base` is known to be in order: the items came in order, as a data file's first
    /// row key does, and then neither a full buffer nor the serialised form sorts them again.
    base_sorted: bool,
    /// Level `i`, when full, holds `k` sorted items of weight `2^(i+1)`.
    levels: Vec<Option<Vec<T>>>,
    rng: StdRng,
}

impl<T: SketchItem> Default for QuantilesSketch<T> {
    fn default() -> Self {
        Self::with_seed(rand::rng().random())
    }
}

impl<T: SketchItem> QuantilesSketch<T> {
    /// A sketch whose halving offsets come from `seed` (tests pin it; files use a random one).
    pub fn with_seed(seed: u64) -> Self {
        QuantilesSketch {
            n: 0,
            min: None,
            max: None,
            base: Vec::with_capacity(2 * K),
            base_sorted: true,
            levels: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn update(&mut self, item: T) {
        self.observe_extremes(&item, &item);
        self.add_to_base(std::iter::once(item), true);
    }

    /// Adds `rows` rows of a column, `item(i)` being row `i` and `order` comparing two rows in
    /// place. A whole base buffer's worth of rows is sorted as row indices and only the half
    /// that survives halving is copied out: a sketch then costs one copy per two rows, not one
    /// per row, and rows that arrive sorted (a file's first row key) sort in linear time. Rows
    /// that top up a partly filled base buffer (a batch rarely ends on a buffer's boundary) are
    /// copied in once each, and the extremes are found among them before one of each is kept.
    pub fn update_rows(&mut self, rows: usize, item: impl Fn(usize) -> T, order: impl Fn(usize, usize) -> Ordering) {
        let mut row = 0;
        while row < rows {
            let end = if self.base.is_empty() && rows - row >= 2 * K {
                let mut chunk: Vec<usize> = (row..row + 2 * K).collect();
                chunk.sort_by(|&a, &b| order(a, b));
                self.observe_extremes(&item(chunk[0]), &item(chunk[2 * K - 1]));
                self.n += 2 * K as u64;
                let kept = chunk.iter().skip(self.halving_offset()).step_by(2).map(|&i| item(i)).collect();
                self.carry(kept);
                row + 2 * K
            } else {
                let end = rows.min(row + 2 * K - self.base.len());
                // Rows in order (a sorted file's first row key) have their extremes at the ends.
                let in_order = (row + 1..end).all(|i| order(i - 1, i).is_le());
                let (low, high) = if in_order {
                    (row, end - 1)
                } else {
                    (row + 1..end).fold((row, row), |(low, high), i| {
                        (if order(i, low).is_lt() { i } else { low }, if order(i, high).is_gt() { i } else { high })
                    })
                };
                self.observe_extremes(&item(low), &item(high));
                self.add_to_base((row..end).map(&item), in_order);
                end
            };
            row = end;
        }
    }

    /// Adds items (no more than the base buffer has room for) of weight 1, whose extremes have
    /// been observed and which are `in_order` among themselves, and compacts the buffer once it
    /// is full.
    fn add_to_base(&mut self, items: impl Iterator<Item = T>, in_order: bool) {
        let before = self.base.len();
        self.base.extend(items);
        self.n += (self.base.len() - before) as u64;
        self.base_sorted &= in_order && (before == 0 || before == self.base.len() || T::order(&self.base[before - 1], &self.base[before]).is_le());
        if self.base.len() == 2 * K {
            self.compact_base();
        }
    }

    /// Sorts the full base buffer and carries its surviving half into the levels.
    fn compact_base(&mut self) {
        let mut full = std::mem::replace(&mut self.base, Vec::with_capacity(2 * K));
        if !std::mem::replace(&mut self.base_sorted, true) {
            full.sort_by(T::order);
        }
        let carry = self.halve(full);
        self.carry(carry);
    }

    fn observe_extremes(&mut self, low: &T, high: &T) {
        if self.min.as_ref().is_none_or(|m| T::order(low, m).is_lt()) {
            self.min = Some(low.clone());
        }
        if self.max.as_ref().is_none_or(|m| T::order(high, m).is_gt()) {
            self.max = Some(high.clone());
        }
    }

    /// Where halving starts: the first or the second item, at random.
    fn halving_offset(&mut self) -> usize {
        usize::from(self.rng.next_u32() & 1 == 1)
    }

    /// Every other item of `sorted` (`2k` items), from a random offset.
    fn halve(&mut self, sorted: Vec<T>) -> Vec<T> {
        let offset = self.halving_offset();
        sorted.into_iter().skip(offset).step_by(2).collect()
    }

    /// Adds `k` sorted items of level-0 weight, merging upwards through occupied levels.
    fn carry(&mut self, mut items: Vec<T>) {
        let mut level = 0;
        loop {
            if level == self.levels.len() {
                self.levels.push(None);
            }
            match self.levels[level].take() {
                None => {
                    self.levels[level] = Some(items);
                    return;
                }
                Some(resident) => {
                    let offset = self.halving_offset();
                    items = merge_halved(resident, items, offset);
                    level += 1;
                }
            }
        }
    }

    /// How many bytes the serialised form takes.
    fn serialised_len(&self) -> usize {
        let extremes = match (&self.min, &self.max) {
            (Some(min), Some(max)) => 8 + min.serialised_len() + max.serialised_len(),
            _ => 0,
        };
        let items: usize = self.base.iter().chain(self.levels.iter().flatten().flatten()).map(T::serialised_len).sum();
        8 + extremes + items
    }

    /// Appends DataSketches' compact, ordered serialisation to `out`.
    fn serialise_into(&self, out: &mut Vec<u8>) {
        let empty = self.n == 0;
        out.push(if empty { 1 } else { 2 });
        out.push(SERIAL_VERSION);
        out.push(FAMILY_QUANTILES);
        out.push(FLAG_COMPACT | FLAG_ORDERED | if empty { FLAG_EMPTY } else { 0 });
        out.extend_from_slice(&(K as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        if let (false, Some(min), Some(max)) = (empty, &self.min, &self.max) {
            out.extend_from_slice(&self.n.to_le_bytes());
            min.serialise(out);
            max.serialise(out);
            let levels = self.levels.iter().flatten().flatten();
            if self.base_sorted {
                self.base.iter().chain(levels).for_each(|item| item.serialise(out));
            } else {
                // Sorted by reference: the items stay where they are.
                let mut base: Vec<&T> = self.base.iter().collect();
                base.sort_by(|a, b| T::order(a, b));
                base.into_iter().chain(levels).for_each(|item| item.serialise(out));
            }
        }
    }
}

/// Every other item, from `offset`, of the merge of two sorted levels: the merge and the
/// halving in one pass, so that the discarded half is never moved into a merged buffer.
/// Levels of a sketch fed sorted rows (a data file's first row key) do not overlap: the newer
/// level starts at or after the end of the older, and the merge is the two side by side.
fn merge_halved<T: SketchItem>(a: Vec<T>, b: Vec<T>, offset: usize) -> Vec<T> {
    if let (Some(last), Some(first)) = (a.last(), b.first())
        && !T::order(first, last).is_lt()
    {
        return a.into_iter().chain(b).skip(offset).step_by(2).collect();
    }
    let mut out = Vec::with_capacity((a.len() + b.len()).div_ceil(2));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    let mut position = 0usize;
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => {
                if T::order(y, x).is_lt() {
                    b.next()
                } else {
                    a.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        let Some(item) = next else { return out };
        if position % 2 == offset {
            out.push(item);
        }
        position += 1;
    }
}

/// The sketch of one row-key field, by the type Sleeper sketches it as.
#[derive(Debug)]
enum FieldSketch {
    Long(QuantilesSketch<i64>),
    String(QuantilesSketch<JavaString>),
    Bytes(QuantilesSketch<JavaBytes>),
}

fn update_strings<'a>(sketch: &mut QuantilesSketch<JavaString>, values: impl ArrayAccessor<Item = &'a str> + Copy) {
    sketch.update_rows(values.len(), |i| JavaString::from(values.value(i)), |a, b| java_string_cmp(values.value(a), values.value(b)));
}

fn update_bytes<'a>(sketch: &mut QuantilesSketch<JavaBytes>, values: impl ArrayAccessor<Item = &'a [u8]> + Copy) {
    sketch.update_rows(values.len(), |i| JavaBytes::from(values.value(i)), |a, b| signed_bytes_cmp(values.value(a), values.value(b)));
}

/// The sketches of one data file: one per row-key field.
#[derive(Debug)]
pub struct Sketches {
    fields: Vec<FieldSketch>,
}

impl Sketches {
    /// Empty sketches for row keys of the given Arrow types (Int32, Int64, Utf8, Binary).
    pub fn new(row_key_types: &[DataType]) -> Result<Self> {
        let fields = row_key_types
            .iter()
            .map(|t| match t {
                DataType::Int32 | DataType::Int64 => Ok(FieldSketch::Long(QuantilesSketch::default())),
                DataType::Utf8 | DataType::Utf8View => Ok(FieldSketch::String(QuantilesSketch::default())),
                DataType::Binary | DataType::BinaryView => Ok(FieldSketch::Bytes(QuantilesSketch::default())),
                other => Err(Error::Sketch(format!("no sketch for row keys of type {other}"))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Sketches { fields })
    }

    /// Adds every row of the row-key columns, in schema order. Keys are never null.
    pub fn update(&mut self, row_keys: &[ArrayRef]) -> Result<()> {
        for (sketch, column) in self.fields.iter_mut().zip(row_keys) {
            if column.null_count() > 0 {
                return Err(Error::Sketch("a row key column holds nulls".into()));
            }
            match (sketch, column.data_type()) {
                (FieldSketch::Long(s), DataType::Int64) => {
                    let values = column.as_primitive::<Int64Type>().values();
                    s.update_rows(values.len(), |i| values[i], |a, b| values[a].cmp(&values[b]));
                }
                (FieldSketch::Long(s), DataType::Int32) => {
                    let values = column.as_primitive::<Int32Type>().values();
                    s.update_rows(values.len(), |i| i64::from(values[i]), |a, b| values[a].cmp(&values[b]));
                }
                (FieldSketch::String(s), DataType::Utf8) => update_strings(s, column.as_string::<i32>()),
                (FieldSketch::String(s), DataType::Utf8View) => update_strings(s, column.as_string_view()),
                (FieldSketch::Bytes(s), DataType::Binary) => update_bytes(s, column.as_binary::<i32>()),
                (FieldSketch::Bytes(s), DataType::BinaryView) => update_bytes(s, column.as_binary_view()),
                (_, other) => return Err(Error::Sketch(format!("a row key column of type {other} does not match its sketch"))),
            }
        }
        Ok(())
    }

    /// The sidecar's bytes: per field, a 4-byte big-endian length, then the sketch.
    pub fn to_bytes(&self) -> Vec<u8> {
        fn append<T: SketchItem>(sketch: &QuantilesSketch<T>, out: &mut Vec<u8>) {
            out.extend_from_slice(&(sketch.serialised_len() as u32).to_be_bytes());
            sketch.serialise_into(out);
        }
        let size = |field: &FieldSketch| match field {
            FieldSketch::Long(s) => s.serialised_len(),
            FieldSketch::String(s) => s.serialised_len(),
            FieldSketch::Bytes(s) => s.serialised_len(),
        };
        let mut out = Vec::with_capacity(self.fields.iter().map(|field| 4 + size(field)).sum());
        for field in &self.fields {
            match field {
                FieldSketch::Long(s) => append(s, &mut out),
                FieldSketch::String(s) => append(s, &mut out),
                FieldSketch::Bytes(s) => append(s, &mut out),
            }
        }
        out
    }
}

/// The sidecar's name for a data file: `<uuid>.parquet` becomes `<uuid>.sketches`.
pub fn sketches_path(data_file: &str) -> String {
    let stem = data_file.strip_suffix(".parquet").unwrap_or(data_file);
    format!("{stem}.sketches")
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<T: SketchItem> QuantilesSketch<T> {
        /// The sketch alone, serialised as the sidecar holds it.
        fn serialise(&self) -> Vec<u8> {
            let mut out = Vec::with_capacity(self.serialised_len());
            self.serialise_into(&mut out);
            out
        }
    }

    /// The items a sketch holds with their weights, sorted: what its quantiles are read from.
    fn weighted<T: SketchItem>(sketch: &QuantilesSketch<T>) -> Vec<(T, u64)> {
        let mut items: Vec<(T, u64)> = sketch.base.iter().map(|i| (i.clone(), 1)).collect();
        for (level, items_at) in sketch.levels.iter().enumerate() {
            items.extend(items_at.iter().flatten().map(|i| (i.clone(), 2u64 << level)));
        }
        items.sort_by(|a, b| T::order(&a.0, &b.0));
        items
    }

    #[test]
    fn the_weights_always_add_up_to_n_and_levels_follow_its_bits() {
        let mut sketch = QuantilesSketch::<i64>::with_seed(1);
        for i in 0..(2 * K as i64 * 11 + 37) {
            sketch.update((i * 7919) % 100_003);
        }
        let total: u64 = weighted(&sketch).iter().map(|(_, w)| w).sum();
        assert_eq!(total, sketch.n());
        assert_eq!(sketch.base.len(), 37);
        let pattern: Vec<bool> = sketch.levels.iter().map(Option::is_some).collect();
        assert_eq!(pattern, [true, true, false, true], "11 = 0b1011");
        assert!(sketch.levels.iter().flatten().all(|l| l.len() == K && l.is_sorted()));
    }

    #[test]
    fn column_updates_keep_the_invariants_of_item_updates() {
        let values: Vec<i64> = (0..(2 * K as i64 * 5 + 100)).map(|i| (i * 7919) % 100_003).collect();
        let mut by_rows = QuantilesSketch::<i64>::with_seed(1);
        // In slices that start mid-buffer, as a writer's batches do.
        for slice in values.chunks(3000) {
            by_rows.update_rows(slice.len(), |i| slice[i], |a, b| slice[a].cmp(&slice[b]));
        }
        assert_eq!(by_rows.n(), values.len() as u64);
        assert_eq!(weighted(&by_rows).iter().map(|(_, w)| w).sum::<u64>(), by_rows.n());
        assert_eq!((by_rows.min, by_rows.max), (values.iter().min().copied(), values.iter().max().copied()));
        assert!(by_rows.levels.iter().flatten().all(|l| l.len() == K && l.is_sorted()));
        let mut by_items = QuantilesSketch::<i64>::with_seed(1);
        for &v in &values {
            by_items.update(v);
        }
        assert_eq!(by_rows.serialise(), by_items.serialise(), "the same seed draws the same halvings either way");
    }

    #[test]
    fn merging_and_halving_keeps_every_other_item_of_the_stable_merge() {
        let cases: [(&[i64], &[i64]); 6] = [
            (&[1, 3, 5, 7], &[2, 4, 6, 8]),
            (&[1, 2, 3, 4], &[5, 6, 7, 8]),
            (&[1, 2, 3, 4], &[4, 5, 6, 7]),
            (&[5, 6, 7, 8], &[1, 2, 3, 4]),
            (&[1, 1, 2, 9], &[1, 2, 2, 3]),
            (&[], &[1, 2]),
        ];
        for (a, b) in cases {
            // Ties are told apart by origin: the older level's items come first.
            let mut merged: Vec<(i64, u8)> = a.iter().map(|&v| (v, 0)).chain(b.iter().map(|&v| (v, 1))).collect();
            merged.sort_by_key(|&(v, origin)| (v, origin));
            for offset in [0, 1] {
                let expected: Vec<i64> = merged.iter().skip(offset).step_by(2).map(|&(v, _)| v).collect();
                assert_eq!(merge_halved(a.to_vec(), b.to_vec(), offset), expected, "{a:?} {b:?} from {offset}");
            }
        }
    }

    #[test]
    fn the_extremes_of_small_batches_are_found_sorted_or_not() {
        // Below a base buffer's size a batch tops the buffer up: a sorted one gives its ends,
        // any other is searched.
        for batch in [vec![3, 5, 9, 12], vec![3, 5, 5, 9, 1], vec![7, 2, 8, 8], vec![12, 9, 5, 3], vec![4]] {
            let mut sketch = QuantilesSketch::<i64>::with_seed(1);
            sketch.update_rows(batch.len(), |i| batch[i], |a, b| batch[a].cmp(&batch[b]));
            assert_eq!((sketch.min, sketch.max), (batch.iter().min().copied(), batch.iter().max().copied()), "{batch:?}");
            assert_eq!(sketch.n(), batch.len() as u64);
        }
    }

    #[test]
    fn sorted_string_columns_in_uneven_batches_sketch_as_item_updates_do() {
        let keys: Vec<String> = (0..2 * K * 7 + 5).map(|i| format!("key-{i:09}-{}", "\u{e9}".repeat(i % 20))).collect();
        let mut by_items = QuantilesSketch::<JavaString>::with_seed(9);
        for k in &keys {
            by_items.update(JavaString::from(k.as_str()));
        }
        let mut by_rows = QuantilesSketch::<JavaString>::with_seed(9);
        let mut start = 0;
        for len in [1, 2047, 2049, 5000, 4096, 10].into_iter().cycle() {
            let batch = arrow::array::StringViewArray::from_iter_values(&keys[start..keys.len().min(start + len)]);
            update_strings(&mut by_rows, &batch);
            start += len;
            if start >= keys.len() {
                break;
            }
        }
        assert_eq!(by_rows.n(), keys.len() as u64);
        assert_eq!(by_rows.min.as_ref().map(JavaString::as_bytes), Some(keys[0].as_bytes()));
        assert_eq!(by_rows.max.as_ref().map(JavaString::as_bytes), keys.last().map(String::as_bytes));
        assert_eq!(by_rows.serialise(), by_items.serialise());
    }

    #[test]
    fn a_base_buffer_known_to_be_in_order_is_in_order_and_serialises_as_a_sorted_one() {
        // Batches sorted, sorted across their boundaries or not, unsorted, and single items,
        // both before and after a full buffer is compacted.
        let ascending: Vec<i64> = (0..3000).collect();
        let descending: Vec<i64> = ascending.iter().rev().copied().collect();
        let cases: [(&str, Vec<Vec<i64>>); 6] = [
            ("one sorted run", ascending.chunks(700).map(<[i64]>::to_vec).collect()),
            ("descending, past a full buffer", descending.chunks(700).map(<[i64]>::to_vec).collect()),
            ("sorted batches that overlap", vec![vec![5, 6, 7], vec![6, 8], vec![9, 10]]),
            ("a batch out of order", vec![vec![1, 2, 3], vec![9, 4], vec![10, 11]]),
            ("sorted, then one item below", vec![vec![1, 2, 3], vec![2]]),
            ("a run past a full buffer, then lower", vec![ascending[..2100].to_vec(), vec![3, 2]]),
        ];
        for (name, batches) in cases {
            let mut sketch = QuantilesSketch::<i64>::with_seed(5);
            for batch in &batches {
                if batch.len() == 1 {
                    sketch.update(batch[0]);
                } else {
                    sketch.update_rows(batch.len(), |i| batch[i], |a, b| batch[a].cmp(&batch[b]));
                }
                assert!(!sketch.base_sorted || sketch.base.is_sorted(), "{name}: {:?} is marked in order", sketch.base);
                assert!(sketch.levels.iter().flatten().all(|l| l.is_sorted()), "{name}: a level out of order");
            }
            let bytes = sketch.serialise();
            assert_eq!(bytes.len(), sketch.serialised_len(), "{name}");
            sketch.base_sorted = false;
            assert_eq!(bytes, sketch.serialise(), "{name}: the same bytes as with the buffer sorted");
        }
        let mut in_order = QuantilesSketch::<i64>::with_seed(5);
        in_order.update_rows(ascending.len(), |i| ascending[i], |a, b| ascending[a].cmp(&ascending[b]));
        assert!(in_order.base_sorted, "a sorted column keeps its buffer marked in order");
    }

    #[test]
    fn quantiles_are_within_the_error_bound() {
        let n = 1_000_000i64;
        let mut sketch = QuantilesSketch::<i64>::with_seed(7);
        for i in 0..n {
            sketch.update((i * 104_729) % n);
        }
        let items = weighted(&sketch);
        let mut seen = 0u64;
        for (value, weight) in items {
            seen += weight;
            // The true rank of `value` is `value` itself (a permutation of 0..n).
            let error = (seen as f64 - value as f64).abs() / n as f64;
            assert!(error < 0.01, "item {value} at estimated rank {seen}");
        }
    }

    #[test]
    fn strings_order_as_java_and_serialise_with_little_endian_lengths() {
        let mut sketch = QuantilesSketch::<JavaString>::with_seed(3);
        for s in ["b", "\u{1F600}", "\u{FFFF}", "a"] {
            sketch.update(JavaString::from(s));
        }
        assert_eq!(sketch.min.as_ref().unwrap().as_bytes(), b"a");
        assert_eq!(sketch.max.as_ref().unwrap().as_bytes(), "\u{FFFF}".as_bytes(), "U+FFFF is after a surrogate pair in UTF-16");
        let bytes = sketch.serialise();
        assert_eq!(&bytes[..8], &[2, 3, 8, 0x18, 0x00, 0x04, 0, 0]);
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 4);
        assert_eq!(&bytes[16..21], &[1, 0, 0, 0, b'a']);
    }

    #[test]
    fn an_empty_sketch_is_one_preamble_long() {
        assert_eq!(QuantilesSketch::<i64>::with_seed(0).serialise(), [1, 3, 8, 0x1c, 0x00, 0x04, 0, 0]);
    }

    #[test]
    fn byte_arrays_order_as_signed_bytes() {
        let mut sketch = QuantilesSketch::<JavaBytes>::with_seed(3);
        for b in [vec![0x7f], vec![0x80], vec![0x00]] {
            sketch.update(JavaBytes::from(b.as_slice()));
        }
        assert_eq!(sketch.min.unwrap().as_bytes(), &[0x80], "0x80 is -128");
    }

    #[test]
    fn the_sidecar_frames_each_field_with_a_big_endian_length() {
        use std::sync::Arc;
        let mut sketches = Sketches::new(&[DataType::Int32, DataType::Utf8]).unwrap();
        let ints: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![3, 1, 2]));
        let strings: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["x", "y", "z"]));
        sketches.update(&[ints, strings]).unwrap();
        let bytes = sketches.to_bytes();
        let first = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        // Preamble, n, min, max and three longs.
        assert_eq!(first, 16 + 8 * 5);
        assert_eq!(i64::from_le_bytes(bytes[4 + 16..4 + 24].try_into().unwrap()), 1, "the int min, widened");
        let second = u32::from_be_bytes(bytes[4 + first..8 + first].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 8 + first + second);
        assert_eq!(bytes.capacity(), bytes.len(), "sized before it is written");
        assert_eq!(sketches_path("a/b/c.parquet"), "a/b/c.sketches");
    }
}
