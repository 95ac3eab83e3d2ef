"""A real redis-server on loopback for unit tests (Debian's redis-server)."""

import os
import shutil
import socket
import subprocess
import time

import pytest

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
    def __init__(self, directory, user=None):
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed: run `make host-deps`")
        self.directory = str(directory)
        self.port = free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
                   "--requirepass", PASSWORD, "--save", "", "--appendonly", "no", "--daemonize", "no"]
        if user:
            command = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + command
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("PING").strip() != "PONG":
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start on port %d" % self.port)
            time.sleep(0.05)

    def cli(self, *args):
        result = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
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
