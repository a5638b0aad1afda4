//! The build script of the binaries that read and write Parquet (`bulk-import`,
//! `bulk-import-executor`): it links them with zstd's context constructors and destructors
//! wrapped, so that they go through `bulk_import_core::zstd_contexts`, which reuses contexts
//! instead of making two for every Parquet column chunk; and with `ZSTD_compress2` wrapped, so
//! that `bulk_import_core::zstd_table_sizes` sizes zstd's tables to each page. Kept beside those
//! modules, which own the wrapped functions. GNU ld and lld both take `--wrap`; elsewhere nothing
//! changes.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        for symbol in ["ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_createDCtx", "ZSTD_freeDCtx", "ZSTD_compress2"] {
            println!("cargo:rustc-link-arg-bins=-Wl,--wrap={symbol}");
        }
    }
}
