#!/usr/bin/env bash
# The adopter's check: package the two library crates as `cargo publish`
# would (a tarball of what would be uploaded, built on its own), unpack the
# `.crate` files, and build and test tools/adopter against them through
# `[patch.crates-io]`: no path into the workspace is involved.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo package --locked -p config-reload-managers -p config-reload
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
version=$(cargo pkgid -p config-reload | sed 's/.*[@#]//')
patches=()
for crate in config-reload-managers config-reload; do
  tar -xzf "$target_dir/package/$crate-$version.crate" -C "$unpacked"
  patches+=(--config "patch.crates-io.$crate.path=\"$unpacked/$crate-$version\"")
done
cargo test --manifest-path tools/adopter/Cargo.toml "${patches[@]}" "$@"
