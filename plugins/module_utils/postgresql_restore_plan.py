# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which base backup a PostgreSQL restore starts from, and why a target cannot be reached.

The input is the recovery windows of postgresql_wal_archive.recovery_windows:
per base backup, from its end (LSN, publication time) to the newest commit the
archive holds, or the problem that keeps it from rolling forward. A target is
the latest state, a time, an LSN or a named restore point; the plan is the
newest base backup whose window holds the target (the least WAL to replay).
Every refusal says what the windows do hold and what to do, and is decided
before anything is touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.backup_index import sha256_file
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_basebackup import (
    parse_lsn, wal_segment_number)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    SEGMENT_BYTES, live_segments, recovery_windows)

LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
# recovery_target_name is at most 63 bytes (NAMEDATALEN - 1) and pg_create_restore_point takes any text.
RESTORE_POINT_MAX = 63
KINDS = ("latest", "time", "lsn", "name")


class RestorePlanError(DatastoresError):
    """The target cannot be reached from the backups and the archive: nothing was touched."""


def utc(text):
    """An ISO 8601 time with its offset ('Z' or +hh:mm) as an aware UTC datetime; refuses a time without one."""
    value = text.strip().replace(" ", "T", 1)
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise RestorePlanError("%r is not a time: give it as ISO 8601 with its offset, e.g. "
                               "2026-12-07T06:30:00Z or 2026-12-07 07:30:00+01:00" % text)
    if parsed.tzinfo is None:
        raise RestorePlanError("%r has no offset: the servers' clocks and the backups' times are UTC, say which "
                               "time you mean (append Z for UTC, or +01:00...)" % text)
    return parsed.astimezone(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def target(kind, value):
    """The validated target: {kind, value} with the time in UTC ISO form and the LSN upper-case."""
    if kind not in KINDS:
        raise RestorePlanError("the target is one of %s, not %r" % (", ".join(KINDS), kind))
    if kind == "latest":
        return {"kind": kind, "value": None}
    text = "" if value is None else str(value).strip()
    if not text:
        raise RestorePlanError("a %s target needs its value" % kind)
    if kind == "time":
        return {"kind": kind, "value": iso(utc(text))}
    if kind == "lsn":
        if not LSN.match(text):
            raise RestorePlanError("%r is not an LSN (two hexadecimal numbers, e.g. 0/3000148)" % text)
        return {"kind": kind, "value": text.upper()}
    if len(text.encode("utf-8")) > RESTORE_POINT_MAX:
        raise RestorePlanError("a restore point's name is at most %d bytes" % RESTORE_POINT_MAX)
    return {"kind": kind, "value": text}


def whole(windows):
    """The windows that roll forward (no problem, an end), the newest base backup first."""
    return sorted((entry for entry in windows if not entry["problem"] and entry["to_lsn"]),
                  key=lambda entry: (parse_lsn(entry["from_lsn"]), utc(entry["from_time"])), reverse=True)


def extent(windows):
    """What the whole windows hold, for a refusal's message."""
    good = whole(windows)
    if not good:
        return "no base backup can be rolled forward"
    oldest = good[-1]
    times = [entry["to_time"] for entry in good if entry["to_time"]]
    return "the backups and the archive reach from %s (LSN %s, the end of base backup %s) to %s (LSN %s)" % (
        oldest["from_time"], oldest["from_lsn"], oldest["backup"], max(times) if times else "no commit yet",
        good[0]["to_lsn"])


def broken(windows):
    """Why the base backups that cannot roll forward cannot, one line each."""
    return "; ".join("%s: %s" % (entry["backup"], entry["problem"]) for entry in windows if entry["problem"])


def refusal(message, windows):
    why = broken(windows)
    return RestorePlanError("%s; %s%s. Nothing was touched." % (
        message, extent(windows), (" (unusable: %s)" % why) if why else ""))


def holds_time(entry, moment):
    """Recovery to a time stops before the first commit after it: one must be in the archive (else PostgreSQL
    reaches the end of the WAL first and refuses to open)."""
    return entry["to_time"] is not None and utc(entry["from_time"]) <= moment < utc(entry["to_time"])


def holds_lsn(entry, lsn):
    return parse_lsn(entry["from_lsn"]) <= lsn <= parse_lsn(entry["to_lsn"])


def choose(windows, wanted, restore_points=None):
    """(the window to restore from, the target with its LSN where known) for target `wanted` (see target()).

    restore_points: {name: [LSN, ...]} found in the archive, for a named target.
    """
    good = whole(windows)
    kind, value = wanted["kind"], wanted["value"]
    if kind == "latest":
        if not good:
            raise refusal("no base backup rolls forward to the latest state", windows)
        return good[0], dict(wanted, lsn=good[0]["to_lsn"])
    if kind == "time":
        moment = utc(value)
        found = [entry for entry in good if holds_time(entry, moment)]
        commits = [utc(entry["to_time"]) for entry in good if entry["to_time"]]
        if not found and commits and moment >= max(commits):
            raise refusal("no base backup and archive reach %s: no commit after it is in the archive yet (a restore "
                          "to a time stops before the first commit after it); for everything the archive holds, "
                          "restore to the latest state" % value, windows)
        if not found:
            raise refusal("no base backup and archive reach %s" % value, windows)
        return found[0], dict(wanted, lsn=None)
    if kind == "name":
        points = (restore_points or {}).get(value) or []
        if not points:
            raise refusal("the archive holds no restore point named %r" % value, windows)
        if len(points) > 1:
            raise RestorePlanError("the archive holds %d restore points named %r (at %s); PostgreSQL would stop at "
                                   "the first after the base backup, which may not be the one meant: restore to "
                                   "one of those LSNs instead. Nothing was touched."
                                   % (len(points), value, ", ".join(points)))
        lsn_text = points[0]
    else:
        lsn_text = value
    found = [entry for entry in good if holds_lsn(entry, parse_lsn(lsn_text))]
    if not found:
        raise refusal("no base backup and archive reach LSN %s" % lsn_text, windows)
    return found[0], dict(wanted, lsn=lsn_text.upper())


def of_system(windows, system=None):
    """The windows of one database system (LSNs compare only within one): `system`, or that of the newest base
    backup, so that a restore never goes back to an older system because the newest one's backups are broken."""
    if system is None and windows:
        system = max(windows, key=lambda entry: utc(entry["from_time"]))["system_identifier"]
    chosen = [entry for entry in windows if entry["system_identifier"] == str(system)]
    if not chosen:
        raise RestorePlanError("no base backup of database system %s is in the backup directory. Nothing was "
                               "touched." % system)
    return chosen


def needed_segments(segments, first_segment, target_lsn=None):
    """The archive's file names a restore replays, in order: from the base backup's first segment to the one
    holding `target_lsn` (None: to the newest)."""
    first = wal_segment_number(first_segment, SEGMENT_BYTES)
    last = max(segments) if target_lsn is None else min(max(segments), parse_lsn(target_lsn) // SEGMENT_BYTES)
    return [segments[number] for number in range(first, last + 1)]


def backup_problem(entry):
    """Why a base backup's file no longer matches its manifest (None: it matches); reads the whole file."""
    document = entry["document"]
    try:
        size = os.path.getsize(entry["file"])
    except OSError as exc:
        return "its file cannot be read: %s" % exc
    if size != document["bytes"]:
        return "its file holds %d bytes, its manifest says %d" % (size, document["bytes"])
    if sha256_file(entry["file"]) != document["sha256"]:
        return "its file's sha256 differs from its manifest's"
    return None


def restore_points_in(archive, waldump, files, windows):
    """{name: [LSN, ...]} of the restore points after the end of the oldest base backup that rolls forward."""
    good = whole(windows)
    if not good:
        return {}
    segments = live_segments(files, good[-1]["system_identifier"])
    first = parse_lsn(good[-1]["from_lsn"]) // SEGMENT_BYTES
    return archive.restore_points(waldump, good[-1]["system_identifier"],
                                  [segments[number] for number in sorted(segments) if number >= first])


def plan(archive, entries, waldump, kind, value, system=None, backup=None):
    """The postgresql_restore_plan module's result (see its documentation); RestorePlanError when refused.

    backup: the id of the base backup to start from (a plan shown before, confirmed since), else the newest that
    reaches the target."""
    wanted = target(kind, value)
    files = archive.listing()
    found = recovery_windows(archive, entries, waldump, files)
    windows = of_system(found["windows"], system)
    if backup:
        windows = [entry for entry in windows if entry["backup"] == backup]
        if not windows:
            raise RestorePlanError("base backup %s is not among the base backups of this system that the archive "
                                   "holds: plan again. Nothing was touched." % backup)
    points = restore_points_in(archive, waldump, files, windows) if wanted["kind"] == "name" else None
    chosen, wanted = choose(windows, wanted, points)
    entry = [candidate for candidate in entries if candidate["id"] == chosen["backup"]][0]
    problem = backup_problem(entry)
    if problem:
        raise RestorePlanError(
            "base backup %s is the one to restore from, but %s, so it cannot be trusted: move it and its manifest "
            "out of the backup directory and plan again (an older base backup that reaches the target is then "
            "chosen), or take a new base backup. Nothing was touched." % (chosen["backup"], problem))
    first = entry["document"]["wal_segments"][0]
    segments = needed_segments(live_segments(files, chosen["system_identifier"]), first,
                               wanted["lsn"] if wanted["kind"] in ("lsn", "name") else None)
    chosen = dict((key, value) for key, value in chosen.items() if key != "problem")
    return {"changed": False, "windows": found["windows"],
            "plan": dict(chosen, file=entry["file"], bytes=entry["document"]["bytes"],
                         tar_bytes=entry["document"]["tar_bytes"], target=wanted, segments=segments)}
