# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the drills share: the writer pod, and signals to a server process.

The writer is a short-lived pod that writes numbered keys and logs each
reply in its own clock. It runs in the cluster (the instance's image, restricted, no API token) and
writes one numbered key per command, as an application would: to a fixed
address (a Service), or to the primary a Sentinel names, asking again after
any failure as a Sentinel-aware client does. Every reply is a line
`A <n> <ns>` (acknowledged) or `F <n> <ns>` (failed), so unavailability is
the longest gap between two acknowledgements in one clock, and afterwards
every acknowledged key can be looked up on the server: none may be missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import (
    restricted_container, restricted_pod_spec)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, read_pod, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES, TLS_CA_FILE, TLS_WHEN_MOUNTED, check_reply, run_pod_cli)

WRITER = "writer"
# Stops on SIGTERM (kill 1 from an exec): sh as PID 1 has no default handler.
WRITER_SCRIPT = r"""
trap 'echo END; exit 0' TERM
ask() {
  if [ -z "$SENTINELS" ]; then echo "$HOST"; return 0; fi
  for s in $SENTINELS; do
    r=$(REDISCLI_AUTH="$SENTINEL_PASSWORD" timeout 1 $CLI $tls -h "$s" -p "$SENTINEL_PORT" \
        sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | head -n 1) || true
    case "$r" in ''|*[!0-9a-fA-F.:]*) continue ;; esac
    echo "$r"; return 0
  done
  return 1
}
n=0; primary=""
while :; do
  if [ -z "$primary" ]; then primary=$(ask) || { primary=""; sleep 0.1; continue; }; fi
  n=$((n + 1))
  r=$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 1 $CLI $tls ${REDIS_USER:+--user "$REDIS_USER"} -h "$primary" \
    -p "$PORT" set "$PREFIX$n" "$n" ${EXPIRE:+ex "$EXPIRE"} 2>&1) || true
  if [ "$r" = OK ]; then echo "A $n $(date +%s%N)"; else echo "F $n $(date +%s%N)"; primary=""; fi
done
"""
# The acknowledged keys (numbers in ARGV[2], read from stdin) missing on a server: their count, then the first
# ARGV[1] of their numbers.
MISSING_LUA = """#!lua flags=no-writes
local missing = {}
for n in string.gmatch(ARGV[2], '%d+') do
  if redis.call('EXISTS', KEYS[1] .. n) == 0 then missing[#missing + 1] = n end
end
local first = {}
for i = 1, math.min(tonumber(ARGV[1]), #missing) do first[i] = missing[i] end
return #missing .. ' ' .. table.concat(first, ',')
"""
WRITER_ARG_SPEC = dict(writer_user=dict(type="str", default="app"), writer_secret=dict(type="str", no_log=False),
                       writer_secret_key=dict(type="str", default="password", no_log=False),
                       timeout=dict(type="int", default=180))
# Pods labelled with it are admitted by the instance's NetworkPolicy as clients (roles/redis, networkpolicy-rules).
CLIENT_OF_LABEL = "alertmanagerpp.io/client-of"
WRITER_RESOURCES = {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}}


def client_pod(name, instance, component, container, tls_secret, deadline):
    """A short-lived pod that talks to `instance` as its clients do: labelled so that the instance's NetworkPolicy
    admits it (CLIENT_OF_LABEL), with the instance's CA mounted when it speaks TLS (`tls_secret`)."""
    spec = restricted_pod_spec([container], deadline)
    if tls_secret:
        container["volumeMounts"] = [{"name": "tls-ca", "mountPath": TLS_CA_FILE.rsplit("/", 1)[0], "readOnly": True}]
        ca_only = {"secretName": tls_secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}
        spec["volumes"] = [{"name": "tls-ca", "secret": ca_only}]
    labels = {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores", "app.kubernetes.io/component": component,
              "app.kubernetes.io/instance": instance, CLIENT_OF_LABEL: instance}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


def pod_phase(kube, namespace, name):
    """The phase of a pod (None when it does not exist)."""
    return (read_pod(kube, namespace, name) or {}).get("status", {}).get("phase")


def pod_log(kube, namespace, name, container):
    """A container's log as text."""
    log = kube.request("GET", pod_path(namespace, name) + "/log?container=" + container, raw=True)
    return getattr(log, "data", log).decode("utf-8", "replace")


class DrillError(DatastoresError):
    """A drill could not run, or the instance did not recover."""


def parse_writes(log):
    """(acknowledged numbers, failed count, acknowledgement times in seconds) from the writer's log."""
    acked, times, failed = [], [], 0
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "A":
            acked.append(int(parts[1]))
            times.append(int(parts[2]) / 1e9)
        elif len(parts) == 3 and parts[0] == "F":
            failed += 1
    return acked, failed, times


def longest_gap(times):
    """The longest time between two consecutive acknowledgements (0 with fewer than two)."""
    return max([b - a for a, b in zip(times, times[1:])] or [0.0])


def server_image(statefulset, container="redis"):
    """{image, pull_policy, resources, tls_secret} of a StatefulSet (a dict) for the writer; tls_secret is the
    servers' TLS Secret, None when they speak plaintext."""
    spec = statefulset["spec"]["template"]["spec"]
    found = next(c for c in spec["containers"] if c["name"] == container)
    tls = [v["secret"]["secretName"] for v in spec.get("volumes", []) if v["name"] == "tls" and "secret" in v]
    return {"image": found["image"], "pull_policy": found.get("imagePullPolicy", "IfNotPresent"),
            "resources": WRITER_RESOURCES, "tls_secret": tls[0] if tls else None}


def server_pid(kube, namespace, pod, container, flavor):
    """The PID of the one server process in a pod (the pod shares its process namespace: not PID 1)."""
    binary = BINARIES[flavor]["server"]
    script = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = %s ] && echo ${p#/proc/}; done; true'
              % binary)
    rc, out, err = run(kube.configuration, namespace, pod, container, ["sh", "-c", script], timeout=30)
    pids = out.decode().split()
    if len(pids) != 1:
        raise DrillError("cannot find the one %s process in %s (found %s)" % (binary, pod, pids or "none"))
    return pids[0]


def signal_process(kube, namespace, pod, container, pid, name):
    """kill -<name> <pid> in the pod's container."""
    rc, out, err = run(kube.configuration, namespace, pod, container, ["sh", "-c", 'kill -"$0" "$1"', name, pid],
                       timeout=30)
    if rc != 0:
        raise DrillError("kill -%s %s in %s failed: %s" % (name, pid, pod, err.decode()[:200]))


def service_address(kube, namespace, service):
    """A Service's ClusterIP: what the application's connections go through (no cluster DNS needed)."""
    found = kube.get("/api/v1/namespaces/%s/services/%s" % (namespace, service))
    if found is None or found["spec"].get("clusterIP") in (None, "", "None"):
        raise DrillError("Service %s/%s with a cluster IP not found: the drill's clients go through it"
                         % (namespace, service))
    return found["spec"]["clusterIP"]


def writer_login(params):
    """(user, (Secret, key)) the writer logs in with, from a drill module's params."""
    return params["writer_user"], (params["writer_secret"] or params["statefulset"] + "-auth",
                                   params["writer_secret_key"])


def login_problem(params):
    """Why a drill module's params cannot run a drill (None when they can)."""
    if not (params["statefulset"] and params["password_secret"]):
        return "statefulset and password_secret are required: the drill's writer reads the password from the Secret"
    return None


class Writer(object):
    """The writer pod `name` of one drill of `instance`.

    `login` is (user, (Secret, key)) of the account it writes as: its password
    reaches the pod from the Secret, never from an argument. `env` adds the
    target: HOST (a fixed address) or SENTINELS, MASTER, SENTINEL_PORT and
    SENTINEL_PASSWORD; EXPIRE gives every key a TTL.
    """

    def __init__(self, kube, namespace, name, instance, component, image, flavor, port, login, env, timeout):
        self.kube, self.namespace, self.name, self.instance = kube, namespace, name, instance
        self.component, self.image, self.flavor, self.port = component, image, flavor, port
        self.login, self.env, self.timeout = login, env, timeout
        self.prefix = "drill:%s:" % name.rsplit("-", 1)[-1]

    def manifest(self):
        container = restricted_container(WRITER, self.image, ["sh", "-c", TLS_WHEN_MOUNTED + WRITER_SCRIPT])
        user, (secret, key) = self.login
        container["env"] = [
            {"name": "CLI", "value": BINARIES[self.flavor]["cli"]}, {"name": "PORT", "value": str(self.port)},
            {"name": "PREFIX", "value": self.prefix}, {"name": "REDIS_USER", "value": user or ""},
            {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}] + self.env
        return client_pod(self.name, self.instance, self.component, container, self.image.get("tls_secret"),
                          self.timeout * 3)

    def start(self):
        self.kube.request("POST", pod_path(self.namespace), self.manifest())
        wait_for("the writer pod to run", lambda: self.phase() == "Running", self.timeout, interval=0.5)

    def phase(self):
        return pod_phase(self.kube, self.namespace, self.name)

    def log(self):
        return pod_log(self.kube, self.namespace, self.name, WRITER)

    def stop(self):
        """Stop the writer and return its log (the pod is then deleted)."""
        run(self.kube.configuration, self.namespace, self.name, WRITER, ["sh", "-c", "kill 1"], timeout=30)
        wait_for("the writer to stop", lambda: self.phase() in ("Succeeded", "Failed"), 30, interval=0.5)
        log = self.log()
        self.kube.request("DELETE", pod_path(self.namespace, self.name))
        return log

    def acknowledgements(self):
        return len(parse_writes(self.log())[0])

    def wait_first_writes(self, settle):
        wait_for("the writer's first acknowledged writes", lambda: self.acknowledgements() >= 20, self.timeout,
                 interval=0.5)
        time.sleep(settle)

    def wait_more_writes(self, what, count=20):
        before = self.acknowledgements()
        wait_for(what, lambda: self.acknowledgements() > before + count, self.timeout, interval=0.2)

    def missing(self, server, acked, listed=5):
        """(count, the first `listed` numbers) of the acknowledged keys a server lacks; the numbers travel on stdin.

        `server` is (pod, container, password, user) of an account that may read every key."""
        pod, container, password, user = server
        rc, out, err = run_pod_cli(self.kube.configuration, self.namespace, pod, container, password,
                                   ["-x", "EVAL", MISSING_LUA, "1", self.prefix, str(listed)], flavor=self.flavor,
                                   port=self.port, timeout=120, stdin=" ".join(str(n) for n in acked).encode(),
                                   user=user)
        if rc != 0:
            raise DrillError("cannot count the missing keys on %s: %s" % (pod, err.decode()[:200]))
        reply = check_reply(out.decode(), "EVAL").split()
        return int(reply[0]), [int(n) for n in (reply[1].split(",") if len(reply) > 1 else [])]
