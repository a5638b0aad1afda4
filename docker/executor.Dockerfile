# bulk-import-executor: Ballista's executor with the bulk import plan codec and object stores.
# Configuration through environment variables (see the binary's --help); tini, as PID 1, passes
# signals on and reaps children, so `docker stop` stops the process cleanly.
# The build stage is the same in the three Dockerfiles, so building one image caches it for the
# others: one cargo build of the workspace's three binaries.
ARG BUILDER_IMAGE=bulk-import-builder:bookworm
ARG RUNTIME_IMAGE=bulk-import-runtime:bookworm

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
# Only what cargo reads, so that changes elsewhere (docs, the chart) keep the build cached.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY core core
COPY sleeper-instance sleeper-instance
COPY bulk-import-driver bulk-import-driver
COPY scheduler scheduler
COPY executor executor
COPY tests tests
RUN cargo build --release --locked --bin bulk-import-scheduler --bin bulk-import-executor --bin bulk-import \
 && install -m 0755 target/release/bulk-import-scheduler target/release/bulk-import-executor target/release/bulk-import /usr/local/bin/

FROM ${RUNTIME_IMAGE}
# A user without a login or a home; the root filesystem can be read-only: everything written
# goes to the store, /tmp or the executor's work directory.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bulk-import
COPY --from=build /usr/local/bin/bulk-import-executor /usr/local/bin/bulk-import-executor
ENV BALLISTA_EXECUTOR_BIND_HOST=0.0.0.0 \
    BALLISTA_EXECUTOR_BIND_PORT=50051 \
    BALLISTA_EXECUTOR_BIND_GRPC_PORT=50052 \
    BALLISTA_EXECUTOR_BIND_HEALTH_PORT=50053 \
    BALLISTA_EXECUTOR_WORK_DIR=/work \
    RUST_LOG=info
RUN mkdir -p /work && chown 10001:10001 /work
EXPOSE 50051 50052 50053
VOLUME /work
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${BALLISTA_EXECUTOR_BIND_HEALTH_PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/bulk-import-executor"]
