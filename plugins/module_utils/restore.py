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
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run, run_shell, upload
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_file, parse_check_rdb
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES,
    check_reply,
    key_text,
    keyspace,
    parse_info,
    pod_cli,
    run_pod_cli,
    sample_values,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    STALE_SECONDS,
    RestoreBusy,
    RestoreInterrupted,
    Signals,
    StateRecorder,
    Watch,
    describe,
    heartbeat_age,
    read_state,
)

try:
    from kubernetes.client.rest import ApiException
except ImportError:  # reported by pod_exec.kube_configuration
    ApiException = Exception

DATA = "/data"
# The names roles/redis configures (appendfilename, appenddirname); Redis 7+
# and Valkey load an AOF base that is an RDB file.
AOF_DIR = "appendonlydir"
AOF_NAME = "appendonly.aof"
AOF_BASE = AOF_NAME + ".1.base.rdb"
AOF_MANIFEST = "appendonly.aof.manifest"
# Arguments: the aside directory, the uploaded RDB. `.complete` marks that
# every old file is aside, so a rollback may clear what the restore placed.
SWAP_SCRIPT = ('set -e; cd %(data)s; mkdir "$1"; for f in dump.rdb %(dir)s; do '
               'if [ -e "$f" ]; then mv "$f" "$1/"; fi; done; : > "$1/.complete"; '
               'mv "$2" dump.rdb; mkdir %(dir)s; ln dump.rdb %(dir)s/%(base)s; '
               'printf "file %(base)s seq 1 type b\\n" > %(dir)s/%(manifest)s; '
               'sync %(dir)s/%(manifest)s %(dir)s .' % {"data": DATA, "dir": AOF_DIR, "base": AOF_BASE,
                                                        "manifest": AOF_MANIFEST})
HELPER_PORT = 6399
# The server the helper starts on the swapped files: AOF on, loads what the instance will load.
HELPER_SERVER_SCRIPT = ('"$1" --port %d --bind 127.0.0.1 --protected-mode yes --dir %s --dbfilename dump.rdb '
                        '--appendonly yes --appenddirname %s --appendfilename %s --save "" --daemonize yes'
                        % (HELPER_PORT, DATA, AOF_DIR, AOF_NAME))
# Arguments: the aside directory, the uploaded RDB, the CLI (to stop the helper's server first).
ROLLBACK_SCRIPT = ('"$3" -p %(port)d SHUTDOWN NOSAVE >/dev/null 2>&1; '
                   'cd %(data)s || exit 1; rm -f "$2"; [ -d "$1" ] || exit 0; set -e; '
                   'if [ -e "$1/.complete" ]; then rm -rf dump.rdb %(dir)s; fi; '
                   'for f in dump.rdb %(dir)s; do if [ -e "$1/$f" ]; then mv "$1/$f" .; fi; done; '
                   'rm -f "$1/.complete"; rmdir "$1"' % {"data": DATA, "dir": AOF_DIR, "port": HELPER_PORT})
MB = 1024 * 1024
HEADROOM_BYTES = 64 * MB
SAMPLE_KEYS = 20


class RestoreError(Exception):
    """The restore failed (after a rollback, when one was needed)."""


def load_backup(manifest_path):
    """The manifest of a backup, after checking its RDB against it (sha256, size, format)."""
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise RestoreError("cannot read the manifest %s: %s" % (manifest_path, exc))
    if manifest.get("format") != index.MANIFEST_FORMAT:
        raise RestoreError("%s: unknown manifest format %r" % (manifest_path, manifest.get("format")))
    rdb = manifest_path[:-len(".json")] + ".rdb"
    try:
        digest = index.sha256_file(rdb)
    except (IOError, OSError) as exc:
        raise RestoreError("the backup's RDB is missing: %s" % exc)
    if digest != manifest["sha256"]:
        raise RestoreError("%s is corrupted: sha256 %s, the manifest says %s" % (rdb, digest, manifest["sha256"]))
    manifest["rdb_checks"] = check_file(rdb)
    manifest["rdb_path"] = rdb
    return manifest


def sample_mismatches(samples, now_samples, elapsed_ms):
    """Keys whose value changed, or that vanished without a TTL that could have run out meanwhile.

    A sample is only ever a key that existed when it was taken; reading it as
    missing later is a mismatch, never a match of two missing keys.
    """
    bad = []
    for (db, key), (digest, pttl) in sorted(samples.items()):
        now_digest, now_pttl = now_samples.get((db, key), (None, -2))
        if digest is not None and now_digest == digest:
            continue
        if now_digest is None and 0 <= pttl <= elapsed_ms:
            continue  # it had less time to live than has passed
        bad.append("db%s:%s" % (db, key_text(key)))
    return bad


class Server(object):
    """A server the restore checks: the helper's own (no password, loopback) or the instance's."""

    def __init__(self, pod, container, port, password, name):
        self.pod, self.container, self.port, self.password, self.name = pod, container, port, password, name


class Restore(object):
    """One restore of one backup into one StatefulSet (standalone: pod 0, PVC data-<name>-0)."""

    def __init__(self, configuration, core, apps, namespace, statefulset, manifest, password, flavor="redis",
                 port=6379, clients=(), timeout=300, pod_restart=False):
        self.configuration, self.core, self.apps = configuration, core, apps
        self.namespace, self.name = namespace, statefulset
        self.manifest, self.password = manifest, password
        self.flavor, self.port = flavor, port
        self.clients = list(clients)
        self.timeout = timeout
        self.pod_restart = pod_restart
        self.steps = []
        self.started = time.monotonic()
        self.stamp = index.utc_now().strftime(index.STAMP_FORMAT)
        self.aside = "%s/.pre-restore-%s" % (DATA, self.stamp)
        self.upload_path = "%s/.restore-%s.rdb" % (DATA, self.stamp)
        # A new name each time: a pod of a reused name can reach the kubelet before the old one is torn down.
        self.helper = "%s-restore-%s" % (statefulset, self.stamp.lower())
        self.pod = "%s-0" % statefulset
        self.replicas = None
        self.client_replicas = {}
        self.data_moved = False
        self.rdb_keys = None
        self.samples = {}
        self.sampled_at = None
        self.upload_mb_per_s = None
        self.down_since = None
        self.recorder = StateRecorder(apps, namespace, statefulset)
        self.signals = None
        self.watch = None

    # -- bookkeeping ------------------------------------------------------
    def step(self, text):
        self.steps.append("%6.1fs %s" % (time.monotonic() - self.started, text))

    def phase(self, name):
        """Record the phase before the step it names: a later rollback reads it."""
        self.recorder.update(phase=name, steps=self.steps[-3:])

    def wait(self, what, condition, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise RestoreError("timed out after %ds waiting for %s" % (timeout or self.timeout, what))
            time.sleep(0.25)

    # -- Kubernetes -------------------------------------------------------
    def statefulset(self):
        try:
            return self.apps.read_namespaced_stateful_set(self.name, self.namespace)
        except ApiException as exc:
            raise RestoreError("StatefulSet %s/%s: %s" % (self.namespace, self.name, getattr(exc, "reason", exc)))

    def scale_statefulset(self, replicas):
        self.apps.patch_namespaced_stateful_set_scale(self.name, self.namespace, {"spec": {"replicas": replicas}})

    def scale_clients(self, replicas_by_name):
        for name, replicas in replicas_by_name.items():
            self.apps.patch_namespaced_deployment_scale(name, self.namespace, {"spec": {"replicas": replicas}})

    def read_pod(self, name):
        """The pod, or None when it does not exist."""
        try:
            return self.core.read_namespaced_pod(name, self.namespace)
        except ApiException as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def pod_gone(self, name):
        return self.read_pod(name) is None

    def pod_stopped(self, name):
        """The pod is gone, or it is being deleted and none of its containers runs.

        No server writes to the volume then. Waiting for the pod object to
        disappear too cost 5 s more here.
        """
        pod = self.read_pod(name)
        if pod is None:
            return True
        statuses = pod.status.container_statuses or []
        return bool(pod.metadata.deletion_timestamp) and all(status.state.running is None for status in statuses)

    def pod_state(self, name, uid_not=None):
        """(started, ready) of the pod's redis container; a pod with uid `uid_not` counts as not started.

        Started means the startup probe saw PONG: the data is loaded and the
        server answers, which is all a check needs. Ready waits for the next
        readiness probe, up to its period later.
        """
        pod = self.read_pod(name)
        if pod is None or pod.metadata.uid == uid_not or pod.metadata.deletion_timestamp:
            return False, False
        redis = [c for c in (pod.status.container_statuses or []) if c.name == "redis"]
        started = bool(redis and redis[0].started and redis[0].state.running)
        ready = [c.status for c in (pod.status.conditions or []) if c.type == "Ready"] == ["True"]
        return started, started and ready

    def pod_ready(self, name, uid_not=None):
        return self.pod_state(name, uid_not)[1]

    def pod_uid(self, name):
        return self.core.read_namespaced_pod(name, self.namespace).metadata.uid

    def shares_volume(self):
        """Whether a second pod may mount the data volume beside the instance (not on ReadWriteOncePod)."""
        claim = self.core.read_namespaced_persistent_volume_claim("data-%s" % self.pod, self.namespace)
        return "ReadWriteOncePod" not in (claim.spec.access_modes or [])

    def helper_deadline(self):
        """Seconds the helper may live: every step's timeout, with room; the kubelet ends it after that."""
        return 8 * self.timeout + 300

    def helper_manifest(self, image, node):
        """A pod that the restricted Pod Security Standard admits, with no API token and a deadline.

        Its resources are the instance's: its server loads the same data.
        """
        deadline = self.helper_deadline()
        spec = {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 5,
            "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999, "runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "restore", "image": image["image"], "imagePullPolicy": image["pull_policy"],
                "command": ["sleep", str(deadline)],
                "resources": image["resources"],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "volumeMounts": [{"name": "data", "mountPath": DATA}, {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-%s" % self.pod}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
        }
        if node:
            # Beside the instance: a ReadWriteOnce volume is already attached there.
            spec["nodeName"] = node
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.helper, "labels": self.helper_labels()},
            "spec": spec,
        }

    def helper_labels(self):
        return {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores",
                "app.kubernetes.io/component": "restore", "app.kubernetes.io/instance": self.name}

    def delete_stale_helpers(self):
        """Helpers a restore interrupted earlier left behind (they hold the volume)."""
        selector = ",".join("%s=%s" % item for item in sorted(self.helper_labels().items()))
        for pod in self.core.list_namespaced_pod(self.namespace, label_selector=selector).items:
            if pod.metadata.name != self.helper and not pod.metadata.deletion_timestamp:
                self.core.delete_namespaced_pod(pod.metadata.name, self.namespace, grace_period_seconds=0)

    def helper_sh(self, script, args=()):
        return run_shell(self.configuration, self.namespace, self.helper, "restore", script, args=args)

    def start_helper(self, image, node=None):
        self.delete_stale_helpers()
        if not self.pod_gone(self.helper):
            self.delete_helper(until_gone=True)
        self.core.create_namespaced_pod(self.namespace, self.helper_manifest(image, node))
        self.wait("the restore helper pod to run", self.helper_started)
        self.step("helper pod %s running%s" % (self.helper, " beside the instance on %s" % node if node else ""))

    def helper_started(self):
        pod = self.read_pod(self.helper)
        if pod is not None and pod.status.phase in ("Failed", "Succeeded"):
            raise RestoreError("the restore helper pod ended (%s) before it was used" % pod.status.phase)
        return self.helper_usable()

    def helper_usable(self):
        pod = self.read_pod(self.helper)
        return pod is not None and pod.status.phase == "Running" and not pod.metadata.deletion_timestamp

    def delete_helper(self, until_gone=False):
        """Delete the helper; wait until it no longer runs (or, to reuse its name, until it is gone)."""
        try:
            self.core.delete_namespaced_pod(self.helper, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if getattr(exc, "status", None) != 404:
                raise
        self.wait("the restore helper pod to stop",
                  lambda: self.pod_gone(self.helper) if until_gone else self.pod_stopped(self.helper))

    def instance_image(self, sts):
        container = next((c for c in sts.spec.template.spec.containers if c.name == "redis"), None)
        if container is None:
            raise RestoreError("StatefulSet %s has no container named redis" % self.name)
        resources = container.resources.to_dict() if container.resources else {}
        return {"image": container.image, "pull_policy": container.image_pull_policy or "IfNotPresent",
                "resources": dict((k, v) for k, v in resources.items() if v and k in ("limits", "requests"))}

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
        image = self.instance_image(sts)
        self.replicas = sts.spec.replicas or 1
        self.client_replicas = dict((n, self.apps.read_namespaced_deployment_scale(n, self.namespace).spec.replicas)
                                    for n in self.clients)
        live = self.read_pod(self.pod)
        node = live.spec.node_name if live is not None and live.spec.node_name and self.shares_volume() else None
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
            self.scale_clients(self.client_replicas)
            self.step("clients scaled back")
            self.recorder.clear()
        return dict(verified, rto_seconds=round(time.monotonic() - self.started, 1), steps=self.steps,
                    downtime_seconds=round(time.monotonic() - self.down_since, 1))

    def recorded(self, node, phase):
        return {"id": self.stamp, "backup": self.manifest["id"], "backup_cluster": self.manifest.get("cluster"),
                "phase": phase, "replicas": self.replicas, "clients": self.client_replicas, "aside": self.aside,
                "upload": self.upload_path, "helper": self.helper, "node": node or "",
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

    def stop(self):
        self.phase("stopping")
        self.down_since = time.monotonic()
        self.scale_clients(dict((n, 0) for n in self.client_replicas))
        self.scale_statefulset(0)
        self.wait("pod %s to stop" % self.pod, lambda: self.pod_stopped(self.pod))
        self.step("instance stopped (StatefulSet 0, clients %s 0)" % (", ".join(self.clients) or "none"))

    def place_backup(self):
        """Upload the RDB beside the live data; the server's check tool must read all of it, CRC64 included."""
        size = self.manifest["bytes"]
        free_kb = int(self.helper_sh("df -Pk %s | awk 'NR==2 {print $4}'" % DATA).strip() or 0)
        needed = size + HEADROOM_BYTES
        if free_kb * 1024 < needed:
            raise RestoreError("the volume has %d MB free; the restore needs %d MB (the RDB, which also becomes the "
                               "AOF base, and %d MB for the first writes)"
                               % (free_kb // 1024, needed // MB, HEADROOM_BYTES // MB))
        # With a checksum in the RDB, the check tool below verifies every byte; without one, sha256 per range.
        by_checksum = int(self.manifest.get("rdb_checks", {}).get("checksum") or "0", 16) != 0
        sent = upload(self.configuration, self.namespace, self.helper, "restore", self.manifest["rdb_path"],
                      self.upload_path, timeout=self.timeout, verify=not by_checksum)
        self.upload_mb_per_s = round(sent["bytes"] / 1e6 / sent["seconds"], 1) if sent["seconds"] else None
        self.step("RDB uploaded (%d bytes, %s MB/s over %d streams, %s)"
                  % (sent["bytes"], self.upload_mb_per_s, sent["streams"],
                     "size checked" if by_checksum else "sha256 verified in the pod"))
        check = BINARIES[self.flavor]["check_rdb"]
        output = self.helper_sh('%s "$1" 2>&1; echo check-rc $?' % check, args=[self.upload_path])
        parsed = parse_check_rdb(output)
        if not parsed["ok"] or not output.rstrip().endswith("check-rc 0") or parsed["keys"] is None:
            raise RestoreError("this server cannot read the backup as uploaded (%s): %s"
                               % (check, " | ".join(output.strip().splitlines()[-7:])))
        self.rdb_keys = parsed["keys"]
        self.step("%s read all %s keys%s" % (check, self.rdb_keys, ", CRC64 matches" if by_checksum else ""))

    def swap_in_backup(self):
        self.phase("swapping")
        self.data_moved = True  # from here a failure must put the old files back
        self.helper_sh(SWAP_SCRIPT, args=[self.aside, self.upload_path])
        self.step("old data set aside in %s; the backup is dump.rdb and the AOF base (%s/%s)"
                  % (self.aside, AOF_DIR, AOF_BASE))
        self.phase("verifying")

    def start_and_verify(self):
        """Two starts in the helper (the second is the restart that catches the trap), then the instance."""
        helper = Server(self.helper, "restore", HELPER_PORT, None, "the helper's server")
        for label in ("taken", "identical after a restart"):
            self.helper_sh(HELPER_SERVER_SCRIPT, args=[BINARIES[self.flavor]["server"]])
            self.verify_server(helper, label)
            self.stop_server(helper)
        self.delete_helper()
        instance = Server(self.pod, "redis", self.port, self.password, "the instance")
        self.scale_statefulset(self.replicas)
        self.wait_or_explain(self.pod, started_only=True)
        self.step("instance started with AOF on")
        verified = self.verify_server(instance, "identical in the instance")
        if self.pod_restart:
            uid = self.pod_uid(self.pod)
            self.core.delete_namespaced_pod(self.pod, self.namespace)
            self.wait_or_explain(self.pod, uid_not=uid, started_only=True)
            verified = self.verify_server(instance, "identical after a pod restart")
        self.wait_or_explain(self.pod)
        self.step("instance Ready")
        return {"keys": verified["keys"], "keys_total": sum(db["keys"] for db in verified["keys"].values()),
                "rdb_keys": self.rdb_keys, "aof_enabled": True, "samples_checked": verified["samples"],
                "upload_mb_per_s": self.upload_mb_per_s}

    def stop_server(self, server):
        cli = self.server_cli(server)
        try:
            cli("SHUTDOWN", "NOSAVE")
        except Exception:  # pylint: disable=broad-except  # the server closes the connection as it exits
            pass
        self.wait("%s to stop" % server.name, lambda: not self.answers(cli))

    @staticmethod
    def answers(cli):
        try:
            return cli("PING").strip() == "PONG"
        except Exception:  # pylint: disable=broad-except  # not listening, or LOADING
            return False

    def wait_or_explain(self, pod, uid_not=None, started_only=False):
        """Wait for the pod to start (or to be Ready); on timeout say what its server logged."""
        what = "pod %s to %s" % (pod, "start" if started_only else "be Ready")
        try:
            self.wait(what, lambda: self.pod_state(pod, uid_not)[0 if started_only else 1])
        except RestoreError as exc:
            try:
                log = self.core.read_namespaced_pod_log(pod, self.namespace, container="redis", tail_lines=15)
            except ApiException as log_exc:
                log = "(no log: %s)" % getattr(log_exc, "reason", log_exc)
            raise RestoreError("%s; last log lines of %s: %s" % (exc, pod, " | ".join(str(log).splitlines())))

    def server_cli(self, server):
        return pod_cli(self.configuration, self.namespace, server.pod, server.container, server.password,
                       flavor=self.flavor, port=server.port, timeout=self.timeout)

    def verify_server(self, server, samples_label):
        """The server loaded exactly the RDB's keys from its AOF, AOF is on; take or compare sample values."""
        cli = self.server_cli(server)
        persistence = self.persistence_once_loaded(server, cli)
        if persistence.get("aof_enabled") != "1":
            raise RestoreError("AOF is off in %s" % server.name)
        if "rdb_last_load_keys_loaded" not in persistence:
            raise RestoreError("the server does not report rdb_last_load_keys_loaded (Redis 7 or later needed)")
        # Keys loaded from an AOF base include expired ones (counted apart where the server skips them).
        loaded = int(persistence["rdb_last_load_keys_loaded"]) + int(persistence.get("rdb_last_load_keys_expired", 0))
        if loaded != self.rdb_keys:
            raise RestoreError("%s loaded %d keys from its AOF base, the backup holds %s"
                               % (server.name, loaded, self.rdb_keys))
        live = keyspace(parse_info(check_reply(cli("INFO", "keyspace"), "INFO")))
        if not self.samples:
            self.samples, self.sampled_at = self.read_samples(server, live), time.monotonic()
        else:
            now = self.read_samples(server, live, keys=self.samples)
            bad = sample_mismatches(self.samples, now, (time.monotonic() - self.sampled_at) * 1000 + 1000)
            if bad:
                raise RestoreError("sample values differ in %s: %s" % (server.name, ", ".join(bad[:5])))
        self.step("%s: %d keys loaded from the AOF base as in the backup, %s, AOF on, %d sample values %s"
                  % (server.name, loaded, live, len(self.samples), samples_label))
        return {"keys": live, "samples": len(self.samples)}

    def persistence_once_loaded(self, server, cli):
        """INFO persistence after the server finished loading (a pod without a startup probe starts earlier)."""
        info = {}

        def loaded():
            try:
                info.update(parse_info(check_reply(cli("INFO", "persistence"), "INFO")))
            except Exception:  # pylint: disable=broad-except  # not listening yet
                return False
            return info.get("loading") == "0"
        self.wait("%s to load its data" % server.name, loaded)
        return info

    def read_samples(self, server, live, keys=None):
        """{(db, key bytes): (sha1 of DUMP or None, PTTL)}: up to SAMPLE_KEYS random keys per database, or `keys`."""
        found = {}
        for db in sorted(live):
            number = db[2:]
            wanted = [key for (key_db, key) in (keys or {}) if key_db == number]
            if keys is not None and not wanted:
                continue
            values = sample_values(self.db_cli(server, number), count=0 if keys is not None else SAMPLE_KEYS,
                                   keys=wanted)
            found.update(((number, key), value) for key, value in values.items())
        return found

    def db_cli(self, server, number):
        """A run_cli(args, stdin) for sample_values: the CLI on one database of the server."""
        def run_cli(args, stdin):
            rc, out, err = run_pod_cli(self.configuration, self.namespace, server.pod, server.container,
                                       server.password, ["-n", number] + args, flavor=self.flavor,
                                       port=server.port, timeout=self.timeout, stdin=stdin)
            if rc != 0:
                raise RestoreError("reading sample keys failed (%d): %s" % (rc, err.decode("utf-8", "replace")[:300]))
            return out
        return run_cli

    def drop_old_data(self):
        rc, out, err = run(self.configuration, self.namespace, self.pod, "redis", ["rm", "-rf", self.aside])
        self.step("old data %s" % ("removed" if rc == 0 else "NOT removed: %s" % err.decode().strip()))

    def remove_upload_beside_instance(self):
        """Before the stop the instance shares the volume: its container can remove a left-over upload."""
        if self.pod_ready(self.pod):
            run(self.configuration, self.namespace, self.pod, "redis", ["rm", "-f", self.upload_path])

    def rollback(self, image, node):
        """Put the old files back and start everything as it was. Returns what it did, for the message."""
        try:
            state = self.recorder.state
            self.recorder.update(phase="rolling-back", interrupted_in=state.get("interrupted_in") or state["phase"])
            if self.down_since is not None:  # stopped (or being stopped): nothing may run on the volume
                self.scale_statefulset(0)
                self.wait("pod %s to stop" % self.pod, lambda: self.pod_stopped(self.pod))
                if not self.helper_usable():
                    self.start_helper(image, node)
            if self.helper_usable():
                self.helper_sh(ROLLBACK_SCRIPT, args=[self.aside, self.upload_path, BINARIES[self.flavor]["cli"]])
            else:
                self.remove_upload_beside_instance()
            if not self.pod_gone(self.helper):
                self.delete_helper(until_gone=True)
            if self.down_since is None and not self.data_moved:
                self.recorder.clear()
                return "nothing was changed: the instance kept running on its data"
            self.scale_statefulset(self.replicas)
            self.scale_clients(self.client_replicas)
            self.wait("pod %s to be Ready after the rollback" % self.pod, lambda: self.pod_ready(self.pod))
            self.recorder.clear()
        except BaseException as exc:  # the message must say the instance needs hands
            return ("ROLLBACK FAILED (%s): run `ansible-playbook playbooks/restore.yml -e rollback=yes`, or follow "
                    "docs/dr-runbook.md 'Manual rollback'; old data in %s on volume data-%s"
                    % (exc, self.aside, self.pod))
        return "rolled back: the instance runs on its previous data"


def rollback_interrupted(configuration, core, apps, namespace, statefulset, flavor="redis", timeout=300):
    """Undo (or, once verified, finish) a restore whose process is gone, from the state it recorded."""
    restore = Restore(configuration, core, apps, namespace, statefulset, {"id": None}, None, flavor=flavor,
                      timeout=timeout)
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
    restore.aside, restore.upload_path, restore.helper = state["aside"], state["upload"], state["helper"]
    phase = state.get("interrupted_in") if state["phase"] == "rolling-back" else state["phase"]
    restore.data_moved = phase not in ("preparing", "stopping")
    restore.down_since = None if phase == "preparing" else time.monotonic()
    restore.steps.append("taking over %s" % describe(state))
    restore.recorder.adopt(state)
    with Signals(shielded=True):  # a rollback is not interrupted halfway
        if state["phase"] == "finishing":
            restore.scale_statefulset(restore.replicas)
            restore.scale_clients(restore.client_replicas)
            restore.recorder.clear()
            return {"changed": True, "phase": state["phase"], "msg": "the interrupted restore of %s had been verified: "
                    "kept the restored data, started the instance and clients as they were" % state.get("backup")}
        outcome = restore.rollback(restore.instance_image(sts), state.get("node") or None)
    if outcome.startswith("ROLLBACK FAILED"):
        raise RestoreError(outcome)
    return {"changed": True, "phase": state["phase"], "msg": "interrupted restore of %s (phase %s): %s"
            % (state.get("backup"), state["phase"], outcome)}
