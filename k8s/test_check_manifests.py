#!/usr/bin/env python3
"""Proves every rule of check_manifests.py can fail: the rendered base passes,
and each mutation that breaks one rule is reported, naming that rule.

    python3 k8s/test_check_manifests.py      (k8s/validate.sh runs it)
"""

import base64
import copy
import subprocess
import unittest

import yaml

import check_manifests

VARIANT = check_manifests.default_variant()


# A variant that watches its ConfigMap through the API (components/kube-api).
API_VARIANT = next(v for v in check_manifests.variants.variant_names() if check_manifests.watcher_of(v) == "kube")

# The overlay that watches a Secret instead (components/kube-secret), and the
# variant whose image it deploys.
SECRET = check_manifests.variants.SECRET
SECRET_OVERLAY, (SECRET_MANAGER, SECRET_WATCHER, _) = next(
    (name, how) for name, how in check_manifests.variants.overlays().items() if how[2] == SECRET
)
SECRET_VARIANT = f"{SECRET_MANAGER}-{SECRET_WATCHER}"


def render(directory: str) -> list:
    path = check_manifests.variants.ROOT / "k8s" / directory
    rendered = subprocess.run(["kubectl", "kustomize", str(path)], check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


def render_base() -> list:
    return render("base")


def of_kind(documents: list, kind: str) -> dict:
    (found,) = [d for d in documents if d["kind"] == kind]
    return found


def pod(documents: list) -> dict:
    return of_kind(documents, "Deployment")["spec"]["template"]["spec"]


def container(documents: list) -> dict:
    return pod(documents)["containers"][0]


def set_env(documents: list, name: str, entry: dict) -> None:
    env = container(documents).setdefault("env", [])
    env[:] = [e for e in env if e["name"] != name] + [{"name": name, **entry}]


def replace_arg(documents: list, flag: str, value: str) -> None:
    args = container(documents)["args"]
    (i,) = [i for i, a in enumerate(args) if a.startswith(flag + "=")]
    args[i] = f"{flag}={value}"


def drop_env(documents: list, name: str) -> None:
    env = container(documents)["env"]
    env[:] = [e for e in env if e["name"] != name]


def role(name: str, *rules: dict) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name}, "rules": list(rules)}


def read(resource: str, *names: str, verbs=("get", "list", "watch")) -> dict:
    rule = {"apiGroups": [""], "resources": [resource], "verbs": list(verbs)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


class Rules(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.base = render_base()

    def failures_after(self, mutate, variant: str = VARIANT) -> list[str]:
        documents = copy.deepcopy(self.base)
        mutate(documents)
        return check_manifests.check(documents, variant)

    def assert_reported(self, fragment: str, mutate, variant: str = VARIANT) -> None:
        failures = self.failures_after(mutate, variant)
        self.assertTrue(
            any(fragment in f for f in failures), f"no failure mentions {fragment!r}; got {failures}"
        )

    def test_the_base_passes(self) -> None:
        self.assertEqual(check_manifests.check(copy.deepcopy(self.base), VARIANT), [])

    def test_a_subpath_mount_is_rejected(self) -> None:
        self.assert_reported("subPath", lambda d: container(d)["volumeMounts"][0].update(subPath="config.yaml"))

    def test_a_writable_root_filesystem_is_rejected(self) -> None:
        self.assert_reported(
            "readOnlyRootFilesystem", lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False)
        )

    def test_root_is_rejected(self) -> None:
        self.assert_reported("runAsUser", lambda d: pod(d)["securityContext"].update(runAsUser=0))

    def test_a_container_override_of_the_pod_context_counts(self) -> None:
        self.assert_reported("runAsNonRoot", lambda d: container(d)["securityContext"].update(runAsNonRoot=False))

    def test_another_group_is_rejected(self) -> None:
        self.assert_reported("runAsGroup", lambda d: pod(d)["securityContext"].pop("runAsGroup"))

    def test_an_unconfined_seccomp_profile_is_rejected(self) -> None:
        self.assert_reported(
            "seccompProfile", lambda d: pod(d)["securityContext"].update(seccompProfile={"type": "Unconfined"})
        )

    def test_privilege_escalation_is_rejected(self) -> None:
        self.assert_reported(
            "allowPrivilegeEscalation",
            lambda d: container(d)["securityContext"].update(allowPrivilegeEscalation=True),
        )

    def test_capabilities_not_dropped_are_rejected(self) -> None:
        self.assert_reported("drop ALL", lambda d: container(d)["securityContext"]["capabilities"].update(drop=[]))

    def test_added_capabilities_are_rejected(self) -> None:
        self.assert_reported(
            "add nothing", lambda d: container(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"])
        )

    def test_a_mounted_service_account_token_is_rejected(self) -> None:
        self.assert_reported("automountServiceAccountToken", lambda d: pod(d).update(automountServiceAccountToken=True))

    def test_readiness_on_the_wrong_path_is_rejected(self) -> None:
        self.assert_reported("readinessProbe", lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/healthz"))

    def test_a_missing_liveness_probe_is_rejected(self) -> None:
        self.assert_reported("livenessProbe", lambda d: container(d).pop("livenessProbe"))

    def test_a_missing_startup_probe_is_rejected(self) -> None:
        self.assert_reported("startupProbe", lambda d: container(d).pop("startupProbe"))

    def test_a_config_outside_the_mount_is_rejected(self) -> None:
        self.assert_reported("inside exactly one volume mount", lambda d: replace_arg(d, "--config", "/etc/app.yaml"))

    def test_a_config_key_the_configmap_lacks_is_rejected(self) -> None:
        self.assert_reported("has no key 'app.yaml'", lambda d: replace_arg(d, "--config", "/etc/config/app.yaml"))

    def test_a_config_volume_that_is_not_a_configmap_is_rejected(self) -> None:
        self.assert_reported("configMap volume", lambda d: pod(d)["volumes"][0].update({"configMap": None}))

    def test_a_writable_config_mount_is_rejected(self) -> None:
        self.assert_reported("readOnly", lambda d: container(d)["volumeMounts"][0].update(readOnly=False))

    def test_a_config_without_a_message_is_rejected(self) -> None:
        self.assert_reported(
            "string `message`", lambda d: of_kind(d, "ConfigMap")["data"].update({"config.yaml": "mesage: hi\n"})
        )

    def test_missing_resources_are_rejected(self) -> None:
        self.assert_reported("limits.memory", lambda d: container(d)["resources"].pop("limits"))
        self.assert_reported("requests.cpu", lambda d: container(d)["resources"]["requests"].pop("cpu"))

    def test_a_request_above_its_limit_is_rejected(self) -> None:
        self.assert_reported("exceeds", lambda d: container(d)["resources"]["requests"].update(memory="128Mi"))

    def test_the_wrong_image_tag_is_rejected(self) -> None:
        other = next(v for v in check_manifests.variants.variant_names() if v != VARIANT)
        self.assert_reported(f"must be tagged {other!r}", lambda d: None, variant=other)

    def test_a_grace_period_shorter_than_the_drain_is_rejected(self) -> None:
        self.assert_reported("terminationGracePeriodSeconds", lambda d: pod(d).update(terminationGracePeriodSeconds=12))
        self.assert_reported("terminationGracePeriodSeconds", lambda d: replace_arg(d, "--shutdown-timeout", "1m"))

    def test_a_scrape_port_other_than_admin_is_rejected(self) -> None:
        self.assert_reported(
            "prometheus.io/port",
            lambda d: of_kind(d, "Deployment")["spec"]["template"]["metadata"]["annotations"].update(
                {"prometheus.io/port": "8080"}
            ),
        )

    def test_probes_on_the_public_port_are_rejected(self) -> None:
        self.assert_reported(
            "must probe port `admin`",
            lambda d: container(d)["livenessProbe"]["httpGet"].update(port="http"),
        )

    def test_serving_probes_on_another_port_than_admin_is_rejected(self) -> None:
        self.assert_reported("probes on 9999", lambda d: replace_arg(d, "--admin-bind", "0.0.0.0:9999"))

    def test_listening_on_another_port_than_http_is_rejected(self) -> None:
        self.assert_reported("listens on 9000", lambda d: replace_arg(d, "--bind", "0.0.0.0:9000"))

    def test_a_service_that_misses_the_pods_is_rejected(self) -> None:
        self.assert_reported("selector", lambda d: of_kind(d, "Service")["spec"].update(selector={"app": "other"}))
        self.assert_reported("targetPort http", lambda d: of_kind(d, "Service")["spec"]["ports"][0].update(targetPort=8080))

    def test_a_single_replica_is_rejected(self) -> None:
        self.assert_reported("2 replicas", lambda d: of_kind(d, "Deployment")["spec"].update(replicas=1))


    def test_a_file_variant_told_to_watch_the_api_is_rejected(self) -> None:
        self.assert_reported("--watcher", lambda d: set_env(d, "WATCHER", {"value": "kube"}))

    def test_a_file_variant_naming_a_secret_is_rejected(self) -> None:
        self.assert_reported("only the kube variants", lambda d: set_env(d, "SECRET", {"value": "config-reload"}))

    def test_any_role_on_secrets_in_a_configmap_overlay_is_rejected(self) -> None:
        # Bound to nothing, still rejected: no ConfigMap overlay ships a grant on Secrets.
        self.assert_reported("on secrets", lambda d: d.append(role("reader", read("secrets", "config-reload"))))
        self.assert_reported(
            "on secrets", lambda d: d.append(role("anything", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}))
        )

    def test_a_secret_in_the_environment_is_rejected(self) -> None:
        self.assert_reported(
            "into the environment",
            lambda d: set_env(d, "TOKEN", {"valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}),
        )
        self.assert_reported(
            "into the environment", lambda d: container(d).update(envFrom=[{"secretRef": {"name": "creds"}}])
        )


class ApiAccess(unittest.TestCase):
    """The kube variants: a token, one ConfigMap, read-only."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.overlay = render(f"overlays/{API_VARIANT}")

    def assert_reported(self, fragment: str, mutate) -> None:
        documents = copy.deepcopy(self.overlay)
        mutate(documents)
        failures = check_manifests.check(documents, API_VARIANT)
        self.assertTrue(any(fragment in f for f in failures), f"no failure mentions {fragment!r}; got {failures}")

    def role_rule(self, documents: list) -> dict:
        return of_kind(documents, "Role")["rules"][0]

    def test_the_overlay_passes(self) -> None:
        self.assertEqual(check_manifests.check(copy.deepcopy(self.overlay), API_VARIANT), [])

    def test_the_base_is_not_a_kube_variant(self) -> None:
        failures = check_manifests.check(render_base(), API_VARIANT)
        for fragment in ("automountServiceAccountToken: true", "--watcher", "serviceAccountName"):
            self.assertTrue(any(fragment in f for f in failures), f"no failure mentions {fragment!r}; got {failures}")

    def test_no_token_is_rejected(self) -> None:
        self.assert_reported("automountServiceAccountToken: true", lambda d: pod(d).pop("automountServiceAccountToken"))

    def test_the_default_service_account_is_rejected(self) -> None:
        self.assert_reported("own serviceAccountName", lambda d: pod(d).update(serviceAccountName="default"))

    def test_an_account_that_mounts_its_token_everywhere_is_rejected(self) -> None:
        self.assert_reported(
            "only the Deployment that uses the token",
            lambda d: of_kind(d, "ServiceAccount").update(automountServiceAccountToken=True),
        )

    def test_watching_another_configmap_than_the_volume_is_rejected(self) -> None:
        self.assert_reported("one object, two paths", lambda d: set_env(d, "CONFIGMAP", {"value": "other"}))

    def test_a_key_the_volume_does_not_show_is_rejected(self) -> None:
        self.assert_reported("CONFIGMAP_KEY", lambda d: set_env(d, "CONFIGMAP_KEY", {"value": "app.yaml"}))

    def test_a_literal_namespace_is_rejected(self) -> None:
        self.assert_reported("downward API", lambda d: set_env(d, "POD_NAMESPACE", {"value": "prod"}))

    def test_no_watch_verb_is_rejected(self) -> None:
        self.assert_reported("grants get, list and watch", lambda d: self.role_rule(d).update(verbs=["get"]))

    def test_a_role_without_resource_names_is_rejected(self) -> None:
        self.assert_reported("may do more than read", lambda d: self.role_rule(d).pop("resourceNames"))

    def test_reading_secrets_is_rejected(self) -> None:
        self.assert_reported(
            "may do more than read", lambda d: self.role_rule(d).update(resources=["configmaps", "secrets"])
        )
        self.assert_reported("on secrets", lambda d: of_kind(d, "Role")["rules"].append(read("secrets", "config-reload")))

    def test_a_secret_beside_the_configmap_is_rejected(self) -> None:
        self.assert_reported("SECRET must not be set", lambda d: set_env(d, "SECRET", {"value": "config-reload"}))

    def test_a_write_verb_is_rejected(self) -> None:
        self.assert_reported("may do more than read", lambda d: self.role_rule(d)["verbs"].append("patch"))

    def test_a_cluster_wide_binding_is_rejected(self) -> None:
        def cluster_wide(documents: list) -> None:
            of_kind(documents, "RoleBinding")["kind"] = "ClusterRoleBinding"

        self.assert_reported("in its namespace only", cluster_wide)

    def test_a_role_missing_from_the_render_is_rejected(self) -> None:
        self.assert_reported("not in the rendered manifests", lambda d: d.remove(of_kind(d, "Role")))


class SecretAccess(unittest.TestCase):
    """The kube variant reading a Secret: one Secret, read-only, its content nowhere else."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.overlay = render(f"overlays/{SECRET_OVERLAY}")
        cls.value = yaml.safe_load(of_kind(cls.overlay, "Secret")["stringData"]["config.yaml"])["message"]

    def failures_after(self, mutate) -> list[str]:
        documents = copy.deepcopy(self.overlay)
        mutate(documents)
        return check_manifests.check(documents, SECRET_VARIANT, SECRET)

    def assert_reported(self, fragment: str, mutate) -> None:
        failures = self.failures_after(mutate)
        self.assertTrue(any(fragment in f for f in failures), f"no failure mentions {fragment!r}; got {failures}")

    def role_rule(self, documents: list) -> dict:
        return of_kind(documents, "Role")["rules"][0]

    def test_the_overlay_passes(self) -> None:
        self.assertEqual(check_manifests.check(copy.deepcopy(self.overlay), SECRET_VARIANT, SECRET), [])

    def test_the_overlay_deploys_its_variants_image(self) -> None:
        self.assertEqual(container(self.overlay)["image"], f"config-reload:{SECRET_VARIANT}")

    def test_the_configmap_overlay_is_not_a_secret_one(self) -> None:
        failures = check_manifests.check(render(f"overlays/{SECRET_VARIANT}"), SECRET_VARIANT, SECRET)
        for fragment in ("must be a secret volume", "on configmaps", "ConfigMap/config-reload: is rendered"):
            self.assertTrue(any(fragment in f for f in failures), f"no failure mentions {fragment!r}; got {failures}")

    # The Role: get, list and watch on that one Secret, nothing else.

    def test_a_role_on_secrets_without_resource_names_is_rejected(self) -> None:
        self.assert_reported("may do more than read Secret", lambda d: self.role_rule(d).pop("resourceNames"))

    def test_another_secret_is_rejected(self) -> None:
        self.assert_reported(
            "may do more than read Secret", lambda d: self.role_rule(d)["resourceNames"].append("database-password")
        )
        self.assert_reported("grants get, list and watch", lambda d: self.role_rule(d).update(resourceNames=["other"]))

    def test_a_write_verb_is_rejected(self) -> None:
        self.assert_reported("may do more than read Secret", lambda d: self.role_rule(d)["verbs"].append("update"))

    def test_wildcards_are_rejected(self) -> None:
        self.assert_reported("may do more than read Secret", lambda d: self.role_rule(d).update(verbs=["*"]))
        self.assert_reported("may do more than read Secret", lambda d: self.role_rule(d).update(resources=["*"]))
        self.assert_reported("may do more than read Secret", lambda d: self.role_rule(d).update(apiGroups=["*"]))

    def test_reading_configmaps_too_is_rejected(self) -> None:
        self.assert_reported("on configmaps", lambda d: self.role_rule(d)["resources"].append("configmaps"))
        self.assert_reported(
            "on configmaps", lambda d: of_kind(d, "Role")["rules"].append(read("configmaps", "config-reload"))
        )

    def test_an_unbound_role_on_another_secret_is_rejected(self) -> None:
        self.assert_reported("may do more than read Secret", lambda d: d.append(role("spare", read("secrets", "tls"))))

    def test_no_watch_verb_is_rejected(self) -> None:
        self.assert_reported("grants get, list and watch on Secret", lambda d: self.role_rule(d).update(verbs=["get"]))

    def test_a_binding_to_another_account_is_rejected(self) -> None:
        self.assert_reported(
            "no Role bound to 'config-reload'", lambda d: of_kind(d, "RoleBinding")["subjects"][0].update(name="other")
        )

    def test_a_cluster_wide_binding_is_rejected(self) -> None:
        self.assert_reported("in its namespace only", lambda d: of_kind(d, "RoleBinding").update(kind="ClusterRoleBinding"))

    # The object: the Secret the volume mounts is the one SECRET names, and the only config.

    def test_a_wrong_secret_name_is_rejected(self) -> None:
        self.assert_reported("one object, two paths", lambda d: pod(d)["volumes"][0]["secret"].update(secretName="other"))
        self.assert_reported("one object, two paths", lambda d: set_env(d, "SECRET", {"value": "other"}))

    def test_no_secret_variable_is_rejected(self) -> None:
        self.assert_reported("SECRET None must be the Secret", lambda d: drop_env(d, "SECRET"))

    def test_a_configmap_variable_is_rejected(self) -> None:
        self.assert_reported("CONFIGMAP must not be set", lambda d: set_env(d, "CONFIGMAP", {"value": "config-reload"}))

    def test_a_configmap_volume_is_rejected(self) -> None:
        def configmap_volume(documents: list) -> None:
            pod(documents)["volumes"][0] = {"name": "config", "configMap": {"name": "config-reload"}}

        self.assert_reported("must be a secret volume", configmap_volume)

    def test_a_rendered_configmap_is_rejected(self) -> None:
        def with_configmap(documents: list) -> None:
            documents.append(
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config-reload"}, "data": {"x": "y"}}
            )

        self.assert_reported("ConfigMap/config-reload: is rendered", with_configmap)

    def test_a_secret_missing_from_the_render_is_rejected(self) -> None:
        self.assert_reported("Secret 'config-reload' is not in the rendered manifests", lambda d: d.remove(of_kind(d, "Secret")))

    def test_a_secret_without_the_key_is_rejected(self) -> None:
        self.assert_reported(
            "has no key 'config.yaml'", lambda d: of_kind(d, "Secret").update(stringData={"app.yaml": "message: hi\n"})
        )

    def test_a_secret_in_base64_data_is_read(self) -> None:
        def as_data(documents: list) -> None:
            secret = of_kind(documents, "Secret")
            text = secret.pop("stringData")["config.yaml"]
            secret["data"] = {"config.yaml": base64.b64encode(text.encode()).decode()}

        self.assertEqual(self.failures_after(as_data), [])
        self.assert_reported(
            "string `message`",
            lambda d: of_kind(d, "Secret").update(stringData=None, data={"config.yaml": base64.b64encode(b"x: 1").decode()}),
        )

    # The content: in the Secret only.

    def test_a_secret_value_in_an_argument_is_rejected(self) -> None:
        self.assert_reported(
            ".args[5] contains a value of Secret/config-reload",
            lambda d: container(d)["args"].append(f"--greeting={self.value}"),
        )

    def test_a_secret_value_in_a_variable_is_rejected(self) -> None:
        self.assert_reported("contains a value of Secret/config-reload", lambda d: set_env(d, "GREETING", {"value": self.value}))

    def test_a_secret_value_in_base64_data_is_found_too(self) -> None:
        def leak(documents: list) -> None:
            secret = of_kind(documents, "Secret")
            secret["data"] = {"token.pem": base64.b64encode(b"-----BEGIN PRIVATE KEY-----abc").decode()}
            of_kind(documents, "Deployment")["metadata"].setdefault("annotations", {})["note"] = "-----BEGIN PRIVATE KEY-----abc"

        self.assert_reported("contains a value of Secret/config-reload", leak)

    def test_a_secret_key_ref_is_rejected(self) -> None:
        self.assert_reported(
            "into the environment",
            lambda d: set_env(d, "CONFIG", {"valueFrom": {"secretKeyRef": {"name": "config-reload", "key": "config.yaml"}}}),
        )

    def test_no_failure_prints_the_secret(self) -> None:
        def leak_everywhere(documents: list) -> None:
            container(documents)["args"].append(self.value)
            set_env(documents, "GREETING", {"value": self.value})
            self.role_rule(documents)["verbs"].append("update")

        failures = self.failures_after(leak_everywhere)
        self.assertTrue(failures)
        self.assertFalse([f for f in failures if self.value in f], failures)


if __name__ == "__main__":
    unittest.main(verbosity=1)
