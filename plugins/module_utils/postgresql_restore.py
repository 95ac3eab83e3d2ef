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

import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import SEGMENT_BYTES

# The recovery settings the restore writes, reset with ALTER SYSTEM once the server is promoted.
RECOVERY_SETTINGS = ("restore_command", "recovery_target_time", "recovery_target_lsn", "recovery_target_name",
                     "recovery_target_action", "recovery_target_timeline")
TARGET_SETTING = {"time": "recovery_target_time", "lsn": "recovery_target_lsn", "name": "recovery_target_name"}
# Room the unpacked backup and the segments need on the volume, beyond their own sizes (a checkpoint's WAL, the
# server's start).
SPACE_MARGIN = 256 * 1024 * 1024
HISTORY_LINE = re.compile(r"^(\d+)\s+([0-9A-Fa-f]+/[0-9A-Fa-f]+)\s+(.*)$")


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
        settings += [(TARGET_SETTING[wanted["kind"]], wanted["value"]), ("recovery_target_action", "promote")]
    return settings


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
