#!/usr/bin/env python3
"""Assert the deployment rules of docs/deploy.md on rendered manifests.

Schema validity is kubernetes-validate's job (k8s/validate.sh); this checks what
a schema cannot: that every Deployment of the service runs locked down, probes
the right endpoints, mounts its ConfigMap (or, for a `-secret` overlay, its
Secret) the way the kubelet can update, reads its config from inside that
mount, has resources, drains within its grace period, and runs the image tag
of its variant; that only the kube variants reach the API server, each with a
token and a Role that let it read and watch its one ConfigMap or Secret and
nothing else; that no Role of any other overlay touches Secrets; and that a
Secret's content appears in no object but the Secret itself.

    kubectl kustomize k8s/overlays/mutex-poll | python3 k8s/check_manifests.py --variant mutex-poll -
    kubectl kustomize k8s/overlays/arcswap-kube-secret | python3 k8s/check_manifests.py --variant arcswap-kube-secret -
    kubectl kustomize k8s/base | python3 k8s/check_manifests.py --default-variant -

Every failed rule is printed (not only the first); the exit status is 1 if
any failed.
"""

import argparse
import base64
import binascii
import pathlib
import posixpath
import re
import sys
from typing import NamedTuple

import yaml

import variants

NONROOT_ID = 65532
CONFIG_FLAG = "--config"
CONFIG_ENV = "CONFIG_FILE"
# The service's own defaults (service --help), used when a flag is not set.
DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
DEFAULT_BIND_PORT = 8080
DEFAULT_ADMIN_PORT = 9090  # --admin-bind: the probes and /metrics
PROBE_PATHS = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
# The watcher that reads the ConfigMap or Secret through the API (docs/kube.md).
API_WATCHER = variants.API_WATCHER
API_READ_VERBS = {"get", "list", "watch"}
# A Secret's value, or a string inside it, shorter than this is not looked for
# elsewhere: `true`, a port or a log level would match by chance.
MIN_SECRET_STRING = 8


class Source(NamedTuple):
    """A config source as the manifests and the service name it."""

    kind: str  # the object
    resource: str  # its RBAC resource
    volume: str  # the pod volume field projecting it
    ref: str  # the field of that volume naming the object
    flag: str  # the service's flag naming the object to watch
    env: str  # and its variable


SOURCES = {
    variants.CONFIGMAP: Source("ConfigMap", "configmaps", "configMap", "name", "--configmap", "CONFIGMAP"),
    variants.SECRET: Source("Secret", "secrets", "secret", "secretName", "--secret", "SECRET"),
}


class Findings:
    """Collects failed rules, each prefixed with the object it is about."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, ok: bool, where: str, rule: str) -> None:
        if not ok:
            self.failures.append(f"{where}: {rule}")


def walk_strings(node, path=""):
    """Every (path, string value) in a nested document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def contents(obj: dict) -> dict:
    """An object's keys as the pod sees them: `data`, and for a Secret its
    base64 `data` decoded and its `stringData` (which the API server merges
    over `data`)."""
    if obj.get("kind") != "Secret":
        return dict(obj.get("data") or {})
    keys = {}
    for key, value in (obj.get("data") or {}).items():
        try:
            keys[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except binascii.Error:
            keys[key] = str(value)
    keys.update(obj.get("stringData") or {})
    return keys


def secret_strings(value: str) -> set:
    """What of a Secret's value must not appear elsewhere: the value, and
    every string in it when it parses as YAML (a config's password, say)."""
    found = {value.strip()}
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = None
    found.update(s for _, s in walk_strings(parsed))
    return {s for s in found if len(s) >= MIN_SECRET_STRING}


def touches(rule: dict, resource: str) -> bool:
    """Whether an RBAC rule grants anything on a core `resource`, wildcards included."""
    return bool({"", "*"} & set(rule.get("apiGroups") or [])) and bool(
        {resource, "*"} & set(rule.get("resources") or [])
    )


def exactly_reads(rule: dict, source: Source, name) -> bool:
    """Whether an RBAC rule is get/list/watch (or fewer) on that one object, and nothing else."""
    return (
        rule.get("apiGroups") == [""]
        and rule.get("resources") == [source.resource]
        and rule.get("resourceNames") == [name]
        and set(rule.get("verbs") or []) <= API_READ_VERBS
        and not rule.get("nonResourceURLs")
    )


def walk_keys(node, path=""):
    """Every (path, key) in a nested document, to find a key anywhere."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key
            yield from walk_keys(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk_keys(value, f"{path}[{i}]")


def flag_value(argv: list[str], flag: str):
    """The value of `--flag=value` or `--flag value`, or None."""
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
    return None


def seconds(duration: str) -> float:
    """A humantime duration such as `10s`, `1m 30s` or `500ms`, in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", duration)
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s", "", duration):
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * units[u] for n, u in parts)


def bytes_of(quantity: str) -> float:
    """A Kubernetes memory quantity (`16Mi`, `64M`, `1Gi`) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    scale = {None: 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(match.group(1)) * scale[match.group(2)]


def default_variant() -> str:
    """`<manager>-<watcher>` of the Dockerfile's `ARG FEATURES=` default."""
    return variants.default_variant()


def watcher_of(variant: str) -> str:
    """The watcher of `<manager>-<watcher>` (no manager has a dash)."""
    return variant.split("-", 1)[1]


def setting(argv: list[str], env: dict, flag: str, variable: str):
    """A service setting as the flag gives it, else as its variable's literal value."""
    value = flag_value(argv, flag)
    return value if value is not None else (env.get(variable) or {}).get("value")


def check_api_access(c: dict, pod: dict, where: str, documents: list, source: Source, name: str, found: Findings) -> None:
    """A kube variant: the token, the object it watches, and least privilege."""
    argv = (c.get("command") or []) + (c.get("args") or [])
    env = {e.get("name"): e for e in c.get("env") or []}
    found.expect(pod.get("automountServiceAccountToken") is True, where, "a kube variant needs automountServiceAccountToken: true")
    account = pod.get("serviceAccountName")
    found.expect(account not in (None, "default"), where, "a kube variant needs its own serviceAccountName")
    accounts = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "ServiceAccount"}
    found.expect(account in accounts, where, f"ServiceAccount {account!r} is not in the rendered manifests")
    if account in accounts:
        found.expect(
            accounts[account].get("automountServiceAccountToken") is False,
            f"ServiceAccount/{account}",
            "automountServiceAccountToken must be false (only the Deployment that uses the token mounts it)",
        )

    watched = setting(argv, env, source.flag, source.env)
    found.expect(
        watched == name,
        where,
        f"{source.env} {watched!r} must be the {source.kind} of the config volume ({name!r}): one object, two paths",
    )
    for other in SOURCES.values():
        if other != source:
            found.expect(
                setting(argv, env, other.flag, other.env) is None,
                where,
                f"{other.env} must not be set: the config is the {source.kind} {name!r} (the service refuses both)",
            )
    namespace = env.get("POD_NAMESPACE") or {}
    field = ((namespace.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    found.expect(
        flag_value(argv, "--namespace") is None and (not namespace or field == "metadata.namespace"),
        where,
        "POD_NAMESPACE must come from the downward API (metadata.namespace), the namespace the Role is in",
    )

    # Every rule of every role bound to the account, in this render.
    roles = {(d["kind"], d["metadata"]["name"]): d for d in documents if d.get("kind") in ("Role", "ClusterRole")}
    rules = []
    for binding in documents:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subjects = binding.get("subjects") or []
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in subjects):
            continue
        b_where = f"{binding['kind']}/{binding['metadata']['name']}"
        found.expect(binding["kind"] == "RoleBinding", b_where, "the service account must be bound in its namespace only")
        ref = binding.get("roleRef") or {}
        role = roles.get((ref.get("kind"), ref.get("name")))
        found.expect(role is not None, b_where, f"roleRef {ref.get('kind')}/{ref.get('name')} is not in the rendered manifests")
        rules += (role or {}).get("rules") or []
    found.expect(
        any(
            "" in (r.get("apiGroups") or [])
            and source.resource in (r.get("resources") or [])
            and watched in (r.get("resourceNames") or [])
            and API_READ_VERBS <= set(r.get("verbs") or [])
            for r in rules
        ),
        where,
        f"no Role bound to {account!r} grants get, list and watch on {source.kind} {watched!r}",
    )
    for rule in rules:
        found.expect(
            exactly_reads(rule, source, watched),
            where,
            f"{account!r} may do more than read {source.kind} {watched!r}: {rule}",
        )


def check_container(c: dict, pod: dict, where: str, documents: list, variant: str, source: Source, found: Findings) -> None:
    objects = {d["metadata"]["name"]: d for d in documents if d.get("kind") == source.kind}
    pod_sc = pod.get("securityContext") or {}
    sc = c.get("securityContext") or {}

    def effective(key):  # the container's setting overrides the pod's
        return sc[key] if key in sc else pod_sc.get(key)

    found.expect(effective("runAsNonRoot") is True, where, "runAsNonRoot must be true")
    found.expect(effective("runAsUser") == NONROOT_ID, where, f"runAsUser must be {NONROOT_ID}")
    found.expect(effective("runAsGroup") == NONROOT_ID, where, f"runAsGroup must be {NONROOT_ID}")
    found.expect(
        (effective("seccompProfile") or {}).get("type") == "RuntimeDefault", where, "seccompProfile must be RuntimeDefault"
    )
    found.expect(sc.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem must be true")
    found.expect(sc.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation must be false")
    found.expect(sc.get("privileged") in (None, False), where, "must not be privileged")
    caps = sc.get("capabilities") or {}
    found.expect("ALL" in (caps.get("drop") or []), where, "capabilities must drop ALL")
    found.expect(not caps.get("add"), where, "capabilities must add nothing")

    image = c.get("image", "")
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    found.expect(tag == variant, where, f"image {image!r} must be tagged {variant!r}")
    found.expect(name.split("/")[-1] == "config-reload", where, f"image {image!r} must be config-reload")

    ports = {p.get("name"): p for p in c.get("ports") or []}
    http = ports.get("http")
    found.expect(http is not None, where, "needs a container port named `http`")
    http_port = (http or {}).get("containerPort")

    argv = (c.get("command") or []) + (c.get("args") or [])
    bind = flag_value(argv, "--bind")
    bind_port = int(bind.rsplit(":", 1)[1]) if bind else DEFAULT_BIND_PORT
    found.expect(bind_port == http_port, where, f"the service listens on {bind_port} but port `http` is {http_port}")
    admin = ports.get("admin")
    found.expect(admin is not None, where, "needs a container port named `admin` (the probes and /metrics)")
    admin_port = (admin or {}).get("containerPort")
    admin_bind = flag_value(argv, "--admin-bind")
    admin_bind_port = int(admin_bind.rsplit(":", 1)[1]) if admin_bind else DEFAULT_ADMIN_PORT
    found.expect(
        admin_bind_port == admin_port,
        where,
        f"the service serves its probes on {admin_bind_port} but port `admin` is {admin_port}",
    )
    annotations = pod.get("_annotations") or {}
    found.expect(annotations.get("prometheus.io/scrape") == "true", where, "pod needs prometheus.io/scrape: \"true\"")
    found.expect(annotations.get("prometheus.io/path") == "/metrics", where, "pod needs prometheus.io/path: /metrics")
    found.expect(
        annotations.get("prometheus.io/port") == str(admin_port), where, f"prometheus.io/port must be {admin_port}"
    )

    for probe, path in PROBE_PATHS.items():
        get = (c.get(probe) or {}).get("httpGet") or {}
        found.expect(get.get("path") == path, where, f"{probe} must be an httpGet of {path}")
        found.expect(get.get("port") in ("admin", admin_port), where, f"{probe} must probe port `admin`")

    resources = c.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for key, table in (("cpu", requests), ("memory", requests), ("memory", limits)):
        found.expect(key in table, where, f"resources must set {'requests' if table is requests else 'limits'}.{key}")
    if "memory" in requests and "memory" in limits:
        found.expect(
            bytes_of(requests["memory"]) <= bytes_of(limits["memory"]), where, "memory request exceeds its limit"
        )

    env_entries = {e.get("name"): e for e in c.get("env") or []}
    watcher = setting(argv, env_entries, "--watcher", "WATCHER")
    found.expect(
        watcher == watcher_of(variant) if watcher_of(variant) == API_WATCHER else watcher in (None, watcher_of(variant)),
        where,
        f"--watcher (or WATCHER) {watcher!r} must be the variant's {watcher_of(variant)!r}",
    )
    if watcher_of(variant) != API_WATCHER:
        # A file variant's image has no Kubernetes client: the service
        # refuses to start with an object to watch.
        for named in SOURCES.values():
            value = setting(argv, env_entries, named.flag, named.env)
            found.expect(
                value is None, where, f"{named.env} {value!r} is set, but only the {API_WATCHER} variants can watch it"
            )

    # A Secret reaches the process through the volume (and the API) only,
    # never its environment, where every child process, /proc/<pid>/environ
    # and a crash report would see it.
    for e in c.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        found.expect(ref is None, where, f"env {e.get('name')} takes Secret {(ref or {}).get('name')!r} into the environment")
    for e in c.get("envFrom") or []:
        ref = e.get("secretRef")
        found.expect(ref is None, where, f"envFrom takes Secret {(ref or {}).get('name')!r} into the environment")

    # The config: a path inside a read-only configMap (or secret) volume mount
    # whose ConfigMap (or Secret, in a `-secret` overlay) is in the same
    # render and has that key.
    env = {name: entry.get("value") for name, entry in env_entries.items()}
    config_path = flag_value(argv, CONFIG_FLAG) or env.get(CONFIG_ENV)
    found.expect(config_path is not None, where, f"needs {CONFIG_FLAG} (or {CONFIG_ENV})")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = [
        m
        for m in c.get("volumeMounts") or []
        if config_path and posixpath.commonpath([m["mountPath"], config_path]) == m["mountPath"].rstrip("/")
    ]
    found.expect(len(mounts) == 1, where, f"{CONFIG_FLAG} {config_path} must lie inside exactly one volume mount")
    for mount in mounts:
        volume = volumes.get(mount["name"]) or {}
        projected = volume.get(source.volume)
        found.expect(
            projected is not None, where, f"the config mount {mount['mountPath']} must be a {source.volume} volume"
        )
        found.expect(mount.get("readOnly") is True, where, f"the config mount {mount['mountPath']} must be readOnly")
        if projected is not None:
            key = posixpath.relpath(config_path, mount["mountPath"])
            obj_name = projected.get(source.ref)
            found.expect(obj_name in objects, where, f"{source.kind} {obj_name!r} is not in the rendered manifests")
            data = contents(objects.get(obj_name) or {})
            found.expect(
                key in data, where, f"{source.kind} {obj_name!r} has no key {key!r} for {CONFIG_FLAG} {config_path}"
            )
            if key in data:
                parsed = yaml.safe_load(data[key])
                found.expect(
                    isinstance(parsed, dict) and isinstance(parsed.get("message"), str),
                    where,
                    f"{source.kind} {obj_name!r} key {key!r} must be YAML with a string `message`",
                )
            explicit_key = setting(argv, env_entries, "--key", "CONFIGMAP_KEY")
            found.expect(
                explicit_key in (None, key),
                where,
                f"CONFIGMAP_KEY {explicit_key!r} must be the key the volume shows at {config_path} ({key!r})",
            )
            if watcher_of(variant) == API_WATCHER:
                check_api_access(c, pod, where, documents, source, obj_name, found)

    # Termination: the kubelet must not SIGKILL a drain the service is still
    # allowed to run.
    drain = seconds(flag_value(argv, "--shutdown-timeout") or env.get("SHUTDOWN_TIMEOUT") or "10s")
    pre_stop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    found.expect(
        grace > pre_stop + drain,
        where,
        f"terminationGracePeriodSeconds {grace} must exceed preStop sleep {pre_stop}s + shutdown timeout {drain:g}s",
    )


def check_secrets(documents: list, deployments: list, reads_secret: bool, found: Findings) -> None:
    """RBAC on Secrets, and where a Secret's content may appear."""
    # The Secrets the Deployments name as their config (SECRET / --secret):
    # the only ones any Role here may read.
    secret = SOURCES[variants.SECRET]
    watched = set()
    for deployment in deployments:
        pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            argv = (c.get("command") or []) + (c.get("args") or [])
            env = {e.get("name"): e for e in c.get("env") or []}
            watched.add(setting(argv, env, secret.flag, secret.env))
    watched.discard(None)

    for role in documents:
        if role.get("kind") not in ("Role", "ClusterRole"):
            continue
        r_where = f"{role['kind']}/{role['metadata']['name']}"
        for rule in role.get("rules") or []:
            if not reads_secret:
                found.expect(
                    not touches(rule, "secrets"),
                    r_where,
                    f"grants {rule.get('verbs')} on secrets: only an overlay reading its config from a Secret may, "
                    f"and only get, list and watch on that one: {rule}",
                )
                continue
            found.expect(
                not touches(rule, "configmaps"),
                r_where,
                f"grants {rule.get('verbs')} on configmaps, but the config is a Secret: {rule}",
            )
            if touches(rule, "secrets"):
                found.expect(
                    any(exactly_reads(rule, secret, name) for name in watched),
                    r_where,
                    f"may do more than read Secret {sorted(watched)}: {rule}",
                )

    if reads_secret:
        for cm in documents:
            if cm.get("kind") == "ConfigMap":
                found.expect(
                    False,
                    f"ConfigMap/{cm['metadata']['name']}",
                    "is rendered, but this overlay's config is a Secret: delete the base's ConfigMap (components/kube-secret)",
                )

    # A Secret's content lives in that Secret only: not in an argument, a
    # variable, an annotation or any other object. (The failure names where,
    # never what: a check's output is a log too.)
    for obj in documents:
        if obj.get("kind") != "Secret":
            continue
        s_where = f"Secret/{obj['metadata']['name']}"
        needles = set().union(*(secret_strings(str(v)) for v in contents(obj).values()))
        for doc in documents:
            if doc is obj:
                continue
            for path, text in walk_strings(doc):
                found.expect(
                    not any(needle in text for needle in needles),
                    f"{doc.get('kind')}/{doc['metadata']['name']}",
                    f"{path} contains a value of {s_where}: its content belongs in that object only",
                )


def check(documents: list, variant: str, source_name: str = variants.CONFIGMAP) -> list[str]:
    """Every failed rule for a render of `variant`'s overlay whose config comes from `source_name`."""
    found = Findings()
    source = SOURCES[source_name]
    deployments = [d for d in documents if d.get("kind") == "Deployment"]
    services = [d for d in documents if d.get("kind") == "Service"]
    found.expect(len(deployments) >= 1, "render", "has no Deployment")
    found.expect(len(services) >= 1, "render", "has no Service")

    for doc in documents:
        for path, key in walk_keys(doc):
            found.expect(
                key not in ("subPath", "subPathExpr"),
                f"{doc.get('kind')}/{doc['metadata']['name']}",
                f"{path}: subPath mounts are never updated by the kubelet",
            )

    for deployment in deployments:
        where = f"Deployment/{deployment['metadata']['name']}"
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        pod = dict(template.get("spec") or {})
        pod["_annotations"] = (template.get("metadata") or {}).get("annotations")
        found.expect(spec.get("replicas", 1) >= 2, where, "needs at least 2 replicas")
        if watcher_of(variant) != API_WATCHER:
            found.expect(
                pod.get("automountServiceAccountToken") is False,
                where,
                "automountServiceAccountToken must be false (only the kube variants call the API server)",
            )
        containers = pod.get("containers") or []
        found.expect(len(containers) >= 1, where, "has no containers")
        for c in containers + (pod.get("initContainers") or []):
            check_container(c, pod, f"{where} container {c.get('name')}", documents, variant, source, found)

        pod_labels = (template.get("metadata") or {}).get("labels") or {}
        for service in services:
            selector = (service.get("spec") or {}).get("selector") or {}
            s_where = f"Service/{service['metadata']['name']}"
            found.expect(
                bool(selector) and selector.items() <= pod_labels.items(), s_where, f"selector must select {where}'s pods"
            )
            ports = (service.get("spec") or {}).get("ports") or []
            found.expect(
                any(p.get("port") == 80 and p.get("targetPort") == "http" for p in ports),
                s_where,
                "needs port 80 -> targetPort http",
            )
    check_secrets(documents, deployments, source_name == variants.SECRET, found)
    return found.failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--variant",
        help="the overlay's name (variants.py --overlays): <manager>-<watcher>, the image tag it must deploy, "
        "or <manager>-kube-secret, reading a Secret with the <manager>-kube image",
    )
    which.add_argument("--default-variant", action="store_true", help="expect the Dockerfile's default FEATURES pair")
    parser.add_argument("manifests", help="rendered multi-document YAML, or - for stdin")
    args = parser.parse_args()

    name = default_variant() if args.default_variant else args.variant
    known = variants.overlays()
    if name not in known:
        print(f"FAIL {args.manifests}: {name!r} is not an overlay of the service ({', '.join(known)})")
        return 1
    manager, watcher, source_name = known[name]
    text = sys.stdin.read() if args.manifests == "-" else pathlib.Path(args.manifests).read_text()
    documents = [d for d in yaml.safe_load_all(text) if d]
    failures = check(documents, f"{manager}-{watcher}", source_name)
    for failure in failures:
        print(f"FAIL {args.manifests} [{name}]: {failure}")
    if not failures:
        print(f"ok: {args.manifests} [{name}]: {len(documents)} objects follow the deployment rules")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
