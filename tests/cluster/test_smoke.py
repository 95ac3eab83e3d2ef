"""Proves the local cluster can run what the collection needs.

A StatefulSet with a PVC runs a Redis pod to Ready as a non-root user; exec,
port-forward and a ClusterIP Service answer; a value written with AOF on
survives `delete pod`. Runs against the real cluster started by `make cluster`.
"""

import os
import socket
import time

from kubernetes.stream import portforward, stream

REDIS_IMAGE = os.environ.get("AMP_REDIS_IMAGE", "localhost/alertmanagerpp/redis:7-bookworm")
NAME = "smoke"
READY_TIMEOUT = 120


LABELS = {"app.kubernetes.io/name": NAME}


def statefulset_manifest():
    container = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["redis-server", "--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"],
        "ports": [{"containerPort": 6379, "name": "redis"}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "securityContext": {"runAsUser": 999, "runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": NAME, "labels": LABELS},
        "spec": {
            "serviceName": NAME,
            "replicas": 1,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "containers": [container],
                    "securityContext": {"fsGroup": 999},
                    "terminationGracePeriodSeconds": 10,
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


def service_manifest():
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME},
        "spec": {"selector": LABELS, "ports": [{"port": 6379, "targetPort": 6379, "name": "redis"}]},
    }


def wait_ready_pod(core, namespace, not_uid=None):
    """Return the Ready pod smoke-0 (a different one than not_uid, if given)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, field_selector=f"metadata.name={NAME}-0").items
        for pod in pods:
            conditions = {c.type: c.status for c in (pod.status.conditions or [])}
            if pod.metadata.uid != not_uid and conditions.get("Ready") == "True":
                return pod
        time.sleep(0.5)
    events = core.list_namespaced_event(namespace).items
    raise AssertionError(
        f"{NAME}-0 not Ready in {READY_TIMEOUT}s; events: "
        + "; ".join(f"{e.reason}: {e.message}" for e in events[-10:])
    )


def throwaway_instance(core, apps, request, prefix):
    """A namespace `<prefix>-<pid>` with the Ready smoke StatefulSet, deleted after the test module."""
    namespace = "%s-%s" % (prefix, os.getpid())
    core.create_namespace({"metadata": {"name": namespace}})
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    apps.create_namespaced_stateful_set(namespace, statefulset_manifest())
    wait_ready_pod(core, namespace)
    return namespace


def redis_cli(core, namespace, *args):
    return stream(
        core.connect_get_namespaced_pod_exec,
        f"{NAME}-0",
        namespace,
        command=["redis-cli", *args],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    ).strip()


def test_statefulset_with_pvc_survives_pod_delete(core, apps, namespace):
    core.create_namespaced_service(namespace, service_manifest())
    apps.create_namespaced_stateful_set(namespace, statefulset_manifest())
    first = wait_ready_pod(core, namespace)

    pvc = core.read_namespaced_persistent_volume_claim(f"data-{NAME}-0", namespace)
    assert pvc.status.phase == "Bound"

    # exec
    assert redis_cli(core, namespace, "SET", "smoke:key", "survives") == "OK"
    assert redis_cli(core, namespace, "GET", "smoke:key") == "survives"

    # port-forward
    forward = portforward(
        core.connect_get_namespaced_pod_portforward, f"{NAME}-0", namespace, ports="6379"
    )
    sock = forward.socket(6379)
    sock.setblocking(True)
    sock.sendall(b"PING\r\n")
    assert sock.recv(64) == b"+PONG\r\n"
    sock.close()
    forward.close()

    # a ClusterIP Service through kube-proxy, reached from inside the pod
    cluster_ip = core.read_namespaced_service(NAME, namespace).spec.cluster_ip
    socket.inet_aton(cluster_ip)
    assert redis_cli(core, namespace, "-h", cluster_ip, "GET", "smoke:key") == "survives"

    # the value survives delete pod (read back from the AOF on the PVC)
    core.delete_namespaced_pod(f"{NAME}-0", namespace)
    wait_ready_pod(core, namespace, not_uid=first.metadata.uid)
    assert redis_cli(core, namespace, "GET", "smoke:key") == "survives"
    assert redis_cli(core, namespace, "CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
