# charte: release binary on distroless (glibc, CA certificates, no shell, uid 65532).
#   docker build -t registry.example.org/charte/charte:0.1.0 .
# Checked by tests/k8s.rs; see k8s/README.md for how it is deployed.
# Base images are named with their registry; the cache mounts need BuildKit (Docker's default builder).

FROM docker.io/library/rust:1-bookworm AS builder
WORKDIR /src
# Only what the build reads: the manifest and lock, the sources and the files they embed
# (include_str!: templates/, widget/, demo/; benches/ because Cargo.toml declares a bench target).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY templates ./templates
COPY widget ./widget
COPY demo ./demo
# The target directory is a cache mount, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin charte \
 && install -D -m 0755 target/release/charte /out/charte

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/charte /usr/local/bin/charte
ENV CHARTE_LISTEN=0.0.0.0:8080 \
    CHARTE_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["charte"]
CMD ["serve"]
