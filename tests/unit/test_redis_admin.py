"""Save-wait logic and RDB location against a real local redis-server."""

import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import redis_admin
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import PodExecError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_file, parse_check_rdb
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    EXEC_ATTEMPTS,
    TLS_CA_FILE,
    RedisAdminError,
    bgsave_and_wait,
    check_reply,
    keyspace,
    parse_info,
    pod_cli,
    rdb_location,
)

from redis_server import PASSWORD, RedisServer


def fill(server, count, prefix="k"):
    pipe = "".join("SET %s:%d v%d\n" % (prefix, i, i) for i in range(count))
    subprocess.run(["redis-cli", "-p", str(server.port)], input=pipe, text=True, capture_output=True,
                   env=dict(os.environ, REDISCLI_AUTH="unit-test-password"), check=True)


def rdb_saves(server):
    return int(parse_info(server.cli("INFO", "persistence"))["rdb_saves"])


def test_bgsave_and_wait_produces_a_new_verified_rdb(redis_server):
    fill(redis_server, 50)
    before = int(redis_server.cli("LASTSAVE"))
    info = bgsave_and_wait(redis_server.cli, timeout=30)
    assert int(info["rdb_last_save_time"]) > before
    path = os.path.join(redis_server.directory, "dump.rdb")
    checked = check_file(path)
    assert checked["crc64_verified"] and checked["rdb_version"] >= 9
    report = parse_check_rdb(subprocess.run(["redis-check-rdb", path], capture_output=True, text=True,
                                            check=False).stdout)
    assert report["ok"] and report["keys"] == 50
    assert keyspace(parse_info(redis_server.cli("INFO", "keyspace"))) == {"db0": {"keys": 50, "expires": 0}}


def test_a_save_already_running_is_waited_out_and_a_new_one_taken(redis_server):
    fill(redis_server, 20)
    redis_server.cli("CONFIG", "SET", "rdb-key-save-delay", "50000")  # 20 keys -> about 1 s
    saves = rdb_saves(redis_server)
    assert "started" in redis_server.cli("BGSAVE")
    threading.Timer(0.3, redis_server.cli, ("CONFIG", "SET", "rdb-key-save-delay", "0")).start()
    bgsave_and_wait(redis_server.cli, timeout=30)
    assert rdb_saves(redis_server) == saves + 2


def test_bgsave_behind_an_aof_rewrite_is_scheduled(redis_server):
    fill(redis_server, 20)
    redis_server.cli("CONFIG", "SET", "rdb-key-save-delay", "50000")
    assert "rewriting" in redis_server.cli("BGREWRITEAOF")
    threading.Timer(0.3, redis_server.cli, ("CONFIG", "SET", "rdb-key-save-delay", "0")).start()
    saves = rdb_saves(redis_server)
    bgsave_and_wait(redis_server.cli, timeout=30)
    assert rdb_saves(redis_server) == saves + 1


def test_a_failing_bgsave_is_reported():
    directory = tempfile.mkdtemp(prefix="amp-unit-")  # pytest's tmp_path is closed to other users
    os.chmod(directory, 0o777)
    server = RedisServer(directory, user=65534)  # nobody:nogroup
    try:
        os.chmod(directory, 0o555)  # the server (nobody) can no longer write its RDB
        with pytest.raises(RedisAdminError, match="BGSAVE failed"):
            bgsave_and_wait(server.cli, timeout=30)
    finally:
        server.stop()
        shutil.rmtree(directory)


def test_wrong_password_is_a_clear_error():
    with pytest.raises(RedisAdminError, match="authentication failed"):
        check_reply("NOAUTH Authentication required.", "LASTSAVE")


def local_shell(script):
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout


def test_rdb_location_with_config_allowed(redis_server):
    assert rdb_location(redis_server.cli, local_shell) == (redis_server.directory, "dump.rdb")


def test_rdb_location_without_config(tmp_path, redis_server):
    redis_server.cli("CONFIG", "SET", "dbfilename", "other.rdb")
    config_file = tmp_path / "redis.conf"
    config_file.write_text("dbfilename first.rdb\ndbfilename other.rdb\n")
    redis_server.cli("ACL", "SETUSER", "default", "-config")
    assert "NOPERM" in redis_server.cli("CONFIG", "GET", "dir")

    def cli(*args):
        reply = redis_server.cli(*args)
        if args[:2] == ("INFO", "server"):  # started without a file: pretend it used config_file
            reply = reply.replace("config_file:", "config_file:%s" % config_file)
        return reply

    assert rdb_location(cli, local_shell) == (redis_server.directory, "other.rdb")


class BreaksFirstExecs(object):
    """Stands in for pod_exec.run: the first `broken` execs break off, the rest run the command here.

    The command is the one pod_cli builds (the sh prelude reading the password
    from stdin, then redis-cli), pointed at the local server's port.
    """

    def __init__(self, server, broken, ca_file="/nonexistent/ca.crt"):
        self.server, self.broken, self.calls, self.ca_file = server, broken, [], ca_file

    def __call__(self, configuration, namespace, pod, container, command, stdin_data=b"", timeout=60):
        self.calls.append(command)
        if len(self.calls) <= self.broken:
            raise PodExecError("exec in %s/%s broke off: connection closed in the middle of a frame" % (namespace, pod))
        command = [str(self.server.port) if word == "6379" else word.replace(TLS_CA_FILE, self.ca_file)
                   for word in command]
        result = subprocess.run(command, input=stdin_data, capture_output=True, check=False)
        return result.returncode, result.stdout, result.stderr


def broken_cli(monkeypatch, server, broken, ca_file="/nonexistent/ca.crt"):
    fake = BreaksFirstExecs(server, broken, ca_file)
    monkeypatch.setattr(redis_admin, "run", fake)
    monkeypatch.setattr(redis_admin.time, "sleep", lambda seconds: None)
    return fake, pod_cli(None, "ns", "pod", "redis", PASSWORD)


@pytest.mark.parametrize("command", [("TIME",), ("INFO", "persistence"), ("LASTSAVE",), ("config", "get", "save")])
def test_a_read_whose_exec_broke_off_is_sent_again(monkeypatch, redis_server, command):
    fake, cli = broken_cli(monkeypatch, redis_server, broken=EXEC_ATTEMPTS - 1)
    assert cli(*command).strip()
    assert len(fake.calls) == EXEC_ATTEMPTS


def test_a_write_whose_exec_broke_off_is_not_sent_again(monkeypatch, redis_server):
    fake, cli = broken_cli(monkeypatch, redis_server, broken=1)
    with pytest.raises(PodExecError, match="broke off"):
        cli("INCR", "counter")
    assert len(fake.calls) == 1
    assert redis_server.cli("GET", "counter").strip() == ""


def test_a_read_gives_up_after_the_last_attempt(monkeypatch, redis_server):
    fake, cli = broken_cli(monkeypatch, redis_server, broken=EXEC_ATTEMPTS)
    with pytest.raises(PodExecError, match="broke off"):
        cli("TIME")
    assert len(fake.calls) == EXEC_ATTEMPTS


def test_the_cli_speaks_tls_when_the_container_mounts_the_ca(monkeypatch, tls_server):
    server, ca_file = tls_server
    fake, cli = broken_cli(monkeypatch, server, broken=0, ca_file=ca_file)
    assert cli("PING").strip() == "PONG"
    assert cli("SET", "k", "over tls").strip() == "OK"
    assert server.cli("GET", "k").strip() == "over tls"


def test_without_the_ca_the_cli_speaks_plaintext_and_a_tls_only_server_refuses_it(
        monkeypatch, tls_server, redis_server):
    fake, cli = broken_cli(monkeypatch, redis_server, broken=0)
    assert cli("PING").strip() == "PONG"
    server, ca_file = tls_server
    fake, cli = broken_cli(monkeypatch, server, broken=0)
    with pytest.raises(RedisAdminError):
        cli("PING")
