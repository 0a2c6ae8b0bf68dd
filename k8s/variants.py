#!/usr/bin/env python3
"""The service's variants: every manager x watcher pair its Cargo features offer.

Read from `cargo metadata` (service/Cargo.toml is the only list), so adding a
manager or a watcher there makes `generate-overlays.sh --check` fail until the
overlays are regenerated. A feature is a manager if it enables `config-reload-managers/...`,
a watcher if it enables `config-reload/...`.

    $ python3 k8s/variants.py
    arcswap inotify
    arcswap notify
    ...

The overlays (`--overlays`) are one per variant, each reading its config
from the base's ConfigMap, plus `<default manager>-kube-secret`: the kube
watcher reading a Secret instead (components/kube-secret), on the Dockerfile's
default manager, deploying the same image as `<default manager>-kube`.

    $ python3 k8s/variants.py --overlays
    arcswap-inotify arcswap inotify configmap
    ...
    arcswap-kube-secret arcswap kube secret
"""

import functools
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVICE_PACKAGE = "service"
DOCKERFILE = ROOT / "Dockerfile"
# The watcher that reads an object through the Kubernetes API (docs/kube.md).
API_WATCHER = "kube"
# Where an overlay's config comes from: the base's ConfigMap, or a Secret
# (only through the API watcher, components/kube-secret).
CONFIGMAP, SECRET = "configmap", "secret"


@functools.cache
def service_features() -> dict:
    metadata = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    packages = json.loads(metadata.stdout)["packages"]
    (service,) = [p for p in packages if p["name"] == SERVICE_PACKAGE]
    return service["features"]


def managers_and_watchers() -> tuple[list[str], list[str]]:
    features = service_features()

    def enabling(crate: str) -> list[str]:
        return sorted(
            name
            for name, enables in features.items()
            if any(e.startswith(f"{crate}/") for e in enables)
        )

    managers, watchers = enabling("config-reload-managers"), enabling("config-reload")
    if not managers or not watchers:
        sys.exit(f"variants.py: no managers or no watchers among the {SERVICE_PACKAGE} features: {features}")
    return managers, watchers


def variant_names() -> list[str]:
    """Overlay and image-tag names: `<manager>-<watcher>`."""
    managers, watchers = managers_and_watchers()
    return [f"{m}-{w}" for m in managers for w in watchers]


def default_variant() -> str:
    """`<manager>-<watcher>` of the Dockerfile's `ARG FEATURES=` default."""
    match = re.search(r"^ARG FEATURES=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    if not match:
        sys.exit(f"variants.py: no `ARG FEATURES=` default in {DOCKERFILE}")
    features = set(match.group(1).split(","))
    managers, watchers = managers_and_watchers()
    pairs = [f"{m}-{w}" for m in managers for w in watchers if {m, w} == features]
    if len(pairs) != 1:
        sys.exit(f"variants.py: Dockerfile FEATURES={match.group(1)} is not one manager and one watcher")
    return pairs[0]


def overlays() -> dict[str, tuple[str, str, str]]:
    """Every overlay generate-overlays.sh writes: name -> (manager, watcher, config source).

    The image an overlay deploys is `config-reload:<manager>-<watcher>`.
    """
    managers, watchers = managers_and_watchers()
    found = {f"{m}-{w}": (m, w, CONFIGMAP) for m in managers for w in watchers}
    if API_WATCHER in watchers:
        manager = default_variant().split("-", 1)[0]
        found[f"{manager}-{API_WATCHER}-{SECRET}"] = (manager, API_WATCHER, SECRET)
    return found


if __name__ == "__main__":
    if sys.argv[1:] == ["--overlays"]:
        for name, (manager, watcher, source) in overlays().items():
            print(name, manager, watcher, source)
    elif sys.argv[1:]:
        sys.exit("usage: variants.py [--overlays]")
    else:
        managers, watchers = managers_and_watchers()
        for manager in managers:
            for watcher in watchers:
                print(manager, watcher)
