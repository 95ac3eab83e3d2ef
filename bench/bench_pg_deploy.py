"""Benchmark the PostgreSQL role on the warm local cluster.

Measures, in one run:
  deploy   ansible-playbook playbooks/deploy.yml -e profile=standard with
           standard_stores [postgresql] into a new namespace, until it returns
           (Ready, roles and database set up, logins checked);
  rerun    the same command again, three times (each must report changed=0;
           the median is the figure, the first right after the deploy while
           the new server and the archiver still settle);
  raw      beside them, a bare one-pod StatefulSet of the same image with a
           PVC (initdb, then postgres), created with the Python client, until
           a query is answered: what Kubernetes and initdb themselves need;
  pgbench  TPS of pgbench (scale 20, 8 clients, read-write, 60 s by default)
           in the deployed instance with the role's tuned configuration and
           with PostgreSQL's own defaults for the parameters the role tunes
           (set with ALTER SYSTEM, which postgresql.auto.conf gives precedence),
           alternately on the same pod, volume and data (ROUNDS rounds; the pod
           deleted and made anew at each switch so that the settings read at
           start apply, then a warm-up run not counted). Two instances, one per
           configuration, were tried first: placement and drift between them
           made rounds of one configuration differ by up to half.

Goals: deploy < 60 s; rerun < 15 s, changed=0; tuned/defaults TPS >= 1.0.
Run: .venv/bin/python bench/bench_pg_deploy.py [ROUNDS] [SECONDS] [--tuned NAME=VALUE ...]
(--tuned: postgresql_parameters of the deployed instance, to measure a variant of the tuning.)
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import uuid

from kubernetes import client, config

from benchlib import ENV, KUBECONFIG, PLAYBOOK, ROOT, delete_namespace, kubectl, restart_seconds, timed

IMAGE = "localhost/alertmanagerpp/postgres:15-bookworm"
NAME = "alertmanagerpp-postgresql"
BIN = "/usr/lib/postgresql/15/bin"
RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
# PostgreSQL 15's own values of what the role tunes.
DEFAULTS = {"shared_buffers": "128MB", "effective_cache_size": "4GB", "work_mem": "4MB",
            "maintenance_work_mem": "64MB", "max_wal_size": "1GB", "min_wal_size": "80MB",
            "checkpoint_timeout": "5min", "wal_compression": "off", "random_page_cost": "4",
            "effective_io_concurrency": "1"}


def deploy(namespace, parameters):
    variables = {"postgresql_namespace": namespace, "postgresql_resources": RESOURCES,
                 "postgresql_parameters": parameters}
    env = dict(ENV, AMP_STANDARD_STORES="postgresql")
    result = subprocess.run([PLAYBOOK, "playbooks/deploy.yml", "-e", "profile=standard", "-e", json.dumps(variables)],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("deploy.yml failed:\n%s" % result.stdout[-3000:])
    return int(re.search(r"changed=(\d+)", result.stdout).group(1))


def raw_manifest():
    labels = {"app": "bench-raw-postgresql"}
    start = ("set -e; d=/var/lib/postgresql/data/pgdata; [ -s $d/PG_VERSION ] || %s/initdb -D $d -U postgres "
             "--auth=peer --no-instructions >/dev/null; exec %s/postgres -D $d -c unix_socket_directories=/tmp"
             % (BIN, BIN))
    container = {
        "name": "postgresql", "image": IMAGE, "imagePullPolicy": "Never", "command": ["sh", "-c", start],
        "resources": RESOURCES,
        "readinessProbe": {"exec": {"command": ["sh", "-c", "%s/psql -XAtq -h /tmp -U postgres -c 'SELECT 1'" % BIN]},
                           "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
        "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True},
    }
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "raw", "labels": labels},
            "spec": {"serviceName": "raw", "replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [container], "securityContext": {"fsGroup": 999}}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


def raw_statefulset(core, apps, namespace):
    core.create_namespace({"metadata": {"name": namespace}})
    apps.create_namespaced_stateful_set(namespace, raw_manifest())
    while True:
        pods = core.list_namespaced_pod(namespace).items
        if pods and any(c.type == "Ready" and c.status == "True" for c in pods[0].status.conditions or []):
            return
        time.sleep(0.5)


def pgbench(namespace, *args):
    return kubectl("-n", namespace, "exec", NAME + "-0", "-c", "postgresql", "--", "%s/pgbench" % BIN,
                   "-h", "/run/postgresql", "-U", "postgres", *args)


def tps(namespace, seconds):
    out = pgbench(namespace, "-c", "8", "-j", "2", "-T", str(seconds), "-n", "postgres")
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def psql(namespace, sql):
    return kubectl("-n", namespace, "exec", NAME + "-0", "-c", "postgresql", "--", "%s/psql" % BIN, "-h",
                   "/run/postgresql", "-U", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql)


def configure(namespace, defaults):
    """The instance on PostgreSQL's defaults (or back on the role's tuning), its pod made anew to read them."""
    for name, value in DEFAULTS.items():
        psql(namespace, "ALTER SYSTEM SET %s = '%s'" % (name, value) if defaults else "ALTER SYSTEM RESET %s" % name)
    restart_seconds(namespace, NAME + "-0")
    wanted = DEFAULTS["shared_buffers"] if defaults else None
    running = psql(namespace, "SHOW shared_buffers").strip()
    if wanted and running != wanted or not wanted and running == DEFAULTS["shared_buffers"]:
        sys.exit("the server runs with shared_buffers %s after the switch" % running)


def arguments():
    parser = argparse.ArgumentParser(description="Benchmark the PostgreSQL role's deploy, rerun and tuning.")
    parser.add_argument("rounds", nargs="?", type=int, default=3, help="pgbench rounds per configuration")
    parser.add_argument("seconds", nargs="?", type=int, default=60, help="seconds per pgbench round")
    parser.add_argument("--tuned", action="append", default=[], metavar="NAME=VALUE",
                        help="a postgresql_parameters entry for the tuned instance (repeatable)")
    args = parser.parse_args()
    if any("=" not in item for item in args.tuned):
        parser.error("--tuned takes NAME=VALUE")
    args.parameters = dict(item.split("=", 1) for item in args.tuned)
    return args


def main():
    args = arguments()
    rounds, seconds = args.rounds, args.seconds
    api = config.new_client_from_config(config_file=KUBECONFIG)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    suffix = uuid.uuid4().hex[:6]
    raw_ns, tuned_ns = ("amp-bench-pg-%s-%s" % (kind, suffix) for kind in ("raw", "tuned"))
    try:
        t_raw, dummy = timed(lambda: raw_statefulset(core, apps, raw_ns))
        delete_namespace(core, raw_ns)
        t_deploy, changed_first = timed(lambda: deploy(tuned_ns, args.parameters))
        reruns = [timed(lambda: deploy(tuned_ns, args.parameters)) for dummy in range(3)]
        t_rerun, changed_rerun = statistics.median(t for t, dummy in reruns), max(c for dummy, c in reruns)
        pgbench(tuned_ns, "-i", "-s", "20", "-q", "postgres")
        results = {False: [], True: []}
        for number in range(rounds):
            for defaults in ((False, True) if number % 2 == 0 else (True, False)):
                configure(tuned_ns, defaults)
                tps(tuned_ns, 5)
                results[defaults].append(tps(tuned_ns, seconds))
    finally:
        for namespace in (raw_ns, tuned_ns):
            delete_namespace(core, namespace)
    tuned, defaults = statistics.median(results[False]), statistics.median(results[True])
    print("bench_pg_deploy (warm cluster)%s" % "".join(" --tuned %s=%s" % item for item in args.parameters.items()))
    print("  deploy to Ready+set up  : %6.1f s  (goal < 60 s; %d changed)" % (t_deploy, changed_first))
    print("  raw StatefulSet to Ready: %6.1f s  -> deploy/raw = %.2f" % (t_raw, t_deploy / t_raw))
    print("  idempotent re-run       : %6.1f s  (median of %s; goal < 15 s; changed=%d)" % (
        t_rerun, ", ".join("%.1f" % t for t, dummy in reruns), changed_rerun))
    print("  pgbench TPS, tuned      : %8.1f  (rounds: %s)" % (tuned, ", ".join("%.1f" % v for v in results[False])))
    print("  pgbench TPS, defaults   : %8.1f  (rounds: %s)" % (defaults, ", ".join(
        "%.1f" % v for v in results[True])))
    print("  tuned/defaults          : %8.2f  (goal >= 1.0)" % (tuned / defaults))
    if changed_rerun != 0:
        sys.exit("re-run was not idempotent: changed=%d" % changed_rerun)


if __name__ == "__main__":
    main()
