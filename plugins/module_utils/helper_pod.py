# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes layer, part 3: a short-lived helper pod that mounts an instance's data volume.

The restore works in one (it uploads, checks and test-starts a server on the
volume while, or after, the instance stops). The pod is admitted by the
restricted Pod Security Standard, carries no API token, runs the instance's
image with the instance's resources, and ends by itself after a deadline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import KubernetesError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    delete_pod,
    is_running,
    is_stopped,
    read_pod,
    wait_for,
)

CONTAINER = "restore"
UID = 999
TMP_SIZE = "16Mi"
# A helper is a batch job (check the RDB, test-start a server on it): throttling it only makes it slower.
HELPER_CPU_LIMIT = "1"


def instance_image(statefulset, container):
    """{image, pull_policy, resources} of a StatefulSet's container, for a helper that loads the same data."""
    found = next((c for c in statefulset.spec.template.spec.containers if c.name == container), None)
    if found is None:
        names = ", ".join(c.name for c in statefulset.spec.template.spec.containers)
        raise KubernetesError("StatefulSet %s has no container %s (it has: %s)"
                              % (statefulset.metadata.name, container, names))
    resources = found.resources.to_dict() if found.resources else {}
    return {"image": found.image, "pull_policy": found.image_pull_policy or "IfNotPresent",
            "resources": bounded(dict((k, v) for k, v in resources.items() if v and k in ("limits", "requests")))}


def bounded(resources):
    """`resources` with a CPU limit: the server may run without one (a quota stalls it), a helper never does."""
    limits = dict(resources.get("limits") or {})
    limits.setdefault("cpu", HELPER_CPU_LIMIT)
    return dict(resources, limits=limits)


def restricted_container(name, image, command):
    """A container the restricted Pod Security Standard admits, running `command` in the instance's image."""
    return {"name": name, "image": image["image"], "imagePullPolicy": image["pull_policy"], "command": command,
            "resources": image["resources"],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                "seccompProfile": {"type": "RuntimeDefault"}}}


def restricted_pod_spec(containers, deadline):
    """A pod spec with no API token, non-root, that ends by itself after `deadline` seconds."""
    return {"restartPolicy": "Never", "activeDeadlineSeconds": deadline, "automountServiceAccountToken": False,
            "enableServiceLinks": False, "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsUser": UID, "runAsGroup": UID, "fsGroup": UID, "runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": containers}


class HelperPod(object):
    """One helper pod `name` for the volume `claim` of `instance`, living at most `deadline` seconds."""

    def __init__(self, kube, namespace, name, instance, claim, mount, deadline, timeout):
        self.kube, self.namespace, self.name = kube, namespace, name
        self.instance, self.claim, self.mount = instance, claim, mount
        self.deadline, self.timeout = deadline, timeout

    def labels(self):
        return {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores",
                "app.kubernetes.io/component": "restore", "app.kubernetes.io/instance": self.instance}

    def manifest(self, image, node):
        """A pod that the restricted Pod Security Standard admits, with no API token and a deadline."""
        container = restricted_container(CONTAINER, image, ["sleep", str(self.deadline)])
        container["volumeMounts"] = [{"name": "data", "mountPath": self.mount}, {"name": "tmp", "mountPath": "/tmp"}]
        spec = restricted_pod_spec([container], self.deadline)
        spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": self.claim}},
                           {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": TMP_SIZE}}]
        if node:
            # Beside the instance: a ReadWriteOnce volume is already attached there.
            spec["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name, "labels": self.labels()},
                "spec": spec}

    def delete_stale(self):
        """Helpers that an earlier, interrupted run left behind (they hold the volume)."""
        selector = ",".join("%s=%s" % item for item in sorted(self.labels().items()))
        for pod in self.kube.core.list_namespaced_pod(self.namespace, label_selector=selector).items:
            if pod.metadata.name != self.name and not pod.metadata.deletion_timestamp:
                delete_pod(self.kube.core, self.namespace, pod.metadata.name, grace_period_seconds=0)

    def start(self, image, node=None):
        self.delete_stale()
        if not self.gone():
            self.delete(until_gone=True)
        self.kube.core.create_namespaced_pod(self.namespace, self.manifest(image, node))
        wait_for("the helper pod %s to run" % self.name, self.started, self.timeout)

    def read(self):
        return read_pod(self.kube, self.namespace, self.name)

    def gone(self):
        return self.read() is None

    def started(self):
        pod = self.read()
        phase = (pod or {}).get("status", {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            raise KubernetesError("the helper pod %s ended (%s) before it was used" % (self.name, phase))
        return self.usable(pod)

    def usable(self, pod=None):
        return is_running(pod or self.read())

    def delete(self, until_gone=False):
        """Delete the helper; wait until it no longer runs (or, to reuse its name, until it is gone)."""
        delete_pod(self.kube.core, self.namespace, self.name, grace_period_seconds=0)
        wait_for("the helper pod %s to stop" % self.name,
                 lambda: self.gone() if until_gone else is_stopped(self.read()), self.timeout)
