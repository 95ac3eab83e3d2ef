# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The crash drill of a standalone instance: its server killed under a stream of writes through its Service.

Two ways a server dies: `kill` (SIGKILL of the server process: the kubelet
restarts the container in the same pod) and `delete` (the pod deleted as a
drain or an eviction deletes it, with its grace period: the StatefulSet
makes it again on the same volume). The drill measures, in the writer's
clock, the longest pause between two acknowledged writes (until the instance
answers through its Service again) and, in the controller's clock, the time
until pod 0 is Ready again; afterwards it counts the acknowledged writes the
server lacks, and how many seconds of writing they span.

Grace period 0 is not offered: for a StatefulSet it lets a second server
start on the volume while the first may still be writing to it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    DrillError, Writer, longest_gap, parse_writes, server_pid, service_address, signal_process)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    first_pod, is_ready, pod_path, read_pod, wait_for)

VARIANTS = ("kill", "delete")
# Drill keys expire by themselves: the instance is left as it was, but for an hour.
KEY_TTL_SECONDS = 3600


def restarts(pod, container):
    return sum(s.get("restartCount", 0) for s in pod.get("status", {}).get("containerStatuses", [])
               if s["name"] == container)


def lost_write_seconds(acked, times, missing):
    """How many seconds of acknowledged writing the missing numbers span (0 when none is missing)."""
    when = dict(zip(acked, times))
    lost = [when[n] for n in missing if n in when]
    return max(lost) - min(lost) if lost else 0.0


def missed_targets(report, recovery_seconds, lost_seconds):
    """What a report misses of the targets, one line each (empty: all met)."""
    missed = []
    for measured, what in (("write_unavailable_seconds", "answering again"), ("ready_seconds", "Ready again")):
        if report[measured] > recovery_seconds:
            missed.append("%s: %s took %.1f s (target %g s)"
                          % (report["variant"], what, report[measured], recovery_seconds))
    if report["lost_write_seconds"] > lost_seconds or (report["lost_writes"] and lost_seconds == 0):
        missed.append("%s: %d acknowledged writes lost, %.3f s of writing (target %g s)"
                      % (report["variant"], report["lost_writes"], report["lost_write_seconds"], lost_seconds))
    return missed


class CrashDrill(object):
    """Drills on `server` = (namespace, statefulset, container, flavor, port, admin user, admin password), written
    to through `service` by `login` = (user, (Secret, key))."""

    def __init__(self, kube, server, service, image, login, run_id, timeout=180, settle_seconds=3):
        self.kube, self.timeout, self.settle = kube, timeout, settle_seconds
        self.namespace, self.statefulset, self.container, self.flavor, self.port, user, password = server
        self.pod = first_pod(self.statefulset)
        self.admin = (self.pod, self.container, password, user)
        env = [{"name": "HOST", "value": service_address(kube, self.namespace, service)},
               {"name": "EXPIRE", "value": str(KEY_TTL_SECONDS)}]
        self.writer = Writer(kube, self.namespace, "%s-crash-%s" % (self.statefulset, run_id), self.statefulset,
                             "crash-drill", image, self.flavor, self.port, login, env, timeout)

    def read(self):
        return read_pod(self.kube, self.namespace, self.pod) or {}

    def crash(self, variant, started):
        """Kill the server; return a condition true once the server is back and Ready, and a dict that gets
        `renewed_seconds`: from `started` until the new pod or the restarted container was first seen."""
        before = self.read()
        uid, count = before["metadata"]["uid"], restarts(before, self.container)
        if variant == "kill":
            pid = server_pid(self.kube, self.namespace, self.pod, self.container, self.flavor)
            signal_process(self.kube, self.namespace, self.pod, self.container, pid, "KILL")
        else:
            self.kube.request("DELETE", pod_path(self.namespace, self.pod))

        seen = {}

        def back():
            pod = self.read()
            renewed = pod.get("metadata", {}).get("uid") not in (None, uid) or restarts(pod, self.container) > count
            if renewed:
                seen.setdefault("renewed_seconds", time.monotonic() - started)
            return renewed and is_ready(pod)
        return back, seen

    def run(self, variant):
        if variant not in VARIANTS:
            raise DrillError("unknown crash %r: one of %s" % (variant, ", ".join(VARIANTS)))
        if not is_ready(self.read()):
            raise DrillError("pod %s/%s is not Ready: a crash drill starts from a healthy instance"
                             % (self.namespace, self.pod))
        self.writer.start()
        try:
            self.writer.wait_first_writes(self.settle)
            started = time.monotonic()
            back, seen = self.crash(variant, started)
            wait_for("pod %s to be Ready again" % self.pod, back, self.timeout, interval=0.2)
            ready = time.monotonic() - started
            self.writer.wait_more_writes("writes acknowledged after the %s" % variant)
            time.sleep(self.settle)
        finally:
            log = self.writer.stop()
        acked, failed, times = parse_writes(log)
        lost, numbers = self.writer.missing(self.admin, acked, listed=len(acked))
        return {"variant": variant, "pod": self.pod, "ready_seconds": round(ready, 2),
                "renewed_seconds": round(seen.get("renewed_seconds", ready), 2),
                "write_unavailable_seconds": round(longest_gap(times), 2), "acknowledged_writes": len(acked),
                "failed_writes": failed, "lost_writes": lost, "lost_sample": ",".join(str(n) for n in numbers[:5]),
                "lost_write_seconds": round(lost_write_seconds(acked, times, numbers), 3)}
