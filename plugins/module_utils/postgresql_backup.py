# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PostgreSQL base backup from a pod to the controller (the postgresql_basebackup module's logic).

pg_basebackup runs in the server's container as the server's OS user over the pod's socket (peer: no password
crosses the exec) and writes its tar to stdout; nothing is written inside the pod. Each frame that arrives goes
two ways at once: to the file (zstd-compressed as it is written, in a thread) and to the tar check
(postgresql_basebackup.TarCheck, in another). The file gets its final name only when the check has proved the
whole backup, and the manifest is written after it: no manifest, no backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import time

try:
    import zstandard
    HAS_ZSTANDARD = True
except ImportError:  # said by BaseBackup when compression is asked for
    HAS_ZSTANDARD = False

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import PodExec
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import BACKUPS_TABLE, literal
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_basebackup import (
    BaseBackupError,
    StreamReader,
    TarCheck,
    verify,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    RestoreInterrupted,
    Signals,
    Watch,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.snapshot import FileSink, publish

COMPRESSIONS = ("zstd", "none")
SUFFIX = {"zstd": ".tar.zst", "none": ".tar"}
ZSTD_LEVEL = 3
MAX_RATE = re.compile(r"^[1-9][0-9]*[kM]?$")


class HashingFile(object):
    """A write-only file that hashes and counts what goes through it (the bytes as they land on disk)."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, data):
        self.handle.write(data)
        self.digest.update(data)
        self.bytes += len(data)
        return len(data)

    def flush(self):
        self.handle.flush()


class Tee(object):
    """The exec's sink: each frame to the file's writer and to the tar check."""

    def __init__(self, *sinks):
        self.sinks = sinks

    def __call__(self, chunk):
        for sink in self.sinks:
            sink(chunk)


# The kubelet does not end an exec's process when its client goes away: pg_basebackup would go on (or hang on a
# full pipe) with the server's side of the backup open. The exec's stdin ties it to the client: it closes when the
# client is gone (a killed module, a lost controller), and pg_basebackup is stopped then. (An asynchronous
# command's stdin is /dev/null unless redirected: hence fd 3.)
TIED_TO_STDIN = r"""
exec 3<&0
"$@" </dev/null & backup=$!
(cat <&3 >/dev/null 2>&1; kill "$backup" 2>/dev/null) >/dev/null 2>&1 & watcher=$!
wait "$backup"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"""


def basebackup_command(bin_dir, socket_dir, port, superuser, label, checkpoint, max_rate=""):
    command = ["%s/pg_basebackup" % bin_dir, "-h", socket_dir, "-p", str(port), "-U", superuser, "-D", "-", "-Ft",
               "-X", "fetch", "--manifest-checksums=SHA256", "-c", checkpoint, "-l", label]
    return ["sh", "-c", TIED_TO_STDIN, "sh"] + command + (["--max-rate", max_rate] if max_rate else [])


class BaseBackup(object):
    """One base backup of one server pod into the instance's backup directory. run() returns the manifest."""

    def __init__(self, configuration, psql, target, dest, name, cluster, compression="zstd", checkpoint="fast",
                 max_rate="", transfer_timeout=600, check_mode=False, file_mode=index.FILE_MODE,
                 dir_mode=index.DIR_MODE):
        if compression not in COMPRESSIONS:
            raise BaseBackupError("compression %r: one of %s" % (compression, ", ".join(COMPRESSIONS)))
        if compression == "zstd" and not HAS_ZSTANDARD:
            raise BaseBackupError("compression zstd needs the Python library zstandard on the controller "
                                  "(pip install zstandard), or compression none")
        self.configuration = configuration
        self.psql = psql
        self.namespace, self.pod, self.container = target
        self.name, self.cluster = name, cluster
        self.directory = index.instance_dir(dest, cluster, self.namespace, name)
        if max_rate and not MAX_RATE.match(max_rate):
            raise BaseBackupError("max_rate %r: kB/s as pg_basebackup takes it, e.g. 32768 or 50M" % max_rate)
        self.compression, self.checkpoint, self.max_rate = compression, checkpoint, max_rate
        self.transfer_timeout = transfer_timeout
        self.check_mode = check_mode
        self.file_mode = index.parse_mode(file_mode, "file_mode")
        self.dir_mode = index.parse_mode(dir_mode, "dir_mode")
        self.leftovers_removed = []
        self.malformed = []

    def run(self):
        server = self.server_facts()
        if self.check_mode:
            return {"changed": True, "msg": "would take a base backup of %s/%s (PostgreSQL %s) into %s"
                    % (self.namespace, self.pod, server["version"], self.directory)}
        index.make_dirs(self.directory, self.dir_mode)
        self.malformed = [entry for entry in index.list_backups(self.directory, cluster=self.cluster)
                          if entry["status"] != "ok"]
        with index.InstanceLock(self.directory):
            self.leftovers_removed = index.clean_leftovers(self.directory)
            # Ansible runs modules in a session of their own: Ctrl-C or a cancelled job ends ansible-playbook but
            # never reaches this process. The watch notices and the signal ends the stream; nothing is published.
            with Signals() as signals, Watch() as watch:
                try:
                    return self.backup(server, signals)
                except RestoreInterrupted:
                    cause = "the controller (ansible-playbook) is gone" if watch.lost_controller else \
                        "interrupted by %s" % signals.received[0]
                    raise BaseBackupError("base backup stopped: %s; nothing was published" % cause)

    def server_facts(self):
        row = self.psql.rows("SELECT current_setting('server_version_num')::int / 10000 AS major, "
                             "split_part(current_setting('server_version'), ' ', 1) AS version, "
                             "pg_is_in_recovery() AS in_recovery, "
                             "(SELECT system_identifier::text FROM pg_control_system()) AS system_identifier")[0]
        return row

    def backup(self, server, signals):
        started, clock = index.utc_now(), time.monotonic()
        backup = index.backup_id(self.name, started)
        final = os.path.join(self.directory, backup + SUFFIX[self.compression])
        temp = os.path.join(self.directory, ".%s%s.partial-%d" % (backup, SUFFIX[self.compression], os.getpid()))
        try:
            written, tar_sink, facts, seconds = self.stream(temp, backup, server["major"])
            if facts["system_identifier"] != server["system_identifier"]:
                raise BaseBackupError("the backup is of system %s, the server is %s"
                                      % (facts["system_identifier"], server["system_identifier"]))
            signals.shielded = True  # checked: publish, manifest and record are no longer interrupted
            publish(temp, final)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
        finished = index.utc_now()
        manifest = {
            "format": index.MANIFEST_FORMAT,
            "id": backup,
            "store": "postgresql",
            "kind": "base",
            "cluster": self.cluster,
            "file": os.path.basename(final),
            "sha256": written.digest.hexdigest(),
            "bytes": written.bytes,
            "compression": self.compression,
            "tar_bytes": tar_sink.bytes,
            "server_version": server["version"],
            "system_identifier": facts["system_identifier"],
            "timeline": facts["timeline"],
            "start_lsn": facts["start_lsn"],
            "end_lsn": facts["end_lsn"],
            "checkpoint_lsn": facts["checkpoint_lsn"],
            "wal_segments": facts["wal_segments"],
            "source": {"cluster": self.cluster, "namespace": self.namespace, "pod": self.pod,
                       "container": self.container, "in_recovery": server["in_recovery"]},
            "checks": {"verified": True, "files": facts["files"], "data_bytes": facts["bytes"],
                       "backup_manifest_sha256": facts["manifest_sha256"],
                       "method": "every file's size and SHA-256 against the server's backup_manifest (itself "
                                 "checksummed); the WAL range's segments present, of this system, pages valid"},
            "started_at": index.iso(started),
            "finished_at": index.iso(finished),
            "duration_seconds": round(time.monotonic() - clock, 3),
            "transfer_seconds": round(seconds, 3),
            "transfer_mb_per_s": round(tar_sink.bytes / 1e6 / seconds, 1) if seconds else None,
        }
        manifest_path = index.write_manifest(self.directory, backup, manifest, final, self.file_mode)
        result = dict(manifest, changed=True, path=final, manifest_path=manifest_path)
        result["recorded"] = self.record(manifest)
        return result

    def record(self, manifest):
        """Note the published backup in the server (the exporter reads the newest for the backup age alert).

        The backup stands whatever happens here: a failure is returned as a sentence, for a warning."""
        try:
            self.psql.script("INSERT INTO %s (id, kind, finished_at, end_lsn, bytes) VALUES (%s, 'base', %s, %s, %d) "
                             "ON CONFLICT (id) DO NOTHING;\n"
                             % (BACKUPS_TABLE, literal(manifest["id"]), literal(manifest["finished_at"]),
                                literal(manifest["end_lsn"]), manifest["bytes"]))
        except DatastoresError as exc:
            return "published, but not recorded in the server (%s): the backup age alert does not see it" % exc
        return True

    def stream(self, temp, label, major):
        """Stream pg_basebackup's tar into `temp`, checking it on the way: (file, tar sink, facts, seconds)."""
        command = basebackup_command(self.psql.bin_dir, self.psql.socket_dir, self.psql.port, "postgres", label,
                                     self.checkpoint, self.max_rate)
        reader = StreamReader()
        tar_check = TarCheck(reader, major).start()
        start = time.monotonic()
        try:
            with index.create_private(temp, self.file_mode) as handle:
                written = HashingFile(handle)
                writer = self.writer(written)
                # The file's own hash (HashingFile) is the one the manifest needs; the tar's is not hashed twice.
                with FileSink(writer, hashed=False) as tar_sink:
                    with PodExec(self.configuration, self.namespace, self.pod, self.container, command, stdin=True,
                                 timeout=self.transfer_timeout) as session:
                        rc = session.stream(Tee(tar_sink, reader.feed))
                        stderr = bytes(session.stderr)
                if writer is not written:
                    writer.close()
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            reader.end()
            tar_check.thread.join()
        seconds = (tar_sink.last_byte_at or time.monotonic()) - start
        if rc != 0:
            raise BaseBackupError("pg_basebackup in %s exited %d: %s"
                                  % (self.pod, rc, stderr.decode("utf-8", "replace").strip()[-800:]))
        tar_check.join()
        return written, tar_sink, verify(tar_check), seconds

    def writer(self, written):
        if self.compression == "none":
            return written
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(written, closefd=False)
