#!/usr/bin/env bash
# `cargo check` every manager x watcher pair the service can be built as,
# exactly as `cargo build -p service --no-default-features --features <w>,<m>`
# would compile it, plus the no-feature fallback (arcswap + inotify).
set -euo pipefail
cd "$(dirname "$0")/.."

managers=(mutex rwlock arcswap channel watch)
watchers=(notify inotify poll)
failed=()

for watcher in "${watchers[@]}"; do
    for manager in "${managers[@]}"; do
        echo "== ${watcher},${manager}"
        if ! cargo check --quiet -p service --no-default-features --features "${watcher},${manager}"; then
            failed+=("${watcher},${manager}")
        fi
    done
done
echo "== fallback (no features)"
cargo check --quiet -p service --no-default-features || failed+=("fallback")

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all $(( ${#watchers[@]} * ${#managers[@]} )) pairs and the fallback check"
