"""The load test's logic (module_utils/load_test.py): the temporary user against a real redis-server, the
benchmark's and the cgroup's output, the verdict."""

import inspect
import json
import os
import subprocess
import sys


from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import load_test, loadgen

PREFIX = "loadtest:42:"


def load_user(server):
    server.cli("ACL", "SETUSER", "loadtest-42", *load_test.load_user_rules(PREFIX))
    return lambda *args: subprocess.run(["redis-cli", "--no-auth-warning", "-p", str(server.port), "--user",
                                         "loadtest-42", "--pass", "any"] + list(args),
                                        capture_output=True, text=True, check=True).stdout.strip()


def test_the_load_user_may_get_and_set_its_own_keys_only(redis_server):
    redis_server.cli("SET", "app:1", "precious")
    as_load = load_user(redis_server)
    assert as_load("SET", PREFIX + "1", "x", "EX", "600") == "OK"
    assert as_load("GET", PREFIX + "1") == "x" and as_load("PING") == "PONG"
    for refused in (("GET", "app:1"), ("SET", "app:1", "y"), ("DEL", PREFIX + "1"), ("FLUSHALL",),
                    ("CONFIG", "GET", "*"), ("KEYS", "*"), ("ACL", "LIST"), ("SUBSCRIBE", "x")):
        assert as_load(*refused).startswith("NOPERM"), refused
    assert redis_server.cli("GET", "app:1").strip() == "precious"


def test_redis_benchmark_logs_in_as_the_load_user_and_its_csv_is_read(redis_server):
    load_user(redis_server)
    script = load_test.SATURATION_SCRIPT.replace("$tls", "")
    env = dict(os.environ, BENCH="redis-benchmark", HOST="127.0.0.1", PORT=str(redis_server.port),
               LOAD_USER="loadtest-42", CONNECTIONS="10", REQUESTS="2000", KEYS="100", PREFIX=PREFIX, VALUE="v" * 64,
               EXPIRE="600")
    log = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    results, other = load_test.parse_benchmark(log)
    assert sorted(results) == ["GET", "SET"] and other == []
    assert all(r["ops_per_second"] > 0 and 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"] for r in results.values())
    key = redis_server.cli("RANDOMKEY").strip()
    assert key.startswith(PREFIX) and 0 < int(redis_server.cli("TTL", key)) <= 600
    assert key[len(PREFIX):].isdigit() and len(key) == len(PREFIX) + 12  # the same keys as redis-benchmark's
    assert int(redis_server.cli("DBSIZE")) <= 100


def test_a_benchmark_that_could_not_connect_reports_why():
    results, other = load_test.parse_benchmark("Could not connect to Redis at 10.0.0.1:6379: refused\nFAILED SET 1\n")
    assert results == {} and other == ["Could not connect to Redis at 10.0.0.1:6379: refused", "FAILED SET 1"]


def test_the_generator_runs_from_its_source_as_the_pod_runs_it(redis_server):
    """python3 -c <source>: what the open-loop pod runs, with the load user's key prefix and TTL."""
    load_user(redis_server)
    result = subprocess.run([sys.executable, "-c", inspect.getsource(loadgen), "--host", "127.0.0.1", "--port",
                             str(redis_server.port), "--user", "loadtest-42", "--rate", "200", "--connections",
                             "5", "--seconds", "1", "--prefix", PREFIX, "--expire", "600", "--get-ratio", "0.5"],
                            env=dict(os.environ, REDISCLI_AUTH="nopass"), capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert load_test.failed_requests(report) == 0 and report["commands"]["SET"]["count"] > 0
    key = redis_server.cli("RANDOMKEY").strip()
    assert key.startswith(PREFIX) and 0 < int(redis_server.cli("TTL", key)) <= 600
    assert key[len(PREFIX):].isdigit() and len(key) == len(PREFIX) + 12  # the same keys as redis-benchmark's


def test_cgroup_throttling_is_read_from_v2_and_v1():
    v2 = "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 50\nnr_throttled 7\nthrottled_usec 2500000\n"
    v1 = "nr_periods 50\nnr_throttled 3\nthrottled_time 1500000000\n"
    assert load_test.parse_cpu_stat(v2) == (7, 2.5) and load_test.parse_cpu_stat(v1) == (3, 1.5)
    assert load_test.parse_cpu_stat("") == (None, None)


def test_server_usage_is_cpu_percent_of_a_core_errors_and_throttling():
    before = load_test.server_sample("used_cpu_user:1.0\r\nused_cpu_sys:0.5\r\ntotal_error_replies:3\r\n"
                                     "errorstat_NOPERM:count=3\r\n", "nr_throttled 1\nthrottled_usec 1000000\n", 100.0)
    after = load_test.server_sample("used_cpu_user:2.0\r\nused_cpu_sys:1.0\r\ntotal_error_replies:5\r\n"
                                    "errorstat_NOPERM:count=4\r\nerrorstat_ERR:count=1\r\n",
                                    "nr_throttled 4\nthrottled_usec 3500000\n", 110.0)
    assert load_test.server_usage(before, after) == {"cpu_percent": 15.0, "error_replies": 2,
                                                     "error_replies_by_type": {"NOPERM": 1, "ERR": 1},
                                                     "throttled_periods": 3, "throttled_seconds": 2.5}
    unreadable = load_test.server_sample("used_cpu_user:1\r\nused_cpu_sys:1\r\n", "", 100.0)
    assert load_test.server_usage(unreadable, unreadable)["throttled_periods"] is None


def run_report(get_p95, set_p95=1.0, connect_p95=2.0, errors=0, cpu=30.0, lag=0.1, ops=10000.0):
    command = {"count": 100, "p50_ms": 0.2, "p95_ms": get_p95, "p99_ms": get_p95, "max_ms": get_p95,
               "errors": errors}
    return {"rate_asked": 10000, "connections": 500, "ops_per_second": ops, "missing_replies": 0,
            "commands": {"GET": command, "SET": dict(command, p95_ms=set_p95, errors=0)},
            "connect": {"p95_ms": connect_p95}, "send_lag": {"p95_ms": lag},
            "server": {"cpu_percent": cpu, "throttled_seconds": 0}}


def report(**runs):
    commands = {"SET": {"ops_per_second": 30000.0, "p95_ms": 50}, "GET": {"ops_per_second": 35000.0, "p95_ms": 40}}
    saturation = {"tool": "redis-benchmark", "server": {"cpu_percent": 99, "throttled_seconds": 0},
                  "commands": commands}
    base = {"saturation": saturation, "through_service": run_report(0.5), "at_pod": run_report(0.45),
            "load": {"connections": 500}}
    base.update(runs)
    return base


def verdict(found):
    tester = load_test.LoadTest.__new__(load_test.LoadTest)
    return tester.verdict(found, dict(load_test.TARGETS))


def test_a_run_within_every_target_misses_nothing_and_says_so():
    found = verdict(report())
    assert found["missed"] == [] and found["warnings"] == [] and found["service_direct_p95_ratio"] == 1.11
    assert found["summary"][-1] == "Targets: met" and "aof_cpu_points" not in found


def test_each_target_missed_is_named():
    found = verdict(report(through_service=run_report(1.5, set_p95=2.5, connect_p95=12, errors=4),
                           without_aof=run_report(0.5, cpu=20.0)))
    missed = "\n".join(found["missed"])
    for expected in ("GET p95 1.5 ms", "SET p95 2.5 ms", "connection set-up p95 12", "AOF costs 10.0 points",
                     "Service/direct GET p95 ratio 3.33", "through_service: 4 requests failed"):
        assert expected in missed
    assert found["aof_cpu_points"] == 10.0 and found["summary"][-1].startswith("Targets: MISSED")
    slow = report()
    slow["saturation"]["commands"]["SET"]["ops_per_second"] = 9000.0
    assert verdict(slow)["missed"] == ["saturation 9000 ops/s (target > 10000)"]


def test_a_generator_that_lagged_or_fell_short_is_a_warning_not_a_pass_of_the_server():
    found = verdict(report(at_pod=run_report(0.45, lag=0.4, ops=8000.0)))
    assert len(found["warnings"]) == 2 and all(w.startswith("at_pod:") for w in found["warnings"])


def test_a_mix_of_gets_only_is_not_judged_on_sets():
    only_gets = run_report(0.5)
    only_gets["commands"]["SET"] = {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None,
                                    "errors": 0}
    assert verdict(report(through_service=only_gets))["missed"] == []


def test_a_run_lasts_at_most_its_claims_time():
    tester = load_test.LoadTest.__new__(load_test.LoadTest)
    tester.timeout, tester.load = 180, {"seconds": 30}
    assert tester.longest_seconds(True) > tester.longest_seconds(False) > 2 * 30 + 180 * 2
