"""A real redis-server on loopback for unit tests (Debian's redis-server)."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import generate_ca, generate_leaf

PASSWORD = "unit-test-password"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout=20):
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class RedisServer:
    def __init__(self, directory, user=None, tls_dir=None):
        """A server on a free port; with tls_dir (tls.crt, tls.key, ca.crt there), on TLS only."""
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed: run `make host-deps`")
        self.directory = str(directory)
        self.port = free_port()
        listen = ["--port", str(self.port)]
        self.cli_options = []
        if tls_dir:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", "%s/tls.crt" % tls_dir,
                      "--tls-key-file", "%s/tls.key" % tls_dir, "--tls-ca-cert-file", "%s/ca.crt" % tls_dir,
                      "--tls-auth-clients", "no"]
            self.cli_options = ["--tls", "--cacert", "%s/ca.crt" % tls_dir]
        command = ["redis-server"] + listen + ["--bind", "127.0.0.1", "--dir", self.directory,
                                               "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
                                               "--daemonize", "no"]
        if user:
            command = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + command
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING").strip() != "PONG":
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start on port %d" % self.port)
            time.sleep(0.05)

    def cli(self, *args):
        result = subprocess.run(["redis-cli"] + self.cli_options + ["-p", str(self.port)] + [str(a) for a in args],
                                env=dict(os.environ, REDISCLI_AUTH=PASSWORD),
                                capture_output=True, text=True, check=False)
        return result.stdout

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def tls_server(tmp_path):
    """(server, CA file): a server speaking TLS only, its certificate from the collection's own CA code."""
    ca_key, ca_cert = generate_ca("unit CA", 30)
    key, cert = generate_leaf(ca_key, ca_cert, "unit", ["localhost"], ["127.0.0.1"], 30)
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    for name, text in (("ca.crt", ca_cert), ("tls.crt", cert), ("tls.key", key)):
        (tls_dir / name).write_text(text)
    data = tmp_path / "data"
    data.mkdir()
    server = RedisServer(data, tls_dir=str(tls_dir))
    yield server, str(tls_dir / "ca.crt")
    server.stop()
