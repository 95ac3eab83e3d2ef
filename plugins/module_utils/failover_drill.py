# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover drill: a client writing through Sentinel discovery while the primary is killed or frozen.

The writer runs in the cluster (a short-lived pod with the instance's image):
it asks a Sentinel for the primary, writes one numbered key per command and
prints a line per reply with its own clock, and asks again after any
failure, as a Sentinel-aware client library does. Unavailability is the
longest gap between two acknowledged writes in the writer's clock, so no two
clocks are compared. Afterwards every acknowledged key is looked up on the
new primary: none may be missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import (
    restricted_container, restricted_pod_spec)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES, TLS_CA_FILE, TLS_WHEN_MOUNTED, check_reply, run_pod_cli)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import in_sync
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SERVER_CONTAINER

WRITER = "writer"
# Stops on SIGTERM (kill 1 from an exec): sh as PID 1 has no default handler.
WRITER_SCRIPT = r"""
trap 'echo END; exit 0' TERM
ask() {
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
  r=$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 1 $CLI $tls ${REDIS_USER:+--user "$REDIS_USER"} -h "$primary" -p "$PORT" \
    set "$PREFIX$n" "$n" 2>&1) || true
  if [ "$r" = OK ]; then echo "A $n $(date +%s%N)"; else echo "F $n $(date +%s%N)"; primary=""; fi
done
"""
# Counts the acknowledged keys (numbers in ARGV[1], read from stdin) missing on a server; returns the count and the first few.
MISSING_LUA = """#!lua flags=no-writes
local missing = {}
for n in string.gmatch(ARGV[1], '%d+') do
  if redis.call('EXISTS', KEYS[1] .. n) == 0 then missing[#missing + 1] = n end
end
local first = {}
for i = 1, math.min(5, #missing) do first[i] = missing[i] end
return #missing .. ' ' .. table.concat(first, ',')
"""


class DrillError(DatastoresError):
    """The drill could not run, or the set did not recover."""


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


class Drill(object):
    """One drill on a SentinelSet: `kill` (pod deleted, grace 0) or `freeze` (SIGSTOP of the server)."""

    def __init__(self, members, run_id, image, secrets, timeout=180, settle_seconds=3):
        self.members, self.run_id, self.image = members, run_id, image
        self.secrets, self.timeout, self.settle = secrets, timeout, settle_seconds
        self.writer = "%s-drill-%s" % (members.statefulset, run_id)
        self.prefix = "drill:%s:" % run_id

    # The writer

    def writer_manifest(self):
        members = self.members
        container = restricted_container(WRITER, self.image, ["sh", "-c", TLS_WHEN_MOUNTED + WRITER_SCRIPT])
        (user, password), sentinel = self.secrets
        container["env"] = [
            {"name": "CLI", "value": BINARIES[members.flavor]["cli"]}, {"name": "MASTER", "value": members.master_name},
            {"name": "PORT", "value": str(members.port)}, {"name": "SENTINEL_PORT", "value": str(members.sentinel_port)},
            {"name": "SENTINELS", "value": " ".join(members.address(pod) for pod in members.sentinels())},
            {"name": "PREFIX", "value": self.prefix}, {"name": "REDIS_USER", "value": user or ""},
            {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": password[0], "key": password[1]}}},
            {"name": "SENTINEL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": sentinel, "key": "password"}}}]
        spec = restricted_pod_spec([container], self.timeout * 3)
        if self.image.get("tls_secret"):
            container["volumeMounts"] = [{"name": "tls-ca", "mountPath": TLS_CA_FILE.rsplit("/", 1)[0],
                                          "readOnly": True}]
            ca_only = {"secretName": self.image["tls_secret"], "items": [{"key": "ca.crt", "path": "ca.crt"}]}
            spec["volumes"] = [{"name": "tls-ca", "secret": ca_only}]
        labels = {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores",
                  "app.kubernetes.io/component": "failover-drill", "app.kubernetes.io/instance": members.statefulset}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.writer, "labels": labels}, "spec": spec}

    def start_writer(self):
        kube, namespace = self.members.kube, self.members.namespace
        kube.request("POST", pod_path(namespace), self.writer_manifest())
        wait_for("the writer pod to run", lambda: self.writer_phase() == "Running", self.timeout, interval=0.5)

    def writer_phase(self):
        return (self.members.read_pod(self.writer) or {}).get("status", {}).get("phase")

    def writer_log(self):
        log = self.members.kube.request("GET", pod_path(self.members.namespace, self.writer)
                                        + "/log?container=" + WRITER, raw=True)
        return getattr(log, "data", log).decode("utf-8", "replace")

    def stop_writer(self):
        """Stop the writer and return its log (the pod is then deleted)."""
        configuration, namespace = self.members.kube.configuration, self.members.namespace
        run(configuration, namespace, self.writer, WRITER, ["sh", "-c", "kill 1"], timeout=30)
        wait_for("the writer to stop", lambda: self.writer_phase() in ("Succeeded", "Failed"), 30, interval=0.5)
        log = self.writer_log()
        self.members.kube.request("DELETE", pod_path(namespace, self.writer))
        return log

    def acknowledgements(self):
        return len(parse_writes(self.writer_log())[0])

    # The events

    def server_pid(self, pod):
        binary = BINARIES[self.members.flavor]["server"]
        script = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = %s ] && echo ${p#/proc/}; done; true'
                  % binary)
        rc, out, err = run(self.members.kube.configuration, self.members.namespace, pod, SERVER_CONTAINER,
                           ["sh", "-c", script], timeout=30)
        pids = out.decode().split()
        if len(pids) != 1:
            raise DrillError("cannot find the one %s process in %s (found %s)" % (binary, pod, pids or "none"))
        return pids[0]

    def signal(self, pod, pid, name):
        rc, out, err = run(self.members.kube.configuration, self.members.namespace, pod, SERVER_CONTAINER,
                           ["sh", "-c", 'kill -"$0" "$1"', name, pid], timeout=30)
        if rc != 0:
            raise DrillError("kill -%s %s in %s failed: %s" % (name, pid, pod, err.decode()[:200]))

    def kill(self, pod):
        self.members.kube.request("DELETE", pod_path(self.members.namespace, pod) + "?gracePeriodSeconds=0")

    # The run

    def run(self, variant):
        members = self.members
        old_address = members.primary_address()
        if not old_address:
            raise DrillError("no majority of Sentinels names a primary: the set is not healthy enough for a drill")
        old = members.pod_at(old_address)
        self.start_writer()
        try:
            self.wait_first_writes()
            started = time.monotonic()
            pid = None
            if variant == "kill":
                self.kill(old)
            else:
                pid = self.server_pid(old)
                self.signal(old, pid, "STOP")
            wait_for("the Sentinels to name a new primary", lambda: members.primary_address() not in (None, old_address),
                     self.timeout, interval=0.2)
            promoted = time.monotonic() - started
            new_address = members.primary_address()
            before = self.acknowledgements()
            wait_for("writes acknowledged by the new primary", lambda: self.acknowledgements() > before + 20,
                     self.timeout, interval=0.2)
            if pid:
                self.signal(old, pid, "CONT")
            wait_for("%s to rejoin as an in-sync replica" % old, lambda: in_sync(members.replication(old)),
                     self.timeout, interval=1)
            rejoined = time.monotonic() - started
            time.sleep(self.settle)
        finally:
            log = self.stop_writer()
        acked, failed, times = parse_writes(log)
        missing = self.missing(members.pod_at(new_address), acked)
        return {"variant": variant, "primary_before": old, "primary_after": members.pod_at(new_address),
                "new_primary_named_seconds": round(promoted, 2), "write_unavailable_seconds": round(longest_gap(times), 2),
                "rejoined_seconds": round(rejoined, 2), "acknowledged_writes": len(acked), "failed_writes": failed,
                "lost_writes": int(missing.split()[0]), "lost_sample": (missing.split() + [""])[1]}

    def during(self, action):
        """Run `action` under the writer: (longest pause between acknowledged writes, acknowledged writes lost)."""
        self.start_writer()
        try:
            self.wait_first_writes()
            action()
            time.sleep(self.settle)
        finally:
            log = self.stop_writer()
        acked, dummy, times = parse_writes(log)
        primary = self.members.pod_at(self.members.primary_address())
        return longest_gap(times), int(self.missing(primary, acked).split()[0])

    def wait_first_writes(self):
        wait_for("the writer's first acknowledged writes", lambda: self.acknowledgements() >= 20, self.timeout,
                 interval=0.5)
        time.sleep(self.settle)

    def missing(self, pod, acked):
        """'<count> <first few>' of the acknowledged keys a server lacks; the numbers travel on stdin."""
        members = self.members
        rc, out, err = run_pod_cli(members.kube.configuration, members.namespace, pod, SERVER_CONTAINER,
                                   members.password, ["-x", "EVAL", MISSING_LUA, "1", self.prefix],
                                   flavor=members.flavor, port=members.port, timeout=120,
                                   stdin=" ".join(str(n) for n in acked).encode(), user=members.user)
        if rc != 0:
            raise DrillError("cannot count the missing keys on %s: %s" % (pod, err.decode()[:200]))
        return check_reply(out.decode(), "EVAL").strip()
