#!/usr/bin/env bash
# Load benchmark of the service (not a test): GET / with wrk against every
# manager (default watcher: inotify) and against a minimal axum "floor"
# (service/examples/floor.rs: an ArcSwap read, no logging, no metrics),
# alternating floor/service in the same run, quiet and while a kubelet-style
# writer swaps ..data 100 times a second. Prints a markdown table:
# requests/s (median of the pairs), the service/floor ratio (median of the
# per-pair ratios), the cost of 100 reloads/s (how much the service/floor
# ratio drops while the writer runs: the floor runs beside the same writer, so
# the writer's own CPU is not charged to the service), non-2xx responses and
# peak RSS (VmHWM); then the reload latency of the default pair.
#
#   benches/load/run.sh                       # every manager, 3 pairs, 10 s runs
#   MANAGERS="arcswap mutex" PAIRS=5 DURATION=10s benches/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

MANAGERS=${MANAGERS:-"arcswap mutex rwlock channel watch"}
WATCHER=${WATCHER:-inotify}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
RATE=${RATE:-100}
LATENCY_UPDATES=${LATENCY_UPDATES:-200}
FLOOR_ADDR=127.0.0.1:18080
SERVICE_ADDR=127.0.0.1:18081
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

echo "building (release) ..." >&2
cargo build --quiet --release -p service --example floor --example load_writer
cp "$CARGO_TARGET_DIR/release/examples/floor" "$CARGO_TARGET_DIR/release/examples/load_writer" "$work/"
for manager in $MANAGERS; do
    cargo build --quiet --release -p service --no-default-features --features "$WATCHER,$manager"
    cp "$CARGO_TARGET_DIR/release/service" "$work/service-$manager"
done

mount="$work/mount"
"$work/load_writer" init "$mount"

wait_http() { # addr
    for _ in $(seq 100); do
        curl -fs "http://$1/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nothing answers on $1" >&2
    return 1
}

# wrk's requests/s and non-2xx count for one run: "rps non2xx"
load() { # addr
    local out rps non2xx
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "http://$1/")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    errors=$(awk '/Socket errors:/ {print "socket errors: " $0}' <<<"$out")
    [[ -n $errors ]] && echo "$errors" >&2
    echo "$rps ${non2xx:-0}"
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

metric() { # addr series
    curl -fs "http://$1/metrics" | awk -v s="$2" '$1 == s {print $2}'
}

"$work/floor" "$FLOOR_ADDR" >/dev/null &
pids+=($!)
wait_http "$FLOOR_ADDR"

rows=()
for manager in $MANAGERS; do
    RUST_LOG=warn "$work/service-$manager" --config "$mount/config.yaml" --bind "$SERVICE_ADDR" >"$work/service-$manager.log" &
    service_pid=$!
    pids+=("$service_pid")
    wait_http "$SERVICE_ADDR"
    non2xx=0
    reloads_before=$(metric "$SERVICE_ADDR" 'config_reloads_total{result="success"}')
    for pair in $(seq "$PAIRS"); do
        read -r floor_rps _ < <(load "$FLOOR_ADDR")
        read -r quiet_rps quiet_bad < <(load "$SERVICE_ADDR")
        # The writer (the kubelet's part) runs through two wrk runs: the floor's
        # and the service's. The floor does not watch the volume, so what the
        # writer's own work takes from the 2 cores shows in both and cancels
        # out of the reload cost; what is left is the service reloading.
        "$work/load_writer" write "$mount" --rate "$RATE" --seconds "$(( 2 * ${DURATION%s} + 2 ))" >/dev/null &
        writer=$!
        sleep 0.5
        read -r floor_writer_rps _ < <(load "$FLOOR_ADDR")
        read -r writer_rps writer_bad < <(load "$SERVICE_ADDR")
        wait "$writer"
        echo "$floor_rps $quiet_rps $writer_rps $floor_writer_rps" >>"$work/$manager.pairs"
        non2xx=$(( non2xx + quiet_bad + writer_bad ))
        echo "  $manager pair $pair: floor $floor_rps, service $quiet_rps; @${RATE}/s: floor $floor_writer_rps, service $writer_rps" >&2
    done
    reloads=$(( $(metric "$SERVICE_ADDR" 'config_reloads_total{result="success"}') - reloads_before ))
    rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$service_pid/status")
    kill "$service_pid"
    wait "$service_pid" || true

    floor=$(awk '{print $1}' "$work/$manager.pairs" | median)
    quiet=$(awk '{print $2}' "$work/$manager.pairs" | median)
    busy=$(awk '{print $3}' "$work/$manager.pairs" | median)
    ratio=$(awk '{print $2 / $1}' "$work/$manager.pairs" | median)
    # 1 - (service/floor while writing) / (service/floor quiet), per pair.
    cost=$(awk '{print 100 * (1 - ($3 / $4) / ($2 / $1))}' "$work/$manager.pairs" | median)
    rows+=("$(printf '| %s | %.0f | %.0f | %.3f | %.0f | %.1f%% | %d | %d | %.1f MB |' \
        "$manager" "$floor" "$quiet" "$ratio" "$busy" "$cost" "$reloads" "$non2xx" "$(awk "BEGIN {print $rss_kb / 1024}")")")
done

rss_floor_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/${pids[0]}/status")

# Reload latency of the default pair: ..data rename -> GET / serving it.
RUST_LOG=warn "$work/service-${MANAGERS%% *}" --config "$mount/config.yaml" --bind "$SERVICE_ADDR" >/dev/null &
pids+=($!)
wait_http "$SERVICE_ADDR"
latency=$("$work/load_writer" latency "$mount" --addr "$SERVICE_ADDR" --updates "$LATENCY_UPDATES")

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $PAIRS alternating pairs per manager, watcher $WATCHER, $(nproc) cores"
echo
echo "| manager | floor req/s | service req/s | service / floor | service req/s @ ${RATE} reloads/s | reload cost | reloads applied | non-2xx | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "floor peak RSS: $(awk "BEGIN {printf \"%.1f\", $rss_floor_kb / 1024}") MB"
echo "${MANAGERS%% *} + $WATCHER $latency"
