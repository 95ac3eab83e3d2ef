"""The PostgreSQL health report's facts and judgement, on what a real PostgreSQL 15 answers."""

import os
import subprocess
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import read_limits
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import rowsets
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_health import (
    DEFAULT_LIMITS,
    SERVER_QUERIES,
    assess,
    render_text,
    server_facts,
)

from postgresql_server import BIN

POD = {"name": "p-0", "phase": "Running", "ready": True, "restarts": {"postgresql": 0, "exporter": 0}}


def report_of(psql, **extra):
    report = {"namespace": "ns", "statefulset": "p", "pod": POD, "server": server_facts(rowsets(psql, SERVER_QUERIES)),
              "disk": {"size_bytes": 10 << 30, "used_bytes": 1 << 30, "used_ratio": 0.1},
              "exporter": {"reachable": True, "pg_up": 1.0, "scrape_error": 0.0}}
    report.update(extra)
    return report


def test_a_quiet_server_is_healthy_and_its_facts_are_real(postgresql_server):
    report = report_of(postgresql_server)
    server = report["server"]
    assert server["version"].startswith("15.") and server["in_recovery"] is False
    assert server["max_connections"] == 100 and server["connections"]["total"] >= 1
    assert "postgres" in server["databases"] and server["databases"]["postgres"]["xid_age"] > 0
    assert server["pending_restart"] == [] and server["slots"] == {}
    assert assess(report) == ([], [])
    text = render_text(report, [], [])
    assert text[0] == "PostgreSQL ns/p" and any(line.startswith("connections ") for line in text)


def test_a_session_idle_in_a_transaction_and_a_low_limit_are_judged(postgresql_server):
    session = subprocess.Popen(["runuser", "-u", "postgres", "--", str(BIN / "psql"), "-X", "-q", "-h",
                                str(postgresql_server.server.socket_dir), "-p", str(postgresql_server.server.port),
                                "-U", "postgres", "-d", "postgres"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) if os.getuid() == 0 else None
    if session is None:
        pytest.skip("needs root to run psql as postgres")
    try:
        session.stdin.write("BEGIN; SELECT txid_current();\n")
        session.stdin.flush()
        time.sleep(2.5)
        report = report_of(postgresql_server)
        limits = dict(DEFAULT_LIMITS, idle_in_transaction_seconds=1, connections_critical_ratio=0.01)
        problems, concerns = assess(report, limits)
    finally:
        session.stdin.close()
        session.wait(timeout=10)
    assert report["server"]["transactions"]["idle_in_transaction_seconds"] >= 2
    assert any(c.startswith("a session has been idle in a transaction for") for c in concerns), concerns
    assert any(p.startswith("connections of max_connections at") for p in problems), problems


def test_a_pod_not_ready_a_silent_exporter_and_a_full_volume_are_problems(postgresql_server):
    report = report_of(postgresql_server, pod=dict(POD, ready=False, restarts={"postgresql": 2}),
                       exporter={"reachable": True, "pg_up": 0.0, "scrape_error": 1.0},
                       disk={"size_bytes": 100, "used_bytes": 90, "used_ratio": 0.9})
    problems, concerns = assess(report)
    assert problems == ["pod p-0 is not Ready (phase Running)", "data volume used at 90% (limit 85%)",
                        "the exporter reports pg_up 0.0 (it cannot query the server as the monitoring role)"]
    assert concerns == ["containers restarted: postgresql 2 times"]
    assert assess({"pod": None}) == (["pod not found"], [])


def test_a_wal_archiver_that_does_not_stream_is_a_problem_and_without_one_nothing_is_asked(postgresql_server):
    archive = {"statefulset": "p-wal-archive", "slot": "alertmanagerpp_wal_archive", "ready_replicas": 0}
    assert assess(report_of(postgresql_server, wal_archive=archive))[0] == [
        "the WAL archiver has no replication slot: it never reached the server"]
    postgresql_server.script("SELECT pg_create_physical_replication_slot('alertmanagerpp_wal_archive', true);\n"
                             "SELECT pg_switch_wal();\nCREATE TABLE slot_held AS SELECT generate_series(1, 100000);\n")
    try:
        report = report_of(postgresql_server, wal_archive=archive)
        problems = assess(report)[0]
        assert len(problems) == 1 and problems[0].startswith("the WAL archiver does not stream; the server holds ")
        assert report["server"]["slots"]["alertmanagerpp_wal_archive"]["retained_bytes"] > 1000000
        assert "WAL archive p-wal-archive: NOT streaming" in " ".join(render_text(report, problems, []))
        assert assess(report_of(postgresql_server)) == ([], [])
    finally:
        postgresql_server.script("SELECT pg_drop_replication_slot('alertmanagerpp_wal_archive');\n"
                                 "DROP TABLE slot_held;\n")


def test_unknown_or_non_numeric_limits_are_refused():
    assert read_limits({"xid_age_warning": "10"}, DEFAULT_LIMITS) == {"xid_age_warning": 10.0}
    with pytest.raises(DatastoresError, match="unknown limits memory_critical_ratio"):
        read_limits({"memory_critical_ratio": 1}, DEFAULT_LIMITS)
    with pytest.raises(DatastoresError, match="must be numbers"):
        read_limits({"xid_age_warning": "many"}, DEFAULT_LIMITS)
