"""The health report's judgement, on facts from a real redis-server and a real df."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import (
    assess,
    disk_facts,
    exporter_facts,
    read_server,
    render_text,
)
from redis_server import RedisServer


def healthy_pod():
    return {"name": "r-0", "phase": "Running", "ready": True, "restarts": {"redis": 0, "exporter": 0}}


def report_of(server, **parts):
    report = {"namespace": "ns", "statefulset": "r", "pod": healthy_pod(), "server": read_server(server.cli),
              "exporter": {"reachable": True, "redis_up": 1.0, "scrape_error": 0.0}}
    report.update(parts)
    return report


def test_a_fresh_server_is_healthy_and_every_section_is_reported(redis_server):
    report = report_of(redis_server)
    problems, warnings = assess(report)
    assert (problems, warnings) == ([], [])
    server = report["server"]
    assert server["role"] == "master" and server["clients"]["maxclients"] > 0
    assert server["memory"]["used_ratio"] is None  # no maxmemory: no ratio, no division by zero
    text = render_text(report, problems, warnings)
    assert text[0] == "ns/r: HEALTHY"
    assert any(line.startswith("memory ") and "unlimited" in line for line in text)


def test_memory_near_maxmemory_is_a_problem(redis_server):
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    redis_server.cli("CONFIG", "SET", "maxmemory", "4mb")
    redis_server.cli("EVAL", "for i=1,20000 do redis.call('SET','k'..i,string.rep('x',400)) end", "0")
    report = report_of(redis_server)
    problems, dummy = assess(report)
    assert report["server"]["memory"]["used_ratio"] > 0.9
    assert [p for p in problems if p.startswith("memory used of maxmemory at ") and p.endswith("(limit 90%)")]
    assert report["server"]["evicted_keys_total"] > 0


def test_rejected_connections_and_client_usage_are_judged_against_maxclients(redis_server):
    redis_server.cli("CONFIG", "SET", "maxclients", "2")
    held = [socket.create_connection(("127.0.0.1", redis_server.port)) for dummy in range(3)]
    replies = []
    for connection in held:
        connection.sendall(b"PING\r\n")
        replies.append(connection.recv(64))
    for connection in held[1:]:
        connection.close()
    try:
        report = report_of(redis_server)  # its client is the second of two
    finally:
        held[0].close()
    problems, warnings = assess(report)
    assert replies[2].startswith(b"-ERR max number of clients reached")
    assert report["server"]["clients"]["rejected_connections_total"] >= 1
    assert [w for w in warnings if "connections rejected since start" in w]
    assert "clients of maxclients at 100% (limit 80%)" in problems


def test_a_failed_save_is_a_problem():
    directory = tempfile.mkdtemp(prefix="amp-unit-")  # pytest's tmp_path is closed to other users
    os.chmod(directory, 0o777)
    server = RedisServer(directory, user=65534)  # nobody:nogroup
    try:
        server.cli("SET", "a", "1")
        os.chmod(directory, 0o555)  # the server (nobody) can no longer write its RDB
        server.cli("BGSAVE")
        deadline = time.monotonic() + 10
        while "rdb_last_bgsave_status:err" not in server.cli("INFO", "persistence") and time.monotonic() < deadline:
            time.sleep(0.1)
        problems, dummy = assess(report_of(server))
    finally:
        server.stop()
        shutil.rmtree(directory)
    assert "the last RDB save failed (rdb_last_bgsave_status err)" in problems


def test_a_pod_that_is_not_ready_and_a_silent_server_are_problems():
    report = {"namespace": "ns", "statefulset": "r",
              "pod": dict(healthy_pod(), ready=False, phase="Pending", restarts={"redis": 3}),
              "server_error": "connection refused"}
    problems, warnings = assess(report)
    assert problems == ["pod r-0 is not Ready (phase Pending)", "the server did not answer: connection refused"]
    assert warnings == ["containers restarted: redis 3 times"]
    assert assess({"namespace": "ns", "statefulset": "r", "pod": None}) == (["pod not found"], [])


def test_disk_usage_from_a_real_df():
    facts = disk_facts(subprocess.run(["df", "-Pk", "/"], capture_output=True, text=True, check=True).stdout)
    assert 0 < facts["used_ratio"] < 1 and facts["size_bytes"] > facts["used_bytes"] > 0


def test_disk_and_exporter_limits(redis_server):
    full = {"size_bytes": 100, "used_bytes": 90, "used_ratio": 0.9}
    down = {"reachable": False, "error": "503 Service Unavailable"}
    problems, dummy = assess(report_of(redis_server, disk=full, exporter=down))
    assert "data volume used at 90% (limit 85%)" in problems
    filling = {"size_bytes": 100, "used_bytes": 75, "used_ratio": 0.75}
    assert assess(report_of(redis_server, disk=filling)) == ([], ["data volume used at 75% (warning above 70%)"])
    assert any(p.startswith("the exporter does not answer through the API server's pod proxy: 503 Service Unavailable"
               " (when a NetworkPolicy keeps the control plane out") for p in problems)
    blind = exporter_facts("# HELP redis_up\nredis_up 0\nredis_exporter_last_scrape_error{err=\"x\"} 1\n")
    assert blind == {"reachable": True, "redis_up": 0.0, "scrape_error": 1.0}
    problems, dummy = assess(report_of(redis_server, exporter=blind))
    assert problems == ["the exporter reports redis_up 0.0"]
