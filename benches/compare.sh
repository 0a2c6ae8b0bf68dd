#!/usr/bin/env bash
# Runs the read scenarios of the Rust `managers` bench and the same scenarios
# in Go (the 2016 seed's managers and Go's stdlib alternatives), then prints
# ONE markdown table of ns per read (aggregated over threads: wall time /
# (threads x reads per thread)), followed by the targets from docs/managers.md.
#
#   benches/compare.sh                 # about 3 minutes on 2 cores
#   GO_COUNT=5 GO_BENCHTIME=2s benches/compare.sh
#   SKIP_RUN=1 benches/compare.sh      # only re-print the table from the last run
#
# Needs cargo, go (1.19+) and python3. Not part of tests or CI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
criterion_dir="${CRITERION_HOME:-$target/criterion}"
go_out="$target/managers-go-bench.txt"
go_count="${GO_COUNT:-3}"
go_benchtime="${GO_BENCHTIME:-1s}"

if [[ -z "${SKIP_RUN:-}" ]]; then
    mkdir -p "$target"
    echo "== Rust: cargo bench -p benches --bench managers -- managers/read_" >&2
    (cd "$root" && cargo bench -p benches --bench managers -- 'managers/read_') >&2
    echo "== Go: go test -bench Managers/read_ -count $go_count -benchtime $go_benchtime" >&2
    (cd "$root/benches/go" && go test -run '^$' -bench 'Managers/read_' \
        -count "$go_count" -benchtime "$go_benchtime") | tee "$go_out" >&2
fi

python3 - "$criterion_dir" "$go_out" <<'PY'
import json, re, statistics, sys
from pathlib import Path

criterion_dir, go_out = Path(sys.argv[1]), Path(sys.argv[2])
scenarios = ["read_1t", "read_2t", "read_2t_writer", "read_8t"]
rust = ["plain_arc", "mutex", "rwlock", "arcswap", "arcswap_cached", "channel", "watch"]
go = {
    "mutex": "Go sync.Mutex (seed's mutex manager)",
    "channel": "Go owner goroutine + unbuffered chan (seed's channel manager)",
    "rwmutex": "Go sync.RWMutex",
    "atomic_value": "Go sync/atomic.Value",
}

def rust_ns(scenario, name):
    path = criterion_dir / "managers" / scenario / name / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]

go_samples = {}
line = re.compile(r"^BenchmarkManagers/(\w+)/(\w+)(?:-\d+)?\s+\d+\s+.*?([\d.]+) ns/read")
for text in go_out.read_text().splitlines() if go_out.exists() else []:
    m = line.match(text)
    if m:
        go_samples.setdefault((m[1], m[2]), []).append(float(m[3]))
go_ns = {key: statistics.median(values) for key, values in go_samples.items()}

def fmt(ns):
    if ns is None:
        return "–"
    if ns < 10:
        return f"{ns:.2f}"
    if ns < 1000:
        return f"{ns:.1f}"
    return f"{ns:,.0f}"

rows = [(f"Rust `{name}`", {s: rust_ns(s, name) for s in scenarios}) for name in rust]
rows += [(label, {s: go_ns.get((s, key)) for s in scenarios}) for key, label in go.items()]

print("| ns per read (aggregate) | " + " | ".join(f"`{s}`" for s in scenarios) + " |")
print("|---|" + "---:|" * len(scenarios))
for label, values in rows:
    print(f"| {label} | " + " | ".join(fmt(values[s]) for s in scenarios) + " |")

table = dict(rows)
def get(label, scenario):
    return table[label][scenario]

managers_only = [f"Rust `{n}`" for n in rust if n != "plain_arc"]
def fastest(scenario):
    known = [(get(l, scenario), l) for l in managers_only if get(l, scenario) is not None]
    return min(known) if known else (None, None)

print()
checks = []
f1, f1_label = fastest("read_1t")
floor = get("Rust `plain_arc`", "read_1t")
if f1 is not None and floor:
    checks.append((f"fastest read_1t ({f1_label}, {fmt(f1)} ns) <= 2x plain_arc ({fmt(floor)} ns)",
                   f1 <= 2 * floor))
f2, f2_label = fastest("read_2t")
if f2 is not None:
    own_1t = get(f2_label, "read_1t")
    checks.append((f"fastest read_2t ({f2_label}, {fmt(f2)} ns) <= 0.75x its read_1t ({fmt(own_1t)} ns)",
                   own_1t is not None and f2 <= 0.75 * own_1t))
    atomic = go_ns.get(("read_2t", "atomic_value"))
    checks.append((f"fastest read_2t ({fmt(f2)} ns) <= Go atomic.Value read_2t ({fmt(atomic)} ns)",
                   atomic is not None and f2 <= atomic))
for rust_name, go_key, what in [("mutex", "mutex", "mutex at 2 threads"),
                                ("channel", "channel", "channel at 1 and 2 threads")]:
    scen = ["read_2t"] if rust_name == "mutex" else ["read_1t", "read_2t"]
    for s in scen:
        r, g = get(f"Rust `{rust_name}`", s), go_ns.get((s, go_key))
        checks.append((f"{what}: Rust {rust_name} {s} ({fmt(r)} ns) < Go seed's {go_key} ({fmt(g)} ns)",
                       r is not None and g is not None and r < g))
for text, ok in checks:
    print(f"- {'met' if ok else 'MISSED'}: {text}")
PY
