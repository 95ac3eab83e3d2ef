"""Benchmark failover of the Sentinel topology on the warm local cluster.

Measures, in one run:
  cluster   playbooks/failover_drill.yml on a Sentinel set deployed by
            deploy.yml: KILLS kills (pod deleted, grace 0) and FREEZES freezes
            (SIGSTOP) of the primary under a stream of writes through Sentinel
            discovery; per event the longest gap between two acknowledged
            writes and the acknowledged writes lost;
  rolling   a configuration change rolled through the set under the same
            writer: acknowledged writes lost and the longest write pause;
and the baseline beside them, so the ratios survive a noisy machine:
  bare      three redis-server and three Sentinel processes on loopback with
            the same settings (down-after 5000 ms, quorum 2), the primary
            killed (SIGKILL) and frozen (SIGSTOP), unavailability measured
            the same way (a Sentinel-aware redis-py client writing).

Goals: median < 8 s, max < 12 s, 0 acknowledged writes lost; rolling change
0 lost, longest pause < 2 s.
Run: .venv/bin/python bench/bench_failover.py [KILLS FREEZES]   (defaults 5 3)
"""

import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import redis
from redis.sentinel import Sentinel

ROOT = pathlib.Path(__file__).resolve().parents[1]
KUBECONFIG = os.environ.get("K8S_AUTH_KUBECONFIG") or os.path.expanduser(
    "~/.cache/alertmanagerpp-datastores/kubeconfig")
PLAYBOOK = [str(pathlib.Path(sys.executable).parent / "ansible-playbook")]
ENV = dict(os.environ, AMP_STANDARD_STORES=os.environ.get("AMP_STANDARD_STORES", "redis"), K8S_AUTH_KUBECONFIG=KUBECONFIG,
           ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
DOWN_AFTER_MS = 5000


def run_playbook(*args):
    result = subprocess.run(PLAYBOOK + list(args), cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (" ".join(args), result.stdout[-4000:]))
    return result.stdout


# The cluster

def cluster_drills(namespace, kills, freezes):
    variables = json.dumps({"redis_namespace": namespace, "redis_topology": "sentinel"})
    run_playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", variables)
    with tempfile.TemporaryDirectory() as directory:
        report = os.path.join(directory, "drill.json")
        run_playbook("playbooks/failover_drill.yml", "-e", variables, "-e", "confirm=yes", "-e", "report=" + report,
                     "-e", "variants=" + ",".join(["kill"] * kills + ["freeze"] * freezes))
        return json.load(open(report))


def cluster_rolling(namespace):
    """A configuration change rolled under the drill's writer: (lost, longest pause) from the module's report."""
    sys.path.insert(0, str(ROOT / "collections"))
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import server_image
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.failover_drill import Drill
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import Kube, kube_configuration
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SentinelSet
    import base64
    kube = Kube(kube_configuration({"kubeconfig": KUBECONFIG}))
    name = "alertmanagerpp-redis"

    def secret(secret_name, key="password"):
        data = kube.get("/api/v1/namespaces/%s/secrets/%s" % (namespace, secret_name))["data"][key]
        return base64.b64decode(data).decode()
    members = SentinelSet(kube, namespace, name, name + "-sentinel", name,
                          (secret(name + "-users", "admin"), secret(name + "-sentinel")), user="admin")
    image = server_image(members.read_statefulset(name))
    drill = Drill(members, "roll%d" % time.time(), image, (("app", (name + "-auth", "password")), name + "-sentinel"))
    variables = json.dumps({"redis_namespace": namespace, "redis_topology": "sentinel",
                            "redis_maxmemory_samples": 7})
    return drill.during(lambda: run_playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", variables))


# The bare baseline

class BareSet(object):
    """Three servers and three Sentinels on loopback, the same settings as the role's."""

    def __init__(self, directory):
        self.directory, self.processes = directory, {}
        self.ports = [int(port) for port in (27001, 27002, 27003)]
        self.sentinel_ports = [27101, 27102, 27103]
        for index, port in enumerate(self.ports):
            extra = ["--replicaof", "127.0.0.1", str(self.ports[0])] if index else []
            self.start(port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "yes", "--dir", self.dir_for(port)] + extra)
        for port in self.sentinel_ports:
            config = os.path.join(self.dir_for(port), "sentinel.conf")
            with open(config, "w") as handle:
                handle.write("port %d\nbind 127.0.0.1\nsentinel monitor m 127.0.0.1 %d 2\n"
                             "sentinel down-after-milliseconds m %d\nsentinel failover-timeout m 30000\n"
                             % (port, self.ports[0], DOWN_AFTER_MS))
            self.start(port, ["redis-server", config, "--sentinel"])
        self.sentinel = Sentinel([("127.0.0.1", port) for port in self.sentinel_ports], socket_timeout=0.5)
        wait(lambda: all(len(redis.Redis(port=p).sentinel_slaves("m")) == 2 for p in self.sentinel_ports), 60)

    def dir_for(self, port):
        path = os.path.join(self.directory, str(port))
        os.makedirs(path, exist_ok=True)
        return path

    def start(self, port, command):
        self.processes[port] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def primary_port(self):
        return self.sentinel.discover_master("m")[1]

    def event(self, variant):
        """Kill or freeze the primary; returns (longest write pause, lost) once the set is whole again."""
        port = self.primary_port()
        writer = Writer(self.sentinel)
        writer.start()
        time.sleep(2)
        if variant == "kill":
            self.processes[port].kill()
        else:
            os.kill(self.processes[port].pid, signal.SIGSTOP)
        wait(lambda: self.primary_port() != port, 60)
        time.sleep(2)
        if variant == "kill":
            self.processes[port].wait()
            self.start(port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "yes", "--dir", self.dir_for(port)])
        else:
            os.kill(self.processes[port].pid, signal.SIGCONT)
        wait(lambda: redis.Redis(port=port).info("replication").get("master_link_status") == "up", 120)
        return writer.finish(redis.Redis(port=self.primary_port()))

    def stop(self):
        for process in self.processes.values():
            process.kill()
            process.wait()


class Writer(threading.Thread):
    """A Sentinel-aware client writing numbered keys; the acknowledged ones and the longest pause."""

    def __init__(self, sentinel):
        super().__init__(daemon=True)
        self.sentinel, self.stopped, self.acked, self.times = sentinel, threading.Event(), [], []
        self.prefix = "bench:%s:" % uuid.uuid4().hex[:8]

    def run(self):
        n = 0
        client = self.sentinel.master_for("m", socket_timeout=1)
        while not self.stopped.is_set():
            n += 1
            try:
                client.set(self.prefix + str(n), n)
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.ResponseError):
                time.sleep(0.01)
                continue
            self.acked.append(n)
            self.times.append(time.monotonic())

    def finish(self, primary):
        self.stopped.set()
        self.join()
        pause = max(b - a for a, b in zip(self.times, self.times[1:]))
        pipe = primary.pipeline(transaction=False)
        for n in self.acked:
            pipe.exists(self.prefix + str(n))
        lost = sum(1 for present in pipe.execute() if not present)
        return pause, lost


def wait(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    sys.exit("timed out")


def summary(label, pauses, lost):
    values = (label, len(pauses), statistics.median(pauses), max(pauses), lost)
    print("%-22s n=%d median %.2f s max %.2f s lost %d" % values)


def main():
    kills, freezes = (int(a) for a in (sys.argv[1:3] or (5, 3)))
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed: run `make host-deps`")
    with tempfile.TemporaryDirectory() as directory:
        bare = BareSet(directory)
        try:
            baseline = dict((variant, [bare.event(variant) for dummy in range(n)])
                            for variant, n in (("kill", kills), ("freeze", freezes)))
        finally:
            bare.stop()
    namespace = "bench-failover-%s" % uuid.uuid4().hex[:6]
    try:
        reports = cluster_drills(namespace, kills, freezes)
        rolling_pause, rolling_lost = cluster_rolling(namespace)
    finally:
        subprocess.run(["kubectl", "--kubeconfig", KUBECONFIG, "delete", "namespace", namespace, "--wait=false"],
                       capture_output=True, check=False)
    for variant in ("kill", "freeze"):
        cluster = [r["write_unavailable_seconds"] for r in reports if r["variant"] == variant]
        lost = sum(r["lost_writes"] for r in reports if r["variant"] == variant)
        bare_pauses = [pause for pause, dummy in baseline[variant]]
        summary("cluster " + variant, cluster, lost)
        summary("bare    " + variant, bare_pauses, sum(lost for dummy, lost in baseline[variant]))
        ratio = statistics.median(cluster) / statistics.median(bare_pauses)
        print("ratio cluster/bare median (%s): %.2f" % (variant, ratio))
    every = [r["write_unavailable_seconds"] for r in reports]
    print("all events: median %.2f s (goal < 8), max %.2f s (goal < 12), lost %d (goal 0)"
          % (statistics.median(every), max(every), sum(r["lost_writes"] for r in reports)))
    print("rolling change: longest write pause %.2f s (goal < 2), lost %d (goal 0)" % (rolling_pause, rolling_lost))


if __name__ == "__main__":
    main()
