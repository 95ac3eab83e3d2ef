# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which pod of an instance a snapshot reads: an in-sync replica when there is one, else the primary.

A replica qualifies when it follows the same replication history as the
primary (same replication id), its link is up, it is not loading a full copy,
it heard from the primary recently, and it holds every write the primary had
acknowledged when the choice began (its offset reached the primary's). So a
backup from a replica holds at least what one from the primary would have held
at that moment, and the primary does not fork for the save.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import is_ready, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import check_reply, parse_info


class SourceError(DatastoresError):
    """No pod of the instance can be snapshotted safely."""


def replica_rejection(info, primary, max_lag):
    """Why a replica's INFO replication disqualifies it as the snapshot's source (None: it qualifies)."""
    if info.get("role") != "slave":
        return "not a replica (role %s)" % info.get("role", "unknown")
    if info.get("master_replid") != primary["master_replid"]:
        return "follows another replication history than the primary"
    if info.get("master_link_status") != "up":
        return "link to the primary is down"
    if info.get("master_sync_in_progress", "0") != "0":
        return "loading a full copy from the primary"
    if int(info.get("master_last_io_seconds_ago", "-1")) > max_lag:
        return "last heard from the primary %ss ago (more than %ss)" % (info["master_last_io_seconds_ago"], max_lag)
    if int(info.get("slave_repl_offset", "-1")) < int(primary["master_repl_offset"]):
        return "behind the primary (offset %s < %s)" % (info.get("slave_repl_offset"), primary["master_repl_offset"])
    return None


def single_primary(infos):
    """The one pod whose server is a primary; refuses none and several (a second primary is not a backup source)."""
    primaries = sorted(pod for pod, info in infos.items() if info.get("role") == "master")
    if len(primaries) == 1:
        return primaries[0]
    if not primaries:
        raise SourceError("no pod of the instance is a primary (%s): nothing consistent to back up"
                          % ", ".join("%s %s" % (pod, info.get("role", "unreachable")) for pod, info in sorted(
                              infos.items())))
    raise SourceError("several pods act as primary (%s): the set is split; heal it (deploy.yml, "
                      "docs/sentinel.md) before backing it up" % ", ".join(primaries))


class SourceChoice(object):
    """Picks the pod; `reasons` says why each other pod was passed over."""

    # A hung server must not hold the choice up (a frozen process keeps its pod Ready where exec probes
    # have no timeout).
    ASK_TIMEOUT = 5

    def __init__(self, kube, namespace, pods, cli_for, max_lag=10, sync_timeout=10, sleep=time.sleep):
        self.kube, self.namespace, self.pods = kube, namespace, pods
        self.cli_for = cli_for
        self.max_lag, self.sync_timeout, self.sleep = max_lag, sync_timeout, sleep
        self.reasons = {}

    def replication(self, pod):
        """INFO replication of a Ready pod's server; None when the pod is not Ready or does not answer."""
        if not is_ready(read_pod(self.kube, self.namespace, pod) or {}):
            self.reasons[pod] = "not Ready"
            return None
        try:
            return parse_info(check_reply(self.cli_for(pod, timeout=self.ASK_TIMEOUT)("INFO", "replication"), "INFO"))
        except DatastoresError as exc:
            self.reasons[pod] = "does not answer: %s" % exc
            return None

    def choose(self, prefer_replica=True):
        """{'pod', 'role', 'reason'} of the pod to snapshot."""
        if len(self.pods) == 1:
            return {"pod": self.pods[0], "role": "primary", "reason": "the instance's only pod"}
        infos = dict((pod, self.replication(pod)) for pod in self.pods)
        primary = single_primary(dict((pod, info) for pod, info in infos.items() if info is not None))
        if not prefer_replica:
            return {"pod": primary, "role": "primary", "reason": "the primary, as asked"}
        replica = self.in_sync_replica(primary, [pod for pod in self.pods if infos[pod] is not None and pod != primary])
        if replica:
            return {"pod": replica, "role": "replica", "reason": "in sync with the primary %s" % primary}
        return {"pod": primary, "role": "primary", "reason": "no replica in sync (%s)" % "; ".join(
            "%s: %s" % (pod, why) for pod, why in sorted(self.reasons.items()))}

    def in_sync_replica(self, primary, candidates):
        """The highest-ordinal replica holding every write the primary had acknowledged when asked, or None."""
        target = parse_info(check_reply(self.cli_for(primary)("INFO", "replication"), "INFO"))
        deadline = time.monotonic() + self.sync_timeout
        while candidates:
            for pod in reversed(candidates):
                info = self.replication(pod)
                if info is None:
                    continue
                rejection = replica_rejection(info, target, self.max_lag)
                if rejection is None:
                    return pod
                self.reasons[pod] = rejection
            if time.monotonic() >= deadline:
                return None
            self.sleep(0.5)
        return None
