# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PostgreSQL base backup checked while it streams in, against the server's own manifest.

`pg_basebackup -Ft -D - -X fetch --manifest-checksums=SHA256` writes one tar to stdout: the data directory, the
WAL the backup needs (pg_wal/) and, last, backup_manifest, the server's list of every file with its size and
SHA-256 (itself checksummed). TarCheck reads that tar as it arrives, in a thread of its own fed frame by frame,
and remembers for each file its size and SHA-256 and, for each WAL segment, how many of its pages from the first
one carry a valid header. verify() then proves what pg_verifybackup proves of a plain backup, except the CRC of
each WAL record: the manifest is intact, every file it lists arrived with its size and checksum, nothing else
arrived outside pg_wal/, and every WAL segment of the backup's range is there, whole, of the same system.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import json
import queue
import re
import struct
import tarfile
import threading

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

HASH_CHUNK = 1024 * 1024
TAR_READ = 1024 * 1024  # tarfile reads its stream in pieces of this size (its default, 10 KiB, costs CPU)
# XLOG_PAGE_MAGIC of PostgreSQL 15 (src/include/access/xlog_internal.h); each major version has its own.
WAL_PAGE_MAGIC = {15: 0xD110}
XLP_LONG_HEADER = 0x0002
PAGE_HEADER = struct.Struct("<HHIQI")  # xlp_magic, xlp_info, xlp_tli, xlp_pageaddr, xlp_rem_len
LONG_HEADER_TAIL = struct.Struct("<QII")  # xlp_sysid, xlp_seg_size, xlp_xlog_blcksz, at offset 24
WAL_NAME_RE = re.compile(r"^pg_wal/([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
# Kept whole (everything else is only hashed): small files whose content the backup describes itself with.
KEPT = {"backup_manifest": 256 * 1024 * 1024, "backup_label": 64 * 1024, "global/pg_control": 8192}


class BaseBackupError(DatastoresError):
    """The base backup did not arrive whole, or is not what its manifest says: nothing is published."""


def parse_lsn(text):
    """'16/B374D848' -> the LSN as an integer."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn):
    return "%X/%X" % (lsn >> 32, lsn & 0xFFFFFFFF)


def wal_segment_name(timeline, segment_number, segment_size):
    per_id = 0x100000000 // segment_size
    return "%08X%08X%08X" % (timeline, segment_number // per_id, segment_number % per_id)


def wal_segment_number(name, segment_size):
    return int(name[8:16], 16) * (0x100000000 // segment_size) + int(name[16:24], 16)


def wal_segments(timeline, start_lsn, end_lsn, segment_size):
    """The names of the segments holding WAL from start_lsn up to (not including) end_lsn, in order."""
    last = max(start_lsn, end_lsn - 1)
    return [wal_segment_name(timeline, number, segment_size)
            for number in range(start_lsn // segment_size, last // segment_size + 1)]


class StreamReader(object):
    """A read-only file of the bytes fed to it from another thread (bounded: `frames` chunks in flight)."""

    def __init__(self, frames=256):
        self.queue = queue.Queue(frames)
        self.pieces = collections.deque()
        self.available = 0
        self.ended = False

    def feed(self, chunk):
        self.queue.put(bytes(chunk))

    def end(self):
        self.queue.put(None)

    def read(self, size=-1):
        while not self.ended and (size < 0 or self.available < size):
            chunk = self.queue.get()
            if chunk is None:
                self.ended = True
            else:
                self.pieces.append(chunk)
                self.available += len(chunk)
        size = self.available if size < 0 else min(size, self.available)
        out = bytearray()
        while len(out) < size:
            piece, need = self.pieces[0], size - len(out)
            if len(piece) <= need:
                out += self.pieces.popleft()
            else:
                out += piece[:need]
                self.pieces[0] = piece[need:]
        self.available -= size
        return bytes(out)

    def drain(self):
        """Swallow what is still fed (after the reader failed), so the feeder never blocks."""
        while not self.ended:
            if self.queue.get() is None:
                self.ended = True


class WalPages(object):
    """The header check of one WAL segment's pages, fed in order: how many pages from the first are valid."""

    def __init__(self, name, magic):
        self.name = name
        self.timeline = int(name[:8], 16)
        self.magic = magic
        self.page_size = self.segment_size = None
        self.system_identifier = None
        self.valid_pages = 0
        self.broken = False
        self.pending = b""

    def feed(self, data):
        if self.broken:
            return
        if self.page_size is None:
            self.pending += data
            if len(self.pending) < 40:
                return
            data, self.pending = self.pending, b""
            if not self.read_long_header(data):
                self.broken = True
                return
        else:
            data, self.pending = self.pending + data, b""
        whole = len(data) - len(data) % self.page_size
        for offset in range(0, whole, self.page_size):
            if not self.page_is_valid(data, offset):
                self.broken = True
                return
            self.valid_pages += 1
        self.pending = data[whole:]

    def read_long_header(self, data):
        magic, info, dummy, dummy, dummy = PAGE_HEADER.unpack_from(data, 0)
        if magic != self.magic or not info & XLP_LONG_HEADER:
            return False
        self.system_identifier, self.segment_size, self.page_size = LONG_HEADER_TAIL.unpack_from(data, 24)
        return self.page_size in (1024, 2048, 4096, 8192, 16384, 32768, 65536) and self.segment_size > 0

    def page_is_valid(self, data, offset):
        magic, dummy, timeline, address, dummy = PAGE_HEADER.unpack_from(data, offset)
        expected = self.start() + self.valid_pages * self.page_size
        # A segment may begin with pages of an earlier timeline (the one it branched from).
        return magic == self.magic and address == expected and 0 < timeline <= self.timeline

    def start(self):
        return wal_segment_number(self.name, self.segment_size) * self.segment_size

    def valid_until(self):
        """The LSN up to which this segment's pages are valid."""
        return self.start() + self.valid_pages * self.page_size


class TarCheck(object):
    """Reads a tar from a StreamReader in a thread: each regular file's size and SHA-256, WAL page checks."""

    def __init__(self, reader, major_version=15):
        self.reader = reader
        if major_version not in WAL_PAGE_MAGIC:
            raise BaseBackupError("no WAL page check known for PostgreSQL %s" % major_version)
        self.magic = WAL_PAGE_MAGIC[major_version]
        self.files = {}
        self.kept = {}
        self.wal = {}
        self.error = None
        self.thread = threading.Thread(target=self.run, name="basebackup-check", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def join(self):
        self.thread.join()
        if self.error is not None:
            raise BaseBackupError("the backup's tar cannot be read: %s" % self.error)

    def run(self):
        try:
            with tarfile.open(fileobj=self.reader, mode="r|", bufsize=TAR_READ) as tar:
                for member in tar:
                    if member.isreg():
                        self.read_file(member.name, tar.extractfile(member), member.size)
        except Exception as exc:  # pylint: disable=broad-except  # whatever stops the reader refuses the backup
            self.error = exc
        finally:
            self.reader.drain()

    def read_file(self, name, handle, size):
        digest = hashlib.sha256()
        kept = [] if name in KEPT and size <= KEPT[name] else None
        wal = WalPages(name[len("pg_wal/"):], self.magic) if WAL_NAME_RE.match(name) else None
        while True:
            chunk = handle.read(HASH_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            if kept is not None:
                kept.append(chunk)
            if wal is not None:
                wal.feed(chunk)
        self.files[name] = (size, digest.hexdigest())
        if kept is not None:
            self.kept[name] = b"".join(kept)
        if wal is not None:
            self.wal[name[len("pg_wal/"):]] = wal


def manifest_checksum_ok(text):
    """pg_verifybackup's rule: SHA-256 of every byte up to the line holding "Manifest-Checksum"."""
    last = text.rstrip(b"\n").rfind(b"\n")
    if last < 0:
        return False
    document = json.loads(text.decode("utf-8"))
    return hashlib.sha256(text[:last + 1]).hexdigest() == document.get("Manifest-Checksum")


def parse_label(text):
    """backup_label as a dict of its lines (START WAL LOCATION, CHECKPOINT LOCATION, START TIME, ...)."""
    fields = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


def system_identifier(pg_control):
    """ControlFileData begins with the system identifier."""
    return struct.unpack_from("<Q", pg_control, 0)[0]


def verify(check):
    """The facts of a backup TarCheck read whole, or BaseBackupError naming the first thing wrong."""
    manifest_text = check.kept.get("backup_manifest")
    if manifest_text is None:
        raise BaseBackupError("no backup_manifest at the end of the tar: the stream was cut short")
    try:
        manifest = json.loads(manifest_text.decode("utf-8"))
    except ValueError as exc:
        raise BaseBackupError("backup_manifest is not JSON: %s" % exc)
    if not manifest_checksum_ok(manifest_text):
        raise BaseBackupError("backup_manifest's own checksum does not match its content")
    listed = verify_files(check.files, manifest.get("Files") or [])
    if "backup_label" not in check.kept or "global/pg_control" not in check.kept:
        raise BaseBackupError("backup_label or global/pg_control is missing")
    identifier = system_identifier(check.kept["global/pg_control"])
    ranges = manifest.get("WAL-Ranges") or []
    if not ranges:
        raise BaseBackupError("backup_manifest names no WAL range")
    segments = verify_wal(check.wal, ranges, identifier)
    label = parse_label(check.kept["backup_label"])
    return {
        "files": listed,
        "bytes": sum(size for size, dummy in check.files.values()),
        "system_identifier": str(identifier),
        "timeline": ranges[-1]["Timeline"],
        "start_lsn": ranges[0]["Start-LSN"],
        "end_lsn": ranges[-1]["End-LSN"],
        "wal_segments": segments,
        "checkpoint_lsn": label.get("CHECKPOINT LOCATION"),
        "label_start_time": label.get("START TIME"),
        "manifest_sha256": hashlib.sha256(manifest_text).hexdigest(),
    }


def verify_files(files, entries):
    """Every file the manifest lists arrived with its size and SHA-256; nothing unlisted outside pg_wal/."""
    listed = set()
    for entry in entries:
        path = entry["Path"]
        listed.add(path)
        if path not in files:
            raise BaseBackupError("%s is in the manifest but not in the backup" % path)
        size, digest = files[path]
        if size != entry["Size"]:
            raise BaseBackupError("%s: %d bytes, the manifest says %d" % (path, size, entry["Size"]))
        if entry.get("Checksum-Algorithm") != "SHA256":
            raise BaseBackupError("%s: checksum %s, not SHA256 (pg_basebackup --manifest-checksums=SHA256)"
                                  % (path, entry.get("Checksum-Algorithm")))
        if digest != entry["Checksum"]:
            raise BaseBackupError("%s: SHA-256 differs from the manifest's" % path)
    unlisted = sorted(name for name in files
                      if name not in listed and name != "backup_manifest" and not name.startswith("pg_wal/"))
    if unlisted:
        raise BaseBackupError("files not in the manifest: %s" % ", ".join(unlisted[:5]))
    return len(listed)


def verify_wal(wal, ranges, identifier):
    """Each segment of each range is present, of this system, with valid pages up to the range's end."""
    segment_size = next((pages.segment_size for pages in wal.values() if pages.segment_size), None)
    if segment_size is None and wal:
        raise BaseBackupError("WAL segment %s is damaged: its first page is not a valid header" % min(wal))
    if segment_size is None:
        raise BaseBackupError("the backup's WAL (%s to %s) is missing: pg_wal/ holds no segment"
                              % (ranges[0]["Start-LSN"], ranges[-1]["End-LSN"]))
    names = []
    for each in ranges:
        timeline, start, end = each["Timeline"], parse_lsn(each["Start-LSN"]), parse_lsn(each["End-LSN"])
        for name in wal_segments(timeline, start, end, segment_size):
            names.append(name)
            pages = wal.get(name)
            if pages is None:
                raise BaseBackupError("WAL segment %s (of %s to %s) is missing"
                                      % (name, each["Start-LSN"], each["End-LSN"]))
            if pages.segment_size != segment_size:
                raise BaseBackupError("WAL segment %s is damaged: its first page is not a valid header" % name)
            if pages.system_identifier != identifier:
                raise BaseBackupError("WAL segment %s belongs to another system (%s; pg_control says %s)"
                                      % (name, pages.system_identifier, identifier))
            needed = min(end, (wal_segment_number(name, segment_size) + 1) * segment_size)
            if pages.valid_until() < needed:
                raise BaseBackupError("WAL segment %s is damaged: its valid pages end at %s, the backup needs %s"
                                      % (name, format_lsn(pages.valid_until()), format_lsn(needed)))
    return names
