use std::path::{Path, PathBuf};

/// prost's configuration with a vendored protoc, which keeps the build free of system packages.
fn with_vendored_protoc(protoc: &Path) -> prost_build::Config {
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    println!("cargo:rerun-if-changed=proto/plan.proto");
    println!("cargo:rerun-if-changed=proto/service.proto");
    println!("cargo:rerun-if-changed=proto/keda.proto");
    with_vendored_protoc(&protoc).compile_protos(&["proto/plan.proto"], &["proto"])?;
    // The service, with its descriptors embedded for gRPC server reflection.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure().file_descriptor_set_path(out_dir.join("service_descriptor.bin")).compile_with_config(
        with_vendored_protoc(&protoc),
        &["proto/service.proto"],
        &["proto"],
    )?;
    tonic_prost_build::configure().compile_with_config(with_vendored_protoc(&protoc), &["proto/keda.proto"], &["proto"])?;
    Ok(())
}
