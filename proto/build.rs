use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc keeps the build free of system packages.
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    println!("cargo:rerun-if-changed=proto/plan.proto");
    println!("cargo:rerun-if-changed=proto/service.proto");
    println!("cargo:rerun-if-changed=proto/keda.proto");
    prost_build::compile_protos(&["proto/plan.proto"], &["proto"])?;
    // The service, with its descriptors embedded for gRPC server reflection.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("service_descriptor.bin"))
        .compile_protos(&["proto/service.proto"], &["proto"])?;
    tonic_prost_build::compile_protos("proto/keda.proto")?;
    Ok(())
}
