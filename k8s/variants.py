#!/usr/bin/env python3
"""The service's variants: every manager x watcher pair its Cargo features offer.

Read from `cargo metadata` (service/Cargo.toml is the only list), so adding a
manager or a watcher there makes `generate-overlays.sh --check` fail until the
overlays are regenerated. A feature is a manager if it enables `managers/...`,
a watcher if it enables `watchers/...`.

    $ python3 k8s/variants.py
    arcswap inotify
    arcswap notify
    ...
"""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVICE_PACKAGE = "service"


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

    managers, watchers = enabling("managers"), enabling("watchers")
    if not managers or not watchers:
        sys.exit(f"variants.py: no managers or no watchers among the {SERVICE_PACKAGE} features: {features}")
    return managers, watchers


def variant_names() -> list[str]:
    """Overlay and image-tag names: `<manager>-<watcher>`."""
    managers, watchers = managers_and_watchers()
    return [f"{m}-{w}" for m in managers for w in watchers]


if __name__ == "__main__":
    managers, watchers = managers_and_watchers()
    for manager in managers:
        for watcher in watchers:
            print(manager, watcher)
