"""The exec clients against a server that lies, breaks the protocol or says nothing.

Real sockets on loopback: a socketpair stands in for the API server's side of
an upgraded connection, a listener that never answers for a silent server.
What the API server sends when it behaves is tested on the cluster.
"""

import json
import socket
import struct
import threading
import time

import pytest
from kubernetes.client import Configuration

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import spdy
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import MAX_MESSAGE_BYTES, MAX_STATUS_BYTES, PodExecError, exit_code
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_spdy import SpdyExec
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_websocket import FrameReader, WebsocketExec
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import PodExec


def ws_frame(opcode, payload, fin=True, rsv=0, announce=None):
    length = len(payload) if announce is None else announce
    first = (0x80 if fin else 0) | rsv | opcode
    if length < 126:
        head = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, 126, length)
    else:
        head = struct.pack("!BBQ", first, 127, length)
    return head + payload


def spdy_data(stream_id, payload, fin=False):
    return spdy.data_header(stream_id, len(payload), fin=fin) + payload


class FakeWs(object):
    """What WebsocketExec.stream touches of websocket-client's object: the socket and pong."""

    def __init__(self, sock):
        self.sock = sock

    def pong(self, payload):
        pass


def websocket_session(sock):
    session = WebsocketExec(Configuration(), "ns", "pod", "c", ["true"])
    session.ws = FakeWs(sock)
    return session


def spdy_session(sock):
    session = SpdyExec(Configuration(), "ns", "pod", "c", ["true"])
    session.ids = {"error": 1, "stdout": 3, "stderr": 5}
    session.sock = sock
    session.reader = spdy.FrameReader(sock)
    return session


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def test_a_websocket_frame_announcing_more_than_the_limit_is_refused_before_buffering(pair):
    server, client = pair
    server.sendall(ws_frame(0x2, b"\x01abc", announce=1 << 40))
    with pytest.raises(ValueError, match="announced a websocket message of %d bytes" % (1 << 40)):
        FrameReader(client).next_frame()


def test_fragments_of_one_message_count_together(pair):
    server, client = pair
    chunk = b"x" * (MAX_MESSAGE_BYTES // 2 + 1)
    server.sendall(ws_frame(0x2, b"", fin=False, announce=len(chunk)))
    threading.Thread(target=lambda: server.sendall(chunk + ws_frame(0x0, b"", fin=False, announce=len(chunk))),
                     daemon=True).start()
    with pytest.raises(ValueError, match="announced a websocket message"):
        FrameReader(client).next_frame()


@pytest.mark.parametrize("frame,message", [
    (ws_frame(0x2, b"x", rsv=0x40), "reserved bits"),
    (ws_frame(0x3, b"x"), "unknown websocket opcode"),
    (ws_frame(0x9, b"x" * 126), "malformed websocket control frame"),
    (ws_frame(0x0, b"x"), "continuation frame without a message"),
])
def test_malformed_websocket_frames_are_errors(pair, frame, message):
    server, client = pair
    server.sendall(frame)
    with pytest.raises(ValueError, match=message):
        FrameReader(client).next_frame()


@pytest.mark.parametrize("status", [b"{not json", b"\xff\xfe", b"[1]", b"\"text\"",
                                    json.dumps({"status": "Failure", "details": {"causes": [
                                        {"reason": "ExitCode", "message": "many"}]}}).encode()])
def test_a_garbled_websocket_status_is_a_clean_failure(pair, status):
    server, client = pair
    server.sendall(ws_frame(0x2, b"\x03" + status) + ws_frame(0x8, b""))
    with pytest.raises(PodExecError, match="status document|exit code"):
        websocket_session(client).stream(lambda chunk: None)


def test_a_websocket_server_that_goes_silent_times_out(pair):
    server, client = pair
    client.settimeout(0.5)
    server.sendall(ws_frame(0x2, b"\x01partial"))
    started = time.monotonic()
    with pytest.raises(PodExecError, match="broke off"):
        websocket_session(client).stream(lambda chunk: None)
    assert time.monotonic() - started < 3


def test_the_spdy_error_stream_is_bounded(pair):
    server, client = pair
    block = b"x" * 60000
    threading.Thread(target=lambda: server.sendall(spdy_data(1, block) + spdy_data(1, block)), daemon=True).start()
    with pytest.raises(PodExecError, match="error stream exceeds %d bytes" % MAX_STATUS_BYTES):
        spdy_session(client).stream(lambda chunk: None)


@pytest.mark.parametrize("frames,message", [
    (spdy_data(1, b"{garbage", fin=True) + spdy_data(3, b"", fin=True) + spdy_data(5, b"", fin=True),
     "status document is not JSON"),
    (spdy.control_frame(spdy.RST_STREAM, 0, b"\x00"), "at least 4 expected"),
    (struct.pack("!HHI", 0x8000 | 2, spdy.PING, 4) + b"\x00\x00\x00\x01", "SPDY version 2"),
    (spdy.data_header(3, 100) + b"short", "broke off"),
])
def test_malformed_spdy_input_is_a_clean_failure(pair, frames, message):
    server, client = pair
    client.settimeout(0.5)
    server.sendall(frames)
    with pytest.raises(PodExecError, match=message):
        spdy_session(client).stream(lambda chunk: None)


@pytest.mark.parametrize("status", [{}, {"status": "Failure", "details": "x"}, {"details": {"causes": ["x"]}}])
def test_odd_status_documents_fail_with_a_message(status):
    with pytest.raises(PodExecError, match="exec failed"):
        exit_code(status)


@pytest.fixture
def silent_server():
    """Accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except socket.timeout:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_a_silent_server_times_out_at_the_handshake(silent_server, monkeypatch, transport):
    configuration = Configuration()
    configuration.host = silent_server
    started = time.monotonic()
    with pytest.raises(PodExecError, match="timed out"):
        with PodExec(configuration, "ns", "pod", "c", ["true"], timeout=1, transport=transport):
            pass
    assert time.monotonic() - started < 5


def test_a_non_http_answer_to_the_upgrade_is_a_clean_failure(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer():
        connection = listener.accept()[0]
        connection.recv(65536)
        connection.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        connection.close()
    threading.Thread(target=answer, daemon=True).start()
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:%d" % listener.getsockname()[1]
    with pytest.raises(PodExecError, match="not an HTTP response"):
        with PodExec(configuration, "ns", "pod", "c", ["true"], timeout=2, transport="spdy"):
            pass
    listener.close()
