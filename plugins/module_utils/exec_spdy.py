# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SPDY/3.1 exec transport: what kubectl speaks, the fastest path through the API server.

The HTTP/1.1 upgrade to SPDY/3.1 with the v4 channel protocol, then one
stream per channel, opened as kubectl opens them (spdy.py holds the frame
codec). Measured on the local cluster (537 MB into a pod): 194-249 MB/s,
`kubectl exec -i` 183-221 MB/s.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urlparse import urlsplit

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import spdy
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import (
    MAX_STATUS_BYTES,
    STDIN_FRAME_BYTES,
    V4,
    ExecSession,
    PodExecError,
    exec_path,
    parse_status,
    status_message,
)


class UpgradeRefused(PodExecError):
    """The API server answered the SPDY upgrade with an HTTP status instead of 101."""

    def __init__(self, status, message):
        super(UpgradeRefused, self).__init__("HTTP %d: %s" % (status, message))
        self.status = status


class SpdyExec(ExecSession):
    """An exec over SPDY/3.1 (what kubectl speaks), stream ids as kubectl opens them."""

    sock = None
    can_close_stdin = True

    def __enter__(self):
        types = ["error"] + (["stdin"] if self.stdin else []) + ["stdout", "stderr"]
        self.ids = dict((kind, 2 * index + 1) for index, kind in enumerate(types))
        path = exec_path(self.configuration, self.namespace, self.pod, self.container, self.command, self.stdin)
        self.sock, leftover = spdy_upgrade(self.configuration, path, self.auth_header(), self.timeout, self.target)
        self.reader = spdy.FrameReader(self.sock, leftover)
        compressor = spdy.HeaderCompressor()
        # All streams are opened before any data: the server reads stdin only once every stream is there.
        frames = [spdy.syn_stream(compressor, self.ids[kind], [("streamtype", kind)]) for kind in types]
        frames.append(spdy.data_header(self.ids["error"], 0, fin=True))  # we never write to the error stream
        try:
            self.sock.sendall(b"".join(frames))
        except OSError as exc:
            self.sock.close()
            raise PodExecError("cannot exec in %s: %s" % (self.target, exc))
        return self

    def __exit__(self, *exc_info):
        if self.sock is not None:
            self.sock.close()

    def send(self, data):
        """Write bytes to the command's stdin, one DATA frame per STDIN_FRAME_BYTES."""
        view = memoryview(data)
        for start in range(0, len(view), STDIN_FRAME_BYTES):
            part = view[start:start + STDIN_FRAME_BYTES]
            self.sock.sendall(spdy.data_header(self.ids["stdin"], len(part)))
            self.sock.sendall(part)

    def close_stdin(self):
        self.sock.sendall(spdy.data_header(self.ids["stdin"], 0, fin=True))

    def stream(self, on_stdout):
        """Feed stdout to on_stdout(memoryview) until the command ends; return its exit code."""
        document = bytearray()
        open_streams = set((self.ids["error"], self.ids["stdout"], self.ids["stderr"]))
        while open_streams:
            try:
                frame = self.reader.next_frame()
            except EOFError:
                break
            except (OSError, spdy.SpdyError) as exc:
                raise PodExecError("exec in %s broke off: %s" % (self.target, exc))
            if frame.kind is None:
                if frame.stream_id == self.ids["stdout"] and frame.payload:
                    on_stdout(memoryview(frame.payload))
                elif frame.stream_id == self.ids["stderr"]:
                    self.keep_stderr(frame.payload)
                elif frame.stream_id == self.ids["error"]:
                    if len(document) + len(frame.payload) > MAX_STATUS_BYTES:
                        raise PodExecError("exec in %s: the error stream exceeds %d bytes"
                                           % (self.target, MAX_STATUS_BYTES))
                    document += frame.payload
                if frame.fin:
                    open_streams.discard(frame.stream_id)
            elif frame.kind == spdy.PING:
                self.sock.sendall(spdy.control_frame(spdy.PING, 0, frame.payload))
            elif frame.kind == spdy.GOAWAY:
                break
            elif frame.kind == spdy.RST_STREAM and not document:
                raise PodExecError("exec in %s: the server reset stream %d" % (self.target, frame.stream_id))
        if document:
            self.status = parse_status(document)
        return self.exit_code()


def open_socket(configuration, timeout):
    """A socket to the API server, TLS set up as the kubernetes library sets it up for websockets."""
    url = urlsplit(configuration.host)
    secure = url.scheme == "https"
    sock = socket.create_connection((url.hostname, url.port or (443 if secure else 80)), timeout=timeout)
    if not secure:
        return sock
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if configuration.assert_hostname is not None:
            context.check_hostname = bool(configuration.assert_hostname)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    server_name = getattr(configuration, "tls_server_name", None) or url.hostname
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except Exception:
        sock.close()
        raise


def spdy_upgrade(configuration, path, token, timeout, target):
    """(socket, bytes already read past the response) once the server agreed to SPDY/3.1 with v4."""
    try:
        sock = open_socket(configuration, timeout)
    except (OSError, ssl.SSLError) as exc:
        raise PodExecError("cannot reach the API server for %s: %s" % (target, exc))
    url = urlsplit(configuration.host)
    lines = ["POST %s HTTP/1.1" % path, "Host: %s" % url.netloc, "Connection: Upgrade", "Upgrade: SPDY/3.1",
             "X-Stream-Protocol-Version: %s" % V4, "Content-Length: 0"]
    if token:
        lines.append("Authorization: %s" % token)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, headers, rest = read_response_head(sock)
        if status != 101:
            body = read_body(sock, headers, rest)
            raise UpgradeRefused(status, status_message(body))
        if headers.get("x-stream-protocol-version") != V4:
            raise UpgradeRefused(status, "the server chose protocol %r" % headers.get("x-stream-protocol-version"))
    except (OSError, ValueError) as exc:
        sock.close()
        raise PodExecError("cannot exec in %s: %s" % (target, exc))
    except PodExecError:
        sock.close()
        raise
    return sock, rest


def read_response_head(sock):
    """(status, {lower-case name: value}, bytes after the head) of an HTTP/1.1 response."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > 1024 * 1024:
            raise ValueError("no HTTP response head from the API server")
        data += chunk
    head, rest = bytes(data).split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((name.strip().lower(), value.strip())
                   for name, sep, value in (line.partition(":") for line in lines[1:]) if sep)
    status = lines[0].split()
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise ValueError("not an HTTP response from the API server: %.100r" % lines[0])
    return int(status[1]), headers, rest


def read_body(sock, headers, rest, limit=65536):
    length = min(int(headers.get("content-length", 0) or 0), limit)
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body[:length])
