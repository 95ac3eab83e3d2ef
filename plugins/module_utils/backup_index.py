# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup index: artifacts, manifests, listing, retention, the instance lock.

Layout: <dir>/<cluster>/<namespace>/<name>/<name>-<UTC YYYYmmddTHHMMSSZ>.rdb
and the manifest <same stem>.json beside it. The manifests are the index: a
backup without its manifest does not exist. Files are published by rename
only after every check passed, so a reader never sees a partial backup.

The cluster is part of the path and of every manifest: two clusters that run
the same namespace and name into one backup directory never share a lock, a
retention count or a `latest`. Files are created 0600 in 0700 directories
(configurable): an RDB holds every value of the instance.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import stat

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
HASH_CHUNK = 4 * 1024 * 1024
FILE_MODE = "0600"
DIR_MODE = "0700"
# Files a killed run leaves: the snapshot's download and the manifest's temp file.
LEFTOVER_RE = re.compile(r"^(\..+\.(rdb|tar|tar\.zst)\.partial-\d+|.+\.json\.tmp-\d+)$")
# A backup's data file: a Redis RDB, or a PostgreSQL base backup's tar (zstd-compressed or not).
DATA_SUFFIXES = (".rdb", ".tar.zst", ".tar")
# A cluster id becomes a directory name.
CLUSTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


# The options naming one instance's backups (doc fragment backup_instance).
INSTANCE_ARG_SPEC = dict(
    dest=dict(type="path", required=True),
    cluster=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    name=dict(type="str", required=True),
)
# How backup files and directories are created (doc fragment backup_modes).
MODES_ARG_SPEC = dict(
    file_mode=dict(type="str", default=FILE_MODE),
    dir_mode=dict(type="str", default=DIR_MODE),
)


class BackupIndexError(DatastoresError):
    """A backup directory or manifest cannot be used."""


def instance_dir(base, cluster, namespace, name):
    """The directory of one instance's backups; refuses names that would leave `base`."""
    if not CLUSTER_RE.match(cluster or ""):
        raise BackupIndexError("cluster id %r is not usable as a directory name (letters, digits, '.', '_', '-')"
                               % cluster)
    for part in (namespace, name):
        if not part or "/" in part or part in (".", ".."):
            raise BackupIndexError("%r cannot name a backup directory" % part)
    return os.path.join(base, cluster, namespace, name)


def parse_mode(text, what):
    """An octal permission string ('0600') as an int; only permission bits."""
    try:
        mode = int(str(text), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise BackupIndexError("%s %r is not an octal permission mode like 0600" % (what, text))
    return mode


def make_dirs(path, mode):
    """Create path and its missing parents with mode; the instance directory gets mode even if it existed.

    Directories that existed are otherwise left as they are (the base may be
    shared); the instance directory is the collection's own, and a 0700 mode
    on it keeps older files unreadable to others whatever their own mode.
    """
    missing = []
    head = path
    while head and not os.path.isdir(head):
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            pass
        os.chmod(directory, mode)  # mkdir applies the umask
    if stat.S_IMODE(os.stat(path).st_mode) != mode:
        os.chmod(path, mode)
    if not os.access(path, os.W_OK):
        raise BackupIndexError("the backup directory %s is not writable" % path)


def create_private(path, mode):
    """Open a new file for writing with exactly `mode` (not the umask's); fails if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)
    return os.fdopen(fd, "wb")


def leftovers(directory):
    """Names of the files killed runs left (partial downloads, manifest temp files), sorted."""
    if not os.path.isdir(directory):
        return []
    return [name for name in sorted(os.listdir(directory))
            if LEFTOVER_RE.match(name) and os.path.isfile(os.path.join(directory, name))
            and not os.path.islink(os.path.join(directory, name))]


def clean_leftovers(directory):
    """Remove leftovers(directory); the caller holds the lock. Returns the names removed.

    Under the instance lock no other run of this instance is writing, so every
    such file is a leftover.
    """
    removed = leftovers(directory)
    for name in removed:
        os.unlink(os.path.join(directory, name))
    return removed


def backup_id(name, when):
    return "%s-%s" % (name, when.strftime(STAMP_FORMAT))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomically(path, document, mode=0o600):
    temp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with create_private(temp, mode) as handle:
            handle.write(json.dumps(document, indent=2, sort_keys=False).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    fsync_dir(os.path.dirname(path))


def write_manifest(directory, backup, manifest, data_file, mode):
    """Write a published backup's manifest beside it; without it the data file is removed (no manifest, no
    backup). Returns the manifest's path."""
    path = os.path.join(directory, backup + ".json")
    try:
        write_json_atomically(path, manifest, mode)
    except BaseException:
        os.unlink(data_file)
        raise
    return path


def report_housekeeping(module, run, result):
    """Warn of the entries a backup run left alone as not backups, and return the leftovers it removed."""
    for entry in run.malformed:
        module.warn("%s in %s is not a backup and was left alone: %s (%s)"
                    % (entry["id"], run.directory, entry["status"], entry["reason"]))
    if run.leftovers_removed:
        result["leftovers_removed"] = run.leftovers_removed
    return result


class InstanceLock(object):
    """An exclusive, non-blocking lock per instance directory (flock on .lock)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, ".lock")
        self.handle = None

    def __enter__(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.handle = os.fdopen(fd, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BackupIndexError("another run holds %s (a backup, a retention or a restore of this instance): "
                                       "runs for one instance cannot overlap" % self.path)
            raise
        return self

    def __exit__(self, *exc_info):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


_ENTRY_RE = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}T\d{6}Z)\.(?P<ext>rdb|tar\.zst|tar|json)$")


def list_backups(directory, verify=False, cluster=None):
    """Every backup of one instance, oldest first, as dicts.

    Each entry: id, file (the data file; also as rdb), manifest (path or None),
    document (parsed manifest or None), created (datetime or None), status:
    "ok", "missing-rdb" or "missing-file" (a base backup's tar),
    "no-manifest" (a data file nobody vouches for), "unparseable" (manifest
    unreadable or of the wrong shape), "foreign" (the manifest names another
    cluster than `cluster`) or, with verify, "corrupt" (sha256 or size differs).
    Only "ok" entries are backups; no entry, however malformed, stops the listing.
    """
    if not os.path.isdir(directory):
        return []
    stems = {}
    for filename in os.listdir(directory):
        match = _ENTRY_RE.match(filename)
        if match:
            stem = filename[:-len(match.group("ext")) - 1]
            stems.setdefault(stem, set()).add(match.group("ext"))
    entries = [_entry(directory, stem, exts, verify, cluster) for stem, exts in stems.items()]
    return sorted(entries, key=lambda e: e["id"].rsplit("-", 1)[-1])


def manifest_problem(document):
    """Why a parsed manifest cannot describe a backup, or None when its shape is right."""
    if not isinstance(document, dict):
        return "a manifest is a JSON object, this is %s" % type(document).__name__
    if document.get("format") != MANIFEST_FORMAT:
        return "unknown manifest format %r" % (document.get("format"),)
    sha = document.get("sha256")
    if not isinstance(sha, str) or not re.match(r"^[0-9a-f]{64}$", sha):
        return "sha256 is not a hex digest"
    if not isinstance(document.get("bytes"), int) or isinstance(document.get("bytes"), bool) \
            or document["bytes"] < 0:
        return "bytes is not a size"
    try:
        parse_iso(document.get("finished_at"))
    except (TypeError, ValueError):
        return "finished_at is not a UTC time like 2026-11-22T01:22:33Z"
    if "cluster" in document and not isinstance(document["cluster"], str):
        return "cluster is not a string"
    return None


def _read_manifest(path):
    """(document, problem): the parsed manifest, or why it cannot be used."""
    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read(1024 * 1024).decode("utf-8"))
    except (OSError, ValueError) as exc:
        return None, "manifest cannot be read: %s" % exc
    problem = manifest_problem(document)
    return (None, "malformed manifest: %s" % problem) if problem else (document, None)


def _entry(directory, stem, exts, verify, cluster):
    data = [ext for ext in exts if ext != "json"]
    path = os.path.join(directory, stem + "." + (data[0] if data else "rdb"))
    # "rdb" stays for the Redis callers; "file" is any store's data file.
    entry = {"id": stem, "file": path, "rdb": path, "manifest": None,
             "document": None, "created": None, "status": "ok", "reason": ""}
    if "json" not in exts:
        entry.update(status="no-manifest", reason="a %s without a manifest is not a backup"
                     % os.path.basename(path))
        return entry
    entry["manifest"] = os.path.join(directory, stem + ".json")
    document, problem = _read_manifest(entry["manifest"])
    if not problem and document.get("file", stem + ".rdb") not in [stem + suffix for suffix in DATA_SUFFIXES]:
        problem = "malformed manifest: file %r is not %s with a data file's suffix" % (document.get("file"), stem)
    if problem:
        entry.update(status="unparseable", reason=problem)
        return entry
    entry["document"] = document
    entry["created"] = parse_iso(document["finished_at"])
    entry["file"] = entry["rdb"] = path = os.path.join(directory, document.get("file", stem + ".rdb"))
    if cluster is not None and document.get("cluster") != cluster:
        entry.update(status="foreign", reason="the manifest names cluster %r, this directory holds %r's backups"
                     % (document.get("cluster"), cluster))
        return entry
    if not os.path.isfile(path):
        entry.update(status="missing-rdb" if path.endswith(".rdb") else "missing-file",
                     reason="the manifest's %s file is missing" % os.path.basename(path))
    elif verify:
        size = os.path.getsize(path)
        if size != document["bytes"]:
            entry.update(status="corrupt", reason="size %d, manifest says %d" % (size, document["bytes"]))
        elif sha256_file(path) != document["sha256"]:
            entry.update(status="corrupt", reason="sha256 differs from the manifest")
    return entry


def latest(entries):
    """The newest entry with status ok (verify the listing first for 'still matches')."""
    good = [e for e in entries if e["status"] == "ok"]
    return good[-1] if good else None


def retention_plan(entries, keep_last=None, keep_days=None, now=None):
    """Which backups to delete: (delete, keep, untouched) lists of entries.

    A backup is kept when it is among the keep_last newest good ones or younger
    than keep_days; with both unset nothing is deleted. The newest good backup
    is never deleted. Entries that are not good (unparseable, no manifest...)
    are never deleted: they are returned as untouched, to be reported.
    """
    now = now or utc_now()
    good = [e for e in entries if e["status"] == "ok"]
    untouched = [e for e in entries if e["status"] != "ok"]
    if keep_last is None and keep_days is None:
        return [], good, untouched
    keep_ids = set()
    if keep_last:
        keep_ids.update(e["id"] for e in good[-keep_last:])
    if keep_days is not None:
        horizon = now - datetime.timedelta(days=keep_days)
        keep_ids.update(e["id"] for e in good if e["created"] >= horizon)
    if good:
        keep_ids.add(good[-1]["id"])
    delete = [e for e in good if e["id"] not in keep_ids]
    keep = [e for e in good if e["id"] in keep_ids]
    return delete, keep, untouched


def delete_backup(entry):
    """Remove the manifest first: without it the data file is no longer a backup."""
    for path in (entry["manifest"], entry["file"]):
        if path and os.path.exists(path):
            os.unlink(path)


def public(entry):
    """An entry as returned to Ansible (JSON-friendly)."""
    document = entry["document"] or {}
    return {
        "id": entry["id"], "status": entry["status"], "reason": entry["reason"],
        "file": entry["file"], "rdb": entry["rdb"], "manifest": entry["manifest"],
        "created": iso(entry["created"]) if entry["created"] else None,
        "bytes": document.get("bytes"), "sha256": document.get("sha256"),
        "keys_total": document.get("keys_total"), "cluster": document.get("cluster"),
        "store": document.get("store", "redis"), "end_lsn": document.get("end_lsn"),
        "timeline": document.get("timeline"),
    }
