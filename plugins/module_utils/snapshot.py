# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RDB snapshot-and-copy from a pod to the controller (the redis_snapshot module's logic)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import queue
import re
import shutil
import subprocess
import threading
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import PodExec, run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_file, check_rdb_verdict
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES,
    bgsave_and_wait,
    check_reply,
    keyspace,
    parse_info,
    rdb_location,
)

# Streams the RDB, then hashes and checks the *same inode* (a newer save may
# replace the file meanwhile): /proc/$$/fd/3 reopens the file held on fd 3.
# Reports go to stderr, the file alone to stdout. The checks run after the
# copy so they do not compete with it for CPU.
COPY_SCRIPT = r"""
exec 3<"$1" || exit 90
cat <&3 || exit 91
printf 'sha256 %s\n' "$(sha256sum </proc/$$/fd/3 | cut -d' ' -f1)" >&2
if command -v "$2" >/dev/null 2>&1; then
  "$2" /proc/$$/fd/3 >&2; printf 'check-rc %s\n' "$?" >&2
else
  echo 'check-rc absent' >&2
fi
"""


class SnapshotError(DatastoresError):
    """The snapshot could not be taken, copied or verified; nothing was published."""


class FileSink(object):
    """Writes stdout frames to a file, hashing (unless hashed=False) and counting them, in a thread of its own.

    Hashing and writing (both release the GIL) overlap with reading the socket;
    the queue bounds the memory held in between (QUEUE_FRAMES frames, ~32 KB each).
    Use as a context manager; leaving it waits for the last write.
    """

    QUEUE_FRAMES = 256

    def __init__(self, handle, hashed=True):
        self.handle = handle
        self.digest = hashlib.sha256() if hashed else None
        self.bytes = 0
        self.last_byte_at = None
        self.error = None
        self.queue = queue.Queue(self.QUEUE_FRAMES)
        # A daemon: a writer left behind by an interrupted run never keeps the module alive.
        self.thread = threading.Thread(target=self._drain, name="snapshot-writer", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc_info[0] is None:
            raise self.error

    def __call__(self, chunk):
        if self.error is not None:
            raise self.error
        self.queue.put(chunk)
        self.bytes += len(chunk)
        self.last_byte_at = time.monotonic()

    def _drain(self):
        while True:
            chunk = self.queue.get()
            if chunk is None:
                return
            if self.error is None:
                try:
                    self.handle.write(chunk)
                    if self.digest is not None:
                        self.digest.update(chunk)
                except (IOError, OSError) as exc:  # disk full, I/O error: reported by the reader
                    self.error = exc


def server_identity(info):
    """(flavor, version) from a parsed INFO server."""
    if "valkey_version" in info:
        return "valkey", info["valkey_version"]
    return "redis", info.get("redis_version", "unknown")


def parse_copy_report(stderr):
    text = stderr.decode("utf-8", "replace")
    match = re.search(r"^sha256 ([0-9a-f]{64})$", text, re.M)
    check = re.search(r"^check-rc (\S+)$", text, re.M)
    return {
        "sha256": match.group(1) if match else None,
        "check_rc": check.group(1) if check else None,
        "check_output": text,
    }


def unchanged_since(latest_entry, pod, persistence):
    """True when the data cannot differ from the latest backup (taken from this pod, no write since its save)."""
    if latest_entry is None:
        return False
    document = latest_entry["document"]
    return (document.get("source", {}).get("pod") == pod
            and str(document.get("lastsave")) == persistence.get("rdb_last_save_time")
            and persistence.get("rdb_changes_since_last_save") == "0")


class Snapshot(object):
    """One snapshot of one instance. run() returns the manifest (or a skip/check result)."""

    def __init__(self, configuration, cli, target, dest, name, cluster, flavor="redis", save_timeout=600,
                 transfer_timeout=60, verify=True, skip_unchanged=True, check_mode=False,
                 file_mode=index.FILE_MODE, dir_mode=index.DIR_MODE):
        self.configuration = configuration
        self.cli = cli
        self.namespace, self.pod, self.container = target
        self.cluster = cluster
        self.directory = index.instance_dir(dest, cluster, self.namespace, name)
        self.file_mode = index.parse_mode(file_mode, "file_mode")
        self.dir_mode = index.parse_mode(dir_mode, "dir_mode")
        self.name = name
        self.leftovers_removed = []
        self.malformed = []
        self.flavor = flavor
        self.save_timeout = save_timeout
        self.transfer_timeout = transfer_timeout
        self.verify = verify
        self.skip_unchanged = skip_unchanged
        self.check_mode = check_mode
        self.choice = {}

    def shell(self, script):
        return run_shell(self.configuration, self.namespace, self.pod, self.container, script)

    def run(self, choice=None):
        """The snapshot; `choice` (role, reason) says why this pod, for the manifest."""
        self.choice = dict(choice or {}, pod=self.pod)
        started = index.utc_now()
        clock = time.monotonic()
        check_reply(self.cli("PING"), "PING")
        flavor, version = server_identity(parse_info(self.cli("INFO", "server")))
        persistence = parse_info(check_reply(self.cli("INFO", "persistence"), "INFO"))
        if not self.check_mode:
            index.make_dirs(self.directory, self.dir_mode)
        entries = index.list_backups(self.directory, cluster=self.cluster)
        self.malformed = [entry for entry in entries if entry["status"] != "ok"]
        latest_entry = index.latest(entries)
        if self.skip_unchanged and unchanged_since(latest_entry, self.pod, persistence):
            return {"changed": False, "unchanged": True, "id": latest_entry["id"],
                    "msg": "no write since backup %s: nothing new to back up" % latest_entry["id"]}
        if self.check_mode:
            return {"changed": True, "source": self.choice, "msg": "would take an RDB snapshot of %s/%s (%s) into %s"
                    % (self.namespace, self.pod, self.choice.get("role", "primary"), self.directory)}
        with index.InstanceLock(self.directory):
            self.leftovers_removed = index.clean_leftovers(self.directory)
            return self.snapshot(started, clock, flavor, version)

    def snapshot(self, started, clock, flavor, version):
        persistence = bgsave_and_wait(self.cli, timeout=self.save_timeout)
        keys = keyspace(parse_info(self.cli("INFO", "keyspace")))
        directory, filename = rdb_location(self.cli, self.shell)
        finished_save = time.monotonic()
        when = index.utc_now()
        backup = index.backup_id(self.name, when)
        final = os.path.join(self.directory, backup + ".rdb")
        temp = os.path.join(self.directory, ".%s.rdb.partial-%d" % (backup, os.getpid()))
        try:
            sink, report, transfer_seconds = self.copy(directory + "/" + filename, temp)
            checks = self.check(temp, sink, report)
            publish(temp, final)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        finished = index.utc_now()
        manifest = {
            "format": index.MANIFEST_FORMAT,
            "id": backup,
            "cluster": self.cluster,
            "file": os.path.basename(final),
            "sha256": sink.digest.hexdigest(),
            "bytes": sink.bytes,
            "flavor": flavor,
            "server_version": version,
            "rdb_version": checks["rdb_version"],
            "keys": keys,
            "keys_total": sum(db["keys"] for db in keys.values()),
            "lastsave": int(persistence["rdb_last_save_time"]),
            "source": {"cluster": self.cluster, "namespace": self.namespace, "pod": self.pod,
                       "container": self.container, "path": directory + "/" + filename,
                       "role": self.choice.get("role", "primary"), "reason": self.choice.get("reason", "")},
            "checks": checks,
            "started_at": index.iso(started),
            "finished_at": index.iso(finished),
            "duration_seconds": round(time.monotonic() - clock, 3),
            "save_seconds": round(finished_save - clock, 3),
            "transfer_seconds": round(transfer_seconds, 3),
            "transfer_mb_per_s": round(sink.bytes / 1e6 / transfer_seconds, 1) if transfer_seconds else None,
        }
        manifest_path = index.write_manifest(self.directory, backup, manifest, final, self.file_mode)
        return dict(manifest, changed=True, rdb_path=final, manifest_path=manifest_path)

    def copy(self, source, temp):
        check_binary = BINARIES[self.flavor]["check_rdb"] if self.verify else "/nonexistent"
        start = time.monotonic()
        with index.create_private(temp, self.file_mode) as handle:
            with FileSink(handle) as sink:
                with PodExec(self.configuration, self.namespace, self.pod, self.container,
                             ["sh", "-c", COPY_SCRIPT, "sh", source, check_binary],
                             timeout=self.transfer_timeout) as session:
                    rc = session.stream(sink)
                    stderr = bytes(session.stderr)
            handle.flush()
            os.fsync(handle.fileno())
        # The copy's own time: until the last byte arrived (the pod may still be checking).
        seconds = (sink.last_byte_at or time.monotonic()) - start
        if rc in (90, 91):
            raise SnapshotError("cannot read %s in %s: %s" % (source, self.pod, stderr.decode("utf-8", "replace")))
        if rc != 0:
            detail = stderr.decode("utf-8", "replace")[:500]
            raise SnapshotError("copy of %s from %s exited %d: %s" % (source, self.pod, rc, detail))
        return sink, parse_copy_report(stderr), seconds

    def check(self, temp, sink, report):
        if report["sha256"] is None:
            raise SnapshotError("the pod did not report the file's sha256 (is sha256sum in the image?)")
        if report["sha256"] != sink.digest.hexdigest():
            raise SnapshotError("transfer corrupted: sha256 in the pod %s, received %s (%d bytes)"
                                % (report["sha256"], sink.digest.hexdigest(), sink.bytes))
        if not self.verify:
            return {"rdb_version": check_file(temp, crc_max_bytes=0)["rdb_version"], "verified": False}
        result = check_file(temp)
        result["verified"] = True
        result["check_rdb_in_pod"] = check_rdb_result(report)
        result["check_rdb_local"] = self.local_check_rdb(temp)
        for where in ("check_rdb_in_pod", "check_rdb_local"):
            outcome = result[where]
            if outcome and outcome["ok"] is False:
                raise SnapshotError("%s rejected the RDB (%s): %s" % (
                    BINARIES[self.flavor]["check_rdb"], where, outcome.get("output", "")[-500:]))
        checked_locally = bool(result["check_rdb_local"] and result["check_rdb_local"]["ok"])
        if not (result["crc64_verified"] or result["check_rdb_in_pod"] or checked_locally):
            raise SnapshotError("the RDB checksum could not be verified: no %s in the pod or on the controller "
                                "and the file is too large for the built-in CRC64 check"
                                % BINARIES[self.flavor]["check_rdb"])
        return result

    def local_check_rdb(self, path):
        binary = shutil.which(BINARIES[self.flavor]["check_rdb"]) or shutil.which("redis-check-rdb")
        if not binary:
            return None
        completed = subprocess.run([binary, path], capture_output=True, text=True, check=False)
        output = completed.stdout + completed.stderr
        too_new = re.search(r"Can't handle RDB format version (\d+)", output)
        if too_new:
            # An older tool on the controller (e.g. redis-check-rdb for a
            # Valkey 8 file) proves nothing either way; the pod's own check stands.
            return {"ok": None, "skipped": "%s on the controller cannot read RDB format version %s"
                    % (os.path.basename(binary), too_new.group(1))}
        return check_rdb_verdict(output, completed.returncode)


def check_rdb_result(report):
    if report["check_rc"] in (None, "absent"):
        return None
    return check_rdb_verdict(report["check_output"], report["check_rc"])


def publish(temp, final):
    """Give the checked file its final name; never replace an existing backup."""
    try:
        os.link(temp, final)
    except OSError as exc:
        raise SnapshotError("cannot publish %s: %s" % (final, exc))
    os.unlink(temp)
    index.fsync_dir(os.path.dirname(final))
