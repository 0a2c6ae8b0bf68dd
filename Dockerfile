# The config-reload service as a container image: one variant (manager x
# watcher) per build, chosen by FEATURES, e.g.
#
#   docker build --build-arg FEATURES=inotify,arcswap -t config-reload:arcswap-inotify .
#
# The tag convention `config-reload:<manager>-<watcher>` is what the overlays in
# k8s/overlays/ deploy (docs/deploy.md).
#
# Why a static musl binary on `scratch`: the binary needs no libc, no shell, no
# CA bundle and no users database, so the runtime image is the binary and
# nothing else (a few MB, no packages to patch, nothing for an intruder to
# run). distroless/cc would add glibc and its files for no gain here.
#
# BINARY_FROM picks where the binary comes from: `build` (default) compiles it
# in the `build` stage; `prebuilt` copies `prebuilt/service` from the build
# context, so a machine without network access can assemble the same runtime
# image from a binary it built itself (k8s/build-image-prebuilt.sh). Stages a
# build does not need are skipped (BuildKit, Podman/Buildah), so the prebuilt
# path never pulls the Rust image.
ARG BINARY_FROM=build

FROM rust:1.95-bookworm AS build
# The variant: one watcher and one manager feature of the `service` package
# (service/Cargo.toml); the default is the service's own fallback pair.
ARG FEATURES=inotify,arcswap
# musl-gcc, for the one C dependency the kube variants have: ring (the TLS
# crypto of the Kubernetes client, docs/kube.md). The file-watcher variants
# need no C compiler (blake3's optional assembly falls back to its Rust SIMD
# code without one), and for them it is an unused package in a build stage.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
# The release profile keeps line tables for profiling; the image does not need
# them (19 MB -> 4.5 MB). Symbols stay, so a panic still names its functions.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
WORKDIR /src
COPY . .
# The same cargo command CI and docs/deploy.md use, plus the musl target (a
# fully static binary) and --locked (the committed Cargo.lock, nothing newer).
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
        -p service --no-default-features --features "${FEATURES}" \
    && install -D -m 0755 target/x86_64-unknown-linux-musl/release/service /out/service

FROM scratch AS prebuilt
COPY prebuilt/service /out/service

FROM ${BINARY_FROM} AS binary

FROM scratch AS runtime
COPY --from=binary /out/service /service
# The bundled example, so `docker run` alone serves something. In a cluster the
# ConfigMap volume is mounted over /etc/config (k8s/base/deployment.yaml).
COPY config/config.yaml /etc/config/config.yaml
ENV CONFIG_FILE=/etc/config/config.yaml
# Numeric, because scratch has no /etc/passwd: the kubelet can only enforce
# runAsNonRoot against a numeric user. 65532 is the conventional "nonroot".
USER 65532:65532
# `/` on 8080; `/healthz`, `/readyz` and `/metrics` on the admin port 9090.
EXPOSE 8080 9090
ENTRYPOINT ["/service"]
