# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The part of SPDY/3.1 that a pod exec needs, on a socket already upgraded.

kubectl talks to `pods/exec` over SPDY/3.1. On the server side that path moves
bulk data at about twice the rate of the websocket path (x/net/websocket in the
CRI streaming server), so uploads go this way. What an exec client needs:

- SYN_STREAM to open a stream; its header block is zlib-compressed with the
  SPDY dictionary, one compression context for the whole connection;
- DATA frames (8-byte header, up to 16 MiB), FLAG_FIN closes our side;
- PING is echoed; SYN_REPLY, HEADERS, SETTINGS, WINDOW_UPDATE are read past
  (the Kubernetes side, docker/spdystream, does not do flow control: TCP does);
- RST_STREAM and GOAWAY end the conversation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import zlib

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA_BYTES = (1 << 24) - 1

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00,
# section 2.6.10.1): length-prefixed words, then a run of common values.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from host "
    "if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards "
    "pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding "
    "upgrade user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack("!I", len(word)) + word.encode("ascii") for word in _WORDS) + _TAIL.encode("ascii")


class SpdyError(DatastoresError):
    """The peer broke the protocol, reset a stream or went away."""


class HeaderCompressor(object):
    """Header blocks of one connection: one zlib stream, flushed at each block's end."""

    def __init__(self):
        self.zlib = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, zlib.MAX_WBITS, 8,
                                     zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def block(self, headers):
        raw = struct.pack("!I", len(headers))
        for name, value in headers:
            name, value = name.lower().encode("ascii"), value.encode("utf-8")
            raw += struct.pack("!I", len(name)) + name + struct.pack("!I", len(value)) + value
        return self.zlib.compress(raw) + self.zlib.flush(zlib.Z_SYNC_FLUSH)


def control_frame(frame_type, flags, payload):
    return struct.pack("!HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def syn_stream(compressor, stream_id, headers, fin=False, priority=0):
    body = struct.pack("!IIBB", stream_id, 0, priority << 5, 0) + compressor.block(headers)
    return control_frame(SYN_STREAM, FLAG_FIN if fin else 0, body)


def data_header(stream_id, length, fin=False):
    """The 8 bytes before `length` bytes of data on a stream."""
    if length > MAX_DATA_BYTES:
        raise ValueError("a SPDY data frame holds at most %d bytes" % MAX_DATA_BYTES)
    return struct.pack("!II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | length)


def ping(ping_id):
    return control_frame(PING, 0, struct.pack("!I", ping_id))


class Frame(object):
    """One frame as read: control frames carry `kind`; data frames have kind None."""

    __slots__ = ("kind", "stream_id", "flags", "payload")

    def __init__(self, kind, stream_id, flags, payload):
        self.kind, self.stream_id, self.flags, self.payload = kind, stream_id, flags, payload

    @property
    def fin(self):
        return bool(self.flags & FLAG_FIN)


class FrameReader(object):
    """SPDY frames off a socket, taking whatever the socket has in one call."""

    RECV_BYTES = 1024 * 1024

    def __init__(self, sock, already=b""):
        self.sock = sock
        self.buffer = bytearray(already)
        self.start = 0

    def _take(self, count):
        while len(self.buffer) - self.start < count:
            chunk = self.sock.recv(self.RECV_BYTES)
            if not chunk:
                if len(self.buffer) == self.start:
                    raise EOFError("connection closed")
                raise SpdyError("connection closed in the middle of a frame")
            if self.start:
                del self.buffer[:self.start]
                self.start = 0
            self.buffer += chunk
        part = bytes(self.buffer[self.start:self.start + count])
        self.start += count
        return part

    def next_frame(self):
        """The next frame; a frame holds at most 16 MiB (its 24-bit length), and a malformed one is a SpdyError."""
        first, second = struct.unpack("!II", self._take(8))
        flags, length = second >> 24, second & 0xFFFFFF
        payload = self._take(length)
        if not first & 0x80000000:
            return Frame(None, first & 0x7FFFFFFF, flags, payload)
        if (first >> 16) & 0x7FFF != VERSION:
            raise SpdyError("a control frame of SPDY version %d (expected %d)" % ((first >> 16) & 0x7FFF, VERSION))
        kind = first & 0xFFFF
        with_stream = kind in (SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE)
        if (with_stream or kind == PING) and len(payload) < 4:
            raise SpdyError("a control frame of type %d with %d bytes (at least 4 expected)" % (kind, len(payload)))
        stream_id = struct.unpack_from("!I", payload)[0] & 0x7FFFFFFF if with_stream else 0
        return Frame(kind, stream_id, flags, payload)
