#!/usr/bin/env bash
# `cargo check` every manager x watcher pair the service can be built as,
# exactly as `cargo build -p service --no-default-features --features <w>,<m>`
# would compile it, plus the no-feature fallback (arcswap + inotify).
set -euo pipefail
cd "$(dirname "$0")/.."

# The pairs come from service/Cargo.toml's features, the one list of
# variants, through the same reader the k8s overlay generator uses.
mapfile -t pairs < <(python3 k8s/variants.py)
failed=()

for pair in "${pairs[@]}"; do
    read -r manager watcher <<<"${pair}"
    echo "== ${watcher},${manager}"
    if ! cargo check --quiet -p service --no-default-features --features "${watcher},${manager}"; then
        failed+=("${watcher},${manager}")
    fi
done
echo "== fallback (no features)"
cargo check --quiet -p service --no-default-features || failed+=("fallback")

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#pairs[@]} pairs and the fallback check"
