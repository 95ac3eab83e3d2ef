# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup index: artifacts, manifests, listing, retention, the instance lock.

Layout: <dir>/<namespace>/<name>/<name>-<UTC YYYYmmddTHHMMSSZ>.rdb and the
manifest <same stem>.json beside it. The manifests are the index: a backup
without its manifest does not exist. Files are published by rename only
after every check passed, so a reader never sees a partial backup.
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

MANIFEST_FORMAT = 1
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
HASH_CHUNK = 4 * 1024 * 1024


# The options naming one instance's backups (doc fragment backup_instance).
INSTANCE_ARG_SPEC = dict(
    dest=dict(type="path", required=True),
    namespace=dict(type="str", required=True),
    name=dict(type="str", required=True),
)


class BackupIndexError(Exception):
    """A backup directory or manifest cannot be used."""


def instance_dir(base, namespace, name):
    return os.path.join(base, namespace, name)


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


def write_json_atomically(path, document):
    temp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(temp, "w") as handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    fsync_dir(os.path.dirname(path))


class InstanceLock(object):
    """An exclusive, non-blocking lock per instance directory (flock on .lock)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, ".lock")
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (IOError, OSError) as exc:
            self.handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise BackupIndexError("another backup job holds %s: runs for one instance cannot overlap" % self.path)
            raise
        return self

    def __exit__(self, *exc_info):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


_ENTRY_RE = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}T\d{6}Z)\.(?P<ext>rdb|json)$")


def list_backups(directory, verify=False):
    """Every backup of one instance, oldest first, as dicts.

    Each entry: id, rdb, manifest (path or None), document (parsed manifest or
    None), created (datetime or None), status: "ok", "missing-rdb",
    "no-manifest" (an .rdb nobody vouches for), "unparseable" (manifest
    unreadable) or, with verify, "corrupt" (sha256 or size differs).
    """
    if not os.path.isdir(directory):
        return []
    stems = {}
    for filename in os.listdir(directory):
        match = _ENTRY_RE.match(filename)
        if match:
            stem = filename[:-len(match.group("ext")) - 1]
            stems.setdefault(stem, set()).add(match.group("ext"))
    entries = [_entry(directory, stem, exts, verify) for stem, exts in stems.items()]
    return sorted(entries, key=lambda e: e["id"].rsplit("-", 1)[-1])


def _entry(directory, stem, exts, verify):
    entry = {"id": stem, "rdb": os.path.join(directory, stem + ".rdb"), "manifest": None,
             "document": None, "created": None, "status": "ok", "reason": ""}
    if "json" not in exts:
        entry.update(status="no-manifest", reason="an .rdb without a manifest is not a backup")
        return entry
    entry["manifest"] = os.path.join(directory, stem + ".json")
    try:
        with open(entry["manifest"]) as handle:
            document = json.load(handle)
        if document.get("format") != MANIFEST_FORMAT or "sha256" not in document:
            raise ValueError("unknown manifest format %r" % document.get("format"))
        entry["document"] = document
        entry["created"] = parse_iso(document["finished_at"])
    except (OSError, ValueError, KeyError) as exc:
        entry.update(status="unparseable", reason="manifest cannot be read: %s" % exc)
        return entry
    if "rdb" not in exts:
        entry.update(status="missing-rdb", reason="the manifest's .rdb file is missing")
    elif verify:
        size = os.path.getsize(entry["rdb"])
        if size != document["bytes"]:
            entry.update(status="corrupt", reason="size %d, manifest says %d" % (size, document["bytes"]))
        elif sha256_file(entry["rdb"]) != document["sha256"]:
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
    """Remove the manifest first: without it the .rdb is no longer a backup."""
    for path in (entry["manifest"], entry["rdb"]):
        if path and os.path.exists(path):
            os.unlink(path)


def public(entry):
    """An entry as returned to Ansible (JSON-friendly)."""
    document = entry["document"] or {}
    return {
        "id": entry["id"], "status": entry["status"], "reason": entry["reason"],
        "rdb": entry["rdb"], "manifest": entry["manifest"],
        "created": iso(entry["created"]) if entry["created"] else None,
        "bytes": document.get("bytes"), "sha256": document.get("sha256"),
        "keys_total": document.get("keys_total"),
    }
