# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The websocket exec transport (channel protocol v5, or v4 where stdin cannot be closed).

The fallback to SPDY (exec_spdy): a proxy, or a server that refuses the
upgrade. Frames are read straight off the socket (FrameReader) and stdin is
sent in unmasked frames inside TLS (send_unmasked_frame): websocket-client's
own parsing and masking, not the network, were the limit on a 1 GB copy.
Measured on the local cluster (537 MB into a pod): 110-133 MB/s, about half
of SPDY, at twice the server's CPU per byte.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ssl
import struct

try:
    from kubernetes.stream.ws_client import websocket_proxycare
    from websocket import ABNF, WebSocket, WebSocketException
except ImportError:  # pragma: no cover - k8s_client.kube_configuration reports the missing library
    class WebSocketException(Exception):
        """Stands in for websocket-client's error when the library is missing (never raised then)."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import (
    CLOSE,
    MAX_MESSAGE_BYTES,
    STATUS,
    STDERR,
    STDIN,
    STDIN_FRAME_BYTES,
    STDOUT,
    V4,
    V5,
    ExecSession,
    PodExecError,
    exec_url,
    parse_status,
    status_json_message,
)


class WebsocketExec(ExecSession):
    """An exec over the websocket channel protocol (v5, or v4 where stdin cannot be closed)."""

    ws = None

    def __enter__(self):
        headers = {"sec-websocket-protocol": "%s,%s" % (V5, V4)}
        token = self.auth_header()
        if token:
            headers["authorization"] = token
        url = exec_url(self.configuration, self.namespace, self.pod, self.container, self.command, self.stdin)
        try:
            self.ws = open_websocket(self.configuration, url, headers, self.timeout)
        except WebSocketException as exc:
            raise PodExecError("cannot exec in %s: %s" % (self.target, describe_handshake_error(exc)))
        except OSError as exc:  # socket.timeout included: a server that never answers the handshake
            raise PodExecError("cannot reach the API server for %s: %s" % (self.target, exc))
        self.ws.settimeout(self.timeout)
        return self

    def __exit__(self, *exc_info):
        if self.ws is not None:
            self.ws.close()

    @property
    def can_close_stdin(self):
        return self.ws is not None and self.ws.getsubprotocol() == V5

    def send(self, data):
        """Write bytes to the command's stdin."""
        view = memoryview(data)
        for start in range(0, len(view), STDIN_FRAME_BYTES):
            part = view[start:start + STDIN_FRAME_BYTES]
            if isinstance(self.ws.sock, ssl.SSLSocket):
                send_unmasked_frame(self.ws.sock, bytes([STDIN]), part)
            else:
                self.ws.send(b"\x00" + part.tobytes(), ABNF.OPCODE_BINARY)

    def close_stdin(self):
        """Signal EOF on stdin where the server speaks v5; v4 has no way to."""
        if self.can_close_stdin:
            self.ws.send(bytes([CLOSE, STDIN]), ABNF.OPCODE_BINARY)

    def stream(self, on_stdout):
        """Feed stdout frames to on_stdout(memoryview) until the command ends; return its exit code."""
        reader = FrameReader(self.ws.sock)
        while True:
            try:
                opcode, frame = reader.next_frame()
            except (OSError, ValueError) as exc:  # socket.timeout included: a silent server
                raise PodExecError("exec in %s broke off: %s" % (self.target, exc))
            if opcode == ABNF.OPCODE_CLOSE:
                break
            if opcode == ABNF.OPCODE_PING:
                self.ws.pong(frame)
                continue
            if not frame:
                continue
            channel, payload = frame[0], memoryview(frame)[1:]
            if channel == STDOUT:
                if payload:
                    on_stdout(payload)
            elif channel == STDERR:
                self.keep_stderr(payload)
            elif channel == STATUS:
                self.status = parse_status(payload)
        return self.exit_code()


def open_websocket(configuration, url, headers, timeout):
    """A websocket to the exec endpoint, TLS as the kubernetes library sets it up, the handshake under `timeout`."""
    header = ["%s: %s" % (name, value) for name, value in sorted(headers.items())]
    if url.startswith("wss://") and configuration.verify_ssl:
        ssl_opts = {"cert_reqs": ssl.CERT_REQUIRED}
        if configuration.ssl_ca_cert:
            ssl_opts["ca_certs"] = configuration.ssl_ca_cert
        if configuration.assert_hostname is not None:
            ssl_opts["check_hostname"] = configuration.assert_hostname
    else:
        ssl_opts = {"cert_reqs": ssl.CERT_NONE}
    for option, attribute in (("certfile", "cert_file"), ("keyfile", "key_file"),
                              ("server_hostname", "tls_server_name")):
        if getattr(configuration, attribute, None):
            ssl_opts[option] = getattr(configuration, attribute)
    options = {"header": header, "timeout": timeout}
    if configuration.proxy or getattr(configuration, "proxy_headers", None):
        options = websocket_proxycare(options, configuration, url, headers)
    websocket = WebSocket(sslopt=ssl_opts, skip_utf8_validation=False)
    websocket.connect(url, **options)
    return websocket


def send_unmasked_frame(sock, prefix, payload):
    """Send one binary client frame whose masking key is zero, without copying the payload.

    RFC 6455 masks client frames with a random key so that plain-text proxies
    cannot be tricked into caching attacker-chosen bytes. Inside TLS no proxy
    sees the bytes, so a zero key (XOR with zero: the payload unchanged) costs
    nothing in safety and saves masking every byte in Python, which halved the
    upload rate. Only used on TLS sockets; plain connections mask normally.
    """
    length = len(prefix) + len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x82, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x82, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, length)
    sock.sendall(head + b"\x00\x00\x00\x00" + prefix)
    sock.sendall(payload)


class FrameReader(object):
    """Websocket frames read straight off the socket (RFC 6455, server to client).

    websocket-client parses each frame with several small reads; on a 1 GB
    copy that parsing, not the network, was the limit. This reader takes what
    the socket has in one call and slices frames out of a buffer.
    """

    RECV_BYTES = 1024 * 1024

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()
        self.start = 0

    def _fill(self, needed):
        while len(self.buffer) - self.start < needed:
            chunk = self.sock.recv(self.RECV_BYTES)
            if not chunk:
                raise ValueError("connection closed in the middle of a frame")
            if self.start:
                del self.buffer[:self.start]
                self.start = 0
            self.buffer += chunk

    def _take(self, count):
        self._fill(count)
        view = bytes(self.buffer[self.start:self.start + count])
        self.start += count
        return view

    def next_frame(self):
        """(opcode, payload bytes) of the next message, continuation frames joined.

        A length beyond MAX_MESSAGE_BYTES (one frame or the fragments of one
        message) is refused before anything is buffered.
        """
        opcode, parts, total = None, [], 0
        while True:
            head = self._take(2)
            fin, frame_opcode, masked, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if head[0] & 0x70:
                raise ValueError("a websocket frame with reserved bits set (%#04x)" % head[0])
            if frame_opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA):
                raise ValueError("unknown websocket opcode %#x" % frame_opcode)
            if length == 126:
                length = int.from_bytes(self._take(2), "big")
            elif length == 127:
                length = int.from_bytes(self._take(8), "big")
            total += length
            if total > MAX_MESSAGE_BYTES:
                raise ValueError("the server announced a websocket message of %d bytes (at most %d are accepted)"
                                 % (total, MAX_MESSAGE_BYTES))
            if frame_opcode >= 0x8 and (length > 125 or not fin):
                raise ValueError("a malformed websocket control frame (opcode %#x, %d bytes)"
                                 % (frame_opcode, length))
            if frame_opcode == 0x0 and opcode is None:
                raise ValueError("a websocket continuation frame without a message to continue")
            mask = self._take(4) if masked else None
            payload = self._take(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if frame_opcode >= 0x8:  # control frames may come between fragments
                return frame_opcode, payload
            opcode = frame_opcode if opcode is None else opcode
            parts.append(payload)
            if fin:
                return opcode, parts[0] if len(parts) == 1 else b"".join(parts)


def describe_handshake_error(exc):
    """The API server's reason (pod or container not found, forbidden) from a failed handshake."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "resp_body", None)
    message = status_json_message(body) if body else None
    if message:
        return "%s (HTTP %s)" % (message, status)
    return "%s%s" % (exc, " (HTTP %s)" % status if status else "")
