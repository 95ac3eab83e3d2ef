"""Benchmark the standard profile's load targets on the warm local cluster (playbooks/load_test.yml).

Deploys three instances side by side in one namespace, then runs the load
test against each in turn, ROUNDS times (the order alternates, so a noisy
moment of the machine does not land on one configuration only):

  tuned      the collection's configuration and resource defaults
  defaults   the server's own defaults where the collection differs
             (appendonly no, the default save points, noeviction, lazyfree
             off, latency monitor off): the baseline of the configuration
  cpu-limit  the collection's configuration with a CPU limit of 500m (the
             default before this benchmark chose none)

Each load test: redis-benchmark at saturation (CONNECTIONS connections),
then the open-loop generator at RATE requests/s over CONNECTIONS connections
(80 % GET, 256-byte values) through the client Service and directly at the
pod. Prints the medians over the rounds and the ratios: through the Service
over directly at the pod (the Service's cost), tuned over defaults, the CPU
limit over none. Goals: GET p95 < 1 ms and SET p95 < 2 ms through the
Service; Service/direct p95 <= 1.2.

Run: .venv/bin/python bench/bench_load.py [ROUNDS [SECONDS]]   (defaults 3 20)
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from benchlib import ENV, PLAYBOOK, ROOT, kubectl  # noqa: E402

CONNECTIONS, RATE = 500, 10000
RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
SERVER_DEFAULTS = {"redis_appendonly": False, "redis_lazyfree": False, "redis_latency_monitor_threshold": 0,
                   "redis_maxmemory_policy": "noeviction", "redis_save": ["3600 1", "300 100", "60 10000"]}
INSTANCES = {
    "tuned": {},
    "defaults": SERVER_DEFAULTS,
    "cpu-limit": {"redis_resources": {"requests": RESOURCES["requests"],
                                      "limits": dict(RESOURCES["limits"], cpu="500m")}},
}


def playbook(name, variables, *args, check=True):
    result = subprocess.run([PLAYBOOK, "playbooks/%s.yml" % name, "-e", json.dumps(variables)] + list(args),
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (name, result.stdout[-4000:]))
    return result


def variables(namespace, name, extra):
    return dict({"profile": "standard", "redis_namespace": namespace, "redis_name": "bench-" + name,
                 "redis_resources": RESOURCES, "redis_test_target": True,
                 "redis_drill_load_connections": CONNECTIONS, "redis_drill_load_rate": RATE}, **extra)


def load(namespace, name, seconds, directory):
    """One load test's report (a missed target is a result here, not a failure)."""
    report = os.path.join(directory, "%s.json" % name)
    result = playbook("load_test", dict(variables(namespace, name, INSTANCES[name]),
                                        redis_drill_load_seconds=seconds), "-e", "report=" + report, check=False)
    if not os.path.exists(report):
        sys.exit("load test of %s wrote no report:\n%s" % (name, result.stdout[-4000:]))
    with open(report) as handle:
        found = json.load(handle)
    os.remove(report)
    return found


def numbers(report):
    service, direct = report["through_service"], report["at_pod"]
    return {"saturation_set": report["saturation"]["commands"]["SET"]["ops_per_second"],
            "saturation_get": report["saturation"]["commands"]["GET"]["ops_per_second"],
            "get_p50": service["commands"]["GET"]["p50_ms"], "get_p95": service["commands"]["GET"]["p95_ms"],
            "get_p99": service["commands"]["GET"]["p99_ms"], "set_p95": service["commands"]["SET"]["p95_ms"],
            "set_p99": service["commands"]["SET"]["p99_ms"], "connect_p95": service["connect"]["p95_ms"],
            "direct_get_p95": direct["commands"]["GET"]["p95_ms"],
            "direct_set_p95": direct["commands"]["SET"]["p95_ms"],
            "failed": sum(c["errors"] for c in service["commands"].values()) + service["missing_replies"],
            "cpu": service["server"]["cpu_percent"], "saturation_cpu": report["saturation"]["server"]["cpu_percent"],
            "throttled_s": sum(r["server"]["throttled_seconds"] or 0 for r in (report["saturation"], service)),
            "lag_p95": service["send_lag"]["p95_ms"]}


def median(rounds, key):
    return statistics.median(r[key] for r in rounds)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    namespace = "amp-bench-load-%d" % os.getpid()
    measured = dict((name, []) for name in INSTANCES)
    try:
        for name, extra in INSTANCES.items():
            playbook("deploy", variables(namespace, name, extra))
        with tempfile.TemporaryDirectory() as directory:
            for index in range(rounds):
                order = list(INSTANCES) if index % 2 == 0 else list(reversed(INSTANCES))
                for name in order:
                    measured[name].append(numbers(load(namespace, name, seconds, directory)))
                    print("round %d %-9s %s" % (index + 1, name, json.dumps(measured[name][-1])), flush=True)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    report(measured, rounds, seconds)


def report(measured, rounds, seconds):
    keys = ("saturation_set", "saturation_get", "get_p50", "get_p95", "get_p99", "set_p95", "set_p99",
            "connect_p95", "direct_get_p95", "direct_set_p95", "failed", "cpu", "saturation_cpu", "throttled_s",
            "lag_p95")
    print("\nmedians of %d rounds; open loop %d ops/s over %d connections for %d s; ms unless named"
          % (rounds, RATE, CONNECTIONS, seconds))
    print("%-16s" % "" + "".join("%12s" % name for name in INSTANCES))
    for key in keys:
        print("%-16s" % key + "".join("%12s" % median(measured[name], key) for name in INSTANCES))
    tuned, defaults, limited = (measured[name] for name in INSTANCES)
    print("\nService/direct GET p95 (tuned): %.2f   SET p95: %.2f   (goal <= 1.2)"
          % (median(tuned, "get_p95") / median(tuned, "direct_get_p95"),
             median(tuned, "set_p95") / median(tuned, "direct_set_p95")))
    print("tuned/defaults GET p95: %.2f   saturation SET: %.2f   GET: %.2f"
          % (median(tuned, "get_p95") / median(defaults, "get_p95"),
             median(tuned, "saturation_set") / median(defaults, "saturation_set"),
             median(tuned, "saturation_get") / median(defaults, "saturation_get")))
    print("cpu-limit/none GET p95: %.2f   p99: %.2f   saturation SET: %.2f   throttled %s s against %s s"
          % (median(limited, "get_p95") / median(tuned, "get_p95"),
             median(limited, "get_p99") / median(tuned, "get_p99"),
             median(limited, "saturation_set") / median(tuned, "saturation_set"),
             median(limited, "throttled_s"), median(tuned, "throttled_s")))
    print("goals through the Service (tuned): GET p95 %s ms (< 1), SET p95 %s ms (< 2), connect p95 %s ms (< 10), "
          "saturation %s ops/s (> 10000)" % (median(tuned, "get_p95"), median(tuned, "set_p95"),
                                             median(tuned, "connect_p95"),
                                             min(median(tuned, "saturation_set"), median(tuned, "saturation_get"))))


if __name__ == "__main__":
    main()
