//! Reused zstd contexts for every Parquet column chunk this process reads or writes.
//!
//! parquet 59's `ZSTDCodec::new` creates a compression *and* a decompression context for every
//! column chunk it opens, to read or to write, and drops both when the chunk is done. A job of
//! 10,000 small files into 10,000 leaves opens 60,000 column chunks, so 120,000 contexts. Creating
//! one is cheap except for zstd's `cpuid` probe of the CPU, which traps to the hypervisor on a
//! virtual machine: `ZSTD_createCCtx` and `ZSTD_createDCtx` were 17% of that job's samples, all of
//! it on the instructions after `cpuid` (BENCHMARKS.md, issue 14).
//!
//! The binaries link with `--wrap` for the four functions below
//! (`core/build/link_zstd_contexts.rs`, the build script of `bulk-import-driver` and `executor`,
//! on Linux), so that Rust's calls to them (the `zstd` crate's, and through it parquet's, Arrow
//! IPC's and DataFusion's) come here. A freed context is reset to the state of a new one
//! (session, parameters and dictionary) and kept, up to [`MAX_POOLED_PER_KIND`]; a created
//! context is a kept one if there is one. Calls from inside the zstd library itself are not
//! wrapped, so contexts are made and destroyed for real through `ZSTD_createCStream` /
//! `ZSTD_freeCStream` and their decompression twins, the same functions under other names.
//! Without the link flags (another platform, or a test binary) the wrappers are never called and
//! nothing changes.

use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use zstd_sys::{ZSTD_CCtx, ZSTD_DCtx, ZSTD_ResetDirective};

/// Contexts kept per kind. About as many as a busy process has open at once (a writer task per
/// slot times four, each with a context per column); a kept compression context holds its work
/// space, about 2 MiB after a 1 MiB page at level 3, so this bounds what is kept to tens of MiB.
pub const MAX_POOLED_PER_KIND: usize = 32;

/// A context owned by the pool, which no caller holds.
struct Kept<T>(NonNull<T>);

// SAFETY: a zstd context is plain memory with no thread affinity; the pool hands each one to one
// caller at a time.
unsafe impl<T> Send for Kept<T> {}

static COMPRESSION: Mutex<Vec<Kept<ZSTD_CCtx>>> = Mutex::new(Vec::new());
static DECOMPRESSION: Mutex<Vec<Kept<ZSTD_DCtx>>> = Mutex::new(Vec::new());
static CREATED: AtomicU64 = AtomicU64::new(0);
static REUSED: AtomicU64 = AtomicU64::new(0);

/// Contexts made for real, and those handed out again from the pool, since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextCounts {
    pub created: u64,
    pub reused: u64,
}

/// What the pool has done so far; all zero when the binary was linked without the wrappers.
pub fn counts() -> ContextCounts {
    ContextCounts { created: CREATED.load(Ordering::Relaxed), reused: REUSED.load(Ordering::Relaxed) }
}

/// The two kinds of context, each with its pool and zstd's own functions that make, reset and
/// destroy one (names the `--wrap` flags do not redirect).
trait Context: Sized + 'static {
    fn pool() -> &'static Mutex<Vec<Kept<Self>>>;
    /// A new context, or null, as `ZSTD_createCCtx` / `ZSTD_createDCtx` return.
    fn make() -> *mut Self;
    /// # Safety
    /// `context` is live and unused.
    unsafe fn reset(context: *mut Self) -> usize;
    /// # Safety
    /// `context` is live and nobody will use it again.
    unsafe fn destroy(context: *mut Self) -> usize;
}

impl Context for ZSTD_CCtx {
    fn pool() -> &'static Mutex<Vec<Kept<Self>>> {
        &COMPRESSION
    }
    fn make() -> *mut Self {
        // SAFETY: no arguments; the same as ZSTD_createCCtx.
        unsafe { zstd_sys::ZSTD_createCStream() }
    }
    unsafe fn reset(context: *mut Self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { zstd_sys::ZSTD_CCtx_reset(context, ZSTD_ResetDirective::ZSTD_reset_session_and_parameters) }
    }
    unsafe fn destroy(context: *mut Self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { zstd_sys::ZSTD_freeCStream(context) }
    }
}

impl Context for ZSTD_DCtx {
    fn pool() -> &'static Mutex<Vec<Kept<Self>>> {
        &DECOMPRESSION
    }
    fn make() -> *mut Self {
        // SAFETY: no arguments; the same as ZSTD_createDCtx.
        unsafe { zstd_sys::ZSTD_createDStream() }
    }
    unsafe fn reset(context: *mut Self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { zstd_sys::ZSTD_DCtx_reset(context, ZSTD_ResetDirective::ZSTD_reset_session_and_parameters) }
    }
    unsafe fn destroy(context: *mut Self) -> usize {
        // SAFETY: per this function's contract.
        unsafe { zstd_sys::ZSTD_freeDStream(context) }
    }
}

/// A kept context if there is one, otherwise a new one.
fn create<C: Context>() -> *mut C {
    let kept = C::pool().lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
    if let Some(kept) = kept {
        REUSED.fetch_add(1, Ordering::Relaxed);
        return kept.0.as_ptr();
    }
    CREATED.fetch_add(1, Ordering::Relaxed);
    C::make()
}

/// Resets `context` to a new one's state and keeps it if there is room; destroys it otherwise
/// (or if the reset fails). Returns 0, or zstd's error code from destroying it.
///
/// # Safety
/// `context` is null or a live context its caller has given up.
unsafe fn free<C: Context>(context: *mut C) -> usize {
    let Some(live) = NonNull::new(context) else { return 0 };
    // SAFETY: a live context its caller has given up, per this function's contract.
    let reset = unsafe { C::reset(context) };
    // SAFETY: reads a return code.
    if unsafe { zstd_sys::ZSTD_isError(reset) } == 0 {
        let mut pool = C::pool().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < MAX_POOLED_PER_KIND {
            pool.push(Kept(live));
            return 0;
        }
    }
    // SAFETY: not kept, and nobody will use it again.
    unsafe { C::destroy(context) }
}

/// `ZSTD_createCCtx`, from the pool when it can.
#[unsafe(no_mangle)]
pub extern "C" fn __wrap_ZSTD_createCCtx() -> *mut ZSTD_CCtx {
    create()
}

/// `ZSTD_freeCCtx`: the context reset to a new one's state and kept, or freed.
///
/// # Safety
/// As for `ZSTD_freeCCtx`: `cctx` is null or a context from `ZSTD_createCCtx` that the caller
/// no longer uses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_ZSTD_freeCCtx(cctx: *mut ZSTD_CCtx) -> usize {
    // SAFETY: the caller's contract is free's.
    unsafe { free(cctx) }
}

/// `ZSTD_createDCtx`, from the pool when it can.
#[unsafe(no_mangle)]
pub extern "C" fn __wrap_ZSTD_createDCtx() -> *mut ZSTD_DCtx {
    create()
}

/// `ZSTD_freeDCtx`: the context reset to a new one's state and kept, or freed.
///
/// # Safety
/// As for `ZSTD_freeDCtx`: `dctx` is null or a context from `ZSTD_createDCtx` that the caller
/// no longer uses.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wrap_ZSTD_freeDCtx(dctx: *mut ZSTD_DCtx) -> usize {
    // SAFETY: the caller's contract is free's.
    unsafe { free(dctx) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compresses `input` at `level` with the context, through the advanced API a fresh context
    /// would be driven with.
    fn compress(cctx: *mut ZSTD_CCtx, input: &[u8], level: i32) -> Vec<u8> {
        let mut out = vec![0u8; unsafe { zstd_sys::ZSTD_compressBound(input.len()) }];
        unsafe {
            assert_eq!(zstd_sys::ZSTD_isError(zstd_sys::ZSTD_CCtx_setParameter(cctx, zstd_sys::ZSTD_cParameter::ZSTD_c_compressionLevel, level)), 0);
            let written = zstd_sys::ZSTD_compress2(cctx, out.as_mut_ptr().cast(), out.len(), input.as_ptr().cast(), input.len());
            assert_eq!(zstd_sys::ZSTD_isError(written), 0);
            out.truncate(written);
        }
        out
    }

    fn decompress(dctx: *mut ZSTD_DCtx, frame: &[u8], size: usize) -> Vec<u8> {
        let mut out = vec![0u8; size];
        let read = unsafe { zstd_sys::ZSTD_decompressDCtx(dctx, out.as_mut_ptr().cast(), size, frame.as_ptr().cast(), frame.len()) };
        assert_eq!(unsafe { zstd_sys::ZSTD_isError(read) }, 0);
        out.truncate(read);
        out
    }

    /// One test, because the pools are process-wide: a context handed back is handed out again,
    /// in the state of a new one, so that what it compresses is byte for byte what a context that
    /// was never used compresses; and the pool never keeps more than its bound.
    #[test]
    fn freed_contexts_come_back_as_new() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| format!("row {} key {}\n", i % 977, i % 13).into_bytes()).collect();
        let other: Vec<u8> = (0..50_000u32).map(|i| (i * 7919 % 251) as u8).collect();

        let fresh = unsafe { zstd_sys::ZSTD_createCStream() };
        let expected_fast = compress(fresh, &text, 1);
        unsafe { zstd_sys::ZSTD_freeCStream(fresh) };
        let fresh = unsafe { zstd_sys::ZSTD_createCStream() };
        // 3: zstd's default level, which a new context compresses at.
        let expected_default = compress(fresh, &other, 3);
        unsafe { zstd_sys::ZSTD_freeCStream(fresh) };

        let before = counts();
        let cctx = __wrap_ZSTD_createCCtx();
        // A level left on the context must not reach the next user.
        assert_eq!(compress(cctx, &text, 1), expected_fast);
        assert_eq!(unsafe { __wrap_ZSTD_freeCCtx(cctx) }, 0);
        let again = __wrap_ZSTD_createCCtx();
        assert_eq!(again, cctx, "the freed context is handed out again");
        let mut out = vec![0u8; unsafe { zstd_sys::ZSTD_compressBound(other.len()) }];
        let written = unsafe { zstd_sys::ZSTD_compress2(again, out.as_mut_ptr().cast(), out.len(), other.as_ptr().cast(), other.len()) };
        out.truncate(written);
        assert_eq!(out, expected_default, "compressed at the default level, as by a new context");

        let dctx = __wrap_ZSTD_createDCtx();
        assert_eq!(decompress(dctx, &expected_fast, text.len()), text);
        unsafe { __wrap_ZSTD_freeDCtx(dctx) };
        let dctx_again = __wrap_ZSTD_createDCtx();
        assert_eq!(dctx_again, dctx);
        assert_eq!(decompress(dctx_again, &out, other.len()), other);

        let after = counts();
        assert_eq!(after.reused - before.reused, 2);
        assert_eq!(unsafe { __wrap_ZSTD_freeCCtx(std::ptr::null_mut()) }, 0, "null is freed as zstd frees it");

        // More handed back than the bound: the pool keeps the bound, frees the rest.
        let many: Vec<_> = std::iter::once(again).chain((0..MAX_POOLED_PER_KIND + 5).map(|_| __wrap_ZSTD_createCCtx())).collect();
        for cctx in many {
            assert_eq!(unsafe { __wrap_ZSTD_freeCCtx(cctx) }, 0);
        }
        assert_eq!(COMPRESSION.lock().unwrap().len(), MAX_POOLED_PER_KIND);
        unsafe { __wrap_ZSTD_freeDCtx(dctx_again) };
    }
}
