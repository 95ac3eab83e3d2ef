"""The failover drill's bookkeeping: the writer's log, the longest pause, the missing-key count on a real server."""

import os
import subprocess

from redis_server import PASSWORD

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.failover_drill import (
    MISSING_LUA, longest_gap, parse_writes)

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


def missing(server, prefix, numbers):
    result = subprocess.run(["redis-cli", "-p", str(server.port), "-x", "EVAL", MISSING_LUA, "1", prefix],
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
