//! zstd's match tables sized to each input that Parquet compresses whole.
//!
//! Told an input's size, zstd picks its tables for it, but generously: at level 3 a 10 KiB page
//! gets a 128 KiB hash table and a 64 KiB second one (`hashLog` up to the input's log + 1). Each
//! position of the input lands in both at random, so compressing one such page touches nearly
//! every cache line of 192 KiB. Parquet compresses each page apart, with scanning, sorting and
//! encoding in between, so the tables are cold every time. A job of 10,000 small files into
//! 10,000 leaves writes 30,000 pages of 6–10 KiB, and zstd's fastest strategies then spend most
//! of their time waiting on those lines (BENCHMARKS.md, issue 14).
//!
//! For the two strategies whose tables are only that, hashes of positions (`ZSTD_fast` and
//! `ZSTD_dfast`: levels 1 to 4 for small inputs), [`__wrap_ZSTD_compress2`] caps the hash table
//! at a quarter of the input's size class and the second table at an eighth (in entries), and
//! never above what zstd would choose. The frame is an ordinary zstd frame at the level asked
//! for; only the search is smaller. Measured on the wide job's pages, cold: 1.9–2.4 s → 0.83 s
//! per 250 MB, and a ratio of 1.3346 against 1.3339; on source code in 10 KiB pages 0.3% larger.
//! Slower strategies, which users choose for ratio, are left as zstd sets them.
//!
//! The binaries link `ZSTD_compress2` wrapped (`core/build/link_zstd_contexts.rs`), the call the
//! `zstd` crate's bulk compressor, and through it parquet's codec, makes for every page. The
//! wrapper does what `ZSTD_compress2` does, through zstd's streaming call, because the wrapped
//! name cannot be called from here without the link flag every test binary would then need.

use std::ffi::{c_int, c_uint, c_ulonglong, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use zstd_sys::{ZSTD_CCtx, ZSTD_EndDirective, ZSTD_ResetDirective, ZSTD_cParameter, ZSTD_inBuffer, ZSTD_outBuffer, ZSTD_strategy};

/// zstd's smallest `hashLog` and `chainLog` (`ZSTD_HASHLOG_MIN`, `ZSTD_CHAINLOG_MIN`).
const MIN_TABLE_LOG: u32 = 6;
/// `ZSTD_c_stableInBuffer` and `ZSTD_c_stableOutBuffer`, zstd's names for these two values.
const STABLE_IN_BUFFER: ZSTD_cParameter = ZSTD_cParameter::ZSTD_c_experimentalParam9;
const STABLE_OUT_BUFFER: ZSTD_cParameter = ZSTD_cParameter::ZSTD_c_experimentalParam10;

static SIZED: AtomicU64 = AtomicU64::new(0);

/// How many compressions had their tables made smaller since the process started; zero when the
/// binary was linked without the wrapper.
pub fn sized_compressions() -> u64 {
    SIZED.load(Ordering::Relaxed)
}

/// `ZSTD_compressionParameters`, which `zstd-sys` declares only with its `experimental` feature;
/// that feature would rebuild every crate above zstd for two declarations.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct CompressionParameters {
    window_log: c_uint,
    chain_log: c_uint,
    hash_log: c_uint,
    search_log: c_uint,
    min_match: c_uint,
    target_length: c_uint,
    strategy: ZSTD_strategy,
}

unsafe extern "C" {
    /// The parameters zstd chooses for a level and an input of a known size.
    fn ZSTD_getCParams(level: c_int, src_size: c_ulonglong, dict_size: usize) -> CompressionParameters;
    fn ZSTD_CCtx_getParameter(cctx: *mut ZSTD_CCtx, param: ZSTD_cParameter, value: *mut c_int) -> usize;
}

/// The `(hashLog, chainLog)` to ask for when compressing `src_size` bytes with `chosen`, zstd's
/// own choice; `None` to leave zstd's.
fn table_logs(src_size: usize, chosen: &CompressionParameters) -> Option<(u32, u32)> {
    if !matches!(chosen.strategy, ZSTD_strategy::ZSTD_fast | ZSTD_strategy::ZSTD_dfast) {
        return None;
    }
    let size_log = usize::BITS - src_size.max(1).saturating_sub(1).leading_zeros();
    let hash_log = size_log.saturating_sub(2).max(MIN_TABLE_LOG).min(chosen.hash_log);
    let chain_log = size_log.saturating_sub(3).max(MIN_TABLE_LOG).min(chosen.chain_log);
    (hash_log < chosen.hash_log || chain_log < chosen.chain_log).then_some((hash_log, chain_log))
}

/// Sets the context's table sizes for this input: capped, or zstd's own (0) again.
///
/// # Safety
/// `cctx` is live and between frames.
unsafe fn size_tables(cctx: *mut ZSTD_CCtx, src_size: usize) -> usize {
    let mut level: c_int = 0;
    // SAFETY: per this function's contract; `level` is written by zstd.
    let read = unsafe { ZSTD_CCtx_getParameter(cctx, ZSTD_cParameter::ZSTD_c_compressionLevel, &raw mut level) };
    if is_error(read) {
        return read;
    }
    // SAFETY: a pure function of its arguments.
    let chosen = unsafe { ZSTD_getCParams(level, src_size as c_ulonglong, 0) };
    let (hash_log, chain_log) = match table_logs(src_size, &chosen) {
        Some(logs) => {
            SIZED.fetch_add(1, Ordering::Relaxed);
            logs
        }
        None => (0, 0),
    };
    for (param, value) in [(ZSTD_cParameter::ZSTD_c_hashLog, hash_log), (ZSTD_cParameter::ZSTD_c_chainLog, chain_log)] {
        // SAFETY: per this function's contract.
        let set = unsafe { zstd_sys::ZSTD_CCtx_setParameter(cctx, param, value as c_int) };
        if is_error(set) {
            return set;
        }
    }
    0
}

fn is_error(code: usize) -> bool {
    // SAFETY: reads a return code.
    unsafe { zstd_sys::ZSTD_isError(code) != 0 }
}

/// zstd's error code for an output buffer too small for the frame, as its functions return it.
fn dst_size_too_small() -> usize {
    0usize.wrapping_sub(zstd_sys::ZSTD_ErrorCode::ZSTD_error_dstSize_tooSmall as usize)
}

/// `ZSTD_compress2`, with the tables sized to `src_size` first: one whole frame of `src` into
/// `dst`, and its size or an error code.
///
/// # Safety
/// As for `ZSTD_compress2`: `cctx` is a live context, `src` holds `src_size` readable bytes and
/// `dst` `dst_capacity` writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_ZSTD_compress2(
    cctx: *mut ZSTD_CCtx,
    dst: *mut c_void,
    dst_capacity: usize,
    src: *const c_void,
    src_size: usize,
) -> usize {
    // SAFETY: the caller's contract is ZSTD_compress2's; each call below is one it makes.
    unsafe {
        zstd_sys::ZSTD_CCtx_reset(cctx, ZSTD_ResetDirective::ZSTD_reset_session_only);
        let sized = size_tables(cctx, src_size);
        if is_error(sized) {
            return sized;
        }
        // Stable buffers, as ZSTD_compress2 sets them for its one call, then puts back.
        let (mut stable_in, mut stable_out): (c_int, c_int) = (0, 0);
        ZSTD_CCtx_getParameter(cctx, STABLE_IN_BUFFER, &raw mut stable_in);
        ZSTD_CCtx_getParameter(cctx, STABLE_OUT_BUFFER, &raw mut stable_out);
        zstd_sys::ZSTD_CCtx_setParameter(cctx, STABLE_IN_BUFFER, 1);
        zstd_sys::ZSTD_CCtx_setParameter(cctx, STABLE_OUT_BUFFER, 1);
        let mut output = ZSTD_outBuffer { dst, size: dst_capacity, pos: 0 };
        let mut input = ZSTD_inBuffer { src, size: src_size, pos: 0 };
        let remaining = zstd_sys::ZSTD_compressStream2(cctx, &raw mut output, &raw mut input, ZSTD_EndDirective::ZSTD_e_end);
        // A frame left unfinished must not hold the context: the next call starts afresh anyway.
        if remaining != 0 {
            zstd_sys::ZSTD_CCtx_reset(cctx, ZSTD_ResetDirective::ZSTD_reset_session_only);
        }
        zstd_sys::ZSTD_CCtx_setParameter(cctx, STABLE_IN_BUFFER, stable_in);
        zstd_sys::ZSTD_CCtx_setParameter(cctx, STABLE_OUT_BUFFER, stable_out);
        match remaining {
            0 => output.pos,
            error if is_error(error) => error,
            _ => dst_size_too_small(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A context of its own at `level`, freed when dropped.
    struct Context(*mut ZSTD_CCtx);

    impl Drop for Context {
        fn drop(&mut self) {
            unsafe { zstd_sys::ZSTD_freeCStream(self.0) };
        }
    }

    fn context(level: i32) -> Context {
        let cctx = unsafe { zstd_sys::ZSTD_createCStream() };
        assert!(!is_error(unsafe { zstd_sys::ZSTD_CCtx_setParameter(cctx, ZSTD_cParameter::ZSTD_c_compressionLevel, level) }));
        Context(cctx)
    }

    fn parameter(cctx: &Context, param: ZSTD_cParameter) -> i32 {
        let mut value = -1;
        assert!(!is_error(unsafe { ZSTD_CCtx_getParameter(cctx.0, param, &raw mut value) }));
        value
    }

    /// Compresses with the wrapper (`wrapped`) or with zstd's own `ZSTD_compress2`.
    fn compress(cctx: &Context, input: &[u8], capacity: usize, wrapped: bool) -> Result<Vec<u8>, usize> {
        let cctx = cctx.0;
        let mut out = vec![0u8; capacity];
        let call = if wrapped { __wrap_ZSTD_compress2 } else { zstd_sys::ZSTD_compress2 };
        let written = unsafe { call(cctx, out.as_mut_ptr().cast(), out.len(), input.as_ptr().cast(), input.len()) };
        if is_error(written) {
            return Err(written);
        }
        out.truncate(written);
        Ok(out)
    }

    fn decompress(frame: &[u8], size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        let read = unsafe { zstd_sys::ZSTD_decompress(out.as_mut_ptr().cast(), out.len(), frame.as_ptr().cast(), frame.len()) };
        assert!(!is_error(read));
        out.truncate(read);
        out
    }

    fn bound(input: &[u8]) -> usize {
        unsafe { zstd_sys::ZSTD_compressBound(input.len()) }
    }

    /// Text that compresses, with matches near and far.
    fn text(bytes: usize) -> Vec<u8> {
        (0u32..)
            .flat_map(|i| format!("row {} key k{:05} value {}\n", i, i.wrapping_mul(2_654_435_761) % 977, i % 13).into_bytes())
            .take(bytes)
            .collect()
    }

    #[test]
    fn table_logs_cap_the_fast_strategies_below_zstds_choice() {
        for (level, size) in [(1, 10_000), (3, 10_000), (3, 100_000), (4, 6_000), (-5, 50_000)] {
            let chosen = unsafe { ZSTD_getCParams(level, size as u64, 0) };
            let (hash_log, chain_log) = table_logs(size, &chosen).unwrap_or((chosen.hash_log, chosen.chain_log));
            assert!(hash_log <= chosen.hash_log && chain_log <= chosen.chain_log, "level {level}, {size} bytes: {chosen:?}");
        }
        // A 10,000-byte page at level 3: 2^14 in size; zstd takes 2^15 and 2^14 entries.
        let chosen = unsafe { ZSTD_getCParams(3, 10_000, 0) };
        assert_eq!((chosen.hash_log, chosen.chain_log), (15, 14));
        assert_eq!(table_logs(10_000, &chosen), Some((12, 11)));
        // Exactly 2^14 bytes is still size class 14.
        assert_eq!(table_logs(16_384, &chosen), Some((12, 11)));
        // Tiny inputs go no lower than zstd allows.
        assert_eq!(table_logs(10, &unsafe { ZSTD_getCParams(3, 10, 0) }), Some((6, 6)));
        // Large inputs keep zstd's choice, and so do the slower strategies at any size.
        assert_eq!(table_logs(4 << 20, &unsafe { ZSTD_getCParams(3, 4 << 20, 0) }), None);
        assert_eq!(table_logs(10_000, &unsafe { ZSTD_getCParams(9, 10_000, 0) }), None);
    }

    #[test]
    fn the_wrapper_compresses_as_zstd_compress2_with_the_tables_it_sets() {
        let small = text(10_000);
        let large = text(3 << 20);

        // A small page: smaller tables, an ordinary frame of it.
        let cctx = context(3);
        let sized_before = sized_compressions();
        let frame = compress(&cctx, &small, bound(&small), true).unwrap();
        assert_eq!(sized_compressions(), sized_before + 1);
        assert_eq!((parameter(&cctx, ZSTD_cParameter::ZSTD_c_hashLog), parameter(&cctx, ZSTD_cParameter::ZSTD_c_chainLog)), (12, 11));
        assert_eq!(decompress(&frame, small.len()), small);
        // Byte for byte what zstd's own call makes with those tables asked for.
        let reference = context(3);
        unsafe {
            zstd_sys::ZSTD_CCtx_setParameter(reference.0, ZSTD_cParameter::ZSTD_c_hashLog, 12);
            zstd_sys::ZSTD_CCtx_setParameter(reference.0, ZSTD_cParameter::ZSTD_c_chainLog, 11);
        }
        assert_eq!(compress(&reference, &small, bound(&small), false).unwrap(), frame);

        // A large input on the same context: zstd's tables again, and zstd's own frame.
        let frame = compress(&cctx, &large, bound(&large), true).unwrap();
        assert_eq!((parameter(&cctx, ZSTD_cParameter::ZSTD_c_hashLog), parameter(&cctx, ZSTD_cParameter::ZSTD_c_chainLog)), (0, 0));
        assert_eq!(frame, compress(&context(3), &large, bound(&large), false).unwrap());
        // A slow level on a small page: untouched.
        assert_eq!(compress(&context(12), &small, bound(&small), true).unwrap(), compress(&context(12), &small, bound(&small), false).unwrap());
        // The buffer modes are put back as they were.
        assert_eq!((parameter(&cctx, STABLE_IN_BUFFER), parameter(&cctx, STABLE_OUT_BUFFER)), (0, 0));

        // An output buffer too small: zstd's error, and the context still compresses afterwards.
        let error = compress(&cctx, &large, 100, true).unwrap_err();
        assert_eq!(error, dst_size_too_small());
        assert_eq!(error, compress(&context(3), &large, 100, false).unwrap_err());
        assert_eq!(decompress(&compress(&cctx, &small, bound(&small), true).unwrap(), small.len()), small);
    }
}
