"""The drills' bookkeeping: the writer's log, the longest pause, the missing-key count on a real server."""

import os
import pathlib
import subprocess

from redis_server import PASSWORD

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    CLIENT_OF_LABEL, MISSING_LUA, Writer, longest_gap, parse_writes)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import HELPER_CPU_LIMIT, bounded
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.crash_drill import (
    lost_write_seconds, missed_targets, restarts)

LOG = """A 1 1000000000000
A 2 1000100000000
F 3 1001000000000
F 4 1002000000000
A 5 1007500000000
garbage line
A 6 1007600000000
END
"""


def test_the_writers_log_gives_acks_failures_and_times():
    acked, failed, times = parse_writes(LOG)
    assert acked == [1, 2, 5, 6]
    assert failed == 2
    assert round(longest_gap(times), 2) == 7.4


def test_no_gap_without_two_acknowledgements():
    assert longest_gap([]) == 0.0
    assert longest_gap([5.0]) == 0.0


def missing(server, prefix, numbers, listed=5):
    result = subprocess.run(["redis-cli", "-p", str(server.port), "-x", "EVAL", MISSING_LUA, "1", prefix, str(listed)],
                            input=" ".join(str(n) for n in numbers).encode(),
                            env=dict(os.environ, REDISCLI_AUTH=PASSWORD), capture_output=True, check=True)
    return result.stdout.decode().strip()


def test_missing_keys_are_counted_on_a_real_server(redis_server):
    # Bulk write all but two, through one pipe.
    commands = "".join("SET drill:1:%d %d\n" % (n, n) for n in range(1, 3001) if n not in (17, 2500))
    subprocess.run(["redis-cli", "-p", str(redis_server.port)], input=commands.encode(),
                   env=dict(os.environ, REDISCLI_AUTH=PASSWORD), capture_output=True, check=True)
    assert missing(redis_server, "drill:1:", range(1, 3001)) == "2 17,2500"
    assert missing(redis_server, "drill:1:", [1, 2, 3]) == "0"
    assert missing(redis_server, "drill:1:", range(1, 3001), listed=1) == "2 17"
    assert missing(redis_server, "drill:1:", range(1, 3001), listed=3000) == "2 17,2500"


def test_lost_writes_are_measured_in_seconds_of_writing():
    acked, dummy, times = parse_writes(LOG)
    assert lost_write_seconds(acked, times, []) == 0.0
    assert lost_write_seconds(acked, times, [2]) == 0.0  # one write: no span
    assert round(lost_write_seconds(acked, times, [2, 5, 6]), 2) == 7.5
    assert lost_write_seconds(acked, times, [99]) == 0.0  # never acknowledged: not a lost write


def test_restarts_count_only_the_named_container():
    pod = {"status": {"containerStatuses": [{"name": "redis", "restartCount": 2},
                                            {"name": "exporter", "restartCount": 5}]}}
    assert restarts(pod, "redis") == 2
    assert restarts({}, "redis") == 0


def report(**measured):
    base = {"variant": "kill", "write_unavailable_seconds": 2.0, "ready_seconds": 9.0, "lost_writes": 0,
            "lost_write_seconds": 0.0}
    return dict(base, **measured)


def test_a_crash_report_names_each_target_it_misses():
    assert missed_targets(report(), 30, 1) == []
    assert missed_targets(report(ready_seconds=31.0), 30, 1) == ["kill: Ready again took 31.0 s (target 30 s)"]
    assert missed_targets(report(write_unavailable_seconds=40.0, ready_seconds=41.0), 30, 1) == [
        "kill: answering again took 40.0 s (target 30 s)", "kill: Ready again took 41.0 s (target 30 s)"]
    assert missed_targets(report(lost_writes=3, lost_write_seconds=0.5), 30, 1) == []
    assert missed_targets(report(lost_writes=3, lost_write_seconds=1.5), 30, 1) == [
        "kill: 3 acknowledged writes lost, 1.500 s of writing (target 1 s)"]
    assert missed_targets(report(lost_writes=1), 30, 0) == [
        "kill: 1 acknowledged writes lost, 0.000 s of writing (target 0 s)"]


def test_the_writer_pod_carries_the_label_the_network_policy_admits():
    image = {"image": "redis", "pull_policy": "Never", "resources": {}, "tls_secret": "x-tls"}
    writer = Writer(None, "ns", "x-crash-1", "x", "crash-drill", image, "redis", 6379, ("app", ("x-auth", "password")),
                    [], 60)
    pod = writer.manifest()
    assert pod["metadata"]["labels"][CLIENT_OF_LABEL] == "x"
    assert pod["spec"]["volumes"][0]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]  # the CA only
    rules = pathlib.Path(__file__).resolve().parents[2] / "roles/redis/templates/networkpolicy-rules.yml.j2"
    assert "{'%s': redis_name}" % CLIENT_OF_LABEL in rules.read_text()


def test_a_helper_pod_always_has_a_cpu_limit_even_when_the_server_has_none():
    assert bounded({"requests": {"cpu": "250m"}, "limits": {"memory": "512Mi"}})["limits"] == {
        "memory": "512Mi", "cpu": HELPER_CPU_LIMIT}
    assert bounded({"limits": {"cpu": "3", "memory": "1Gi"}})["limits"] == {"cpu": "3", "memory": "1Gi"}
    assert bounded({})["limits"] == {"cpu": HELPER_CPU_LIMIT}
