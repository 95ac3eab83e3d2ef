# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of an RDB file's format: magic, version, end marker, CRC64.

An RDB file starts with "REDIS" and a 4-digit version (Valkey 8 writes the
same), and
ends with the EOF opcode 0xFF followed by the CRC64 (Jones polynomial,
little-endian) of everything before it; a zero checksum means the server
ran with `rdbchecksum no`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import struct

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

MAGICS = (b"REDIS",)
EOF_OPCODE = 0xFF
_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9, bit-reflected
_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ _POLY if _crc & 1 else _crc >> 1
    _TABLE.append(_crc)


class RdbError(DatastoresError, ValueError):
    """The file is not a complete, intact RDB file."""


def crc64(data, crc=0):
    """Redis' CRC64 (Jones) of data, continuing from crc. Pure Python: ~10 MB/s."""
    table = _TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def header_version(head):
    """RDB version from the first bytes of the file."""
    for magic in MAGICS:
        if head.startswith(magic):
            digits = head[len(magic):len(magic) + 4]
            if len(digits) == 4 and digits.isdigit():
                return int(digits)
    raise RdbError("not an RDB file: it starts with %r, expected REDIS and a 4-digit version" % head[:9])


def check_file(path, crc_max_bytes=64 * 1024 * 1024):
    """Check magic, version and end marker; the CRC64 too for files up to crc_max_bytes.

    Returns dict(rdb_version, checksum, crc64_verified).
    """
    size = os.path.getsize(path)
    if size < 9 + 1 + 8:
        raise RdbError("%s is %d bytes: too short for an RDB file" % (path, size))
    with open(path, "rb") as handle:
        version = header_version(handle.read(10))
        handle.seek(size - 9)
        tail = handle.read(9)
        if tail[0] != EOF_OPCODE:
            raise RdbError("%s does not end with the RDB end marker (truncated?)" % path)
        (checksum,) = struct.unpack("<Q", tail[1:])
        verified = False
        if checksum and size <= crc_max_bytes:
            handle.seek(0)
            crc = 0
            remaining = size - 8
            while remaining:
                chunk = handle.read(min(1024 * 1024, remaining))
                crc = crc64(chunk, crc)
                remaining -= len(chunk)
            if crc != checksum:
                raise RdbError("%s: CRC64 mismatch (file %016x, computed %016x)" % (path, checksum, crc))
            verified = True
    return {"rdb_version": version, "checksum": "%016x" % checksum, "crc64_verified": verified}


def parse_check_rdb(output):
    """What redis-check-rdb/valkey-check-rdb reported: ok, keys, expires, server version."""
    result = {"ok": "RDB looks OK" in output, "keys": None, "expires": None, "already_expired": None,
              "server_version": None}
    match = re.search(r"\[info\] (\d+) keys read", output)
    if match:
        result["keys"] = int(match.group(1))
    match = re.search(r"\[info\] (\d+) expires", output)
    if match:
        result["expires"] = int(match.group(1))
    match = re.search(r"\[info\] (\d+) already expired", output)
    if match:
        result["already_expired"] = int(match.group(1))
    match = re.search(r"AUX FIELD (?:redis|valkey)-ver = '([^']+)'", output)
    if match:
        result["server_version"] = match.group(1)
    return result


def check_rdb_verdict(output, rc):
    """parse_check_rdb's facts, ok only when the tool said so and exited 0; its output kept when not ok."""
    parsed = parse_check_rdb(output)
    parsed["ok"] = parsed["ok"] and str(rc).strip() == "0"
    parsed["output"] = "" if parsed["ok"] else output[-2000:]
    return parsed
