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

Then, with FILL_KEYS keys of 200 bytes in tuned and cpu-limit, one more load
test of each while BGSAVE runs back to back (what a backup does: the forked
child compresses the dataset in the server's own cgroup, so under a CPU
limit it takes the main thread's quota).

Each load test: redis-benchmark at saturation (CONNECTIONS connections),
then the open-loop generator at RATE requests/s over CONNECTIONS connections
(80 % GET, 256-byte values) through the client Service and directly at the
pod. Prints the medians over the rounds and the ratios: through the Service
over directly at the pod (the Service's cost), tuned over defaults, the CPU
limit over none. Goals: GET p95 < 1 ms and SET p95 < 2 ms through the
Service; Service/direct p95 <= 1.2.

Run: .venv/bin/python bench/bench_load.py [ROUNDS [SECONDS]]   (defaults 3 20)
"""

import base64
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "collections"))

from benchlib import ENV, KUBECONFIG, PLAYBOOK, ROOT, kubectl  # noqa: E402
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import (  # noqa: E402
    kube_configuration)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli  # noqa: E402

CONNECTIONS, RATE = 500, 10000
FILL_KEYS = 600000
FILL_LUA = "for i = ARGV[1], ARGV[2] do redis.call('SET', 'fill:' .. i, string.rep('x', 200)) end return 1"
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


def admin(namespace, name):
    secret = json.loads(kubectl("get", "secret", "-n", namespace, "bench-%s-users" % name, "-o", "json"))
    password = base64.b64decode(secret["data"]["admin"]).decode()
    configuration = kube_configuration({"kubeconfig": KUBECONFIG})
    return pod_cli(configuration, namespace, "bench-%s-0" % name, "redis", password, timeout=300, user="admin")


def fill(cli):
    for start in range(1, FILL_KEYS + 1, 100000):
        cli("EVAL", FILL_LUA, "0", str(start), str(min(start + 99999, FILL_KEYS)))


def saving_back_to_back(cli, stop):
    """BGSAVE again as soon as the last one ended, until `stop` is set; the number of saves."""
    saves = 0
    while not stop.is_set():
        if "rdb_bgsave_in_progress:1" not in cli("INFO", "persistence"):
            cli("BGSAVE")
            saves += 1
        time.sleep(0.2)
    return saves


def load_while_saving(namespace, name, seconds, directory):
    cli = admin(namespace, name)
    stop, saves = threading.Event(), []
    saver = threading.Thread(target=lambda: saves.append(saving_back_to_back(cli, stop)))
    saver.start()
    try:
        found = numbers(load(namespace, name, seconds, directory))
    finally:
        stop.set()
        saver.join()
    found["saves"] = saves[0] if saves else 0
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
            saving = {}
            for name in ("tuned", "cpu-limit"):
                fill(admin(namespace, name))
                saving[name] = load_while_saving(namespace, name, seconds, directory)
                print("saving    %-9s %s" % (name, json.dumps(saving[name])), flush=True)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    report(measured, rounds, seconds)
    print("while BGSAVE runs back to back (%d keys of 200 bytes): GET p95 %s ms with the CPU limit, %s without "
          "(%.2f); p99 %s / %s (%.2f); throttled %s s / %s s; saves %d / %d"
          % (FILL_KEYS, saving["cpu-limit"]["get_p95"], saving["tuned"]["get_p95"],
             saving["cpu-limit"]["get_p95"] / saving["tuned"]["get_p95"], saving["cpu-limit"]["get_p99"],
             saving["tuned"]["get_p99"], saving["cpu-limit"]["get_p99"] / saving["tuned"]["get_p99"],
             saving["cpu-limit"]["throttled_s"], saving["tuned"]["throttled_s"], saving["cpu-limit"]["saves"],
             saving["tuned"]["saves"]))


def report(measured, rounds, seconds):
    keys = ("saturation_set", "saturation_get", "get_p50", "get_p95", "get_p99", "set_p95", "set_p99",
            "connect_p95", "direct_get_p95", "direct_set_p95", "failed", "cpu", "saturation_cpu", "throttled_s",
            "lag_p95")
    print("\nmedians of %d rounds; open loop %d ops/s over %d connections for %d s; ms unless named"
          % (rounds, RATE, CONNECTIONS, seconds))
    print("%-16s" % "" + "".join("%12s" % name for name in INSTANCES))
    for key in keys:
        print("%-16s" % key + "".join("%12s" % round(median(measured[name], key), 3) for name in INSTANCES))
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
