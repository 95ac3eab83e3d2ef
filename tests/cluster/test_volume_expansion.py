"""A larger redis_storage_size (docs/operations.md, "Changing storage size or class").

The local cluster's host-path provisioner cannot expand a volume. With its
default StorageClass the growth is refused before anything changes. With a
StorageClass that declares expansion (same provisioner), as much of the
path as runs here: --check --diff shows the plan and changes nothing; deploy
grows the PVC's request and creates the StatefulSet object again around the
running pod (same pod, no restart, its data), then says that the volume did
not grow.
"""

import base64
import os

import pytest
from kubernetes import client

from runner import playbook

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
CLAIM = "data-" + POD
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def variables(namespace, size, **more):
    return dict({"profile": "standard", "redis_namespace": namespace, "redis_resources": RESOURCES,
                 "redis_maxmemory": "64mb", "redis_storage_size": size}, **more)


def app_cli(core, namespace):
    password = base64.b64decode(core.read_namespaced_secret(NAME + "-auth", namespace).data["password"]).decode()
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return pod_cli(configuration, namespace, POD, "redis", password, user="app")


def state(core, apps, namespace):
    """(StatefulSet uid, its claim template's size, the PVC's request, pod uid, server restarts)."""
    sts = apps.read_namespaced_stateful_set(NAME, namespace)
    pod = core.read_namespaced_pod(POD, namespace)
    claim = core.read_namespaced_persistent_volume_claim(CLAIM, namespace)
    return (sts.metadata.uid, sts.spec.volume_claim_templates[0].spec.resources.requests["storage"],
            claim.spec.resources.requests["storage"], pod.metadata.uid,
            sum(s.restart_count for s in pod.status.container_statuses if s.name == "redis"))


@pytest.fixture
def expandable(namespace, api_client):
    """A StorageClass of the host-path provisioner that declares expansion (which that provisioner cannot do)."""
    storage = client.StorageV1Api(api_client)
    name = "expandable-" + namespace
    storage.create_storage_class({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                  "metadata": {"name": name}, "provisioner": "kubernetes.io/host-path",
                                  "allowVolumeExpansion": True})
    yield name
    storage.delete_storage_class(name)


def test_a_class_without_expansion_is_refused_before_anything_changes(core, apps, namespace):
    playbook("deploy", variables(namespace, "1Gi"))
    before = state(core, apps, namespace)

    out = playbook("deploy", variables(namespace, "2Gi"), expect_success=False)
    assert "PVC %s cannot grow to 2Gi: its StorageClass standard does not allow volume expansion" % CLAIM in out
    assert "Nothing was changed" in out
    assert state(core, apps, namespace) == before

    smaller = playbook("deploy", variables(namespace, "512Mi"), expect_success=False)
    assert "storage: 1Gi -> 512Mi (a volume cannot shrink)" in smaller
    assert state(core, apps, namespace) == before


def test_the_claim_grows_and_the_statefulset_is_created_again_around_its_running_pod(
        core, apps, namespace, expandable):
    playbook("deploy", variables(namespace, "1Gi", redis_storage_class=expandable))
    app_cli(core, namespace)("SET", "kept", "across the re-creation")
    before = state(core, apps, namespace)

    plan = playbook("deploy", variables(namespace, "2Gi", redis_storage_class=expandable), "--check", "--diff")
    assert "PVC %s: 1Gi -> 2Gi" % CLAIM in plan and "deleted with its pods orphaned" in plan
    assert state(core, apps, namespace) == before

    out = playbook("deploy", variables(namespace, "2Gi", redis_storage_class=expandable,
                                       redis_storage_expansion_timeout=10), expect_success=False)
    assert "PVC %s still has 1Gi of 2Gi after 10s" % CLAIM in out and "has not expanded it" in out
    sts_uid, template_size, requested, pod_uid, restarts = state(core, apps, namespace)
    assert sts_uid != before[0] and template_size == "2Gi" and requested == "2Gi"
    assert (pod_uid, restarts) == before[3:], "the pod was replaced or its server restarted"
    assert app_cli(core, namespace)("GET", "kept").strip() == "across the re-creation"
    owner = core.read_namespaced_pod(POD, namespace).metadata.owner_references[0]
    assert owner.kind == "StatefulSet" and owner.uid == sts_uid
