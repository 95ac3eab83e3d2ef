# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PostgreSQL point-in-time restore on the server's own volume: what it writes there and how it checks it.

The restore unpacks the planned base backup (postgresql_restore_plan) into a
new data directory beside the old one (the way back), puts the archive's
segments it replays in a directory of the volume, and starts the server with
recovery.signal and the recovery settings in postgresql.auto.conf (the
server's postgresql.conf is the ConfigMap's, which the restore leaves alone).
PostgreSQL replays to the target, refuses to open when the WAL ends before it
(PostgreSQL 13 and later), and promotes onto a new timeline whose history file
names where it stopped; that line is the proof the target was reached.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import time

try:
    import zstandard
except ImportError:  # the plan refuses a compressed base backup without it
    zstandard = None

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import STDIN_FRAME_BYTES
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import CONTAINER as HELPER
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import HelperPod, instance_image
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    TimedOut,
    deployment_replicas,
    first_pod,
    is_running,
    is_stopped,
    log_tail,
    pod_state,
    read_pod,
    scale_deployments,
    scale_statefulset,
    wait_for,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import PodExec, run, run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import Psql
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore_plan import (
    needed_segments, utc)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    SEGMENT_BYTES, WalArchive, live_segments)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    STALE_SECONDS,
    RestoreBusy,
    RestoreError,
    RestoreInterrupted,
    Signals,
    StateRecorder,
    Watch,
    busy_for,
    busy_message,
    describe,
    heartbeat_age,
    read_state,
)

# The recovery settings the restore writes, reset with ALTER SYSTEM once the server is promoted.
RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_lsn", "recovery_target_name",
                     "recovery_target_action", "recovery_target_timeline")
TARGET_SETTING = {"time": "recovery_target_time", "lsn": "recovery_target_lsn", "name": "recovery_target_name"}
# Room the unpacked backup and the segments need on the volume, beyond their own sizes (a checkpoint's WAL, the
# server's start).
SPACE_MARGIN = 256 * 1024 * 1024
SERVER_CONTAINER = "postgresql"
ARCHIVER_CONTAINER = "wal-archive"
HISTORY_FILE = re.compile(r"^[0-9A-F]{8}\.history(\.gz)?$")
HISTORY_LINE = re.compile(r"^(\d+)\s+([0-9A-Fa-f]+/[0-9A-Fa-f]+)\s+(.*)$")


ROLLBACK_COMMAND = "ansible-playbook playbooks/restore.yml -e store=postgresql -e rollback=yes"


def stderr_tail(session):
    """The end of what an exec session's command wrote to stderr, for a message."""
    return bytes(session.stderr).decode("utf-8", "replace").strip()[-500:]


class PostgresqlRestoreError(DatastoresError):
    """The restore failed; what was rolled back is in the message."""


def conf_quote(value):
    """A value as postgresql.conf takes it: in single quotes, each quote doubled."""
    return "'%s'" % str(value).replace("'", "''")


def recovery_settings(wanted, wal_dir):
    """[(name, value)] recovering from the segments in `wal_dir` (on the data volume) to target `wanted` (a plan's
    target), promoting there, along the base backup's own timeline."""
    settings = [("restore_command", 'cp "%s/%%f" "%%p"' % wal_dir),
                ("recovery_target_timeline", "current")]
    if wanted["kind"] != "latest":
        value = server_time(wanted["value"]) if wanted["kind"] == "time" else wanted["value"]
        settings += [(TARGET_SETTING[wanted["kind"]], value), ("recovery_target_action", "promote")]
    return settings


def server_time(value):
    """A plan's UTC time as recovery_target_time takes it (it refuses ISO 8601's T and Z)."""
    return utc(value).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def auto_conf(existing, settings):
    """postgresql.auto.conf with `settings` in place of any earlier recovery settings (an interrupted restore's)."""
    kept = [line for line in existing.splitlines()
            if line.split("=", 1)[0].strip() not in RECOVERY_SETTINGS]
    return "\n".join(kept + ["%s = %s" % (name, conf_quote(value)) for name, value in settings]) + "\n"


def space_problem(available, tar_bytes, segments):
    """Why the volume cannot hold the unpacked backup and the segments beside the current data (None: it can)."""
    needed = tar_bytes + len(segments) * SEGMENT_BYTES + SPACE_MARGIN
    if available >= needed:
        return None
    return ("the data volume has %d MiB free and the restore needs %d MiB beside the current data (the base "
            "backup unpacked, %d segments to replay, room to start): the current data is the way back and is "
            "not deleted first. Grow the volume (deploy.yml with a larger postgresql_storage_size) and restore "
            "again" % (available // 2 ** 20, needed // 2 ** 20, len(segments)))


def parse_history(text):
    """[(parent timeline, switch LSN, reason)] of a timeline history file."""
    entries = []
    for line in text.splitlines():
        match = HISTORY_LINE.match(line.strip())
        if match:
            entries.append((int(match.group(1)), match.group(2).upper(), match.group(3).strip()))
    return entries


def reached(reason, wanted):
    """Whether a history file's reason says recovery stopped where `wanted` (a plan's target) asked."""
    kind = wanted["kind"]
    if kind == "latest":
        return reason == "no recovery target specified"
    if kind == "name":
        return reason == 'at restore point "%s"' % wanted["value"]
    if kind == "lsn":
        return re.match(r"^(before|after) LSN [0-9A-Fa-f]+/[0-9A-Fa-f]+$", reason) is not None
    return re.match(r"^(before|after) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", reason) is not None


# In the helper, on the data volume: the restore's directory (the base backup unpacked into pgdata, the segments
# into wal), made private and empty; the KiB free there.
PREPARE_SCRIPT = r"""set -eu
rm -rf "$1"
mkdir -m 700 "$1" "$1/pgdata" "$1/wal"
df -Pk "$1" | awk 'NR==2 {print $4}'"""
# In the helper: the segments as PostgreSQL reads them - decompressed, the one being received when the server
# stopped (.partial) under its own name, padded with zeros to a whole segment (recovery ends at its last record).
WAL_SCRIPT = r"""set -eu
cd "$1"
size=$2
for f in *; do
  case "$f" in
    *.partial) n=${f%.partial}; n=${n%.gz}; gzip -dcf "$f" > "$n.part" 2>/dev/null || true
               truncate -s "$size" "$n.part"; rm -f "$f"; mv "$n.part" "$n" ;;
    *.gz) gzip -d "$f" ;;
  esac
done
ls | wc -l"""
# In the helper: recovery.signal in the unpacked data directory, and postgresql.auto.conf from stdin.
RECOVERY_SCRIPT = r"""set -eu
umask 077
touch "$1/recovery.signal"
cat > "$1/postgresql.auto.conf.new"
mv "$1/postgresql.auto.conf.new" "$1/postgresql.auto.conf"
sync"""
# In the helper: the current data directory aside (the way back), the restored one in its place.
SWAP_SCRIPT = r"""set -eu
data=$1 aside=$2 restored=$3
if [ -e "$data" ]; then mv "$data" "$aside"; else mkdir -m 700 "$aside.none"; fi
mv "$restored" "$data"
sync"""
# In the helper: the restored data directory removed, the old one back, the restore's directory gone.
ROLLBACK_SCRIPT = r"""set -eu
data=$1 aside=$2 work=$3
if [ -d "$aside" ]; then rm -rf "$data"; mv "$aside" "$data"; fi
if [ -d "$aside.none" ]; then rm -rf "$data" "$aside.none"; fi
rm -rf "$work"
sync"""
# In the archiver: the system's archive moved, whole, into a before-restore directory (the new timeline streams
# into the emptied one); and back.
ARCHIVE_ASIDE_SCRIPT = r"""set -eu
cd "$1"
mkdir "$2"
for f in *; do if [ -f "$f" ]; then mv "$f" "$2/"; fi; done"""
ARCHIVE_BACK_SCRIPT = r"""set -eu
cd "$1"
if [ -d "$2" ]; then
  for f in "$2"/*; do if [ -f "$f" ]; then mv "$f" .; fi; done
  rmdir "$2"
fi"""


class PostgresqlRestore(object):
    """One point-in-time restore of the StatefulSet `statefulset` (pod 0, volume data-<name>-0), from `plan`.

    archive: the WalArchive in the archiver's pod; archiver: its StatefulSet's name; paths: {volume, data}
    (where the volume is mounted in the server's container, and its data directory)."""

    def __init__(self, kube, namespace, statefulset, plan, archive, archiver, paths, psql_options, clients=(),
                 check=None, timeout=600):
        self.kube, self.configuration = kube, kube.configuration
        self.namespace, self.name = namespace, statefulset
        self.plan, self.archive, self.archiver = plan, archive, archiver
        self.volume, self.data = paths["volume"], paths["data"]
        self.psql_options = psql_options
        self.clients, self.check, self.timeout = list(clients), check, timeout
        self.pod = first_pod(statefulset)
        self.stamp = index.utc_now().strftime(index.STAMP_FORMAT)
        self.work = "%s/.restore-%s" % (self.volume, self.stamp)
        self.aside = "%s/.pre-restore-%s" % (self.volume, self.stamp)
        self.archive_aside = "before-restore-%s" % self.stamp
        self.helper = HelperPod(kube, namespace, "%s-restore-%s" % (statefulset, self.stamp.lower()), statefulset,
                                "data-%s" % self.pod, self.volume, deadline=4 * timeout + 600, timeout=timeout)
        self.recorder = StateRecorder(kube.apps, namespace, statefulset)
        self.steps, self.started, self.down_since = [], time.monotonic(), None
        self.replicas = self.archiver_replicas = None
        self.client_replicas = {}
        self.data_moved = self.archive_moved = False
        self.signals = self.watch = None

    # -- bookkeeping ------------------------------------------------------
    def step(self, text):
        self.steps.append("%6.1fs %s" % (time.monotonic() - self.started, text))

    def phase(self, name):
        self.recorder.update(phase=name, steps=self.steps[-3:], data_moved=self.data_moved,
                             archive_moved=self.archive_moved)

    def wait(self, what, condition):
        wait_for(what, condition, self.timeout)

    def helper_sh(self, script, args=(), stdin=None):
        command = ["sh", "-c", script, "sh"] + [str(arg) for arg in args]
        rc, out, err = run(self.configuration, self.namespace, self.helper.name, HELPER, command,
                           stdin_data=stdin, timeout=self.timeout)
        if rc != 0:
            raise PostgresqlRestoreError("in the helper pod: %s" % err.decode("utf-8", "replace").strip()[-500:])
        return out.decode("utf-8", "replace")

    def server_psql(self):
        return Psql(self.configuration, self.namespace, self.pod, timeout=60, **self.psql_options)

    def statefulset_replicas(self, name):
        return self.kube.apps.read_namespaced_stateful_set(name, self.namespace).spec.replicas or 0

    def read_first_pod(self, statefulset):
        return read_pod(self.kube, self.namespace, first_pod(statefulset))

    def stopped(self, statefulset):
        return is_stopped(self.read_first_pod(statefulset))

    # -- the procedure ----------------------------------------------------
    def run(self, backup_dir):
        """Restore; roll back on any failure, signal or loss of the controller. Holds the backup directory's lock
        (retention cannot remove the base backup or the segments being restored)."""
        self.started = time.monotonic()
        with Signals(shielded=True) as signals:
            self.signals = signals
            with index.InstanceLock(backup_dir):
                return self.claimed_run()

    def claimed_run(self):
        sts = self.kube.apps.read_namespaced_stateful_set(self.name, self.namespace)
        image = instance_image(sts, SERVER_CONTAINER)
        self.replicas = sts.spec.replicas or 1
        self.archiver_replicas = self.statefulset_replicas(self.archiver)
        self.client_replicas = deployment_replicas(self.kube.apps, self.namespace, self.clients)
        self.recorder.claim(self.recorded("preparing"))
        with Watch(self.recorder) as watch:
            self.watch = watch
            try:
                self.signals.unshield()
                verified = self.procedure(image)
            except BaseException as exc:  # RestoreInterrupted included: every way out rolls back
                self.signals.shielded = True
                reason = self.reason(exc)
                self.step("FAILED: %s" % reason)
                raise RestoreError("%s; %s" % (reason, self.rollback(image)))
            self.signals.shielded = True  # verified: finishing is shorter and safer than undoing
            ready = time.monotonic()
            self.phase("finishing")
            self.finish()
        return dict(verified, rto_seconds=round(ready - self.started, 1), steps=self.steps,
                    downtime_seconds=round(ready - self.down_since, 1))

    def recorded(self, phase):
        return {"id": self.stamp, "backup": self.plan["backup"], "target": self.plan["target"], "phase": phase,
                "store": "postgresql", "replicas": self.replicas, "archiver": self.archiver,
                "archiver_replicas": self.archiver_replicas, "clients": self.client_replicas,
                "aside": self.aside, "work": self.work, "archive_aside": self.archive_aside,
                "archive_dir": self.archive.directory, "system": self.plan["system_identifier"],
                "helper": self.helper.name, "data_moved": False, "archive_moved": False,
                "started_at": index.iso(index.utc_now())}

    def reason(self, exc):
        if isinstance(exc, RestoreInterrupted) and self.watch is not None and self.watch.lost_controller:
            return "interrupted: the ansible-playbook that started the restore is gone"
        return "%s" % exc

    def procedure(self, image):
        self.stop()
        segments = self.segments_now()
        self.helper.start(image)
        self.step("helper pod %s running" % self.helper.name)
        self.unpack(segments)
        self.swap()
        self.set_archive_aside()
        return self.start_and_verify()

    def stop(self):
        """Clients and server stopped; the archiver keeps running and receives the server's last WAL."""
        self.phase("stopping")
        self.down_since = time.monotonic()
        scale_deployments(self.kube.apps, self.namespace, dict((name, 0) for name in self.client_replicas))
        scale_statefulset(self.kube.apps, self.namespace, self.name, 0)
        self.wait("the server pod %s to stop" % self.pod, lambda: self.stopped(self.name))
        self.step("server stopped (StatefulSet 0, clients %s 0)" % (", ".join(self.clients) or "none"))

    def segments_now(self):
        """The plan's segments as the archive holds them now that the server is stopped (the newest may have grown,
        and a restore to the latest state takes what the server wrote until it stopped), and the timeline history
        files (recovery reads the backup's timeline's, and numbers the new one past every one it finds)."""
        system, first = self.plan["system_identifier"], self.plan["segments"][0]
        target_lsn = self.plan["target"].get("lsn") if self.plan["target"]["kind"] in ("lsn", "name") else None
        listing = self.settled_listing()
        segments = needed_segments(live_segments(listing, system), first, target_lsn)
        histories = sorted(path.split("/")[1] for path, dummy in listing
                           if path.startswith(system + "/") and HISTORY_FILE.match(path.split("/", 1)[1]))
        self.step("%d segments to replay, %s to %s" % (len(segments), segments[0], segments[-1]))
        return segments + histories

    def settled_listing(self):
        """The archive's listing once two readings a second apart agree: the server's shutdown sends its last WAL
        (the shutdown checkpoint) to the archiver, which writes it as it arrives."""
        before = self.archive.listing()
        for dummy in range(30):
            time.sleep(1)
            now = self.archive.listing()
            if now == before:
                return now
            before = now
        raise PostgresqlRestoreError("the WAL archive still changes 30 s after the server stopped")

    def unpack(self, segments):
        self.phase("unpacking")
        available = int(self.helper_sh(PREPARE_SCRIPT, [self.work]).strip() or 0) * 1024
        problem = space_problem(available, self.plan["tar_bytes"], segments)
        if problem:
            raise PostgresqlRestoreError(problem)
        sent = self.send_base_backup()
        self.step("base backup %s unpacked (%d bytes of tar, %.1f MB/s)" % (
            self.plan["backup"], sent["bytes"], sent["bytes"] / 1e6 / max(sent["seconds"], 0.001)))
        count = self.send_segments(segments)
        self.step("%s segments in %s/wal" % (count, self.work))
        settings = recovery_settings(self.plan["target"], self.work + "/wal")
        existing = self.helper_sh('cat "$1/postgresql.auto.conf" 2>/dev/null || true', [self.work + "/pgdata"])
        self.helper_sh(RECOVERY_SCRIPT, [self.work + "/pgdata"], stdin=auto_conf(existing, settings).encode())
        self.step("recovery settings written: %s" % ", ".join("%s = %s" % item for item in settings[1:]))

    def send_base_backup(self):
        """The base backup, decompressed here, into tar -x in the helper."""
        start, sent = time.monotonic(), 0
        with PodExec(self.configuration, self.namespace, self.helper.name, HELPER,
                     ["tar", "-x", "-f", "-", "-C", self.work + "/pgdata"], stdin=True, timeout=self.timeout) as session:
            with open(self.plan["file"], "rb") as handle:
                reader = handle if self.plan["file"].endswith(".tar") else \
                    zstandard.ZstdDecompressor().stream_reader(handle)
                while True:
                    chunk = reader.read(STDIN_FRAME_BYTES)
                    if not chunk:
                        break
                    session.send(chunk)
                    sent += len(chunk)
            session.close_stdin()
            rc = session.stream(lambda chunk: None)
            if rc != 0:
                raise PostgresqlRestoreError("unpacking base backup %s in the helper failed (%d): %s" % (
                    self.plan["backup"], rc, stderr_tail(session)))
        if sent != self.plan["tar_bytes"]:
            raise PostgresqlRestoreError("base backup %s decompressed to %d bytes, its manifest says %d"
                                         % (self.plan["backup"], sent, self.plan["tar_bytes"]))
        return {"bytes": sent, "seconds": time.monotonic() - start}

    def send_segments(self, segments):
        """The segments from the archiver's pod into the helper, as one tar relayed through here (the names on
        tar's stdin: thousands of them would make a long exec request)."""
        configuration, namespace, pod, container = self.archive.where
        source = ["tar", "-c", "-f", "-", "-C", self.system_dir(), "-T", "-"]
        with PodExec(configuration, namespace, self.helper.name, HELPER,
                     ["tar", "-x", "-f", "-", "-C", self.work + "/wal"], stdin=True, timeout=self.timeout) as sink:
            with PodExec(configuration, namespace, pod, container, source, stdin=True, timeout=self.timeout) as tar:
                tar.send("".join(name + "\n" for name in segments).encode())
                tar.close_stdin()
                rc = tar.stream(sink.send)
                if rc != 0:
                    raise PostgresqlRestoreError("reading the segments in the archiver's pod failed (%d): %s" % (
                        rc, stderr_tail(tar)))
            sink.close_stdin()
            rc = sink.stream(lambda chunk: None)
            if rc != 0:
                raise PostgresqlRestoreError("writing the segments in the helper failed (%d): %s" % (
                    rc, stderr_tail(sink)))
        return self.helper_sh(WAL_SCRIPT, [self.work + "/wal", SEGMENT_BYTES]).strip()

    def swap(self):
        self.data_moved = True  # from here a failure must put the old data back
        self.phase("swapping")
        self.helper_sh(SWAP_SCRIPT, [self.data, self.aside, self.work + "/pgdata"])
        self.step("old data directory set aside in %s; the base backup is the data directory" % self.aside)
        self.helper.delete(until_gone=True)

    def set_archive_aside(self):
        """The new timeline branches off behind the archive's newest segment: the archiver starts again from an
        empty directory, on the slot the restored server gets (the archive so far kept in before-restore-*)."""
        self.archive_moved = True
        self.phase("archive-aside")
        self.archive_shell(ARCHIVE_ASIDE_SCRIPT, [self.system_dir(), self.archive_aside])
        scale_statefulset(self.kube.apps, self.namespace, self.archiver, 0)
        self.wait("the WAL archiver to stop", lambda: self.stopped(self.archiver))
        self.step("archive of system %s set aside in %s; archiver stopped"
                  % (self.plan["system_identifier"], self.archive_aside))

    def system_dir(self):
        return "%s/%s" % (self.archive.directory, self.plan["system_identifier"])

    def archive_shell(self, script, args):
        configuration, namespace, pod, container = self.archive.where
        return run_shell(configuration, namespace, pod, container, script, timeout=self.timeout, args=args)

    def start_and_verify(self):
        self.phase("verifying")
        scale_statefulset(self.kube.apps, self.namespace, self.name, self.replicas)
        psql = self.server_psql()
        self.wait_for_promotion(psql)
        self.step("server recovered and promoted")
        verified = self.verify(psql)
        self.wait("pod %s to be Ready" % self.pod, lambda: pod_state(
            self.read_first_pod(self.name), SERVER_CONTAINER)[1])
        self.step("server Ready")
        return verified

    def wait_for_promotion(self, psql):
        def promoted():
            pod = self.read_first_pod(self.name)
            statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or []
            if any(status.get("restartCount") for status in statuses if status.get("name") == SERVER_CONTAINER):
                # The restarted container logs the same refusal (the previous run's log may be gone already).
                raise PostgresqlRestoreError("the server stopped during recovery: %s" % log_tail(
                    self.kube.core, self.namespace, self.pod, SERVER_CONTAINER, lines=20))
            if not pod_state(pod, SERVER_CONTAINER)[0]:
                return False
            try:
                return psql.rows("SELECT pg_is_in_recovery()::text AS r")[0]["r"] == "false"
            except DatastoresError:
                return False
        try:
            self.wait("the server to recover to the target and promote", promoted)
        except TimedOut as exc:
            raise PostgresqlRestoreError("%s; last log lines: %s" % (exc, log_tail(
                self.kube.core, self.namespace, self.pod, SERVER_CONTAINER, lines=20)))

    def verify(self, psql):
        """The new timeline's history names the target; the server takes a write; the check table's rows."""
        row = psql.rows("SELECT pg_walfile_name(pg_current_wal_lsn()) AS w, txid_current()::text AS x")[0]
        timeline = int(row["w"][:8], 16)
        history = psql.rows("SELECT pg_read_file('pg_wal/%08X.history') AS h" % timeline)[0]["h"]
        entries = parse_history(history)
        if not entries or not reached(entries[-1][2], self.plan["target"]):
            raise PostgresqlRestoreError("recovery did not stop where asked: timeline %d's history says %r"
                                         % (timeline, entries[-1][2] if entries else history[:200]))
        self.step("timeline %d from %s: %s; a write accepted (transaction %s)"
                  % (timeline, entries[-1][1], entries[-1][2], row["x"]))
        rows = None
        if self.check:
            rows = int(psql.rows("SELECT count(*)::text AS n FROM %s" % self.check["table"],
                                 database=self.check["database"])[0]["n"])
            self.step("%s.%s holds %d rows" % (self.check["database"], self.check["table"], rows))
        result = {"timeline": timeline, "switch_lsn": entries[-1][1], "stop_reason": entries[-1][2],
                  "check_rows": rows}
        psql.script("".join("ALTER SYSTEM RESET %s;\n" % name for name in RECOVERY_SETTINGS)
                    + "SELECT pg_reload_conf();\n")
        self.step("recovery settings reset")
        return result

    def finish(self):
        """Verified: the old data directory and the restore's files go; archiver and clients start again."""
        rc, dummy, err = run(self.configuration, self.namespace, self.pod, SERVER_CONTAINER,
                             ["rm", "-rf", self.aside, self.aside + ".none", self.work], timeout=self.timeout)
        self.step("old data directory %s" % ("removed" if rc == 0 else "NOT removed: %s" % err.decode().strip()))
        scale_statefulset(self.kube.apps, self.namespace, self.archiver, self.archiver_replicas)
        scale_deployments(self.kube.apps, self.namespace, self.client_replicas)
        self.step("archiver and clients scaled back")
        self.recorder.clear()
        if self.archiver_replicas:
            self.step(self.archiver_streaming())

    def archiver_streaming(self):
        """Whether the archiver streams the new timeline again (Ready: it receives a segment); the restore stands
        either way, so a slow archiver is reported, not a failure."""
        try:
            self.wait("the WAL archiver to stream", lambda: pod_state(self.read_first_pod(self.archiver), ARCHIVER_CONTAINER)[1])
        except TimedOut:
            return "the WAL archiver does NOT stream yet: see its log (kubectl logs %s)" % first_pod(self.archiver)
        return "the WAL archiver streams the new timeline"

    def rollback(self, image):
        """Put the old data directory and archive back and start everything as it was; what it did, for the
        message."""
        try:
            state = self.recorder.state
            self.recorder.update(phase="rolling-back", interrupted_in=state.get("interrupted_in") or state["phase"])
            if self.down_since is None:
                self.recorder.clear()
                return "nothing was changed: the server kept running on its data"
            scale_statefulset(self.kube.apps, self.namespace, self.name, 0)
            self.wait("the server pod to stop", lambda: self.stopped(self.name))
            if not self.helper.usable():
                self.helper.start(image)
            self.helper_sh(ROLLBACK_SCRIPT, [self.data, self.aside, self.work])
            self.helper.delete(until_gone=True)
            if self.archive_moved:
                scale_statefulset(self.kube.apps, self.namespace, self.archiver, self.archiver_replicas)
                self.wait("the WAL archiver to run", lambda: is_running(self.read_first_pod(self.archiver)))
                self.archive_shell(ARCHIVE_BACK_SCRIPT, [self.system_dir(), self.archive_aside])
            scale_statefulset(self.kube.apps, self.namespace, self.name, self.replicas)
            self.wait("pod %s to be Ready after the rollback" % self.pod, lambda: pod_state(
                self.read_first_pod(self.name), SERVER_CONTAINER)[1])
            scale_statefulset(self.kube.apps, self.namespace, self.archiver, self.archiver_replicas)
            scale_deployments(self.kube.apps, self.namespace, self.client_replicas)
            self.recorder.clear()
        except BaseException as exc:  # the message must say the instance needs hands
            return ("ROLLBACK FAILED (%s): run `ansible-playbook playbooks/restore.yml -e store=postgresql -e "
                    "rollback=yes`, or follow docs/dr-runbook.md 'PostgreSQL: manual rollback'; old data directory "
                    "in %s on volume data-%s" % (exc, self.aside, self.pod))
        return "rolled back: the server runs on its previous data"


STATE_KEYS = ("replicas", "archiver", "archiver_replicas", "clients", "aside", "work", "archive_aside",
              "archive_dir", "system", "helper", "phase")


def refuse_beside_a_recorded_restore(kube, namespace, statefulset, doing=None):
    """RestoreBusy when a restore (running, or interrupted and not rolled back) is recorded on the StatefulSet, for
    a new restore (doing None) or `doing`: checked before anything else reads the instance, whose server and
    archiver such a restore may have stopped."""
    recorded = read_state(kube.apps.read_namespaced_stateful_set(statefulset, namespace))
    if recorded is None:
        return
    target = "%s/%s" % (namespace, statefulset)
    if doing is None:
        raise RestoreBusy(busy_message(recorded, target, rollback_command=ROLLBACK_COMMAND))
    raise RestoreBusy(busy_for(doing, recorded, target, rollback_command=ROLLBACK_COMMAND))


def rollback_interrupted(kube, namespace, statefulset, archiver_container, psql_options, paths, timeout):
    """Undo (or, once verified, finish) a restore whose process is gone, from the state it recorded."""
    sts = kube.apps.read_namespaced_stateful_set(statefulset, namespace)
    state = read_state(sts)
    if state is None:
        return {"changed": False, "msg": "no restore is recorded on %s/%s: nothing to roll back"
                % (namespace, statefulset)}
    if heartbeat_age(state) < STALE_SECONDS:
        raise RestoreBusy("a restore of %s/%s is still running (heartbeat %ds ago, %s): it rolls back by itself "
                          "if it fails; wait for it" % (namespace, statefulset, heartbeat_age(state),
                                                        state.get("owner")))
    missing = [key for key in STATE_KEYS if key not in state]
    if state.get("store") != "postgresql" or missing:
        raise RestoreError("the restore recorded on %s/%s is not a PostgreSQL one this collection can undo "
                           "(%s): follow docs/dr-runbook.md 'PostgreSQL: manual rollback'"
                           % (namespace, statefulset, json.dumps(state)[:300]))
    archive = WalArchive(kube.configuration, namespace, first_pod(state["archiver"]), archiver_container,
                         state["archive_dir"])
    plan = {"backup": state.get("backup"), "target": state.get("target"), "system_identifier": state["system"]}
    restore = PostgresqlRestore(kube, namespace, statefulset, plan, archive, state["archiver"], paths, psql_options,
                                timeout=timeout)
    restore.replicas, restore.archiver_replicas = state["replicas"], state["archiver_replicas"]
    restore.client_replicas = state["clients"]
    restore.aside, restore.work, restore.archive_aside = state["aside"], state["work"], state["archive_aside"]
    restore.helper = HelperPod(kube, namespace, state["helper"], statefulset, "data-%s" % restore.pod, restore.volume,
                               deadline=4 * timeout + 600, timeout=timeout)
    restore.data_moved, restore.archive_moved = state.get("data_moved", True), state.get("archive_moved", True)
    phase = state.get("interrupted_in") if state["phase"] == "rolling-back" else state["phase"]
    restore.down_since = None if phase == "preparing" else time.monotonic()
    restore.steps.append("taking over %s" % describe(state))
    restore.recorder.adopt(state)
    with Signals(shielded=True):  # a rollback is not interrupted halfway
        if state["phase"] == "finishing":
            restore.finish()
            return {"changed": True, "phase": state["phase"], "msg": "the interrupted restore of %s had been "
                    "verified: kept the restored data, started the archiver and clients as they were"
                    % state.get("backup")}
        outcome = restore.rollback(instance_image(sts, SERVER_CONTAINER))
    if outcome.startswith("ROLLBACK FAILED"):
        raise RestoreError(outcome)
    return {"changed": True, "phase": state["phase"], "msg": "interrupted restore of %s (phase %s): %s"
            % (state.get("backup"), state["phase"], outcome)}
