# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore an RDB backup into a StatefulSet's volume without the AOF trap.

With `appendonly yes` Redis loads only the AOF at start; a restored dump.rdb
beside a missing or empty AOF is ignored and then overwritten. So:

1. in a helper pod on the instance's node, mounting the same volume while the
   instance still serves: upload the RDB beside the live data and check it
   with the server's own check tool (its CRC64 covers every byte);
2. stop the instance (StatefulSet to 0, named client Deployments to 0);
3. set the old data aside on the volume and make the RDB both dump.rdb and the
   base of a new AOF (a hard link plus a one-line manifest: the AOF holds
   exactly the backup's bytes, no rewrite, no load with AOF off needed);
4. in the helper, start the server on these files with AOF on, check that it
   loaded exactly the RDB's keys and take sample values; restart it and check
   again (the restart that catches the trap); then start the instance and
   check it the same way (optionally once more after a pod restart), drop
   the old data.

A failure in step 1 leaves the instance untouched (the upload is removed);
any later failure rolls back: the old files go back in place and the
instance and clients are started as they were. On a ReadWriteOncePod volume
the helper cannot share the volume, so steps 1 and 2 swap.

The state of the restore lives in the cluster (restore_state): a signal or a
dead controller rolls back like a failure, a killed process leaves what a
later `rollback` needs, and a second restore of the instance refuses. The
restore holds the backup directory's lock, so retention cannot delete the
backup being restored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import CONTAINER as HELPER, HelperPod, instance_image
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    TimedOut,
    delete_pod,
    deployment_replicas,
    first_pod,
    is_stopped,
    log_tail,
    pod_names,
    pod_state,
    read_pod,
    scale_deployments,
    scale_statefulset,
    wait_for,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run, run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_files import upload
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import BINARIES
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_check import Server, ServerCheck, uploaded_rdb_keys
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_files import (
    AOF_BASE,
    AOF_DIR,
    DATA,
    HELPER_PORT,
    HELPER_SERVER_SCRIPT,
    ROLLBACK_SCRIPT,
    SWAP_SCRIPT,
    require_room,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    STALE_SECONDS,
    RestoreBusy,
    RestoreError,
    RestoreInterrupted,
    Signals,
    StateRecorder,
    Watch,
    describe,
    heartbeat_age,
    read_state,
)


class Restore(object):
    """One restore of one backup into one StatefulSet (standalone: pod 0, PVC data-<name>-0)."""

    def __init__(self, kube, namespace, statefulset, manifest, password, container="redis", flavor="redis",
                 port=6379, clients=(), timeout=300, pod_restart=False, sentinels=None, user=None):
        self.kube, self.configuration = kube, kube.configuration
        self.namespace, self.name, self.container = namespace, statefulset, container
        self.manifest, self.password, self.user = manifest, password, user
        self.flavor, self.port = flavor, port
        self.clients = list(clients)
        self.timeout = timeout
        self.pod_restart = pod_restart
        self.steps = []
        self.started = time.monotonic()
        self.stamp = index.utc_now().strftime(index.STAMP_FORMAT)
        self.aside = "%s/.pre-restore-%s" % (DATA, self.stamp)
        self.upload_path = "%s/.restore-%s.rdb" % (DATA, self.stamp)
        self.pod = first_pod(statefulset)
        # A new name each time: a pod of a reused name can reach the kubelet before the old one is torn down.
        self.helper = self.helper_pod("%s-restore-%s" % (statefulset, self.stamp.lower()))
        self.replicas = None
        # With the sentinel topology: a SentinelGuard, and the Sentinels' replica count to put back.
        self.sentinels, self.sentinel_replicas = sentinels, None
        self.client_replicas = {}
        self.data_moved = False
        self.rdb_keys = None
        self.check = None
        self.upload_mb_per_s = None
        self.down_since = None
        self.recorder = StateRecorder(kube.apps, namespace, statefulset)
        self.signals = None
        self.watch = None

    def helper_pod(self, name):
        # The helper lives as long as every step's timeout, with room; the kubelet ends it after that.
        return HelperPod(self.kube, self.namespace, name, self.name, "data-%s" % self.pod, DATA,
                         deadline=8 * self.timeout + 300, timeout=self.timeout)

    # -- bookkeeping ------------------------------------------------------
    def step(self, text):
        self.steps.append("%6.1fs %s" % (time.monotonic() - self.started, text))

    def phase(self, name):
        """Record the phase before the step it names: a later rollback reads it."""
        self.recorder.update(phase=name, steps=self.steps[-3:])

    def wait(self, what, condition):
        wait_for(what, condition, self.timeout)

    # -- the instance -----------------------------------------------------
    def statefulset(self):
        return self.kube.apps.read_namespaced_stateful_set(self.name, self.namespace)

    def scale(self, replicas, clients):
        scale_statefulset(self.kube.apps, self.namespace, self.name, replicas)
        scale_deployments(self.kube.apps, self.namespace, clients)

    def instance_stopped(self):
        """No server pod of the StatefulSet runs."""
        return all(is_stopped(read_pod(self.kube, self.namespace, pod))
                   for pod in pod_names(self.name, self.replicas or 1))

    def shares_volume(self):
        """Whether a second pod may mount the data volume beside the instance (not on ReadWriteOncePod)."""
        claim = self.kube.core.read_namespaced_persistent_volume_claim("data-%s" % self.pod, self.namespace)
        return "ReadWriteOncePod" not in (claim.spec.access_modes or [])

    def wait_for_instance(self, uid_not=None, started_only=False):
        """Wait for pod 0 to start (or to be Ready); on timeout say what its server logged."""
        what = "pod %s to %s" % (self.pod, "start" if started_only else "be Ready")
        try:
            self.wait(what, lambda: self.instance_state(uid_not)[0 if started_only else 1])
        except TimedOut as exc:
            raise RestoreError("%s; last log lines of %s: %s"
                               % (exc, self.pod, log_tail(self.kube.core, self.namespace, self.pod, self.container)))

    def instance_state(self, uid_not=None):
        """(started, ready) of pod 0's server container."""
        return pod_state(read_pod(self.kube, self.namespace, self.pod), self.container, uid_not)

    def helper_sh(self, script, args=()):
        return run_shell(self.configuration, self.namespace, self.helper.name, HELPER, script, args=args)

    # -- the procedure ----------------------------------------------------
    def run(self, backup_dir=None):
        """Restore; roll back on any failure, signal or loss of the controller. Holds the backup directory's lock."""
        self.started = time.monotonic()
        with Signals(shielded=True) as signals:
            self.signals = signals
            if backup_dir:
                with index.InstanceLock(backup_dir):
                    return self.claimed_run()
            return self.claimed_run()

    def claimed_run(self):
        sts = self.statefulset()
        image = instance_image(sts, self.container)
        self.replicas = sts.spec.replicas or 1
        self.sentinel_replicas = self.sentinels.replicas() if self.sentinels else None
        self.client_replicas = deployment_replicas(self.kube.apps, self.namespace, self.clients)
        live = read_pod(self.kube, self.namespace, self.pod)
        node = (live or {}).get("spec", {}).get("nodeName")
        node = node if node and self.shares_volume() else None
        self.recorder.claim(self.recorded(node, "preparing"))
        with Watch(self.recorder) as watch:
            self.watch = watch
            try:
                self.signals.unshield()
                verified = self.procedure(image, node)
            except BaseException as exc:  # RestoreInterrupted included: every way out rolls back
                self.signals.shielded = True
                reason = self.reason(exc)
                self.step("FAILED: %s" % reason)
                rollback = self.rollback(image, node)
                raise RestoreError("%s; %s" % (reason, rollback))
            self.signals.shielded = True  # verified: finishing is shorter and safer than undoing
            self.phase("finishing")
            self.drop_old_data()
            scale_deployments(self.kube.apps, self.namespace, self.client_replicas)
            self.step("clients scaled back")
            self.recorder.clear()
        return dict(verified, rto_seconds=round(time.monotonic() - self.started, 1), steps=self.steps,
                    downtime_seconds=round(time.monotonic() - self.down_since, 1))

    def recorded(self, node, phase):
        return {"id": self.stamp, "backup": self.manifest["id"], "backup_cluster": self.manifest.get("cluster"),
                "phase": phase, "replicas": self.replicas, "sentinels": self.sentinel_replicas,
                "clients": self.client_replicas, "aside": self.aside,
                "upload": self.upload_path, "helper": self.helper.name, "node": node or "",
                "started_at": index.iso(index.utc_now())}

    def reason(self, exc):
        if isinstance(exc, RestoreInterrupted) and self.watch is not None and self.watch.lost_controller:
            return "interrupted: the ansible-playbook that started the restore is gone"
        return "%s" % exc

    def procedure(self, image, node):
        if node:
            self.start_helper(image, node)
            self.place_backup()
            self.stop()
        else:
            self.stop()
            self.start_helper(image)
            self.place_backup()
        self.swap_in_backup()
        return self.start_and_verify()

    def start_helper(self, image, node=None):
        self.helper.start(image, node)
        self.step("helper pod %s running%s" % (self.helper.name, " beside the instance on %s" % node if node else ""))

    def stop(self):
        self.phase("stopping")
        self.down_since = time.monotonic()
        if self.sentinels:
            self.sentinels.stop(self.sentinel_replicas)
            self.step("Sentinels stopped (StatefulSet 0)")
        self.scale(0, dict((n, 0) for n in self.client_replicas))
        self.wait("the server pods to stop", self.instance_stopped)
        self.step("instance stopped (StatefulSet 0, clients %s 0)" % (", ".join(self.clients) or "none"))

    def place_backup(self):
        """Upload the RDB beside the live data; the server's check tool must read all of it, CRC64 included."""
        require_room(int(self.helper_sh("df -Pk %s | awk 'NR==2 {print $4}'" % DATA).strip() or 0),
                     self.manifest["bytes"])
        # With a checksum in the RDB, the check tool below verifies every byte; without one, sha256 per range.
        by_checksum = int(self.manifest.get("rdb_checks", {}).get("checksum") or "0", 16) != 0
        sent = upload(self.configuration, self.namespace, self.helper.name, HELPER,
                      self.manifest["rdb_path"], self.upload_path, timeout=self.timeout, verify=not by_checksum)
        self.upload_mb_per_s = round(sent["bytes"] / 1e6 / sent["seconds"], 1) if sent["seconds"] else None
        self.step("RDB uploaded (%d bytes, %s MB/s over %d streams, %s)"
                  % (sent["bytes"], self.upload_mb_per_s, sent["streams"],
                     "size checked" if by_checksum else "sha256 verified in the pod"))
        self.rdb_keys = uploaded_rdb_keys(self.helper_sh, self.flavor, self.upload_path)
        self.check = ServerCheck(self.configuration, self.namespace, self.flavor, self.rdb_keys, self.timeout)
        self.step("%s read all %s keys%s" % (BINARIES[self.flavor]["check_rdb"], self.rdb_keys,
                                             ", CRC64 matches" if by_checksum else ""))

    def swap_in_backup(self):
        self.phase("swapping")
        self.data_moved = True  # from here a failure must put the old files back
        self.helper_sh(SWAP_SCRIPT, args=[self.aside, self.upload_path])
        self.step("old data set aside in %s; the backup is dump.rdb and the AOF base (%s/%s)"
                  % (self.aside, AOF_DIR, AOF_BASE))
        self.phase("verifying")

    def start_and_verify(self):
        """Two starts in the helper (the second is the restart that catches the trap), then the instance."""
        helper = Server(self.helper.name, HELPER, HELPER_PORT, None, "the helper's server")
        for label in ("taken", "identical after a restart"):
            self.helper_sh(HELPER_SERVER_SCRIPT, args=[BINARIES[self.flavor]["server"]])
            self.verify_server(helper, label)
            self.check.stop(helper)
        self.helper.delete()
        instance = Server(self.pod, self.container, self.port, self.password, "the instance", user=self.user)
        scale_statefulset(self.kube.apps, self.namespace, self.name, self.replicas)
        self.wait_for_instance(started_only=True)
        self.step("instance started with AOF on")
        verified = self.verify_server(instance, "identical in the instance")
        if self.pod_restart:
            uid = read_pod(self.kube, self.namespace, self.pod)["metadata"]["uid"]
            delete_pod(self.kube.core, self.namespace, self.pod)
            self.wait_for_instance(uid_not=uid, started_only=True)
            verified = self.verify_server(instance, "identical after a pod restart")
        self.wait_for_instance()
        self.step("instance Ready")
        if self.sentinels:
            self.start_set(instance)
        return {"keys": verified["keys"], "keys_total": sum(db["keys"] for db in verified["keys"].values()),
                "rdb_keys": self.rdb_keys, "aof_enabled": True, "samples_checked": verified["samples"],
                "upload_mb_per_s": self.upload_mb_per_s}

    def start_set(self, instance):
        """The replicas hold the restored data, then the Sentinels watch pod 0 as the primary."""
        for line in self.sentinels.verify_replicas(self.check, instance.pod, self.port):
            self.step(line)
        primary = self.sentinels.start(self.sentinel_replicas)
        self.step("Sentinels started: all %d name %s as the primary and see every replica and Sentinel"
                  % (self.sentinel_replicas, primary))

    def verify_server(self, server, samples_label):
        summary, verified = self.check.verify(server, samples_label)
        self.step(summary)
        return verified

    def drop_old_data(self):
        rc, out, err = run(self.configuration, self.namespace, self.pod, self.container, ["rm", "-rf", self.aside])
        self.step("old data %s" % ("removed" if rc == 0 else "NOT removed: %s" % err.decode().strip()))

    def remove_upload_beside_instance(self):
        """Before the stop the instance shares the volume: its container can remove a left-over upload."""
        if self.instance_state()[1]:
            run(self.configuration, self.namespace, self.pod, self.container, ["rm", "-f", self.upload_path])

    def rollback(self, image, node):
        """Put the old files back and start everything as it was. Returns what it did, for the message."""
        try:
            state = self.recorder.state
            self.recorder.update(phase="rolling-back", interrupted_in=state.get("interrupted_in") or state["phase"])
            if self.down_since is not None:  # stopped (or being stopped): nothing may run on the volume
                if self.sentinels:  # they may have been started by the failed verification
                    self.sentinels.stop(self.sentinel_replicas)
                scale_statefulset(self.kube.apps, self.namespace, self.name, 0)
                self.wait("the server pods to stop", self.instance_stopped)
                if not self.helper.usable():
                    self.start_helper(image, node)
            if self.helper.usable():
                self.helper_sh(ROLLBACK_SCRIPT, args=[self.aside, self.upload_path, BINARIES[self.flavor]["cli"]])
            else:
                self.remove_upload_beside_instance()
            if not self.helper.gone():
                self.helper.delete(until_gone=True)
            if self.down_since is None and not self.data_moved:
                self.recorder.clear()
                return "nothing was changed: the instance kept running on its data"
            self.scale(self.replicas, self.client_replicas)
            self.wait("pod %s to be Ready after the rollback" % self.pod,
                      lambda: self.instance_state()[1])
            if self.sentinels:
                self.sentinels.start(self.sentinel_replicas)
            self.recorder.clear()
        except BaseException as exc:  # the message must say the instance needs hands
            return ("ROLLBACK FAILED (%s): run `ansible-playbook playbooks/restore.yml -e rollback=yes`, or follow "
                    "docs/dr-runbook.md 'Manual rollback'; old data in %s on volume data-%s"
                    % (exc, self.aside, self.pod))
        return "rolled back: the instance runs on its previous data"


def rollback_interrupted(kube, namespace, statefulset, container="redis", flavor="redis", timeout=300,
                         sentinels=None):
    """Undo (or, once verified, finish) a restore whose process is gone, from the state it recorded."""
    restore = Restore(kube, namespace, statefulset, {"id": None}, None, container=container, flavor=flavor,
                      timeout=timeout, sentinels=sentinels)
    sts = restore.statefulset()
    state = read_state(sts)
    if state is None:
        return {"changed": False, "msg": "no restore is recorded on %s/%s: nothing to roll back" % (namespace,
                                                                                                    statefulset)}
    if heartbeat_age(state) < STALE_SECONDS:
        raise RestoreBusy("a restore of %s/%s is still running (heartbeat %ds ago, %s): it rolls back by itself "
                          "if it fails; wait for it" % (namespace, statefulset, heartbeat_age(state),
                                                        state.get("owner")))
    for key in ("replicas", "clients", "aside", "upload", "helper", "phase"):
        if key not in state:
            raise RestoreError("the recorded restore state lacks %r (%s): follow docs/dr-runbook.md 'Manual "
                               "rollback'" % (key, json.dumps(state)[:300]))
    restore.replicas, restore.client_replicas = state["replicas"], state["clients"]
    restore.sentinel_replicas = state.get("sentinels")
    if (restore.sentinel_replicas is None) != (sentinels is None):
        raise RestoreError("the recorded restore was for the %s topology, this run names the other one: run the "
                           "rollback with the instance's redis_topology" % ("standalone" if sentinels else "sentinel"))
    restore.aside, restore.upload_path = state["aside"], state["upload"]
    restore.helper = restore.helper_pod(state["helper"])
    phase = state.get("interrupted_in") if state["phase"] == "rolling-back" else state["phase"]
    restore.data_moved = phase not in ("preparing", "stopping")
    restore.down_since = None if phase == "preparing" else time.monotonic()
    restore.steps.append("taking over %s" % describe(state))
    restore.recorder.adopt(state)
    with Signals(shielded=True):  # a rollback is not interrupted halfway
        if state["phase"] == "finishing":
            restore.scale(restore.replicas, restore.client_replicas)
            if sentinels:
                scale_statefulset(kube.apps, namespace, sentinels.name, restore.sentinel_replicas)
            restore.recorder.clear()
            return {"changed": True, "phase": state["phase"], "msg": "the interrupted restore of %s had been verified: "
                    "kept the restored data, started the instance and clients as they were" % state.get("backup")}
        outcome = restore.rollback(instance_image(sts, container), state.get("node") or None)
    if outcome.startswith("ROLLBACK FAILED"):
        raise RestoreError(outcome)
    return {"changed": True, "phase": state["phase"], "msg": "interrupted restore of %s (phase %s): %s"
            % (state.get("backup"), state["phase"], outcome)}
