# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WAL archive's retention and reach (the postgresql_wal_archive_prune and _info modules' logic).

The archive's volume holds <system identifier>/<segment>[.gz][.partial], the
segments set aside at a gap in <system identifier>/before-gap-<UTC>/, and
timeline history files. A segment is needed by a base backup when it is at or
after the backup's first segment, whatever its timeline: recovery from the
backup reads from there on. So, per system, everything before the oldest kept
base backup's first segment goes; a system no kept base backup is of is left
alone and reported (its WAL is no use without one, but deleting a whole system's
archive is the operator's call); so are history files, the partial segment
being received and anything the archiver did not name.

A base backup can be rolled forward from its end through the archive when the
archive holds every segment from the backup's first one to its newest one; how
far is the newest record and commit there, as pg_waldump reads them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError, run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import first_pod, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_basebackup import (
    format_lsn, parse_lsn, wal_segment_number)

SEGMENT = re.compile(r"^[0-9A-F]{8}(?P<position>[0-9A-F]{16})(?:\.gz)?$")
# With the one being received; set aside at a gap, that one will never be completed.
SEGMENT_OR_PARTIAL = re.compile(r"^[0-9A-F]{8}(?P<position>[0-9A-F]{16})(?:\.gz)?(?:\.partial)?$")
SYSTEM = re.compile(r"^[0-9]{1,20}$")
# What the archiver set aside at a gap, and what a restore set aside before the new timeline (restore.yml).
SET_ASIDE = re.compile(r"^before-(gap|restore)-[0-9A-Za-z]+$")
LIST_SCRIPT = 'cd "$1" && find . -type f -printf "%s %P\\n"'
REMOVE_SCRIPT = ('cd "$1" && shift && rm -f -- "$@" && '
                 'find . -mindepth 2 -type d \\( -name "before-gap-*" -o -name "before-restore-*" \\) -empty -delete')
# Paths per rm: well under any argument limit (each is at most ~70 bytes).
REMOVE_BATCH = 500

# The collection's servers are initialised with PostgreSQL's default segment size.
SEGMENT_BYTES = 16 * 1024 * 1024


def scratch_script(name, body):
    """A script run in the archiver's pod with arguments pg_waldump, the system's archive directory, the segment
    size, then its own: `body` runs in that directory, with a scratch directory on the archive's volume (the pod's
    memory is small) removed on exit and unpack FILE, which decompresses FILE there under its plain segment name,
    padded to a whole segment (a partial one decompresses to what was flushed, which may end inside a page:
    pg_waldump reads whole pages, and the zeros after the last record end the WAL as they do on a server)."""
    return r"""set -u
waldump=$1 directory=$2 size=$3
shift 3
cd "$directory" || exit 1
scratch=$(mktemp -d "$directory/../.%s.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT
plain() { n=${1%%.partial}; echo "${n%%.gz}"; }
unpack() {
  [ -f "$scratch/$(plain "$1")" ] && return
  gzip -dcf "$1" > "$scratch/$(plain "$1")" 2>/dev/null
  truncate -s "$size" "$scratch/$(plain "$1")"
}
""" % name + body


# Newest files first: each one's last record and last commit, read by pg_waldump in UTC.
INSPECT_SCRIPT = scratch_script("inspect", r"""for f in "$@"; do
  unpack "$f"
  echo "FILE $f"
  TZ=UTC "$waldump" --path="$scratch" "$(plain "$f")" 2>/dev/null \
    | awk '/ lsn: /{last=$0} /desc: COMMIT /{commit=$0} END{print "LAST " last; print "COMMIT " commit}'
  rm -f "$scratch/$(plain "$f")"
done""")
# Restore points, segment by segment in order: each record that starts in a segment (its own --start/--end), the
# next segment unpacked too so that a record running into it is read whole; at most three unpacked at a time.
POINTS_SCRIPT = scratch_script("points", r"""previous=
while [ $# -ge 4 ]; do
  file=$1 timeline=$2 start=$3 end=$4
  shift 4
  unpack "$file"
  [ $# -ge 4 ] && unpack "$1"
  "$waldump" --path="$scratch" --timeline="$timeline" --rmgr=XLOG --start="$start" --end="$end" 2>/dev/null \
    | grep "desc: RESTORE_POINT "
  [ -n "$previous" ] && rm -f "$scratch/$previous"
  previous=$(plain "$file")
done
exit 0""")
RESTORE_POINT = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: RESTORE_POINT (.*)$")
RECORD_LSN = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),")
COMMIT_TIME = re.compile(r"desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
INSPECTED_FILES = 3


# Doc fragment wal_archiver, the backup instance's options and the Kubernetes auth ones.
ARCHIVER_ARG_SPEC = dict(
    index.INSTANCE_ARG_SPEC,
    archiver_statefulset=dict(type="str", required=True),
    archiver_container=dict(type="str", default="wal-archive"),
    archive_dir=dict(type="str", default="/var/lib/postgresql/wal-archive"),
    **AUTH_ARG_SPEC
)


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
    match = (SEGMENT_OR_PARTIAL if len(parts) == 3 else SEGMENT).match(parts[-1])
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

    def inspect(self, waldump, system, segments):
        """(newest record's LSN, newest commit) of `system`'s archive, {position: name} `segments`."""
        newest_first = [segments[number] for number in sorted(segments, reverse=True)[:INSPECTED_FILES]]
        try:
            text = run_shell(*self.where, script=INSPECT_SCRIPT, timeout=300,
                             args=[waldump, "%s/%s" % (self.directory, system), SEGMENT_BYTES] + newest_first)
        except DatastoresError as exc:
            raise WalArchiveError("cannot read the WAL archive's newest segments: %s" % exc)
        return parse_inspection(text)

    def restore_points(self, waldump, system, names):
        """{name: [LSN, ...]} of the restore points in `system`'s archive files `names` (in WAL order)."""
        args = [waldump, "%s/%s" % (self.directory, system), SEGMENT_BYTES]
        for name in names:
            start = position(name) * SEGMENT_BYTES
            args += [name, int(name[:8], 16), format_lsn(start), format_lsn(start + SEGMENT_BYTES)]
        try:
            text = run_shell(*self.where, script=POINTS_SCRIPT, timeout=600 + 5 * len(names), args=args)
        except DatastoresError as exc:
            raise WalArchiveError("cannot read the restore points of the WAL archive: %s" % exc)
        return parse_restore_points(text)

    def remove(self, paths):
        for start in range(0, len(paths), REMOVE_BATCH):
            try:
                run_shell(*self.where, script=REMOVE_SCRIPT, args=[self.directory] + paths[start:start + REMOVE_BATCH])
            except DatastoresError as exc:
                raise WalArchiveError("removed %d of %d segments, then: %s" % (start, len(paths), exc))


def archiver_state(pod):
    if pod is None:
        return "absent"
    return "running" if (pod.get("status") or {}).get("phase") == "Running" else "not running"


def open_archive(params):
    """(the archiver's state: running, absent or not running; the WalArchive when running, else None)."""
    kube = connect_api(params)
    pod = first_pod(params["archiver_statefulset"])
    state = archiver_state(read_pod(kube, params["namespace"], pod))
    if state != "running":
        return state, None
    return state, WalArchive(kube.configuration, params["namespace"], pod, params["archiver_container"],
                             params["archive_dir"])


def require_archive(params):
    """The WalArchive of a running archiver, or WalArchiveError saying what to do."""
    state, archive = open_archive(params)
    if archive is None:
        raise WalArchiveError("the WAL archiver's pod is %s, so the archive cannot be read: bring it back "
                              "(deploy.yml; the archive is on its own volume) and try again" % state)
    return archive


def run_archive_module(options, body, absent, what, precheck=None):
    """Build a module of the archiver's options and `options`, and exit with body(module, archive, the instance's
    backup directory) when the archiver runs, else with `absent`; each with the archiver's state. With `absent`
    None, an archiver that does not run fails the module. precheck(kube, params), when given, runs first."""
    module = AnsibleModule(argument_spec=dict(ARCHIVER_ARG_SPEC, **options), supports_check_mode=True)
    params = module.params

    def run():
        if precheck is not None:
            precheck(connect_api(params), params)
        if absent is None:
            state, archive = "running", require_archive(params)
        else:
            state, archive = open_archive(params)
        if archive is None:
            return dict(absent, changed=False, archiver=state)
        directory = index.instance_dir(params["dest"], params["cluster"], params["namespace"], params["name"])
        return dict(body(module, archive, directory), archiver=state)
    run_module(module, run, "%s of %s/%s failed" % (what, params["namespace"], params["archiver_statefulset"]))


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


def position(name):
    """The segment's number in the WAL (its timeline aside)."""
    return wal_segment_number(name, SEGMENT_BYTES)


def live_segments(files, system):
    """{position: file name} of the archive's own files of `system` (not those set aside)."""
    segments = {}
    for path, dummy in files:
        parts = path.split("/")
        if len(parts) == 2 and parts[0] == system and SEGMENT_OR_PARTIAL.match(parts[1]):
            segments[position(parts[1])] = max(parts[1], segments.get(position(parts[1]), ""))
    return segments


def gaps(positions):
    """[(last present, next present)] wherever positions are missing between the first and the newest."""
    ordered = sorted(positions)
    return [(before, after) for before, after in zip(ordered, ordered[1:]) if after != before + 1]


def parse_inspection(text):
    """(newest record's LSN, newest commit's (LSN, UTC time)) from INSPECT_SCRIPT's output; None where none."""
    newest, commit = None, None
    for line in text.splitlines():
        if line.startswith("LAST") and newest is None:
            match = RECORD_LSN.search(line)
            newest = match.group(1) if match else None
        elif line.startswith("COMMIT") and commit is None:
            lsn, time = RECORD_LSN.search(line), COMMIT_TIME.search(line)
            if lsn and time:
                commit = (lsn.group(1), time.group(1).replace(" ", "T") + "Z")
    return newest, commit


def parse_restore_points(text):
    """{name: [LSN, ...]} from POINTS_SCRIPT's output (pg_waldump's RESTORE_POINT records), each LSN once."""
    points = {}
    for line in text.splitlines():
        match = RESTORE_POINT.search(line)
        if match:
            lsn = format_lsn(parse_lsn(match.group(1)))
            found = points.setdefault(match.group(2), [])
            if lsn not in found:
                found.append(lsn)
    return points


def name_of(position_number, segments):
    return segments.get(position_number) or "%016X" % position_number


def window(document, segments, newest, commit):
    """How far the base backup of manifest `document` rolls forward through its system's archive."""
    first = position(document["wal_segments"][0])
    result = {"backup": document["id"], "system_identifier": str(document["system_identifier"]),
              "from_lsn": document["end_lsn"], "from_time": document["finished_at"], "to_lsn": None,
              "to_time": None, "problem": None}
    timeline = document["wal_segments"][0][:8]
    streaming = segments[max(segments)][:8] if segments else timeline
    if streaming != timeline:
        # A restore opened a new timeline (and set the archive of the old one aside).
        result["problem"] = "it is on timeline %d and the archive holds timeline %d: restore from a base backup " \
                            "taken since" % (int(timeline, 16), int(streaming, 16))
        return result
    segments = dict((number, name) for number, name in segments.items() if name[:8] == timeline)
    if not segments or first not in segments:
        result["problem"] = "the archive does not hold its first segment %s" % document["wal_segments"][0]
        return result
    holes = gaps([number for number in segments if number >= first])
    if holes:
        before, after = holes[0]
        result["problem"] = "the archive lacks the segments between %s and %s" % (
            name_of(before, segments), name_of(after, segments))
        return result
    result["to_lsn"] = newest
    # A commit before the backup's end is no point to recover to from it.
    if commit and parse_lsn(commit[0]) >= parse_lsn(document["end_lsn"]):
        result["to_time"] = commit[1]
    return result


def recovery_windows(archive, entries, waldump, files=None):
    """The module's result: per system with a good base backup, its archive's extent; per such backup, its window.

    files: the archive's listing when already read."""
    files = archive.listing() if files is None else files
    bases = [entry["document"] for entry in entries
             if entry["status"] == "ok" and (entry["document"] or {}).get("kind") == "base"]
    systems, windows = {}, []
    for system in sorted(set(str(document["system_identifier"]) for document in bases)):
        segments = live_segments(files, system)
        newest, commit = archive.inspect(waldump, system, segments) if segments else (None, None)
        systems[system] = {"segments": len(segments), "newest_lsn": newest,
                           "newest_commit_lsn": commit[0] if commit else None,
                           "newest_commit_time": commit[1] if commit else None,
                           "gaps": [[name_of(before, segments), name_of(after, segments)]
                                    for before, after in gaps(segments)]}
        windows.extend(window(document, segments, newest, commit) for document in bases
                       if str(document["system_identifier"]) == system)
    return {"changed": False, "systems": systems, "windows": windows}
