# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load test of a standalone instance, run from inside the cluster as its clients see it.

Three kinds of run, each a short-lived pod (on another node than the server
when the scheduler can), each framed by two readings of the server's own
counters (CPU seconds, error replies; the container's CFS throttling):

- saturation: redis-benchmark (valkey-benchmark) from the instance's image,
  every connection busy: the throughput ceiling, SET then GET;
- open loop at the application's rate (module_utils/loadgen.py in a Python
  image): latency percentiles of GET and SET and the connection set-up time,
  through the client Service and again directly at the pod (the Service's
  cost), and optionally with AOF off (the cost of fsync);
- all of them as a temporary ACL user `loadtest-<run>` allowed only GET,
  SET and PING on keys `loadtest:<run>:*`, which expire by themselves: a
  load test cannot read or overwrite the application's keys. The user has no
  password (redis-benchmark takes one only as a process argument, which
  would show it); it exists for the run, is removed at its end, and a later
  run removes any a killed run left behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import inspect
import json
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import loadgen
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import ApiException
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    DrillError, client_pod, pod_log, pod_phase, service_address)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import restricted_container
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    first_pod, is_ready, pod_path, read_pod, wait_for)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES, TLS_CA_FILE, TLS_WHEN_MOUNTED, parse_info, pod_cli)

TEST_TARGET_ANNOTATION = "alertmanagerpp.io/test-target"
USER_PREFIX = "loadtest-"
KEY_TTL_SECONDS = 600
GENERATOR = "load"
# The generators must not be throttled themselves (one uses about a core at 10,000 requests/s), yet be bounded.
GENERATOR_RESOURCES = {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "2", "memory": "256Mi"}}
# Read in the server's container before and after each run; cgroup v2, else v1.
CPU_STAT = "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.stat 2>/dev/null || true"
SATURATION_SCRIPT = r"""
for command in SET GET; do
  if [ "$command" = SET ]; then set -- SET "${PREFIX}__rand_int__" "$VALUE" EX "$EXPIRE"
  else set -- GET "${PREFIX}__rand_int__"; fi
  $BENCH $tls -h "$HOST" -p "$PORT" --user "$LOAD_USER" -a nopass -c "$CONNECTIONS" -n "$REQUESTS" -r "$KEYS" \
    --csv "$@" 2>&1 || echo "FAILED $command $?"
done
"""
TARGETS = {"get_p95_ms": 1.0, "set_p95_ms": 2.0, "connect_p95_ms": 10.0, "ops_per_second": 10000,
           "service_ratio": 1.2, "aof_cpu_points": 5.0}


class LoadTestError(DrillError):
    """A load test could not run."""


class Claim(object):
    """One load test at a time per instance: a ConfigMap `<statefulset>-load-test` naming the run and when it
    will be over at the latest. Creating it is atomic; a second run finds it and is refused until that time has
    passed (a run killed before it could remove its claim)."""

    def __init__(self, kube, namespace, statefulset, run_id, seconds, clock=time.time):
        self.kube, self.namespace, self.run_id, self.seconds, self.clock = kube, namespace, run_id, seconds, clock
        self.name = statefulset + "-load-test"
        self.labels = {"app.kubernetes.io/managed-by": "alertmanagerpp.datastores",
                       "app.kubernetes.io/component": "load-test", "app.kubernetes.io/instance": statefulset}

    def path(self, name=""):
        return "/api/v1/namespaces/%s/configmaps/%s" % (self.namespace, name)

    def take(self):
        until = int(self.clock() + self.seconds)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"run": self.run_id, "until": str(until)},
                "metadata": {"name": self.name, "labels": self.labels}}
        try:
            self.kube.request("POST", self.path(), body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
        held = self.kube.get(self.path(self.name)) or {"data": {"until": "0"}, "metadata": {}}
        if int(held["data"].get("until", "0")) > self.clock():
            raise LoadTestError("another load test (run %s) is running on this instance until %s at the latest "
                                "(ConfigMap %s/%s): one at a time"
                                % (held["data"].get("run"), time.strftime("%H:%M:%S UTC", time.gmtime(
                                    int(held["data"]["until"]))), self.namespace, self.name))
        # Its run is over without having removed it: take it over, unless a third run was quicker (the
        # resourceVersion makes the patch conditional).
        patch = {"metadata": {"resourceVersion": held["metadata"].get("resourceVersion")}, "data": body["data"]}
        try:
            self.kube.request("PATCH", self.path(self.name), patch, content_type="application/merge-patch+json")
        except ApiException as exc:
            if exc.status in (404, 409):
                raise LoadTestError("another load test took the claim %s/%s first" % (self.namespace, self.name))
            raise

    def release(self):
        held = self.kube.get(self.path(self.name))
        if held and held.get("data", {}).get("run") == self.run_id:
            self.kube.request("DELETE", self.path(self.name))


def load_user_rules(prefix):
    """ACL SETUSER rules of the temporary load user: GET, SET and PING on `prefix`* keys, no password."""
    return ["reset", "on", "nopass", "~%s*" % prefix, "resetchannels", "-@all", "+get", "+set", "+ping"]


def parse_benchmark(log):
    """({"SET": {...}, "GET": {...}}, other lines) from redis-benchmark --csv output."""
    results, other = {}, []
    for row in csv.reader(log.splitlines()):
        if not row:
            continue
        command = row[0].split(" ", 1)[0]
        if command in ("SET", "GET") and len(row) == 8:
            values = [float(v) for v in row[1:]]
            results[command] = {"ops_per_second": values[0], "avg_ms": values[1], "p50_ms": values[3],
                                "p95_ms": values[4], "p99_ms": values[5], "max_ms": values[6]}
        elif row[0] != "test" and not row[0].startswith(("WARNING", "Warning")):
            other.append(",".join(row))
    return results, other


def parse_cpu_stat(text):
    """(throttled periods, throttled seconds) from a cgroup's cpu.stat (v2 or v1); (None, None) if unreadable."""
    fields = dict(line.split(None, 1) for line in text.splitlines() if len(line.split()) == 2)
    if "throttled_usec" in fields:
        return int(fields["nr_throttled"]), int(fields["throttled_usec"]) / 1e6
    if "throttled_time" in fields:
        return int(fields["nr_throttled"]), int(fields["throttled_time"]) / 1e9
    return None, None


def server_sample(info_text, cpu_stat_text, now):
    info = parse_info(info_text)
    throttled, throttled_seconds = parse_cpu_stat(cpu_stat_text)
    return {"time": now, "cpu": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
            "errors": int(info.get("total_error_replies", 0)), "error_types": error_types(info),
            "throttled": throttled, "throttled_seconds": throttled_seconds}


def error_types(info):
    """{error prefix: replies so far} from INFO's errorstats section (errorstat_NOPERM:count=4)."""
    counts = {}
    for key, value in info.items():
        if key.startswith("errorstat_"):
            counts[key[len("errorstat_"):]] = int(dict(part.split("=", 1) for part in value.split(",")).get("count", 0))
    return counts


def server_usage(before, after):
    """What the server spent between two samples: CPU (percent of one core), error replies, CFS throttling."""
    elapsed = max(after["time"] - before["time"], 1e-9)
    usage = {"cpu_percent": round(100 * (after["cpu"] - before["cpu"]) / elapsed, 1),
             "error_replies": after["errors"] - before["errors"], "throttled_periods": None,
             "throttled_seconds": None}
    # Which errors (of every client of the server, not only the load's), to tell where they came from.
    by_type = dict((kind, count - before.get("error_types", {}).get(kind, 0))
                   for kind, count in after.get("error_types", {}).items())
    usage["error_replies_by_type"] = dict((kind, count) for kind, count in by_type.items() if count)
    if before["throttled"] is not None and after["throttled"] is not None:
        usage["throttled_periods"] = after["throttled"] - before["throttled"]
        usage["throttled_seconds"] = round(after["throttled_seconds"] - before["throttled_seconds"], 3)
    return usage


def p95(report, command):
    return (report.get("commands", {}).get(command) or {}).get("p95_ms")


def missed_targets(report, targets):
    """The targets a report misses, one line each (empty: all met)."""
    missed = []
    measured = report["through_service"]
    for command, key in (("GET", "get_p95_ms"), ("SET", "set_p95_ms")):
        if not measured["commands"][command]["count"]:
            continue  # a mix without this command (get_ratio 0 or 1)
        value = p95(measured, command)
        if value > targets[key]:
            missed.append("%s p95 %s ms through the Service (target < %g ms)" % (command, value, targets[key]))
    connect = measured["connect"]["p95_ms"]
    if connect is None or connect > targets["connect_p95_ms"]:
        missed.append("connection set-up p95 %s ms (target < %g ms)" % (connect, targets["connect_p95_ms"]))
    ceiling = min(r["ops_per_second"] for r in report["saturation"]["commands"].values())
    if ceiling < targets["ops_per_second"]:
        missed.append("saturation %d ops/s (target > %d)" % (ceiling, targets["ops_per_second"]))
    ratio = report.get("service_direct_p95_ratio")
    if ratio is not None and ratio > targets["service_ratio"]:
        missed.append("Service/direct GET p95 ratio %.2f (target <= %g)" % (ratio, targets["service_ratio"]))
    overhead = report.get("aof_cpu_points")
    if overhead is not None and overhead > targets["aof_cpu_points"]:
        missed.append("AOF costs %.1f points of CPU (target < %g)" % (overhead, targets["aof_cpu_points"]))
    for name in ("through_service", "at_pod", "without_aof"):
        errors = failed_requests(report.get(name))
        if errors:
            missed.append("%s: %d requests failed or unanswered" % (name, errors))
    return missed


def failed_requests(run_report):
    if not run_report:
        return 0
    return run_report["missing_replies"] + sum(c["errors"] for c in run_report["commands"].values())


def generator_warnings(name, run_report):
    """Where the open-loop generator itself was the limit: its numbers are then upper bounds."""
    warnings = []
    lag, get_p95 = run_report["send_lag"]["p95_ms"], p95(run_report, "GET")
    if lag is not None and get_p95 is not None and lag > get_p95 / 2:
        warnings.append("%s: the generator's sends lagged their schedule (p95 %s ms against GET p95 %s ms): "
                        "its latencies are upper bounds; give its pod more CPU" % (name, lag, get_p95))
    if run_report["ops_per_second"] < 0.95 * run_report["rate_asked"]:
        warnings.append("%s: %s ops/s of %s asked" % (name, run_report["ops_per_second"], run_report["rate_asked"]))
    return warnings


def run_line(name, run_report):
    commands = run_report["commands"]
    return ("%s: %s ops/s over %d connections; GET p50/p95/p99 %s/%s/%s ms, SET %s/%s/%s ms; connect p95 %s ms; "
            "%d failed; server CPU %s%%, throttled %s s"
            % (name, run_report["ops_per_second"], run_report["connections"], commands["GET"]["p50_ms"],
               commands["GET"]["p95_ms"], commands["GET"]["p99_ms"], commands["SET"]["p50_ms"],
               commands["SET"]["p95_ms"], commands["SET"]["p99_ms"], run_report["connect"]["p95_ms"],
               failed_requests(run_report), run_report["server"]["cpu_percent"],
               run_report["server"]["throttled_seconds"]))


def summary_lines(report):
    """The report in a few lines for a person."""
    saturation = report["saturation"]
    lines = ["saturation (%s, %d connections): SET %s ops/s (p95 %s ms), GET %s ops/s (p95 %s ms); server CPU %s%%, "
             "throttled %s s" % (saturation["tool"], report["load"]["connections"],
                                 saturation["commands"]["SET"]["ops_per_second"],
                                 saturation["commands"]["SET"]["p95_ms"],
                                 saturation["commands"]["GET"]["ops_per_second"],
                                 saturation["commands"]["GET"]["p95_ms"], saturation["server"]["cpu_percent"],
                                 saturation["server"]["throttled_seconds"])]
    lines += [run_line(name, report[name]) for name in ("through_service", "at_pod", "without_aof")
              if report.get(name)]
    lines.append("Service/direct GET p95 ratio: %s" % report["service_direct_p95_ratio"])
    if "aof_cpu_points" in report:
        lines.append("AOF costs %s points of CPU" % report["aof_cpu_points"])
    lines += report["warnings"]
    lines.append("Targets: " + ("met" if not report["missed"] else "MISSED: " + "; ".join(report["missed"])))
    return lines


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


class LoadTest(object):
    """Load runs on `server` = (namespace, statefulset, container, flavor, port, admin user, admin password).

    `images` is {"server": server_image(...) of the StatefulSet, "python": {image, pull_policy}} and `load` the
    shape of the load: connections, rate, seconds, get_ratio, value_size, keys, requests (saturation, per
    command)."""

    def __init__(self, kube, server, service, images, load, run_id, timeout=180):
        self.kube, self.service, self.load, self.run_id, self.timeout = kube, service, load, run_id, timeout
        self.namespace, self.statefulset, self.container, self.flavor, self.port, user, password = server
        self.pod = first_pod(self.statefulset)
        self.user, self.prefix = USER_PREFIX + run_id, "loadtest:%s:" % run_id
        self.admin = pod_cli(kube.configuration, self.namespace, self.pod, self.container, password,
                             flavor=self.flavor, port=self.port, timeout=120, user=user)
        self.server_image = images["server"]
        self.python_image = dict(images["python"], resources=GENERATOR_RESOURCES)

    # -- the temporary user -------------------------------------------------------------------------------------

    def remove_users(self, only_mine):
        users = self.admin("ACL", "USERS").split()
        for name in users:
            if name == self.user or (not only_mine and name.startswith(USER_PREFIX)):
                self.admin("ACL", "DELUSER", name)

    def add_user(self):
        self.remove_users(only_mine=False)
        self.admin("ACL", "SETUSER", self.user, *load_user_rules(self.prefix))

    # -- server readings ----------------------------------------------------------------------------------------

    def sample(self):
        rc, out, err = run(self.kube.configuration, self.namespace, self.pod, self.container,
                           ["sh", "-c", CPU_STAT], timeout=30)
        return server_sample(self.admin("INFO", "all"), out.decode("utf-8", "replace"), time.monotonic())

    def measured(self, work):
        """work()'s report, with what the server spent meanwhile under "server"."""
        before = self.sample()
        report = work()
        report["server"] = server_usage(before, self.sample())
        return report

    # -- generator pods -----------------------------------------------------------------------------------------

    def generator(self, suffix, image, command, env, deadline):
        """Run one generator pod to its end; its log."""
        name = "%s-load-%s-%s" % (self.statefulset, self.run_id, suffix)
        container = restricted_container(GENERATOR, image, command)
        container["env"] = env
        manifest = client_pod(name, self.statefulset, "load-test", container, self.server_image["tls_secret"],
                              deadline)
        manifest["spec"]["affinity"] = self.away_from_server()
        self.kube.request("POST", pod_path(self.namespace), manifest)
        try:
            wait_for("load generator %s to finish" % name, lambda: self.phase(name) in ("Succeeded", "Failed"),
                     deadline + 60, interval=1)
            log = self.log(name)
            if self.phase(name) != "Succeeded":
                raise LoadTestError("load generator %s failed: %s" % (name, log[-800:]))
            return log
        finally:
            self.kube.request("DELETE", pod_path(self.namespace, name))

    def away_from_server(self):
        selector = {"matchLabels": {"app.kubernetes.io/instance": self.statefulset,
                                    "app.kubernetes.io/component": "datastore"}}
        term = {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
        return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": term}]}}

    def phase(self, name):
        return pod_phase(self.kube, self.namespace, name)

    def log(self, name):
        return pod_log(self.kube, self.namespace, name, GENERATOR)

    def env(self, **values):
        return [{"name": key, "value": str(value)} for key, value in sorted(values.items())]

    # -- the runs -----------------------------------------------------------------------------------------------

    def saturation(self, address):
        load = self.load
        env = self.env(BENCH=BINARIES[self.flavor]["benchmark"], HOST=address, PORT=self.port, LOAD_USER=self.user,
                       CONNECTIONS=load["connections"], REQUESTS=load["requests"], KEYS=load["keys"],
                       PREFIX=self.prefix, VALUE="v" * load["value_size"], EXPIRE=KEY_TTL_SECONDS)
        benchmark_image = dict(self.server_image, resources=GENERATOR_RESOURCES)
        log = self.generator("saturation", benchmark_image, ["sh", "-c", TLS_WHEN_MOUNTED + SATURATION_SCRIPT],
                             env, self.timeout * 2)
        results, other = parse_benchmark(log)
        if sorted(results) != ["GET", "SET"]:
            raise LoadTestError("the benchmark did not report SET and GET: %s" % "; ".join(other)[-800:])
        return {"tool": BINARIES[self.flavor]["benchmark"], "commands": results, "requests": load["requests"]}

    def open_loop(self, suffix, address):
        load = self.load
        command = ["python3", "-c", inspect.getsource(loadgen), "--host", address, "--port", str(self.port),
                   "--user", self.user, "--rate", str(load["rate"]), "--connections", str(load["connections"]),
                   "--seconds", str(load["seconds"]), "--get-ratio", str(load["get_ratio"]),
                   "--value-size", str(load["value_size"]), "--keys", str(load["keys"]),
                   "--prefix", self.prefix, "--expire", str(KEY_TTL_SECONDS)]
        if self.server_image["tls_secret"]:
            command += ["--cacert", TLS_CA_FILE]
        # The user has no password; AUTH still needs one, any.
        log = self.generator(suffix, self.python_image, command, self.env(REDISCLI_AUTH="nopass"),
                             int(load["seconds"]) + self.timeout)
        try:
            return json.loads(log.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise LoadTestError("the load generator printed no report: %s" % log[-800:])

    def without_aof(self, work):
        """work() with appendonly off for its duration; on again (and its rewrite finished) afterwards."""
        if self.admin("CONFIG", "GET", "appendonly").split()[-1:] != ["yes"]:
            return None
        self.admin("CONFIG", "SET", "appendonly", "no")
        try:
            return work()
        finally:
            self.admin("CONFIG", "SET", "appendonly", "yes")
            wait_for("the AOF to be on and rewritten again", self.aof_settled, self.timeout, interval=0.5)

    def aof_settled(self):
        info = parse_info(self.admin("INFO", "persistence"))
        return (info.get("aof_enabled") == "1" and info.get("aof_rewrite_in_progress") == "0"
                and info.get("aof_rewrite_scheduled") == "0")

    def run(self, compare_aof=False, targets=None):
        pod = read_pod(self.kube, self.namespace, self.pod) or {}
        if not is_ready(pod):
            raise LoadTestError("pod %s/%s is not Ready: a load test starts from a healthy instance"
                                % (self.namespace, self.pod))
        through_service = service_address(self.kube, self.namespace, self.service)
        at_pod = pod["status"]["podIP"]
        claim = Claim(self.kube, self.namespace, self.statefulset, self.run_id, self.longest_seconds(compare_aof))
        claim.take()
        try:
            return self.claimed(through_service, at_pod, compare_aof, targets)
        finally:
            claim.release()

    def longest_seconds(self, compare_aof):
        """How long a run can take at most: its generators' deadlines and the waits around them."""
        runs = 3 if compare_aof else 2
        return self.timeout * 2 + runs * (self.load["seconds"] + self.timeout) + 4 * (self.timeout + 60)

    def claimed(self, through_service, at_pod, compare_aof, targets):
        self.add_user()
        try:
            report = {"run": self.run_id, "pod": self.pod, "user": self.user, "key_prefix": self.prefix,
                      "load": dict(self.load)}
            report["saturation"] = self.measured(lambda: self.saturation(through_service))
            report["through_service"] = self.measured(lambda: self.open_loop("service", through_service))
            report["at_pod"] = self.measured(lambda: self.open_loop("direct", at_pod))
            if compare_aof:
                report["without_aof"] = self.without_aof(
                    lambda: self.measured(lambda: self.open_loop("no-aof", through_service)))
        finally:
            self.remove_users(only_mine=True)
        return self.verdict(report, dict(TARGETS, **(targets or {})))

    def verdict(self, report, targets):
        report["service_direct_p95_ratio"] = ratio(p95(report["through_service"], "GET"),
                                                   p95(report["at_pod"], "GET"))
        if report.get("without_aof"):
            report["aof_cpu_points"] = round(report["through_service"]["server"]["cpu_percent"]
                                             - report["without_aof"]["server"]["cpu_percent"], 1)
        report["targets"] = targets
        report["missed"] = missed_targets(report, targets)
        report["warnings"] = [w for name in ("through_service", "at_pod", "without_aof") if report.get(name)
                              for w in generator_warnings(name, report[name])]
        if "without_aof" in report and not report["without_aof"]:
            report["warnings"].append("compare_aof: the instance runs without AOF; nothing to compare")
        report["summary"] = summary_lines(report)
        return report
