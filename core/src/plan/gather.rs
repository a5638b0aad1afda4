//! The gather of sorted rows from the batches that hold them, for the columns it costs most.
//!
//! A leaf's rows sorted by key come from every batch the task held, in no order of place, so
//! nearly every row read misses the cache. Arrow's `interleave` reads them one after the
//! other; here the address of a row some way ahead is prefetched while the current one is
//! copied, so that the misses overlap. Views and fixed-width values without nulls take this
//! path; any other column is gathered by `interleave`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, GenericByteViewArray, PrimitiveArray};
use arrow::compute::interleave;
use arrow::datatypes::{ArrowPrimitiveType, BinaryViewType, ByteViewType, DataType, Int32Type, Int64Type, StringViewType};
use arrow::error::ArrowError;

/// How many rows ahead the gather prefetches.
const AHEAD: usize = 32;

/// Rows `indices` (source, row) of `sources`, all of one type.
pub(super) fn gather(sources: &[&dyn Array], indices: &[(usize, usize)]) -> Result<ArrayRef, ArrowError> {
    if sources.iter().any(|s| s.null_count() > 0) {
        return interleave(sources, indices);
    }
    match sources.first().map(|s| s.data_type()) {
        Some(DataType::Utf8View) => Ok(gather_views::<StringViewType>(sources, indices)),
        Some(DataType::BinaryView) => Ok(gather_views::<BinaryViewType>(sources, indices)),
        Some(DataType::Int64) => Ok(gather_primitive::<Int64Type>(sources, indices)),
        Some(DataType::Int32) => Ok(gather_primitive::<Int32Type>(sources, indices)),
        _ => interleave(sources, indices),
    }
}

#[inline]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(value).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

fn gather_primitive<T: ArrowPrimitiveType>(sources: &[&dyn Array], indices: &[(usize, usize)]) -> ArrayRef {
    let values: Vec<&[T::Native]> = sources.iter().map(|s| s.as_primitive::<T>().values().as_ref()).collect();
    let mut out = Vec::with_capacity(indices.len());
    for (i, &(source, row)) in indices.iter().enumerate() {
        if let Some(&(s, r)) = indices.get(i + AHEAD) {
            prefetch(&values[s][r]);
        }
        out.push(values[source][row]);
    }
    let data_type = sources[0].data_type().clone();
    Arc::new(PrimitiveArray::<T>::new(out.into(), None).with_data_type(data_type))
}

fn gather_views<T: ByteViewType>(sources: &[&dyn Array], indices: &[(usize, usize)]) -> ArrayRef {
    let arrays: Vec<&GenericByteViewArray<T>> = sources.iter().map(|s| s.as_byte_view::<T>()).collect();
    let views: Vec<&[u128]> = arrays.iter().map(|a| a.views().as_ref()).collect();
    // Where each source's data buffers start among all of them, and where a used one went.
    let mut first_buffer = Vec::with_capacity(arrays.len());
    let mut total = 0;
    for array in &arrays {
        first_buffer.push(total);
        total += array.data_buffers().len();
    }
    let mut placed: Vec<Option<u32>> = vec![None; total];
    let mut buffers = Vec::new();
    let mut out = Vec::with_capacity(indices.len());
    for (i, &(source, row)) in indices.iter().enumerate() {
        if let Some(&(s, r)) = indices.get(i + AHEAD) {
            prefetch(&views[s][r]);
        }
        let view = views[source][row];
        if (view as u32) <= 12 {
            out.push(view);
            continue;
        }
        let mut long = arrow::array::ByteView::from(view);
        let index = *placed[first_buffer[source] + long.buffer_index as usize].get_or_insert_with(|| {
            buffers.push(arrays[source].data_buffers()[long.buffer_index as usize].clone());
            (buffers.len() - 1) as u32
        });
        long.buffer_index = index;
        out.push(long.as_u128());
    }
    // SAFETY: every view is a valid view of its source with its buffer index moved to where
    // that buffer now is; the bytes it names are the source's, already valid for `T`.
    Arc::new(unsafe { GenericByteViewArray::<T>::new_unchecked(out.into(), buffers, None) })
}

#[cfg(test)]
mod tests {
    use arrow::array::{BinaryViewArray, Int32Array, Int64Array, StringViewArray};

    use super::*;

    #[test]
    fn gathers_as_interleave_does() {
        let long = |i: usize| format!("a value long enough to live in a buffer, number {i}");
        let strings: Vec<ArrayRef> = (0..3)
            .map(|b| {
                Arc::new(StringViewArray::from_iter_values((0..50).map(|i| if i % 3 == 0 { long(b * 100 + i) } else { format!("s{b}-{i}") })))
                    as ArrayRef
            })
            .collect();
        let binaries: Vec<ArrayRef> =
            (0..3).map(|b| Arc::new(BinaryViewArray::from_iter_values((0..50).map(|i| long(b * 7 + i).into_bytes()))) as ArrayRef).collect();
        let longs: Vec<ArrayRef> = (0..3).map(|b| Arc::new(Int64Array::from_iter_values((0..50).map(|i| b * 1000 - i))) as ArrayRef).collect();
        let ints: Vec<ArrayRef> = (0..3).map(|b| Arc::new(Int32Array::from_iter_values((0..50).map(|i| b * 10 + i))) as ArrayRef).collect();
        let with_nulls: Vec<ArrayRef> = (0..3).map(|b| Arc::new(Int64Array::from(vec![Some(b), None, Some(2)])) as ArrayRef).collect();
        let indices: Vec<(usize, usize)> = (0..120).map(|i| ((i * 7) % 3, (i * 13) % 50)).collect();
        for columns in [strings, binaries, longs, ints] {
            let sources: Vec<&dyn Array> = columns.iter().map(AsRef::as_ref).collect();
            assert_eq!(gather(&sources, &indices).unwrap().to_data(), interleave(&sources, &indices).unwrap().to_data());
        }
        let sources: Vec<&dyn Array> = with_nulls.iter().map(AsRef::as_ref).collect();
        let few: Vec<(usize, usize)> = (0..9).map(|i| (i % 3, i % 3)).collect();
        assert_eq!(gather(&sources, &few).unwrap().to_data(), interleave(&sources, &few).unwrap().to_data());
    }
}
