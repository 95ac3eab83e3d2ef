"""Benchmark the crash of a standalone server on the warm local cluster (playbooks/crash_drill.yml).

Measures, in one run:
  cluster   crash_drill.yml on an instance deployed by deploy.yml: KILLS
            SIGKILLs of the server and DELETES deletions of its pod, under the
            drill's writer (redis-cli per write, through the client Service);
            per event the longest gap between acknowledged writes, the time to
            Ready and the acknowledged writes lost;
and the baseline beside it, so the ratio survives a noisy machine:
  bare      a redis-server on loopback with the same persistence
            (appendonly yes, appendfsync everysec), SIGKILLed and started
            again at once (what the kubelet does, without the kubelet), under
            the same writer script run by sh on this machine.

Kills and deletes alternate, so each kill hits a new pod (a pod's second
crash within ten minutes waits out the kubelet's restart back-off: 10 s,
then 20 s, 40 s, ...; measured once: the third kill in a row on one pod took
35 s). Goals: 0 acknowledged writes lost; the instance answers again < 10 s
after a SIGKILL. Run: .venv/bin/python bench/bench_crash.py [KILLS DELETES]   (defaults 3 2)
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
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "collections"))

from benchlib import ENV, PLAYBOOK, ROOT, kubectl  # noqa: E402
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (  # noqa: E402
    MISSING_LUA, WRITER_SCRIPT, longest_gap, parse_writes)

BARE_PORT = 27301
BARE_PASSWORD = "bench-crash"
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def playbook(name, variables, *args):
    result = subprocess.run([PLAYBOOK, "playbooks/%s.yml" % name, "-e", json.dumps(variables)] + list(args),
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (name, result.stdout[-4000:]))
    return result.stdout


def cluster(kills, deletes):
    """The drill's reports: kills first, then deletes."""
    namespace = "amp-bench-crash-%d" % os.getpid()
    variables = {"profile": "standard", "redis_namespace": namespace, "redis_resources": RESOURCES,
                 "redis_maxmemory": "64mb"}
    try:
        playbook("deploy", variables)
        with tempfile.TemporaryDirectory() as directory:
            report = os.path.join(directory, "crash.json")
            # Alternated, so that each kill hits a new pod: a pod's second crash within 10 minutes waits out
            # the kubelet's restart back-off (10 s, then 20 s, ...), which this is not measuring. The bench
            # judges its own goals: the drill's targets are set out of the way.
            order = [v for pair in zip(["kill"] * kills, ["delete"] * deletes) for v in pair]
            order += ["kill"] * (kills - len(order) // 2) + ["delete"] * (deletes - len(order) // 2)
            playbook("crash_drill", dict(variables, redis_drill_recovery_target_seconds=3600), "-e", "confirm=yes",
                     "-e", "report=" + report, "-e", "variants=" + ",".join(order))
            with open(report) as handle:
                return json.load(handle)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")


class Bare(object):
    """A redis-server on loopback, persisted like the instance, and the drill's writer script run by sh."""

    def __init__(self, directory):
        self.directory = directory
        self.server = None

    def start(self):
        self.server = subprocess.Popen(["redis-server", "--port", str(BARE_PORT), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                                        "--requirepass", BARE_PASSWORD,
                                        "--dir", self.directory], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while self.cli("PING").strip() != "PONG":
            if time.monotonic() > deadline:
                sys.exit("the bare redis-server did not start")
            time.sleep(0.05)

    def cli(self, *args, stdin=None):
        return subprocess.run(["redis-cli", "-p", str(BARE_PORT)] + list(args), input=stdin, capture_output=True,
                              text=True, check=False, env=dict(os.environ, REDISCLI_AUTH=BARE_PASSWORD)).stdout

    def kill(self, run):
        """One SIGKILL under the writer, the server started again at once: (longest pause, lost)."""
        prefix = "bare:%d:" % run
        log = open(os.path.join(self.directory, "writer-%d.log" % run), "w+")
        writer = subprocess.Popen(["sh", "-c", 'tls=""; ' + WRITER_SCRIPT], stdout=log, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, CLI="redis-cli", HOST="127.0.0.1", PORT=str(BARE_PORT),
                                           PREFIX=prefix, SENTINELS="", REDIS_USER="", REDIS_PASSWORD=BARE_PASSWORD))
        time.sleep(3)
        self.server.kill()
        self.server.wait()
        self.start()
        time.sleep(3)
        writer.send_signal(signal.SIGTERM)
        writer.wait(10)
        log.seek(0)
        acked, dummy, times = parse_writes(log.read())
        missing = self.cli("-x", "EVAL", MISSING_LUA, "1", prefix, "5", stdin=" ".join(str(n) for n in acked))
        return longest_gap(times), int(missing.split()[0])

    def stop(self):
        self.server.kill()
        self.server.wait()


def line(label, values, unit="s"):
    values = (label, len(values), statistics.median(values), unit, max(values), unit)
    return "%-34s n=%d median %.2f %s max %.2f %s" % values


def main():
    kills, deletes = (int(a) for a in (sys.argv[1:3] or (3, 2)))
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed: run `make host-deps`")
    with tempfile.TemporaryDirectory() as directory:
        bare = Bare(directory)
        bare.start()
        try:
            bare_runs = [bare.kill(run) for run in range(kills)]
        finally:
            bare.stop()
    reports = cluster(kills, deletes)
    by_variant = dict((v, [r for r in reports if r["variant"] == v]) for v in ("kill", "delete"))
    print(line("bare SIGKILL: writes paused", [p for p, dummy in bare_runs]))
    for variant, runs in by_variant.items():
        print(line("cluster %s: writes paused" % variant, [r["write_unavailable_seconds"] for r in runs]))
        print(line("cluster %s: pod Ready again" % variant, [r["ready_seconds"] for r in runs]))
    lost = sum(r["lost_writes"] for r in reports) + sum(lost for dummy, lost in bare_runs)
    ratio = (statistics.median(r["write_unavailable_seconds"] for r in by_variant["kill"])
             / statistics.median(p for p, dummy in bare_runs))
    worst_kill = max(r["write_unavailable_seconds"] for r in by_variant["kill"])
    print("ratio cluster/bare SIGKILL pause (median): %.1f" % ratio)
    print("acknowledged writes lost, all runs: %d (goal 0)" % lost)
    print("SIGKILL: answering again after %.2f s at most (goal < 10 s): %s"
          % (worst_kill, "met" if worst_kill < 10 else "MISSED"))


if __name__ == "__main__":
    main()
