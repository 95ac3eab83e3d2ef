# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes to a Sentinel set that lose no acknowledged write: the rolling restart, the switchover, stale Sentinels.

The server StatefulSet uses the OnDelete strategy; this module decides the
order. Replicas restart first, each back in sync before the next; then the
primary hands over to an in-sync replica (writes paused until the replicas
hold every acknowledged write, SENTINEL FAILOVER, the old primary made a
replica of the new one) and only then restarts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, pod_state, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import check_reply, parse_info
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import (
    SERVER_CONTAINER, replica_offsets)

REVISION_LABEL = "controller-revision-hash"


def in_sync(info):
    """A replica whose link to its primary is up and that is not loading a full copy."""
    return (info.get("role") == "slave" and info.get("master_link_status") == "up"
            and info.get("master_sync_in_progress", "0") == "0")


class Rollout(object):
    """Brings the server pods onto their StatefulSet's current revision, and the Sentinels' views up to date."""

    def __init__(self, members, timeout=300, pause_seconds=30):
        self.members, self.timeout, self.pause_ms = members, timeout, int(pause_seconds * 1000)
        self.steps = []

    def step(self, message):
        self.steps.append(message)

    # What is to do

    def current_revision(self):
        """The StatefulSet's updateRevision, once its controller has seen the latest spec."""
        def observed():
            statefulset = self.members.read_statefulset(self.members.statefulset)
            status = statefulset.get("status") or {}
            return status.get("observedGeneration") == statefulset["metadata"]["generation"] and status
        wait_for("the StatefulSet controller to observe the new spec", observed, 60)
        return observed()["updateRevision"]

    def outdated(self):
        """Server pods that exist and run an older template than the StatefulSet's current one."""
        revision = self.current_revision()
        result = []
        for name in self.members.servers():
            pod = self.members.read_pod(name)
            if pod is not None and (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                result.append(name)
        return result

    def plan(self):
        """(outdated pods in the order they restart, the primary's pod or None when no Sentinel names one)."""
        outdated = self.outdated()
        address = self.members.primary_address() if outdated else None
        primary = self.members.pod_at(address) if address else None
        order = [pod for pod in outdated if pod != primary] + ([primary] if primary in outdated else [])
        return order, primary

    # Doing it

    def roll(self):
        """Restart the outdated pods in a safe order; returns the steps taken."""
        order, primary = self.plan()
        for pod in order:
            if pod == primary:
                self.switchover(pod)
            self.restart(pod)
        self.wait_replicating()
        return self.steps

    def restart(self, pod):
        """Delete a server pod and wait until its successor is Ready (and, as a replica, in sync)."""
        old = self.members.read_pod(pod)
        self.step("restart %s" % pod)
        self.members.kube.request("DELETE", pod_path(self.members.namespace, pod))
        wait_for("%s to be back and Ready" % pod,
                 lambda: pod_state(self.members.read_pod(pod), SERVER_CONTAINER, uid_not=old["metadata"]["uid"])
                 == (True, True), self.timeout, interval=1)
        if self.members.primary_address():
            wait_for("%s to be in sync with the primary" % pod,
                     lambda: in_sync(self.members.replication(pod)), self.timeout, interval=1)

    def switchover(self, pod):
        """Move the primary role off `pod` without losing an acknowledged write."""
        members = self.members
        address = members.address(pod)
        replicas = len(members.servers()) - 1
        cli = members.server_cli(pod)
        self.step("switch the primary away from %s (SENTINEL FAILOVER)" % pod)
        check_reply(cli("CLIENT", "PAUSE", str(self.pause_ms), "WRITE"), "CLIENT PAUSE")
        try:
            wait_for("the replicas of %s to hold every write" % pod,
                     lambda: self.replicas_caught_up(cli, replicas), 10, interval=0.1)
            sentinel = members.ready_pods(members.sentinels())[0]
            check_reply(members.sentinel_cli(sentinel)("SENTINEL", "FAILOVER", members.master_name),
                        "SENTINEL FAILOVER")
            wait_for("the Sentinels to name a new primary",
                     lambda: members.ask_sentinel(sentinel) not in (None, address), self.timeout, interval=0.1)
            new = members.ask_sentinel(sentinel)
            # Before the pause ends: writes it held now get READONLY, not an ack on a demoted primary.
            check_reply(cli("REPLICAOF", new, str(members.port)), "REPLICAOF")
            self.step("primary is now %s (%s)" % (members.pod_at(new), new))
        finally:
            cli("CLIENT", "UNPAUSE")

    @staticmethod
    def replicas_caught_up(cli, count):
        info = parse_info(check_reply(cli("INFO", "replication"), "INFO"))
        offsets = replica_offsets(info)
        return len(offsets) >= count and all(
            offset == int(info["master_repl_offset"]) for offset in offsets.values())

    def wait_replicating(self):
        """Every server pod Ready, one primary, every other one an in-sync replica."""
        def healthy():
            states = [self.members.replication(pod) for pod in self.members.servers()]
            roles = [info.get("role") for info in states]
            return roles.count("master") == 1 and all(in_sync(info) for info in states if info.get("role") != "master")
        wait_for("one primary and every replica in sync", healthy, self.timeout, interval=1)

    # The Sentinels' views

    def expected_view(self, sentinel, primary):
        members = self.members
        return {"primary": primary,
                "replicas": sorted(members.address(pod) for pod in members.servers() if members.address(pod) != primary),
                "sentinels": sorted(members.address(pod) for pod in members.sentinels() if pod != sentinel)}

    @staticmethod
    def stale(view, expected):
        """Addresses a Sentinel remembers that are no longer part of the set."""
        return sorted(set(view["replicas"]) - set(expected["replicas"])
                      | set(view["sentinels"]) - set(expected["sentinels"]))

    def reconcile_sentinels(self, check_mode=False):
        """Reset, one at a time, Sentinels that remember pods gone from the set; wait until all agree."""
        members = self.members
        wait_for("every Sentinel Ready", lambda: len(members.ready_pods(members.sentinels())) == len(
            members.sentinels()), self.timeout, interval=1)
        wait_for("a majority of the Sentinels to name the primary", members.primary_address,
                 self.timeout, interval=1)
        primary = members.primary_address()
        for sentinel in members.sentinels():
            expected = self.expected_view(sentinel, primary)
            stale = self.stale(members.sentinel_view(sentinel), expected)
            if stale:
                self.step("reset %s: it remembers %s" % (sentinel, ", ".join(stale)))
                if check_mode:
                    continue
                check_reply(members.sentinel_cli(sentinel)("SENTINEL", "RESET", members.master_name), "SENTINEL RESET")
            if not check_mode:
                self.wait_view(sentinel, expected)
        return primary

    def wait_view(self, sentinel, expected):
        def complete():
            view = self.members.sentinel_view(sentinel)
            return [view[k] for k in ("primary", "replicas", "sentinels")] == [
                expected[k] for k in ("primary", "replicas", "sentinels")]
        wait_for("%s to see the whole set" % sentinel, complete, self.timeout, interval=1)
