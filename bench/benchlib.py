"""What the benchmarks share: where the local cluster's kubeconfig and kubectl are, and how to run them."""

import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
KUBECONFIG = os.environ.get("K8S_AUTH_KUBECONFIG") or os.path.expanduser(
    "~/.cache/alertmanagerpp-datastores/kubeconfig")
CACHE = pathlib.Path(os.environ.get("AMP_CACHE", os.path.expanduser("~/.cache/alertmanagerpp-datastores")))
KUBECTL = str(CACHE / "src" / "kubernetes-1.20.2" / "_output" / "bin" / "kubectl")
PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
# AMP_STANDARD_STORES: the local inventory deploys both stores; a benchmark deploys the one it measures.
ENV = dict(os.environ, AMP_STANDARD_STORES=os.environ.get("AMP_STANDARD_STORES", "redis"), K8S_AUTH_KUBECONFIG=KUBECONFIG,
           ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
NAME = "alertmanagerpp-redis"
POD = NAME + "-0"


def kubectl(*args, stdin=None):
    """kubectl's stdout as text; stdin bytes, or an open file."""
    feed = {"stdin": stdin} if hasattr(stdin, "read") else {"input": stdin}
    return subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG] + list(args), capture_output=True, check=True,
                          **feed).stdout.decode()


def timed(function):
    """(seconds, result) of function()."""
    start = time.monotonic()
    result = function()
    return time.monotonic() - start, result


def delete_namespace(core, namespace):
    """Delete a namespace and wait until it is gone; nothing when it does not exist."""
    from kubernetes.client.exceptions import ApiException
    try:
        core.delete_namespace(namespace)
    except ApiException:
        return
    while core.list_namespace(field_selector="metadata.name=" + namespace).items:
        time.sleep(1)


def pod_ready(namespace, pod, old_uid=None):
    """The pod is Ready, and is not the one with uid `old_uid`."""
    out = kubectl("-n", namespace, "get", "pod", pod, "-o",
                  "jsonpath={.metadata.uid} {.status.conditions[?(@.type=='Ready')].status}")
    uid, dummy, status = out.partition(" ")
    return status == "True" and uid != old_uid


def restart_seconds(namespace, pod):
    """Seconds from deleting the pod until its successor is Ready."""
    uid = kubectl("-n", namespace, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
    start = time.monotonic()
    kubectl("-n", namespace, "delete", "pod", pod, "--wait=false")
    while True:
        try:
            if pod_ready(namespace, pod, uid):
                return time.monotonic() - start
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.2)
