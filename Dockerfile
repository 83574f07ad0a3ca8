# syntax=docker/dockerfile:1.7
#
# sparkq's image: `sparkq serve` for the Helm chart (deploy/helm/sparkq), and every other
# command (`simulate`, `plan`, `crd`, ...) for whoever wants them without a Rust toolchain.
#
#   docker build -t sparkq:dev .
#   docker run --rm sparkq:dev crd

# -- Build --------------------------------------------------------------------------------------
# Bookworm, like the runtime image below, so the binary links against the glibc it runs with.
# TLS to the API server is rustls: no OpenSSL at build or run time.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# The cache mounts keep the registry and the target directory between builds, so a change to
# one crate rebuilds that crate, not the dependency graph.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sparkq \
 && install -D -m 0755 target/release/sparkq /out/sparkq

# -- Run ----------------------------------------------------------------------------------------
# glibc and libgcc only, no shell, no package manager; user 65532 (`nonroot`).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/sparkq /usr/local/bin/sparkq
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sparkq"]
CMD ["serve", "--config", "/etc/sparkq/sparkq.yaml"]
