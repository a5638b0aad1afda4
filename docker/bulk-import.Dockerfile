# bulk-import: the job service (`serve`, the default command) and the CLI.
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
COPY --from=build /usr/local/bin/bulk-import /usr/local/bin/bulk-import
COPY docker/entrypoint /usr/local/bin/entrypoint
ENV BULK_IMPORT_LISTEN=0.0.0.0:50060 \
    RUST_LOG=info
EXPOSE 50060
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD bash -c 'exec 3<>"/dev/tcp/127.0.0.1/${BULK_IMPORT_LISTEN##*:}"' || exit 1
# Sleeper's spark-submit arguments run the driver swap; anything else is bulk-import's own.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/entrypoint"]
CMD ["serve"]
