# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exec in a pod with binary-safe streams in both directions, at websocket speed.

The Kubernetes Python client's exec stream decodes stdout as text by default
and, read through its update()/read_stdout() loop, moved 1.6 MB/s here. This
module reads the websocket frames of the channel protocol directly: each
binary frame starts with one channel byte (0 stdin, 1 stdout, 2 stderr,
3 status, 255 close in v5) followed by raw bytes. Output is handed to a sink
frame by frame, so memory stays bounded whatever the size.

Every pod conversation of the collection (snapshot, restore, health report)
goes through this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import time

try:
    from urllib.parse import urlencode, quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import urlencode, quote

try:
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration
    from kubernetes.stream.ws_client import create_websocket
    from websocket import ABNF, WebSocketException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255
V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"
# Large enough to amortise per-frame cost, small enough for any API server.
STDIN_FRAME_BYTES = 256 * 1024
STDERR_KEEP_BYTES = 64 * 1024

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


def exec_url(configuration, namespace, pod, container, command, stdin):
    query = [("command", part) for part in command]
    query += [("container", container), ("stdin", "true" if stdin else "false"),
              ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    host = configuration.host.rstrip("/")
    scheme, rest = host.split("://", 1)
    return "%s://%s/api/v1/namespaces/%s/pods/%s/exec?%s" % (
        "wss" if scheme == "https" else "ws", rest, quote(namespace), quote(pod), urlencode(query))


def exit_code(status):
    """The command's exit code from the channel-3 status document."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    raise PodExecError("exec failed: %s" % (status.get("message") or status))


class PodExec(object):
    """One exec session. Use as a context manager.

    with PodExec(configuration, "ns", "pod-0", "redis", ["cat", "/data/dump.rdb"]) as session:
        rc = session.stream(sink.write)
    """

    def __init__(self, configuration, namespace, pod, container, command, stdin=False, timeout=60):
        self.configuration = configuration
        self.url = exec_url(configuration, namespace, pod, container, command, stdin)
        self.target = "%s/%s (container %s)" % (namespace, pod, container)
        self.timeout = timeout
        self.stderr = bytearray()
        self.status = None
        self.ws = None

    def __enter__(self):
        headers = {"sec-websocket-protocol": "%s,%s" % (V5, V4)}
        if self.configuration.refresh_api_key_hook:
            self.configuration.refresh_api_key_hook(self.configuration)
        token = self.configuration.get_api_key_with_prefix("authorization")
        if token:
            headers["authorization"] = token
        try:
            self.ws = create_websocket(self.configuration, self.url, headers)
        except WebSocketException as exc:
            raise PodExecError("cannot exec in %s: %s" % (self.target, describe_handshake_error(exc)))
        except OSError as exc:
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
            self.ws.send(b"\x00" + view[start:start + STDIN_FRAME_BYTES].tobytes(), ABNF.OPCODE_BINARY)

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
            except (OSError, ValueError) as exc:
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
                self.stderr += payload[:max(0, STDERR_KEEP_BYTES - len(self.stderr))]
            elif channel == STATUS:
                self.status = json.loads(bytes(payload).decode("utf-8"))
        if self.status is None:
            raise PodExecError("exec in %s ended without a status (connection cut?)" % self.target)
        return exit_code(self.status)


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
        """(opcode, payload bytes) of the next message, continuation frames joined."""
        opcode, parts = None, []
        while True:
            head = self._take(2)
            fin, frame_opcode, masked, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x80, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(self._take(2), "big")
            elif length == 127:
                length = int.from_bytes(self._take(8), "big")
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
    if body:
        try:
            return "%s (HTTP %s)" % (json.loads(body).get("message"), status)
        except ValueError:
            pass
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


def run_shell(configuration, namespace, pod, container, script, timeout=60):
    """Run a shell script in the container; its stdout, or PodExecError with its stderr."""
    rc, out, err = run(configuration, namespace, pod, container, ["sh", "-c", script], timeout=timeout)
    if rc != 0:
        detail = err.decode("utf-8", "replace").strip()[:500]
        raise PodExecError("in %s/%s: `%s` failed (%d): %s" % (namespace, pod, script[:80], rc, detail))
    return out.decode("utf-8", "replace")


UPLOAD_SCRIPT = 'head -c "$1" > "$2" && sha256sum "$2" | cut -d" " -f1'


def upload(configuration, namespace, pod, container, source, dest, timeout=60, block=1024 * 1024):
    """Copy a local file into the pod byte-exact; return dict(bytes, seconds, sha256).

    The v4 channel protocol cannot close stdin, so the pod reads exactly the
    file's size (head -c) and answers with the sha256 of what it wrote.
    """
    size = os.path.getsize(source)
    digest = hashlib.sha256()
    out = bytearray()
    start = time.monotonic()
    with PodExec(configuration, namespace, pod, container, ["sh", "-c", UPLOAD_SCRIPT, "sh", str(size), dest],
                 stdin=True, timeout=timeout) as session:
        with open(source, "rb") as handle:
            for chunk in iter(lambda: handle.read(block), b""):
                digest.update(chunk)
                session.send(chunk)
        session.close_stdin()
        rc = session.stream(out.extend)
        stderr = bytes(session.stderr)
    seconds = time.monotonic() - start
    if rc != 0:
        detail = stderr.decode("utf-8", "replace")[:500]
        raise PodExecError("writing %s in %s/%s failed (%d): %s" % (dest, namespace, pod, rc, detail))
    remote = out.decode("ascii", "replace").strip()
    if remote != digest.hexdigest():
        raise PodExecError("upload corrupted: sha256 in the pod %s, sent %s" % (remote, digest.hexdigest()))
    return {"bytes": size, "seconds": seconds, "sha256": remote}
