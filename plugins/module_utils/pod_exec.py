# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exec in a pod with binary-safe streams in both directions, at kubectl's speed.

Two transports, one interface (PodExec): SPDY/3.1, what kubectl speaks, and
the websocket channel protocol as the fallback. The Kubernetes Python
client's own exec stream decodes stdout as text by default and, read through
its update()/read_stdout() loop, moved 1.6 MB/s here; both transports here
read frames straight off the socket and hand output to a sink frame by
frame, so memory stays bounded whatever the size. Measured on the local
cluster (537 MB into a pod): SPDY 194-249 MB/s, websocket 110-133 MB/s,
`kubectl exec -i` 183-221 MB/s; on the server side the websocket path costs
about twice the CPU per byte.

Websocket frames start with one channel byte (0 stdin, 1 stdout, 2 stderr,
3 status, 255 close in v5); SPDY opens one stream per channel (spdy.py).
Every pod conversation of the collection (snapshot, restore, health report)
goes through this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time

try:
    from urllib.parse import urlencode, urlsplit, quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import urlencode, quote
    from urlparse import urlsplit

try:
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration
    from kubernetes.stream.ws_client import websocket_proxycare
    from websocket import ABNF, WebSocket, WebSocketException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

    class WebSocketException(Exception):
        """Stands in for websocket-client's error when the library is missing (kube_configuration says so)."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import spdy

STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255
V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"
# Large enough to amortise per-frame cost, well under the API server's 32 MiB message limit.
STDIN_FRAME_BYTES = 1024 * 1024
STDERR_KEEP_BYTES = 64 * 1024
# The server's frames are never trusted to be small: nothing it announces is
# buffered beyond these (the API server sends at most 32 KiB of stdout per frame).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_STATUS_BYTES = 64 * 1024
TRANSPORTS = ("auto", "spdy", "websocket")
# AMP_EXEC_TRANSPORT=websocket forces the websocket path (for comparison, or a server without SPDY).
TRANSPORT = os.environ.get("AMP_EXEC_TRANSPORT", "auto")

# Auth options as kubernetes.core's modules name them (with their env fallbacks).
AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="path", fallback=(lambda: os.environ.get("K8S_AUTH_KUBECONFIG"),)),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
)
AUTH_ENV = dict(context="K8S_AUTH_CONTEXT", host="K8S_AUTH_HOST", api_key="K8S_AUTH_API_KEY",
                ca_cert="K8S_AUTH_SSL_CA_CERT", client_cert="K8S_AUTH_CERT_FILE",
                client_key="K8S_AUTH_KEY_FILE", proxy="K8S_AUTH_PROXY")


class PodExecError(Exception):
    """The exec could not be opened, or broke off."""


def kube_configuration(params):
    """A kubernetes Configuration from module params named as in AUTH_ARG_SPEC."""
    if not HAS_KUBERNETES:
        raise PodExecError("the kubernetes Python library is required: %s" % KUBERNETES_IMPORT_ERROR)
    value = dict((k, params.get(k) or os.environ.get(AUTH_ENV.get(k, ""), None)) for k in AUTH_ARG_SPEC)
    configuration = Configuration()
    if value["kubeconfig"] or not value["host"]:
        try:
            kube_config.load_kube_config(config_file=value["kubeconfig"], context=value["context"],
                                         client_configuration=configuration, persist_config=False)
        except Exception as exc:  # the library raises several unrelated types here
            raise PodExecError("cannot load kubeconfig %s: %s" % (value["kubeconfig"] or "(default)", exc))
    if value["host"]:
        configuration.host = value["host"]
    if value["api_key"]:
        configuration.api_key = {"authorization": "Bearer " + value["api_key"]}
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"),
                              ("client_key", "key_file"), ("proxy", "proxy")):
        if value[option]:
            setattr(configuration, attribute, value[option])
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = params["validate_certs"]
    return configuration


def exec_path(configuration, namespace, pod, container, command, stdin):
    """The exec endpoint's path and query, below the API server's URL path."""
    query = [("command", part) for part in command]
    query += [("container", container), ("stdin", "true" if stdin else "false"),
              ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    return "%s/api/v1/namespaces/%s/pods/%s/exec?%s" % (
        urlsplit(configuration.host).path.rstrip("/"), quote(namespace), quote(pod), urlencode(query))


def exec_url(configuration, namespace, pod, container, command, stdin):
    url = urlsplit(configuration.host)
    return "%s://%s%s" % ("wss" if url.scheme == "https" else "ws", url.netloc,
                          exec_path(configuration, namespace, pod, container, command, stdin))


def parse_status(payload):
    """The status document the server sends when the command ends (any shape is a clean error)."""
    if len(payload) > MAX_STATUS_BYTES:
        raise PodExecError("the exec status document exceeds %d bytes" % MAX_STATUS_BYTES)
    try:
        status = json.loads(bytes(payload).decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        raise PodExecError("the exec status document is not JSON: %s" % exc)
    if not isinstance(status, dict):
        raise PodExecError("the exec status document is not an object: %.200r" % (status,))
    return status


def exit_code(status):
    """The command's exit code from the channel-3 status document."""
    if status.get("status") == "Success":
        return 0
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    for cause in details.get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", 1))
            except (TypeError, ValueError):
                raise PodExecError("exec failed with an unreadable exit code: %.100r" % (cause.get("message"),))
    raise PodExecError("exec failed: %.500s" % (status.get("message") or status))


class ExecSession(object):
    """What both transports share: the target, the command's stderr and its status document."""

    def __init__(self, configuration, namespace, pod, container, command, stdin=False, timeout=60):
        self.configuration = configuration
        self.namespace, self.pod, self.container = namespace, pod, container
        self.command, self.stdin = command, stdin
        self.target = "%s/%s (container %s)" % (namespace, pod, container)
        self.timeout = timeout
        self.stderr = bytearray()
        self.status = None

    def keep_stderr(self, payload):
        self.stderr += payload[:max(0, STDERR_KEEP_BYTES - len(self.stderr))]

    def exit_code(self):
        if self.status is None:
            raise PodExecError("exec in %s ended without a status (connection cut?)" % self.target)
        return exit_code(self.status)

    def auth_header(self):
        if self.configuration.refresh_api_key_hook:
            self.configuration.refresh_api_key_hook(self.configuration)
        return self.configuration.get_api_key_with_prefix("authorization")


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


def status_json_message(body):
    """The message of a Kubernetes Status document, or None when the body is not one."""
    try:
        return json.loads(body).get("message")
    except (ValueError, AttributeError):
        return None


def status_message(body):
    return status_json_message(body) or body.decode("utf-8", "replace")[:300]


class PodExec(object):
    """One exec session, over SPDY or websocket. Use as a context manager.

    with PodExec(configuration, "ns", "pod-0", "redis", ["cat", "/data/dump.rdb"]) as session:
        rc = session.stream(sink.write)

    transport "auto" speaks SPDY (kubectl's protocol, the fastest path through
    the API server and the CRI streaming server) and falls back to websocket
    when a proxy is configured or the server refuses the upgrade for any reason
    but the pod's (401, 403, 404); "spdy" and "websocket" force one.
    """

    def __init__(self, configuration, namespace, pod, container, command, stdin=False, timeout=60,
                 transport=None):
        self.args = (configuration, namespace, pod, container, command, stdin, timeout)
        self.transport = transport or TRANSPORT
        if self.transport not in TRANSPORTS:
            raise PodExecError("unknown exec transport %r (one of %s)" % (self.transport, ", ".join(TRANSPORTS)))
        self.session = None

    def __enter__(self):
        configuration = self.args[0]
        if self.transport == "spdy" or (self.transport == "auto" and not configuration.proxy):
            session = SpdyExec(*self.args)
            try:
                self.session = session.__enter__()
                return self.session
            except UpgradeRefused as exc:
                if self.transport == "spdy" or exc.status in (401, 403, 404):
                    raise PodExecError("cannot exec in %s: %s" % (session.target, exc))
        self.session = WebsocketExec(*self.args).__enter__()
        return self.session

    def __exit__(self, *exc_info):
        if self.session is not None:
            self.session.__exit__(*exc_info)


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


def run(configuration, namespace, pod, container, command, stdin_data=None, timeout=60, max_stdout=16 * 1024 * 1024):
    """Run a command with small output; return (rc, stdout bytes, stderr bytes)."""
    out = bytearray()

    def collect(chunk):
        if len(out) + len(chunk) > max_stdout:
            raise PodExecError("output of %s exceeds %d bytes" % (command[0], max_stdout))
        out.extend(chunk)

    with PodExec(configuration, namespace, pod, container, command,
                 stdin=stdin_data is not None, timeout=timeout) as session:
        if stdin_data is not None:
            session.send(stdin_data)
            session.close_stdin()
        rc = session.stream(collect)
        return rc, bytes(out), bytes(session.stderr)


def run_shell(configuration, namespace, pod, container, script, timeout=60, args=()):
    """Run a shell script (with positional args) in the container; its stdout, or PodExecError with its stderr."""
    command = ["sh", "-c", script, "sh"] + [str(arg) for arg in args]
    rc, out, err = run(configuration, namespace, pod, container, command, timeout=timeout)
    if rc != 0:
        detail = err.decode("utf-8", "replace").strip()[:500]
        raise PodExecError("in %s/%s: `%s` failed (%d): %s" % (namespace, pod, script[:80], rc, detail))
    return out.decode("utf-8", "replace")


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
