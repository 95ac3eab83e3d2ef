"""What the restore interruption tests of both stores share: holding a restore where it is, waiting, and the
processes and pods it must not leave behind."""

import contextlib
import time

# Volumes the restricted profile admits.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def restricted_violations(pod_spec):
    """What the restricted Pod Security Standard (and this project: no token, limits, a deadline) refuses."""
    bad = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            bad.append(flag)
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            bad.append("volume %s is %s" % (volume["name"], ", ".join(sorted(kinds))))
    pod_context = pod_spec.get("securityContext") or {}
    if pod_spec.get("automountServiceAccountToken") is not False:
        bad.append("service account token mounted")
    for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        bad.extend(container_violations(container, pod_context))
    return bad


def container_violations(container, pod_context):
    bad = []
    context = container.get("securityContext") or {}
    name = container["name"]
    if context.get("privileged"):
        bad.append("%s privileged" % name)
    if context.get("allowPrivilegeEscalation") is not False:
        bad.append("%s may escalate privileges" % name)
    if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
        bad.append("%s not runAsNonRoot" % name)
    if (context.get("runAsUser", pod_context.get("runAsUser")) or 1) == 0:
        bad.append("%s runs as uid 0" % name)
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        bad.append("%s seccompProfile %s" % (name, seccomp))
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        bad.append("%s does not drop ALL capabilities" % name)
    if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
        bad.append("%s adds capabilities" % name)
    if any(port.get("hostPort") for port in container.get("ports") or []):
        bad.append("%s uses a host port" % name)
    limits = (container.get("resources") or {}).get("limits") or {}
    if not {"cpu", "memory"} <= set(limits):
        bad.append("%s without cpu and memory limits" % name)
    return bad


@contextlib.contextmanager
def pods_held_back(core, namespace):
    """No pod without a deadline may start: the restore's helper (it has one) runs, the instance's pods cannot
    start again until the block ends. Holds a restore that scaled its server back up where it is, for as long as
    a test needs: without it, a busy machine let restores finish (and, verified, shield themselves) first."""
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "hold-pods"},
             "spec": {"hard": {"pods": "0"}, "scopes": ["NotTerminating"]}}
    core.create_namespaced_resource_quota(namespace, quota)
    try:
        yield
    finally:
        core.delete_namespaced_resource_quota("hold-pods", namespace)


def wait_for(what, condition, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.2)


def helper_pods(core, namespace, instance):
    """The restore helper pods of `instance` that are not on their way out."""
    selector = "app.kubernetes.io/component=restore,app.kubernetes.io/instance=%s" % instance
    return [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if not p.metadata.deletion_timestamp]


def process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def owner_pid(state):
    """The pid of the module that recorded a restore's state (its owner is host:pid)."""
    return int(state["owner"].rsplit(":", 1)[1])


def pod_ready(core, namespace, pod):
    found = core.list_namespaced_pod(namespace, field_selector="metadata.name=" + pod).items
    return bool(found) and [c.status for c in (found[0].status.conditions or []) if c.type == "Ready"] == ["True"]
