"""A real PostgreSQL 15 on loopback for unit tests (Debian's postgresql-15, run as the host's postgres user).

LocalPsql speaks the same interface as module_utils.postgresql.Psql (script, rows) with the host's psql over the
server's socket, so the planning code runs against a real server here exactly as it does in a pod.
"""

import json
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

BIN = pathlib.Path("/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(command, **kwargs):
    """Run a command as the host's postgres user (the server refuses to run as root)."""
    prefix = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run(prefix + [str(c) for c in command], check=True, capture_output=True, text=True, **kwargs)


class LocalServer(object):
    def __init__(self, base):
        self.base, self.port = base, free_port()
        self.data, self.socket_dir = base / "data", base / "run"

    def start(self):
        self.socket_dir.mkdir()
        if os.getuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.base, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        as_postgres([BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=peer",
                     "--auth-host=scram-sha-256", "--no-instructions", "-E", "UTF8", "--locale=C.UTF-8"])
        as_postgres([BIN / "pg_ctl", "-D", self.data, "-w", "-l", self.base / "log", "start", "-o",
                     "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s"
                     % (self.port, self.socket_dir)])

    def stop(self):
        as_postgres([BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])


class LocalPsql(object):
    """module_utils.postgresql.Psql's interface, on the host."""

    def __init__(self, server):
        self.server = server

    def script(self, sql, database="postgres"):
        return as_postgres([BIN / "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            self.server.socket_dir, "-p", self.server.port, "-U", "postgres", "-d", database,
                            "-f", "-"], input=sql).stdout

    def rows(self, query, database="postgres"):
        return json.loads(self.script("SELECT coalesce(json_agg(q), '[]') FROM (%s) q;\n" % query, database))

    def login(self, user, password, database="postgres", sql="SELECT current_user"):
        """Log in over TCP with a password, as a client would, and run `sql`; psql's result."""
        return subprocess.run([str(BIN / "psql"), "-XAtw", "-h", "127.0.0.1", "-p", str(self.server.port), "-U", user,
                               "-d", database, "-c", sql],
                              env=dict(os.environ, PGPASSWORD=password), capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def postgresql_server():
    if not (BIN / "postgres").exists():
        pytest.fail("postgresql-15 is not installed: run tests/host-deps.sh")
    base = pathlib.Path(tempfile.mkdtemp(prefix="amp-pg-"))
    server = LocalServer(base)
    server.start()
    try:
        yield LocalPsql(server)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
