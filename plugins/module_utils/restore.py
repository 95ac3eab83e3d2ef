# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore an RDB backup into a StatefulSet's volume without the AOF trap.

With `appendonly yes` Redis loads only the AOF at start; a restored dump.rdb
beside a missing or empty AOF is ignored and then overwritten. So:

1. stop the instance (StatefulSet to 0, named client Deployments to 0);
2. in a helper pod on the same volume: upload the RDB byte-exact, check it
   with the server's own check tool, set the old data aside on the volume;
3. start the server in the helper with AOF **off** so it loads the RDB, count
   the keys and take sample digests; make the RDB the base of a new AOF (a
   hard link plus a one-line manifest: the AOF now holds exactly the backup's
   bytes, no rewrite needed), then shut the helper's server down unsaved;
4. start the instance with AOF on, check keys and sample values, restart it
   once more and check again (this catches the trap), drop the old data.

Any failure after step 2 rolls back: the old files go back in place and the
instance and clients are started as they were.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import shlex
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run, run_shell, upload
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_file, parse_check_rdb
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    AUTH_FROM_STDIN,
    BINARIES,
    check_reply,
    keyspace,
    parse_info,
    pod_cli,
)

try:
    from kubernetes.client.rest import ApiException
except ImportError:  # reported by pod_exec.kube_configuration
    ApiException = Exception

DATA = "/data"
# The names roles/redis configures (appendfilename, appenddirname); Redis 7+
# and Valkey load an AOF base that is an RDB file.
AOF_DIR = "appendonlydir"
AOF_BASE = "appendonly.aof.1.base.rdb"
AOF_MANIFEST = "appendonly.aof.manifest"
SEED_AOF_SCRIPT = ('set -e; mkdir %(data)s/%(dir)s; ln %(data)s/dump.rdb %(data)s/%(dir)s/%(base)s; '
                   'printf "file %(base)s seq 1 type b\\n" > %(data)s/%(dir)s/%(manifest)s; '
                   'sync %(data)s/%(dir)s/%(manifest)s %(data)s/%(dir)s')
HELPER_PORT = 6399
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


def key_counts(keys):
    """{'db0': 12, ...}: the comparison ignores expires, which change as TTLs run out."""
    return dict((db, counts["keys"]) for db, counts in keys.items())


class Restore(object):
    """One restore of one backup into one StatefulSet (standalone: pod 0, PVC data-<name>-0)."""

    def __init__(self, configuration, core, apps, namespace, statefulset, manifest, password, flavor="redis",
                 port=6379, clients=(), timeout=300):
        self.configuration, self.core, self.apps = configuration, core, apps
        self.namespace, self.name = namespace, statefulset
        self.manifest, self.password = manifest, password
        self.flavor, self.port = flavor, port
        self.clients = list(clients)
        self.timeout = timeout
        self.steps = []
        self.started = time.monotonic()
        self.stamp = index.utc_now().strftime(index.STAMP_FORMAT)
        self.aside = "%s/.pre-restore-%s" % (DATA, self.stamp)
        self.helper = "%s-restore" % statefulset
        self.replicas = None
        self.client_replicas = {}
        self.data_moved = False
        self.expected_keys = None
        self.samples = {}
        self.upload_mb_per_s = None

    # -- bookkeeping ------------------------------------------------------
    def step(self, text):
        self.steps.append("%6.1fs %s" % (time.monotonic() - self.started, text))

    def wait(self, what, condition, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise RestoreError("timed out after %ds waiting for %s" % (timeout or self.timeout, what))
            time.sleep(0.5)

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

        The volume may then be mounted by the helper: no server writes to it.
        Waiting for the pod object to disappear too cost 5 s more here.
        """
        pod = self.read_pod(name)
        if pod is None:
            return True
        statuses = pod.status.container_statuses or []
        return bool(pod.metadata.deletion_timestamp) and all(status.state.running is None for status in statuses)

    def pod_ready(self, name, uid_not=None):
        try:
            pod = self.core.read_namespaced_pod(name, self.namespace)
        except ApiException:
            return False
        ready = [c.status for c in (pod.status.conditions or []) if c.type == "Ready"]
        return ready == ["True"] and pod.metadata.uid != uid_not

    def pod_uid(self, name):
        return self.core.read_namespaced_pod(name, self.namespace).metadata.uid

    def helper_manifest(self, image):
        # The server starts only once the RDB is in place (.restore-ready), with AOF off.
        server = BINARIES[self.flavor]["cli"].replace("-cli", "-server")
        command = ("while [ ! -f %s/.restore-ready ]; do sleep 0.2; done; rm -f %s/.restore-ready; "
                   "exec %s --port %d --bind 127.0.0.1 --dir %s --dbfilename dump.rdb --appendonly no "
                   "--appenddirname %s --save '' --protected-mode yes"
                   % (DATA, DATA, server, HELPER_PORT, DATA, AOF_DIR))
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.helper, "labels": {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores",
                                                         "app.kubernetes.io/component": "restore"}},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999, "runAsNonRoot": True},
                "containers": [{
                    "name": "restore", "image": image["image"], "imagePullPolicy": image["pull_policy"],
                    "command": ["sh", "-c", command],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "data", "mountPath": DATA}],
                }],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-%s-0" % self.name}}],
            },
        }

    def helper_sh(self, script):
        return run_shell(self.configuration, self.namespace, self.helper, "restore", script)

    def start_helper(self, image):
        if not self.pod_gone(self.helper):
            self.delete_helper()
        self.core.create_namespaced_pod(self.namespace, self.helper_manifest(image))
        self.wait("the restore helper pod to run", self.helper_running)

    def helper_running(self):
        try:
            pod = self.core.read_namespaced_pod(self.helper, self.namespace)
        except ApiException:
            return False
        return pod.status.phase == "Running"

    def delete_helper(self):
        try:
            self.core.delete_namespaced_pod(self.helper, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if getattr(exc, "status", None) != 404:
                raise
        self.wait("the restore helper pod to go", lambda: self.pod_gone(self.helper))

    # -- the procedure ----------------------------------------------------
    def run(self):
        self.started = time.monotonic()
        sts = self.statefulset()
        container = next((c for c in sts.spec.template.spec.containers if c.name == "redis"), None)
        if container is None:
            raise RestoreError("StatefulSet %s has no container named redis" % self.name)
        image = {"image": container.image, "pull_policy": container.image_pull_policy or "IfNotPresent"}
        self.replicas = sts.spec.replicas or 1
        self.client_replicas = dict((n, self.apps.read_namespaced_deployment_scale(n, self.namespace).spec.replicas)
                                    for n in self.clients)
        try:
            self.stop()
            self.start_helper(image)
            self.place_backup()
            loaded = self.load_and_seed_aof()
            self.delete_helper()
            verified = self.start_and_verify(loaded)
        except Exception as exc:
            self.step("FAILED: %s" % exc)
            rollback = self.rollback(image)
            raise RestoreError("%s; %s" % (exc, rollback))
        self.drop_old_data()
        self.scale_clients(self.client_replicas)
        self.step("clients scaled back")
        return dict(verified, rto_seconds=round(time.monotonic() - self.started, 1), steps=self.steps)

    def stop(self):
        self.scale_clients(dict((n, 0) for n in self.client_replicas))
        self.scale_statefulset(0)
        self.wait("pod %s-0 to stop" % self.name, lambda: self.pod_stopped("%s-0" % self.name))
        self.step("instance stopped (StatefulSet 0, clients %s 0)" % (", ".join(self.clients) or "none"))

    def place_backup(self):
        size = self.manifest["bytes"]
        free_kb = int(self.helper_sh("df -Pk %s | awk 'NR==2 {print $4}'" % DATA).strip() or 0)
        needed = size + HEADROOM_BYTES
        if free_kb * 1024 < needed:
            raise RestoreError("the volume has %d MB free; the restore needs %d MB (the RDB, which also becomes the "
                               "AOF base, and %d MB for the first writes)"
                               % (free_kb // 1024, needed // MB, HEADROOM_BYTES // MB))
        target = "%s/.restore-%s.rdb" % (DATA, self.stamp)
        sent = upload(self.configuration, self.namespace, self.helper, "restore", self.manifest["rdb_path"], target,
                      timeout=self.timeout)
        self.upload_mb_per_s = round(sent["bytes"] / 1e6 / sent["seconds"], 1) if sent["seconds"] else None
        self.step("RDB uploaded (%d bytes, %s MB/s over %d streams, sha256 verified in the pod)"
                  % (sent["bytes"], self.upload_mb_per_s, sent["streams"]))
        check = BINARIES[self.flavor]["check_rdb"]
        output = self.helper_sh("%s %s 2>&1; echo check-rc $?" % (check, shlex.quote(target)))
        parsed = parse_check_rdb(output)
        if not parsed["ok"] or not output.rstrip().endswith("check-rc 0"):
            self.helper_sh("rm -f %s" % shlex.quote(target))
            raise RestoreError("this server cannot read the backup (%s): %s" % (check, output.strip()[-400:]))
        self.expected_keys = parsed
        self.helper_sh("set -e; mkdir %(aside)s; for f in dump.rdb %(dir)s; do "
                       "if [ -e %(data)s/$f ]; then mv %(data)s/$f %(aside)s/; fi; done; "
                       "mv %(target)s %(data)s/dump.rdb"
                       % {"aside": self.aside, "data": DATA, "dir": AOF_DIR, "target": shlex.quote(target)})
        self.data_moved = True
        self.step("old data set aside in %s; backup in place as dump.rdb" % self.aside)

    def helper_cli(self):
        return pod_cli(self.configuration, self.namespace, self.helper, "restore", None, flavor=self.flavor,
                       port=HELPER_PORT, timeout=self.timeout)

    def load_and_seed_aof(self):
        self.helper_sh("touch %s/.restore-ready" % DATA)
        cli = self.helper_cli()
        self.wait("the backup to load", lambda: self.answers(cli))
        loaded = keyspace(parse_info(check_reply(cli("INFO", "keyspace"), "INFO")))
        expected = (self.expected_keys["keys"] or 0) - (self.expected_keys.get("already_expired") or 0)
        total = sum(db["keys"] for db in loaded.values())
        if total != expected:
            raise RestoreError("loaded %d keys, the RDB holds %d live keys" % (total, expected))
        self.samples = self.sample_digests(cli)
        self.step("RDB loaded with AOF off: %d keys" % total)
        self.helper_sh(SEED_AOF_SCRIPT % {"data": DATA, "dir": AOF_DIR, "base": AOF_BASE, "manifest": AOF_MANIFEST})
        self.step("AOF seeded: the backup is its base (%s/%s)" % (AOF_DIR, AOF_BASE))
        try:
            cli("SHUTDOWN", "NOSAVE")
        except Exception:  # the server closes the connection as it exits
            pass
        self.wait("the helper's server to shut down", lambda: not self.helper_running())
        return loaded

    @staticmethod
    def answers(cli):
        try:
            return cli("PING").strip() == "PONG"
        except Exception:  # not up yet, or LOADING
            return False

    def sample_digests(self, cli):
        """sha256 of DUMP for up to SAMPLE_KEYS random keys per database (same server: same bytes)."""
        digests = {}
        for db in sorted(keyspace(parse_info(cli("INFO", "keyspace")))):
            number = db[2:]
            script = ("for i in $(seq %d); do k=$(%s -n %s RANDOMKEY); [ -n \"$k\" ] || continue; "
                      "printf '%%s\\t%%s\\n' \"$k\" \"$(%s -n %s --raw DUMP \"$k\" | sha256sum | cut -c1-64)\"; done"
                      % (SAMPLE_KEYS, self.cli_command(HELPER_PORT), number, self.cli_command(HELPER_PORT), number))
            for line in self.helper_sh(script).splitlines():
                key, digest = line.rsplit("\t", 1)
                digests[(number, key)] = digest
        return digests

    def cli_command(self, port):
        return "%s -p %d" % (BINARIES[self.flavor]["cli"], port)

    def start_and_verify(self, loaded):
        pod = "%s-0" % self.name
        self.scale_statefulset(self.replicas)
        self.wait_ready_or_explain(pod)
        self.step("instance started with AOF on")
        first = self.verify_live(pod, loaded)
        uid = self.pod_uid(pod)
        self.core.delete_namespaced_pod(pod, self.namespace)
        self.wait_ready_or_explain(pod, uid_not=uid)
        second = self.verify_live(pod, loaded)
        self.step("verified again after a pod restart (AOF holds the data)")
        return {"keys": loaded, "keys_total": sum(db["keys"] for db in loaded.values()),
                "aof_enabled": second["aof_enabled"], "samples_checked": first["samples"],
                "upload_mb_per_s": self.upload_mb_per_s}

    def wait_ready_or_explain(self, pod, uid_not=None):
        """Wait for the pod; on timeout say what its server logged."""
        try:
            self.wait("pod %s to be Ready" % pod, lambda: self.pod_ready(pod, uid_not=uid_not))
        except RestoreError as exc:
            try:
                log = self.core.read_namespaced_pod_log(pod, self.namespace, container="redis", tail_lines=15)
            except ApiException as log_exc:
                log = "(no log: %s)" % getattr(log_exc, "reason", log_exc)
            raise RestoreError("%s; last log lines of %s: %s" % (exc, pod, " | ".join(str(log).splitlines())))

    def verify_live(self, pod, loaded):
        cli = pod_cli(self.configuration, self.namespace, pod, "redis", self.password, flavor=self.flavor,
                      port=self.port, timeout=self.timeout)
        live = keyspace(parse_info(check_reply(cli("INFO", "keyspace"), "INFO")))
        if key_counts(live) != key_counts(loaded):
            raise RestoreError("after the restart the instance holds %s, the backup loaded %s" % (live, loaded))
        if parse_info(check_reply(cli("INFO", "persistence"), "INFO")).get("aof_enabled") != "1":
            raise RestoreError("AOF is off in the restored instance")
        mismatched = []
        for (db, key), digest in self.samples.items():
            rc, out, err = run(self.configuration, self.namespace, pod, "redis", [
                "sh", "-c", AUTH_FROM_STDIN + '%s -n "$1" --raw DUMP "$2" | sha256sum | cut -c1-64'
                % self.cli_command(self.port),
                "sh", db, key], stdin_data=(self.password or "").encode("utf-8") + b"\n")
            if out.decode().strip() != digest:
                mismatched.append("db%s:%s" % (db, key))
        if mismatched:
            raise RestoreError("sample values differ after the restore: %s" % ", ".join(mismatched[:5]))
        self.step("live: %s, AOF on, %d sample values identical" % (live, len(self.samples)))
        return {"aof_enabled": True, "samples": len(self.samples)}

    def drop_old_data(self):
        pod = "%s-0" % self.name
        rc, out, err = run(self.configuration, self.namespace, pod, "redis", ["rm", "-rf", self.aside])
        self.step("old data %s" % ("removed" if rc == 0 else "NOT removed: %s" % err.decode().strip()))

    def rollback(self, image):
        """Put the old files back and start everything as it was. Returns what it did, for the message."""
        try:
            if self.data_moved:
                self.scale_statefulset(0)
                self.wait("pod %s-0 to stop" % self.name, lambda: self.pod_stopped("%s-0" % self.name))
                self.start_helper(image)
                self.helper_sh("set -e; rm -rf %(data)s/dump.rdb %(data)s/%(dir)s; "
                               "for f in %(aside)s/* ; do [ -e \"$f\" ] && mv \"$f\" %(data)s/; done; rmdir %(aside)s"
                               % {"data": DATA, "dir": AOF_DIR, "aside": self.aside})
            if not self.pod_gone(self.helper):
                self.delete_helper()
            self.scale_statefulset(self.replicas)
            self.scale_clients(self.client_replicas)
            self.wait("pod %s-0 to be Ready after the rollback" % self.name,
                      lambda: self.pod_ready("%s-0" % self.name))
        except Exception as exc:  # the message must say the instance needs hands
            return ("ROLLBACK FAILED (%s): follow docs/dr-runbook.md 'Manual rollback'; old data in %s on volume "
                    "data-%s-0" % (exc, self.aside, self.name))
        return "rolled back: the instance runs on its previous data"
