# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore does around the Sentinels and the replicas when the instance runs the sentinel topology.

The backup goes onto pod 0's volume as in standalone. Before anything stops,
the Sentinels stop: a Sentinel that watched the servers go down would fail
over, and one that outlived the restore would name an old primary whose
replicas would then copy the old data back. The servers then stop highest
ordinal first (OrderedReady), a primary among them handing its last writes to
the replicas (Redis's shutdown waits for them), so pod 0's data is the set's
latest data, which a rollback puts back.

Started again without Sentinels, pod 0 is the primary and the other pods
start as its replicas: a new replication history, so each takes a full copy
of the restored data. The restore checks each of them like pod 0 (same key
count, same sample values), and only then starts the Sentinels and waits
until each sees pod 0 as the primary with every replica and Sentinel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    is_stopped,
    pod_names,
    scale_statefulset,
    wait_for,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_check import Server
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import Rollout, in_sync
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SERVER_CONTAINER


class SentinelGuard(object):
    """The Sentinels' StatefulSet and the replicas, around one restore of the servers' StatefulSet."""

    def __init__(self, members, timeout):
        self.members, self.timeout = members, timeout
        self.name = members.sentinel_statefulset

    def replicas(self):
        """The Sentinels' StatefulSet's replica count, to put back afterwards."""
        return self.members.read_statefulset(self.name)["spec"].get("replicas", 1)

    def stop(self, replicas):
        """Scale the Sentinels to 0 and wait until none runs."""
        scale_statefulset(self.members.kube.apps, self.members.namespace, self.name, 0)
        pods = pod_names(self.name, replicas)
        wait_for("the Sentinels to stop", lambda: all(is_stopped(self.members.read_pod(pod)) for pod in pods),
                 self.timeout)

    def start(self, replicas):
        """Start the Sentinels; returns once each sees the primary, every replica and every other Sentinel."""
        scale_statefulset(self.members.kube.apps, self.members.namespace, self.name, replicas)
        return self.members.pod_at(Rollout(self.members, timeout=self.timeout).reconcile_sentinels())

    def verify_replicas(self, check, primary, port):
        """Each server pod but `primary`: Ready, an in-sync replica, holding what the primary holds."""
        lines = []
        for pod in self.members.servers():
            if pod == primary:
                continue
            wait_for("%s to be an in-sync replica" % pod, lambda: in_sync(self.members.replication(pod)),
                     self.timeout, interval=1)
            replica = Server(pod, SERVER_CONTAINER, port, self.members.password, "replica %s" % pod,
                             user=self.members.user)
            summary, dummy = check.verify(replica, "identical in the replica", loaded_from="the primary's full copy")
            lines.append(summary)
        return lines
