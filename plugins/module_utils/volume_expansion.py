# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Growing an instance's volumes the way operators do, since a StatefulSet's claim templates cannot change.

`check`: every PersistentVolumeClaim of the StatefulSet has a StorageClass
that allows expansion (else refuse, before anything changes). `expand`: each
claim's request grows, then the StatefulSet object is deleted with its pods
orphaned (they keep running, on their volumes); deploy then creates it again
with the new claim template and it adopts them. `wait`: each claim's
capacity reaches the new size and the server's filesystem shows it. Each
step is idempotent, so a run stopped anywhere is finished by the next deploy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_names, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sizes import k8s_quantity_bytes
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.statefulset import (
    claim_templates, requested_storage)

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# ext4/xfs keep some of a volume for themselves: a filesystem this close to the claim has grown.
FILESYSTEM_SHARE = 0.9


class ExpansionError(DatastoresError):
    """The volumes cannot grow here, or did not."""


def claim_names(template, statefulset, replicas):
    return ["%s-%s" % (template, pod) for pod in pod_names(statefulset, replicas)]


def requested(claim):
    return requested_storage(claim["spec"])


def capacity(claim):
    return (claim.get("status") or {}).get("capacity", {}).get("storage")


def conditions(claim):
    return [c["type"] for c in (claim.get("status") or {}).get("conditions") or []]


class Volumes(object):
    """The claims `<template>-<statefulset>-<n>` of one StatefulSet, to grow to `size`."""

    def __init__(self, kube, namespace, statefulset, template, size, timeout=300):
        self.kube, self.namespace, self.statefulset = kube, namespace, statefulset
        self.template, self.size, self.timeout = template, size, timeout
        self.bytes = k8s_quantity_bytes(size)

    def path(self, claim=""):
        return "/api/v1/namespaces/%s/persistentvolumeclaims/%s" % (self.namespace, claim)

    def sts_path(self):
        return "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (self.namespace, self.statefulset)

    def read_statefulset(self):
        return self.kube.get(self.sts_path())

    def claims(self):
        """The claims that exist, by the StatefulSet's replicas (all of them when the object is gone)."""
        sts = self.read_statefulset()
        replicas = (sts or {}).get("spec", {}).get("replicas") or 0
        if sts is None:  # deleted by an earlier expand: every claim the label finds
            found = self.kube.request("GET", self.path() + "?labelSelector=app.kubernetes.io/instance%3D"
                                      + self.statefulset)["items"]
            return sorted((c for c in found if c["metadata"]["name"].startswith(self.template + "-")),
                          key=lambda c: c["metadata"]["name"])
        return [c for c in (self.kube.get(self.path(name)) for name in
                            claim_names(self.template, self.statefulset, replicas)) if c is not None]

    def class_of(self, claim):
        name = claim["spec"].get("storageClassName")
        if name:
            return name, self.kube.get("/apis/storage.k8s.io/v1/storageclasses/%s" % name)
        classes = self.kube.request("GET", "/apis/storage.k8s.io/v1/storageclasses")["items"]
        default = [c for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
                   == "true"]
        return ("(the default class)", default[0]) if default else ("(none)", None)

    def check(self):
        """Refuse unless every claim's StorageClass allows expansion; the claims to grow."""
        claims = self.claims()
        if not claims:
            raise ExpansionError("no PersistentVolumeClaim %s-%s-* found in %s: nothing to grow"
                                 % (self.template, self.statefulset, self.namespace))
        for claim in claims:
            name, storage_class = self.class_of(claim)
            if storage_class is None:
                raise ExpansionError("PVC %s: its StorageClass %s does not exist; nothing was changed"
                                     % (claim["metadata"]["name"], name))
            if storage_class.get("allowVolumeExpansion") is not True:
                raise ExpansionError(
                    "PVC %s cannot grow to %s: its StorageClass %s does not allow volume expansion "
                    "(allowVolumeExpansion is not true; provisioner %s). Nothing was changed. See "
                    "docs/operations.md 'Changing storage size or class' for the way through a backup and a "
                    "restore." % (claim["metadata"]["name"], self.size, storage_class["metadata"]["name"],
                                  storage_class.get("provisioner")))
        return [c for c in claims if k8s_quantity_bytes(requested(c)) < self.bytes]

    def expand(self, check_mode=False):
        """Grow the claims' requests, then delete the StatefulSet object keeping its pods. The steps taken."""
        steps = []
        for claim in self.check():
            steps.append("PVC %s: %s -> %s" % (claim["metadata"]["name"], requested(claim), self.size))
            if not check_mode:
                self.kube.request("PATCH", self.path(claim["metadata"]["name"]),
                                  {"spec": {"resources": {"requests": {"storage": self.size}}}},
                                  content_type="application/merge-patch+json")
        sts = self.read_statefulset()
        if sts is not None and self.template_size(sts) < self.bytes:
            steps.append("StatefulSet %s deleted with its pods orphaned (they keep running); deploy creates it again "
                         "with the new claim template" % self.statefulset)
            if not check_mode:
                self.kube.request("DELETE", self.sts_path() + "?propagationPolicy=Orphan")
                wait_for("StatefulSet %s to be gone" % self.statefulset, lambda: self.read_statefulset() is None,
                         self.timeout)
        return steps

    def template_size(self, sts):
        size = requested_storage(claim_templates(sts).get(self.template, {}))
        return k8s_quantity_bytes(size) if size else 0

    def wait(self, pods_container, mount):
        """Wait until every claim's capacity and the filesystem in its pod show the new size; (claim, size) each."""
        deadline = time.monotonic() + self.timeout
        grown = []
        for claim in self.claims():
            name = claim["metadata"]["name"]
            while True:
                claim = self.kube.get(self.path(name))
                if capacity(claim) and k8s_quantity_bytes(capacity(claim)) >= self.bytes:
                    break
                if time.monotonic() > deadline:
                    raise ExpansionError(self.not_grown(claim))
                time.sleep(1)
            pod = name[len(self.template) + 1:]
            size = self.filesystem_bytes(pod, pods_container, mount, deadline)
            grown.append((name, capacity(claim), size))
        return grown

    def not_grown(self, claim):
        name, pending = claim["metadata"]["name"], conditions(claim)
        if "FileSystemResizePending" in pending:
            return ("PVC %s: the volume grew but its filesystem grows only when the pod restarts (the volume "
                    "plugin expands offline): delete the pod (kubectl -n %s delete pod %s) in a quiet moment, "
                    "then deploy again" % (name, self.namespace, name[len(self.template) + 1:]))
        return ("PVC %s still has %s of %s after %ds (conditions: %s): the volume plugin has not expanded it. "
                "Its events: kubectl -n %s describe pvc %s. The request stays %s; deploy again to go on waiting"
                % (name, capacity(claim) or "no capacity", self.size, self.timeout, ", ".join(pending) or "none",
                   self.namespace, name, self.size))

    def filesystem_bytes(self, pod, container, mount, deadline):
        """The size of the filesystem at `mount` in the pod, once it is near the claim's size."""
        while True:
            rc, out, err = run(self.kube.configuration, self.namespace, pod, container,
                               ["df", "-Pk", mount], timeout=30)
            lines = out.decode().split("\n")
            size = int(lines[1].split()[1]) * 1024 if rc == 0 and len(lines) > 1 and lines[1].split() else 0
            if size >= self.bytes * FILESYSTEM_SHARE:
                return size
            if time.monotonic() > deadline:
                raise ExpansionError("PVC %s-%s has grown, but the filesystem at %s in pod %s shows %d bytes"
                                     % (self.template, pod, mount, pod, size))
            time.sleep(1)
