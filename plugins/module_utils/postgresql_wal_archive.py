# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WAL archive's retention (the postgresql_wal_archive_prune module's logic).

The archive's volume holds <system identifier>/<segment>[.gz][.partial], the
segments set aside at a gap in <system identifier>/before-gap-<UTC>/, and
timeline history files. A segment is needed by a base backup when it is at or
after the backup's first segment, whatever its timeline: recovery from the
backup reads from there on. So, per system, everything before the oldest kept
base backup's first segment goes; a system no kept base backup is of is left
alone and reported (its WAL is no use without one, but deleting a whole system's
archive is the operator's call); so are history files, the partial segment
being received and anything the archiver did not name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell

SEGMENT = re.compile(r"^[0-9A-F]{8}(?P<position>[0-9A-F]{16})(?:\.gz)?$")
# Set aside at a gap, the segment that was being received will never be completed.
SET_ASIDE_SEGMENT = re.compile(r"^[0-9A-F]{8}(?P<position>[0-9A-F]{16})(?:\.gz)?(?:\.partial)?$")
SYSTEM = re.compile(r"^[0-9]{1,20}$")
SET_ASIDE = re.compile(r"^before-gap-[0-9A-Za-z]+$")
LIST_SCRIPT = 'cd "$1" && find . -type f -printf "%s %P\\n"'
REMOVE_SCRIPT = 'cd "$1" && shift && rm -f -- "$@" && find . -mindepth 2 -type d -name "before-gap-*" -empty -delete'
# Paths per rm: well under any argument limit (each is at most ~70 bytes).
REMOVE_BATCH = 500


class WalArchiveError(DatastoresError):
    """The archive could not be read or pruned; nothing or only whole files were removed."""


def keep_points(entries, kept=None):
    """{system identifier: first segment of its oldest kept base backup} from a listing of backups: its good base
    backups, or those of them whose ids are in `kept` when given."""
    points = {}
    for entry in entries:
        document = entry["document"] or {}
        if entry["status"] != "ok" or document.get("kind") != "base" or not document.get("wal_segments"):
            continue
        if kept is not None and entry["id"] not in kept:
            continue
        system, first = str(document["system_identifier"]), document["wal_segments"][0]
        if system not in points or first[8:] < points[system][8:]:
            points[system] = first
    return points


def parse_listing(text):
    """[(relative path, size)] from `find -printf "%s %P\\n"` output."""
    files = []
    for line in text.splitlines():
        size, dummy, path = line.partition(" ")
        if path and size.isdigit():
            files.append((path, int(size)))
    return files


def removable(path, points):
    """Whether the archive's file at `path` is older than every kept base backup of its system."""
    parts = path.split("/")
    if len(parts) not in (2, 3) or not SYSTEM.match(parts[0]) or parts[0] not in points:
        return False
    if len(parts) == 3 and not SET_ASIDE.match(parts[1]):
        return False
    match = (SET_ASIDE_SEGMENT if len(parts) == 3 else SEGMENT).match(parts[-1])
    return bool(match) and match.group("position") < points[parts[0]][8:]


def prune_plan(files, points):
    """(remove, keep, unused): the files to remove, those kept, and {system: bytes} of systems without a kept
    base backup."""
    remove, keep, unused = [], [], {}
    for path, size in files:
        system = path.split("/", 1)[0]
        if removable(path, points):
            remove.append((path, size))
        else:
            keep.append((path, size))
            if SYSTEM.match(system) and system not in points:
                unused[system] = unused.get(system, 0) + size
    return remove, keep, unused


class WalArchive(object):
    """The archive on the volume of the archiver's pod `pod` (container `container`), mounted at `directory`."""

    def __init__(self, configuration, namespace, pod, container, directory):
        self.where = (configuration, namespace, pod, container)
        self.directory = directory

    def listing(self):
        try:
            return parse_listing(run_shell(*self.where, script=LIST_SCRIPT, args=[self.directory]))
        except DatastoresError as exc:
            raise WalArchiveError("cannot list the WAL archive: %s" % exc)

    def remove(self, paths):
        for start in range(0, len(paths), REMOVE_BATCH):
            try:
                run_shell(*self.where, script=REMOVE_SCRIPT, args=[self.directory] + paths[start:start + REMOVE_BATCH])
            except DatastoresError as exc:
                raise WalArchiveError("removed %d of %d segments, then: %s" % (start, len(paths), exc))


def summary(files):
    return "%d files, %d bytes" % (len(files), sum(size for dummy, size in files))


def prune(archive, backup_directory, cluster, check_mode, kept=None):
    """Apply the retention to `archive` from the base backups in `backup_directory` (those in `kept` only, when
    given): the module's result.

    Under the instance's lock: no base backup is published or deleted meanwhile."""
    if not os.path.isdir(backup_directory):
        return apply(archive, {}, check_mode)
    with index.InstanceLock(backup_directory):
        return apply(archive, keep_points(index.list_backups(backup_directory, cluster=cluster), kept), check_mode)


def apply(archive, points, check_mode):
    files = archive.listing()
    remove, keep, unused = prune_plan(files, points)
    if remove and not check_mode:
        archive.remove([path for path, dummy in remove])
    return {"changed": bool(remove), "removed": [path for path, dummy in remove],
            "removed_bytes": sum(size for dummy, size in remove), "kept_from": points,
            "kept_bytes": sum(size for dummy, size in keep), "unused_systems": unused,
            "diff": {"before": summary(files) + "\n", "after": summary(keep) + "\n"}}
