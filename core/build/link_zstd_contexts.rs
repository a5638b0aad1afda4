//! The build script of the binaries that read and write Parquet (`bulk-import`,
//! `bulk-import-executor`): it links them with zstd's context constructors and destructors
//! wrapped, so that they go through `bulk_import_core::zstd_contexts`, which reuses contexts
//! instead of making two for every Parquet column chunk. Kept beside that module, which owns the
//! list of wrapped functions. GNU ld and lld both take `--wrap`; elsewhere nothing changes.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        for symbol in ["ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_createDCtx", "ZSTD_freeDCtx"] {
            println!("cargo:rustc-link-arg-bins=-Wl,--wrap={symbol}");
        }
    }
}
