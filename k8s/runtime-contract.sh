#!/usr/bin/env bash
# The service's runtime contract in a cluster, checked without one: runs the
# release binary locked down the way k8s/base/deployment.yaml runs it, against a
# ConfigMap volume updated the way the kubelet updates it.
#
#   readOnlyRootFilesystem      a private mount namespace with `/` remounted read-only
#   runAsUser/Group 65532,      setpriv: UID/GID 65532, no supplementary groups, empty
#   drop ALL, no escalation       inheritable/bounding/ambient sets, no_new_privs
#   the ConfigMap volume        a timestamped directory, `..data` symlink, per-key
#                               symlink; updates commit by renaming `..data_tmp` over
#                               `..data` (the kubelet's atomic writer, current order)
#   env and working directory   an empty environment but for KUBERNETES_SERVICE_HOST, cwd /
#
# Checks, each polled until true within a generous deadline (never timed):
# the sandbox is in force on the running process; /healthz and /readyz answer
# 200; `/` serves the message; three consecutive kubelet updates are each
# served; an invalid update is rejected and counted while the last good config
# keeps serving, and the next good update is served; /metrics is Prometheus
# text; SIGTERM makes it exit 0 within the shutdown timeout.
#
#   k8s/runtime-contract.sh [BINARY]
#
# BINARY defaults to the static release build CI makes:
#   cargo build --release --locked --target x86_64-unknown-linux-musl -p service
# Needs root (to create the namespace and drop to 65532), util-linux (unshare,
# mount, setpriv) and curl. Exits non-zero, saying which check failed and
# showing the service's log, if any check fails.
set -euo pipefail

NONROOT=65532
DEADLINE_S=20
SHUTDOWN_TIMEOUT=10s
SHUTDOWN_DEADLINE_S=20 # the timeout plus the same slack as terminationGracePeriodSeconds
KEY=config.yaml
# How the service reports a rejected reload (service/src/metrics.rs).
REJECTED_RELOADS='^config_reloads_total\{[^}]*result="failure"[^}]*\} [1-9]'

target_dir=${CARGO_TARGET_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target}
binary=${1:-$target_dir/x86_64-unknown-linux-musl/release/service}

work=$(mktemp -d)
chmod 0755 "$work" # mktemp makes it 0700: UID 65532 must reach the volume
volume="$work/volume"
log="$work/service.log"
pid=""     # the service process
job=""     # the background job that runs it (its exit status is the service's)

cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    if [ -n "$job" ]; then wait "$job" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$log" ]; then
        echo "--- service log (last 40 lines) ---" >&2
        tail -n 40 "$log" >&2
    fi
    exit 1
}
pass() { echo "ok: $*"; }

# wait_until DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
    local description=$1 end=$((SECONDS + DEADLINE_S))
    shift
    until "$@"; do
        [ -z "$job" ] || kill -0 "$job" 2>/dev/null || fail "$description: the service exited"
        [ "$SECONDS" -lt "$end" ] || fail "$description (not within ${DEADLINE_S}s)"
        sleep 0.1
    done
}

for tool in unshare setpriv mount curl; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ "$(id -u)" -eq 0 ] || fail "must run as root: it creates a mount namespace and drops to UID $NONROOT"
[ -x "$binary" ] || fail "no binary at $binary; build it first (see the header of $0)"

# The image runs the binary from a root-owned, read-only root: so does this.
install -m 0755 "$binary" "$work/service"

# --- the kubelet's atomic writer (pkg/volume/util/atomic_writer.go) ----------
# kubelet_write CONTENT: one projection of the single key $KEY.
kubelet_write() {
    local content=$1 old="" new
    [ -L "$volume/..data" ] && old=$(readlink "$volume/..data")
    new=$(mktemp -d "$volume/..$(date -u +%Y_%m_%d_%H_%M_%S).XXXXXXXXXX")
    chmod 0755 "$new"
    printf '%s' "$content" >"$new/$KEY"
    chmod 0644 "$new/$KEY"
    ln -s "$(basename "$new")" "$volume/..data_tmp"
    mv -T "$volume/..data_tmp" "$volume/..data" # the commit: one rename(2)
    [ -L "$volume/$KEY" ] || ln -s "..data/$KEY" "$volume/$KEY"
    if [ -n "$old" ]; then rm -rf "${volume:?}/$old"; fi
}
message_yaml() { printf 'message: "%s"\n' "$1"; }

mkdir -m 0755 "$volume"
kubelet_write "$(message_yaml "contract-v1-$$")"

# --- the sandbox ------------------------------------------------------------
# sandbox COMMAND...: COMMAND as root in a private mount namespace whose `/` is
# read-only. The remount changes only this namespace's view (propagation
# private), so updates written from outside still show through, as the
# kubelet's writes show through a pod's read-only volume mount. The shell
# records its PID, which every later exec keeps, in $work/sandbox.pid.
sandbox() {
    # shellcheck disable=SC2016 # expanded by the inner sh, on purpose
    unshare --mount --propagation private -- \
        sh -c 'echo $$ >"$0" && mount -o remount,bind,ro / && cd / && exec "$@"' "$work/sandbox.pid" "$@"
}

# The remount must really refuse writes, not only be listed as ro.
# shellcheck disable=SC2016 # expanded by the inner sh, on purpose
probe=$(sandbox sh -c 'if touch "$1" 2>/dev/null; then echo writable; else echo read-only; fi' probe "$work/write-probe") ||
    fail "sandbox: cannot create the read-only mount namespace"
[ "$probe" = read-only ] || fail "sandbox: / is still writable after the read-only remount"
pass "sandbox: / is read-only inside the mount namespace"
rm -f "$work/sandbox.pid"

sandbox setpriv --reuid="$NONROOT" --regid="$NONROOT" --clear-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- \
    env -i KUBERNETES_SERVICE_HOST=10.96.0.1 \
    "$work/service" --config "$volume/$KEY" --bind 127.0.0.1:0 --admin-bind 127.0.0.1:0 \
    --log-format json --shutdown-timeout "$SHUTDOWN_TIMEOUT" >"$log" 2>&1 &
job=$!

# sh, setpriv and env each exec the next: the PID sh recorded ends up the service.
is_the_service() {
    pid=$(cat "$work/sandbox.pid" 2>/dev/null) &&
        [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$work/service" ]
}
wait_until "the sandboxed process becomes the service" is_the_service

status_field() { awk -v key="$1:" '$1 == key { $1 = ""; sub(/^ /, ""); print }' "/proc/$pid/status"; }
expect_field() {
    local actual
    actual=$(status_field "$1")
    [ "$actual" = "$2" ] || fail "sandbox: $1 of the service is '$actual', expected '$2'"
}
expect_field Uid "$NONROOT $NONROOT $NONROOT $NONROOT"
expect_field Gid "$NONROOT $NONROOT $NONROOT $NONROOT"
expect_field Groups ""
for caps in CapInh CapPrm CapEff CapBnd CapAmb; do expect_field "$caps" 0000000000000000; done
expect_field NoNewPrivs 1
root_options=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
case ",$root_options," in
*,ro,*) ;;
*) fail "sandbox: the service's / is mounted '$root_options', not read-only" ;;
esac
pass "the service runs as $NONROOT:$NONROOT, no groups, no capabilities, no_new_privs, / mounted $root_options"

# --- the contract ------------------------------------------------------------
# The listening line names the public address first, then the admin one.
bound_port() { grep 'listening' "$log" | grep -oE '127\.0\.0\.1:[0-9]+' | sed -n "${1}p" | cut -d: -f2; }
logged_port() { [ -n "$(bound_port 2)" ]; }
wait_until "the service logs the addresses it listens on" logged_port
base="http://127.0.0.1:$(bound_port 1)"
admin="http://127.0.0.1:$(bound_port 2)"

status_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$admin$2")" = "$1" ]; }
serves() { curl -fsS --max-time 2 "$base/" 2>/dev/null | grep -qF "$1"; }
# The body is read whole first: with pipefail, `curl | grep -q` fails when
# grep stops at the first match and curl is cut off writing the rest.
metrics_match() {
  local body
  body=$(curl -fsS --max-time 2 "$admin/metrics" 2>/dev/null) && grep -qE "$1" <<<"$body"
}

wait_until "/healthz answers 200" status_is 200 /healthz
pass "/healthz 200"
wait_until "/readyz answers 200" status_is 200 /readyz
pass "/readyz 200"
wait_until "/ serves the initial message" serves "contract-v1-$$"
pass "/ serves the ConfigMap's message"

# Several updates in a row: a watch that dies with the first swap fails here.
for n in 2 3 4; do
    kubelet_write "$(message_yaml "contract-v$n-$$")"
    wait_until "/ serves the message of kubelet-style update $n" serves "contract-v$n-$$"
    pass "kubelet-style update $n served"
done

# An invalid update: rejected and counted, the last good config still served.
kubelet_write 'message: ["this list is never closed'
wait_until "the invalid update is counted as a rejected reload ($REJECTED_RELOADS)" \
    metrics_match "$REJECTED_RELOADS"
serves "contract-v4-$$" || fail "after the invalid update, / no longer serves the last good message"
status_is 200 /readyz || fail "after the invalid update, /readyz is not 200"
pass "invalid update rejected and counted; the last good message still served, still ready"
kubelet_write "$(message_yaml "contract-v5-$$")"
wait_until "/ serves the good update after the invalid one" serves "contract-v5-$$"
pass "the next good update is served"

metrics_match '^# TYPE ' || fail "/metrics is not Prometheus text (no # TYPE line)"
pass "/metrics serves Prometheus text"

kill -TERM "$pid"
end=$((SECONDS + SHUTDOWN_DEADLINE_S))
while kill -0 "$job" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || fail "still running ${SHUTDOWN_DEADLINE_S}s after SIGTERM (--shutdown-timeout $SHUTDOWN_TIMEOUT)"
    sleep 0.1
done
status=0
wait "$job" || status=$?
job=""
pid=""
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM, expected 0"
pass "SIGTERM: drained and exited 0"

echo "ok: runtime contract holds for $binary ($("$work/service" --version))"
