"""The switchover script (sentinel_roll.SWITCHOVER_SCRIPT) run by sh against real servers and a real Sentinel.

A primary on 127.0.0.1, its replica on 127.0.0.2 on the same port (two
addresses, one port, as the pods' Services have), one Sentinel watching
them, all with passwords. The script runs as it runs in the primary's container: the
server on localhost, the Sentinel by address, passwords on stdin.
"""

import os
import subprocess
import time

import pytest

from redis_server import free_port, wait_until

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import SWITCHOVER_SCRIPT
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import flags_by_address

PASSWORD, SENTINEL_PASSWORD = "server password", "sentinel password"


def cli(host, port, password, *args, timeout=5):
    return subprocess.run(["timeout", str(timeout), "redis-cli", "-h", host, "-p", str(port)] + [str(a) for a in args],
                          env=dict(os.environ, REDISCLI_AUTH=password), capture_output=True, text=True,
                          check=False).stdout.strip()


@pytest.fixture
def watched_pair(tmp_path):
    """(server port, Sentinel port), the Sentinel seeing the replica."""
    port, sentinel_port = free_port(), free_port()
    ports = port, port, sentinel_port
    processes = []
    for host, port, extra in (("127.0.0.1", ports[0], []),
                              ("127.0.0.2", ports[1], ["--replicaof", "127.0.0.1", str(ports[0]),
                                                       "--replica-announce-ip", "127.0.0.2"])):
        directory = tmp_path / host
        directory.mkdir()
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", host, "--dir", str(directory), "--save", "",
             "--appendonly", "no", "--requirepass", PASSWORD, "--masterauth", PASSWORD,
             "--repl-diskless-sync-delay", "0"] + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        # The replica linked before the Sentinel starts: the Sentinel's first INFO on the primary then lists it,
        # instead of its next one 10 s later (which a busy machine pushed past the wait).
        wait_until(lambda: "master_link_status:up" in cli("127.0.0.2", ports[1], PASSWORD, "INFO", "replication"),
                   timeout=60)
        config = tmp_path / "sentinel.conf"
        config.write_text("port %d\nbind 127.0.0.1\ndir %s\nrequirepass \"%s\"\n"
                          "sentinel monitor m 127.0.0.1 %d 1\nsentinel auth-pass m \"%s\"\n"
                          "sentinel down-after-milliseconds m 5000\n"
                          % (ports[2], tmp_path, SENTINEL_PASSWORD, ports[0], PASSWORD))
        processes.append(subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Known and connected (flags exactly "slave"): a replica still "disconnected" is no failover candidate.
        wait_until(lambda: flags_by_address(cli("127.0.0.1", ports[2], SENTINEL_PASSWORD, "SENTINEL", "REPLICAS",
                                                "m")).get("127.0.0.2") == "slave", timeout=60)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def switchover(ports, replicas="127.0.0.2", pause_ms=30000):
    args = ["redis-cli", ports[0], pause_ms, replicas, "m", ports[2], "127.0.0.1", "", "127.0.0.1"]
    started = time.monotonic()
    completed = subprocess.run(["sh", "-c", SWITCHOVER_SCRIPT, "sh"] + [str(a) for a in args],
                               input="%s\n%s\n" % (PASSWORD, SENTINEL_PASSWORD), capture_output=True, text=True,
                               check=False, timeout=60)
    return completed, time.monotonic() - started


def test_the_primary_hands_over_every_write_and_becomes_a_replica(watched_pair):
    primary, replica, sentinel = watched_pair
    assert cli("127.0.0.1", primary, PASSWORD, "EVAL", "for i=1,500 do redis.call('SET','k'..i,i) end", 0) == ""
    completed, seconds = switchover(watched_pair)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.split()[-1] == "127.0.0.2"
    print("switchover took %.2f s" % seconds)
    assert cli("127.0.0.1", sentinel, SENTINEL_PASSWORD, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "m").split()[0] == (
        "127.0.0.2")
    assert cli("127.0.0.2", replica, PASSWORD, "DBSIZE") == "500"
    old = cli("127.0.0.1", primary, PASSWORD, "INFO", "replication")
    assert "role:slave" in old and "master_host:127.0.0.2" in old
    # Not paused any more: a write is refused at once (READONLY), not held.
    assert cli("127.0.0.1", primary, PASSWORD, "SET", "late", "1", timeout=2).startswith("READONLY")


def test_replicas_that_do_not_catch_up_stop_it_and_writes_resume(watched_pair):
    primary, replica, sentinel = watched_pair
    # A second replica that does not answer: the offsets are never all there.
    completed, seconds = switchover(watched_pair, replicas="127.0.0.2 127.0.0.3")
    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert "did not reach the primary's offset in 3 s" in completed.stdout
    assert cli("127.0.0.1", primary, PASSWORD, "SET", "after", "1", timeout=2) == "OK"
    assert "role:master" in cli("127.0.0.1", primary, PASSWORD, "INFO", "replication")
    assert seconds < 10
