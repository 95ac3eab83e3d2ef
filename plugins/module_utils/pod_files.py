# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy a local file into a pod: parallel byte ranges written in place, hashed on both sides.

The restore uploads the RDB this way (upload); over SPDY one stream already
matches kubectl, over websocket one stream moves half of that, so the file
goes as several ranges side by side.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import threading
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import STDIN_FRAME_BYTES, PodExecError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_websocket import WebSocketException
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import PodExec, run_shell

# Scripts take their paths and numbers as arguments, never spliced in.
PREPARE_SCRIPT = ': > "$1" || exit 1; if dd --version 2>/dev/null | grep -q coreutils; then echo dd; fi'
# A writer that fails drains the rest of stdin, so the sender finishes and
# hears why instead of blocking until its timeout (the server stops reading
# stdin once the command is gone).
PART_SCRIPT = ('dd of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc '
               'iflag=count_bytes,fullblock count="$3" status=none || { rc=$?; cat > /dev/null; exit $rc; }')
WHOLE_SCRIPT = 'head -c "$3" > "$1" || { rc=$?; cat > /dev/null; exit $rc; }'
# Arguments: file, size, then offset/length pairs; prints one sha256 per range, in order.
VERIFY_SCRIPT = (
    'f=$1; size=$(stat -c %s "$f") && [ "$size" = "$2" ] '
    '|| { echo "$f holds ${size:-no} bytes, $2 were sent" >&2; exit 1; }; shift 2; i=0; '
    'while [ $# -gt 0 ]; do '
    '  if [ "$1" = 0 ] && [ "$2" = "$size" ]; then sha256sum < "$f" > "$f.sum$i" & '
    '  else dd if="$f" bs=1M skip="$1" count="$2" iflag=skip_bytes,count_bytes status=none | sha256sum > "$f.sum$i" & fi; '
    '  i=$((i+1)); shift 2; done; wait; '
    'j=0; while [ $j -lt $i ]; do cut -d" " -f1 "$f.sum$j"; rm -f "$f.sum$j"; j=$((j+1)); done'
)
UPLOAD_STREAMS = 4


def split_ranges(size, streams):
    """(offset, length) pieces covering size bytes, at most `streams` of them, none empty."""
    streams = max(1, min(streams, size // STDIN_FRAME_BYTES or 1))
    piece = -(-size // streams)
    return [(offset, min(piece, size - offset)) for offset in range(0, size, piece)]


def send_range(configuration, namespace, pod, container, source, dest, byte_range, script, timeout, hashed=True):
    """Stream one (offset, length) range of source into dest at the same offset; return its sha256 (if hashed)."""
    offset, length = byte_range
    digest = hashlib.sha256() if hashed else None
    with PodExec(configuration, namespace, pod, container, ["sh", "-c", script, "sh", dest, str(offset), str(length)],
                 stdin=True, timeout=timeout) as session:
        try:
            send_file_range(session, source, offset, length, digest)
            session.close_stdin()
            broken = None
        except (OSError, WebSocketException) as exc:  # the command may have ended early: its exit code and stderr say why
            broken = exc
        rc = session.stream(lambda chunk: None)
        if rc != 0:
            detail = bytes(session.stderr).decode("utf-8", "replace")[:500]
            raise PodExecError("writing %s in %s/%s failed (%d): %s" % (dest, namespace, pod, rc, detail))
        if broken is not None:
            raise PodExecError("writing %s in %s/%s broke off: %s" % (dest, namespace, pod, broken))
    return digest.hexdigest() if digest else None


def send_file_range(session, source, offset, length, digest):
    with open(source, "rb") as handle:
        handle.seek(offset)
        left = length
        while left:
            chunk = handle.read(min(STDIN_FRAME_BYTES, left))
            if not chunk:
                raise PodExecError("%s ended early (changed while it was sent?)" % source)
            left -= len(chunk)
            if digest:
                digest.update(chunk)
            session.send(chunk)


def in_threads(calls):
    """Run callables side by side; re-raise the first failure after all have ended."""
    failures = []

    def guarded(call):
        try:
            call()
        except Exception as exc:  # pylint: disable=broad-except  # re-raised below
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def upload(configuration, namespace, pod, container, source, dest, timeout=60, streams=UPLOAD_STREAMS,
           verify=True):
    """Copy a local file into the pod; return dict(bytes, seconds, transfer_seconds, streams).

    The file goes as several byte ranges written in place by GNU dd, one exec
    each (over SPDY one stream already matches kubectl; over websocket one
    stream moved half of that); images without GNU dd get one stream
    (head -c). Websocket v4 cannot close stdin, so each writer reads exactly
    its length. The pod then checks the size. With verify, each sender also
    hashes what it sends, the pod hashes the same ranges side by side and
    every hash must match; callers that check the content themselves (an RDB
    carries a CRC64 of every byte, which the server's check tool verifies)
    pass verify=False and save that second pass over the file.
    """
    size = os.path.getsize(source)
    start = time.monotonic()
    parallel = run_shell(configuration, namespace, pod, container, PREPARE_SCRIPT, timeout, args=[dest]).strip() == "dd"
    ranges = split_ranges(size, streams if parallel else 1) if size else []
    sent = [None] * len(ranges)

    def sender(index):
        sent[index] = send_range(configuration, namespace, pod, container, source, dest, ranges[index],
                                 PART_SCRIPT if parallel else WHOLE_SCRIPT, timeout, hashed=verify)
    in_threads([lambda i=index: sender(i) for index in range(len(ranges))])
    transfer_seconds = time.monotonic() - start
    if not verify:
        sent = []
    flat = [str(number) for byte_range in ranges for number in byte_range] if verify else []
    received = run_shell(configuration, namespace, pod, container, VERIFY_SCRIPT, timeout,
                         args=[dest, size] + flat).split()
    if received != sent:
        raise PodExecError("upload corrupted: sha256 of the ranges in the pod %s, sent %s" % (received, sent))
    return {"bytes": size, "seconds": time.monotonic() - start, "transfer_seconds": transfer_seconds,
            "streams": len(ranges)}
