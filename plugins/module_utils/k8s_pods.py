# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes layer, part 2: an instance's pods, their readiness, waiting, scaling.

Everything here takes a k8s_client.Kube (or its typed clients) and plain
names, and pods are dicts as the API server writes them (Kube.get), so the
restore, the modules that talk to a server and the health report ask the
same questions the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import ApiException, DatastoresError

POLL_SECONDS = 0.25


class TimedOut(DatastoresError):
    """A condition did not come true in time."""


def first_pod(statefulset):
    """The name of a StatefulSet's pod 0: the standalone instance's only pod."""
    return "%s-0" % statefulset


def pod_names(statefulset, replicas):
    """The names of a StatefulSet's pods, by ordinal."""
    return ["%s-%d" % (statefulset, ordinal) for ordinal in range(replicas)]


def wait_for(what, condition, timeout, interval=POLL_SECONDS, sleep=time.sleep):
    """Poll condition() until it is true; TimedOut names `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimedOut("timed out after %ds waiting for %s" % (timeout, what))
        sleep(interval)


def pod_path(namespace, name=""):
    return "/api/v1/namespaces/%s/pods/%s" % (namespace, name)


def read_pod(kube, namespace, name):
    """The pod as a dict, or None when it does not exist."""
    return kube.get(pod_path(namespace, name))


def is_ready(pod):
    """The pod's Ready condition is True."""
    return [c.get("status") for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"] == ["True"]


def is_running(pod):
    """The pod exists, runs, and is not being deleted: something may be executed in it."""
    return (pod is not None and (pod.get("status") or {}).get("phase") == "Running"
            and not pod["metadata"].get("deletionTimestamp"))


def container_started(pod, container):
    """The container's startup probe passed (or it has none) and it runs."""
    statuses = [c for c in pod.get("status", {}).get("containerStatuses") or [] if c.get("name") == container]
    return bool(statuses and statuses[0].get("started") and (statuses[0].get("state") or {}).get("running"))


def is_stopped(pod):
    """The pod is gone, or it is being deleted and none of its containers runs.

    No process writes to its volumes then. Waiting for the pod object to
    disappear too cost 5 s more on the test cluster.
    """
    if pod is None:
        return True
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return bool(pod["metadata"].get("deletionTimestamp")) and all(
        not (status.get("state") or {}).get("running") for status in statuses)


def pod_state(pod, container, uid_not=None):
    """(started, ready) of a pod's container; a pod with uid `uid_not`, or being deleted, counts as not started.

    Started means its startup probe passed: the data is loaded and the server
    answers. Ready waits for the next readiness probe, up to its period later.
    """
    if pod is None or pod["metadata"].get("uid") == uid_not or pod["metadata"].get("deletionTimestamp"):
        return False, False
    started = container_started(pod, container)
    return started, started and is_ready(pod)


def log_tail(core, namespace, pod, container, lines=15):
    """The last log lines of a container, joined for a message (or why there are none)."""
    try:
        log = core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=lines)
    except ApiException as exc:
        return "(no log: %s)" % exc.reason
    return " | ".join(str(log).splitlines())


def delete_pod(core, namespace, name, grace_period_seconds=None):
    """Delete a pod; one that is already gone is no error."""
    try:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace_period_seconds)
    except ApiException as exc:
        if exc.status != 404:
            raise


def scale_statefulset(apps, namespace, name, replicas):
    apps.patch_namespaced_stateful_set_scale(name, namespace, {"spec": {"replicas": replicas}})


def scale_deployments(apps, namespace, replicas_by_name):
    for name, replicas in replicas_by_name.items():
        apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})


def deployment_replicas(apps, namespace, names):
    """{name: replicas} of Deployments, as a later scale_deployments puts them back."""
    return dict((name, apps.read_namespaced_deployment_scale(name, namespace).spec.replicas) for name in names)
