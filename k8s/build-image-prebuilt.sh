#!/usr/bin/env bash
# Builds the service's runtime image from a binary built on this machine, with
# Podman and without network: the Dockerfile's `runtime` stage over its
# `prebuilt` stage (the Rust builder stage is skipped, so nothing is pulled).
# The image is the one `docker build .` makes, except for who compiled the binary.
#
#   k8s/build-image-prebuilt.sh [BINARY]
#
# BINARY defaults to the static musl release build, stripped as the
# Dockerfile strips it:
#   CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --locked \
#       --target x86_64-unknown-linux-musl -p service --no-default-features --features <watcher>,<manager>
# and the tag, config-reload:<manager>-<watcher>, is read from the binary's
# --version, so it always names the variant actually compiled in. Then checks
# the image: a static binary, user 65532:65532, port 8080, entrypoint
# /service, and nothing in it but the binary and the example config.
# Needs: podman (Debian: apt-get install podman).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$root/target}/x86_64-unknown-linux-musl/release/service}

fail() { echo "FAIL: $*" >&2; exit 1; }

command -v podman >/dev/null || fail "podman is not installed (Debian: apt-get install podman)"
[ -x "$binary" ] || fail "no binary at $binary; build it first (see the header of $0)"
# `scratch` has no dynamic loader and no libc: a dynamically linked binary
# would not even start.
if LC_ALL=C readelf --program-headers --wide "$binary" | grep -q 'Requesting program interpreter'; then
    fail "$binary is dynamically linked; build it for x86_64-unknown-linux-musl"
fi

# "service 0.1.0 (manager: arcswap, watcher: inotify)" -> arcswap-inotify
variant=$("$binary" --version | sed -nE 's/.*manager: ([a-z]+), watcher: ([a-z]+).*/\1-\2/p')
[ -n "$variant" ] || fail "cannot read the variant from '$("$binary" --version)'"
tag="config-reload:$variant"

context=$(mktemp -d)
container=""
cleanup() {
    if [ -n "$container" ]; then podman rm --force "$container" >/dev/null || true; fi
    rm -rf "$context"
}
trap cleanup EXIT
install -D -m 0755 "$binary" "$context/prebuilt/service"
install -D -m 0644 "$root/config/config.yaml" "$context/config/config.yaml"

podman build --pull=never --build-arg BINARY_FROM=prebuilt \
    --file "$root/Dockerfile" --tag "$tag" "$context"

config=$(podman image inspect "$tag" --format '{{.Config.User}}|{{json .Config.ExposedPorts}}|{{json .Config.Entrypoint}}')
[ "$config" = '65532:65532|{"8080/tcp":{}}|["/service"]' ] ||
    fail "$tag: user|ports|entrypoint are $config"

container=$(podman create "$tag")
files=$(podman export "$container" | tar -t | grep -v '/$' | sort | tr '\n' ' ')
[ "$files" = "etc/config/config.yaml service " ] || fail "$tag holds more than the binary and the example config: $files"

size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "ok: built $tag ($((size / 1024)) KiB): static binary, 65532:65532, port 8080, entrypoint /service, nothing else inside"
