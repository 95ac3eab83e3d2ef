# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover drill: a client writing through Sentinel discovery while the primary is killed or frozen.

The writer (module_utils/drill.py) asks a Sentinel for the primary and asks
again after any failure, as a Sentinel-aware client library does.
Unavailability is the longest gap between two acknowledged writes in the
writer's clock, so no two clocks are compared. Afterwards every acknowledged
key is looked up on the new primary: none may be missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    DrillError, Writer, longest_gap, parse_writes, server_pid, signal_process)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import TimedOut, pod_path, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import in_sync
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SERVER_CONTAINER


class Drill(object):
    """One drill on a SentinelSet: `kill` (pod deleted, grace 0) or `freeze` (SIGSTOP of the server)."""

    def __init__(self, members, run_id, image, secrets, timeout=180, settle_seconds=3):
        self.members, self.timeout, self.settle = members, timeout, settle_seconds
        login, sentinel = secrets
        env = [{"name": "MASTER", "value": members.master_name},
               {"name": "SENTINEL_PORT", "value": str(members.sentinel_port)},
               {"name": "SENTINELS", "value": " ".join(members.address(pod) for pod in members.sentinels())},
               {"name": "SENTINEL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": sentinel, "key": "password"}}}]
        self.writer = Writer(members.kube, members.namespace, "%s-drill-%s" % (members.statefulset, run_id),
                             members.statefulset, "failover-drill", image, members.flavor, members.port, login,
                             env, timeout)

    # The events

    def kill(self, pod):
        self.members.kube.request("DELETE", pod_path(self.members.namespace, pod) + "?gracePeriodSeconds=0")

    def signal(self, pod, pid, name):
        signal_process(self.members.kube, self.members.namespace, pod, SERVER_CONTAINER, pid, name)

    # The run

    def run(self, variant):
        members = self.members
        old_address = members.primary_address()
        if not old_address:
            raise DrillError("no majority of Sentinels names a primary: the set is not healthy enough for a drill")
        old = members.pod_at(old_address)
        self.writer.start()
        try:
            self.writer.wait_first_writes(self.settle)
            started = time.monotonic()
            pid = None
            if variant == "kill":
                self.kill(old)
            else:
                pid = server_pid(members.kube, members.namespace, old, SERVER_CONTAINER, members.flavor)
                self.signal(old, pid, "STOP")
            try:
                wait_for("the Sentinels to name a new primary",
                         lambda: members.primary_address() not in (None, old_address), self.timeout, interval=0.2)
            except TimedOut as exc:
                raise DrillError("%s. The Sentinels: %s" % (exc, members.sentinels_report()))
            promoted = time.monotonic() - started
            new_address = members.primary_address()
            self.writer.wait_more_writes("writes acknowledged by the new primary")
            if pid:
                self.signal(old, pid, "CONT")
            wait_for("%s to rejoin as an in-sync replica" % old, lambda: in_sync(members.replication(old)),
                     self.timeout, interval=1)
            rejoined = time.monotonic() - started
            time.sleep(self.settle)
        finally:
            log = self.writer.stop()
        acked, failed, times = parse_writes(log)
        lost, first = self.missing(members.pod_at(new_address), acked)
        return {"variant": variant, "primary_before": old, "primary_after": members.pod_at(new_address),
                "new_primary_named_seconds": round(promoted, 2), "write_unavailable_seconds": round(longest_gap(times), 2),
                "rejoined_seconds": round(rejoined, 2), "acknowledged_writes": len(acked), "failed_writes": failed,
                "lost_writes": lost, "lost_sample": ",".join(str(n) for n in first)}

    def during(self, action):
        """Run `action` under the writer: (longest pause between acknowledged writes, acknowledged writes lost)."""
        self.writer.start()
        try:
            self.writer.wait_first_writes(self.settle)
            action()
            time.sleep(self.settle)
        finally:
            log = self.writer.stop()
        acked, dummy, times = parse_writes(log)
        primary = self.members.pod_at(self.members.primary_address())
        return longest_gap(times), self.missing(primary, acked)[0]

    def missing(self, pod, acked):
        members = self.members
        return self.writer.missing((pod, SERVER_CONTAINER, members.password, members.user), acked)
