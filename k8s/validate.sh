#!/usr/bin/env bash
# Validates every manifest this project ships, offline:
#   1. the overlays are exactly what generate-overlays.sh generates;
#   2. `kubectl kustomize` renders the base and every overlay;
#   3. kubernetes-validate --strict (bundled OpenAPI schemas, no cluster and no
#      network) accepts every rendered object, for each version in
#      KUBERNETES_VERSIONS: the oldest this deployment supports (1.30, the first
#      with the preStop `sleep` action on by default) and the newest bundled;
#   4. check_manifests.py asserts the deployment rules (docs/deploy.md), after
#      test_check_manifests.py has shown each of its rules failing on a
#      manifest that breaks it.
# Needs: kubectl (its built-in kustomize), python3, `pip install kubernetes-validate==1.37.0`
# (pinned: a newer release may drop the 1.30 schemas; it brings PyYAML), cargo
# (variants are read with `cargo metadata`).
# Every problem is reported; the exit status is 1 if there was any.
set -uo pipefail

k8s_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBERNETES_VERSIONS=${KUBERNETES_VERSIONS:-"1.30.0 1.37.0"}

for tool in kubectl kubernetes-validate python3 cargo; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (see the header of $0)" >&2; exit 1; }
done

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
problems=0
problem() { echo "FAIL: $*" >&2; problems=$((problems + 1)); }

"$k8s_dir/generate-overlays.sh" --check || problem "overlays out of date"
python3 "$k8s_dir/test_check_manifests.py" || problem "check_manifests.py does not catch what it claims to"

# <name> <directory> <check_manifests.py variant option...>
validate() {
    local name=$1 dir=$2 file="$1.yaml" version
    shift 2
    if ! kubectl kustomize "$dir" >"$rendered/$file"; then
        problem "$name: kubectl kustomize $dir failed"
        return
    fi
    for version in $KUBERNETES_VERSIONS; do
        (cd "$rendered" && kubernetes-validate --strict --quiet --kubernetes-version "$version" "$file") ||
            problem "$name: kubernetes-validate --strict rejects it for Kubernetes $version"
    done
    (cd "$rendered" && python3 "$k8s_dir/check_manifests.py" "$@" "$file") || problem "$name: deployment rules"
}

validate base "$k8s_dir/base" --default-variant
overlays=0
for dir in "$k8s_dir"/overlays/*/; do
    name=$(basename "$dir")
    validate "$name" "$dir" --variant "$name"
    overlays=$((overlays + 1))
done
[ "$overlays" -gt 0 ] || problem "no overlays in $k8s_dir/overlays"

if [ "$problems" -ne 0 ]; then
    echo "FAIL: $problems problem(s) in the Kubernetes manifests" >&2
    exit 1
fi
echo "ok: base + $overlays overlays render, pass kubernetes-validate --strict ($KUBERNETES_VERSIONS) and the deployment rules"
