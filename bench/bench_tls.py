"""Benchmark TLS against plaintext on the local cluster, in one run (issue 14).

One instance deployed by playbooks/deploy.yml with redis_tls_enabled. For the
plaintext baseline the same server process also opens a plaintext port
(CONFIG SET port, for the run only), so both measure the same server, pod and
node. A client pod (the instance's image) on the same node runs
redis-benchmark against the pod's address, alternating plaintext and TLS:
  GET, SET   requests/s and p95 latency, 50 connections, 256-byte values,
             median of the rounds; ratio TLS / plaintext (goal >= 0.7 of the
             throughput); and the server's CPU per request (INFO cpu), since
             the client shares the node's two CPUs and pays for TLS too.
Then backup.yml and restore.yml, three times each, on that TLS-only instance
and on a plaintext instance holding the same amount of data: backup copy rate
(MB/s) and restore RTO, medians, ratio TLS / plaintext (goal: the same rates;
the RDB travels through the API server's exec stream, not the Redis port).

The benchmark's own ACL user (`bench`, no password, GET/SET/PING on `key:*`
only) exists in the throwaway namespace for the run; the namespaces are
deleted at the end.

Run: make bench (or .venv/bin/python bench/bench_tls.py [--requests 200000] [--rounds 5] [--mb 256]
[--restores 3] [--flavor redis|valkey])
"""

import argparse
import base64
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "collections"))

from benchlib import ENV, KUBECONFIG, KUBECTL, NAME, PLAYBOOK, POD, ROOT, kubectl  # noqa: E402
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import k8s_client, redis_admin  # noqa: E402

CLIENT = "bench-client"
PLAIN_PORT = 6380
# No CPU limit: the ratio should show what TLS costs, not where a CFS quota throttles.
RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}


FLAVOR = {"flavor": "redis"}


def playbook(name, namespace, backup_dir, tls_enabled, *args):
    variables = {"profile": "standard", "redis_namespace": namespace, "redis_backup_dir": backup_dir,
                 "redis_flavor": FLAVOR["flavor"],
                 "redis_tls_enabled": tls_enabled, "redis_maxmemory": "1gb", "redis_storage_size": "4Gi",
                 "redis_resources": RESOURCES}
    result = subprocess.run([PLAYBOOK, "playbooks/%s.yml" % name, "-e", json.dumps(variables)] + list(args),
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (name, result.stdout[-3000:]))
    return result.stdout


def admin_cli(namespace):
    users = json.loads(kubectl("-n", namespace, "get", "secret", NAME + "-users", "-o", "json"))["data"]
    return redis_admin.pod_cli(k8s_client.kube_configuration({"kubeconfig": KUBECONFIG}), namespace, POD, "redis",
                               base64.b64decode(users["admin"]).decode(), user="admin", flavor=FLAVOR["flavor"])


def open_plaintext_port(namespace):
    cli = admin_cli(namespace)
    cli("ACL", "SETUSER", "bench", "on", "nopass", "resetkeys", "~key:*", "-@all", "+get", "+set", "+ping",
        "+auth", "+hello", "+config|get")
    cli("CONFIG", "SET", "port", str(PLAIN_PORT))


def start_client(namespace):
    image = kubectl("-n", namespace, "get", "pod", POD, "-o", "jsonpath={.spec.containers[0].image}")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": CLIENT, "labels": {"app.kubernetes.io/part-of": "alertmanagerpp"}},
           "spec": {"restartPolicy": "Never", "activeDeadlineSeconds": 3600, "automountServiceAccountToken": False,
                    "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True},
                    "containers": [{"name": "bench", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sleep", "3600"],
                                    "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                                    "volumeMounts": [{"name": "ca", "mountPath": "/ca", "readOnly": True}]}],
                    "volumes": [{"name": "ca", "secret": {"secretName": NAME + "-tls",
                                                          "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}
    kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(pod).encode())
    kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/" + CLIENT, "--timeout=120s")


def server_cpu_seconds(cli):
    """CPU seconds the server process has used (INFO cpu: user + system)."""
    info = dict(line.split(":", 1) for line in cli("INFO", "cpu").split() if ":" in line)
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def benchmark(namespace, address, tls_enabled, requests, cli):
    """{command: (requests/s, p95 ms)} of one redis-benchmark run (CSV output), and "cpu": the server's CPU
    microseconds per request."""
    port = ["-p", "6379", "--tls", "--cacert", "/ca/ca.crt"] if tls_enabled else ["-p", str(PLAIN_PORT)]
    before = server_cpu_seconds(cli)
    out = kubectl("-n", namespace, "exec", CLIENT, "--", FLAVOR["flavor"] + "-benchmark", "-h", address, *port,
                  "--user", "bench", "-a", "unused", "-t", "get,set", "-n", str(requests), "-c", "50", "-d", "256",
                  "-r", "100000", "--csv", "--precision", "3")
    results = {"cpu": (server_cpu_seconds(cli) - before) * 1e6 / (2 * requests)}
    for line in out.splitlines():
        fields = [f.strip('"') for f in line.split(",")]
        if fields[0] in ("GET", "SET"):
            results[fields[0]] = (float(fields[1]), float(fields[5]))
    return results


def fill(namespace, megabytes):
    kubectl("-n", namespace, "exec", POD, "-c", "redis", "--", "sh", "-c",
            "for i in $(seq 1 %d); do head -c 1048576 /dev/urandom | sh /etc/redis-config/cli.sh -x SET big:$i "
            ">/dev/null; done" % megabytes)


def backup_and_restore(namespace, backup_dir, tls_enabled, times):
    """([backup copy MB/s], [restore RTO s]) of `times` runs of backup.yml and restore.yml on the instance."""
    rates, rtos = [], []
    for dummy in range(times):
        out = playbook("backup", namespace, backup_dir, tls_enabled, "-e", '{"redis_backup_skip_unchanged": false}')
        rates.append(float(re.search(r"copied at ([0-9.]+) MB/s", out).group(1)))
        out = playbook("restore", namespace, backup_dir, tls_enabled, "-e", "backup=latest", "-e", "confirm=yes",
                       "-e", '{"redis_restore_pre_snapshot": false}')
        rtos.append(float(re.search(r"RTO ([0-9.]+) s", out).group(1)))
    return rates, rtos


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200000, help="requests per redis-benchmark test")
    parser.add_argument("--rounds", type=int, default=5, help="plaintext/TLS rounds (median)")
    parser.add_argument("--mb", type=int, default=256, help="data for backup and restore, in MB")
    parser.add_argument("--restores", type=int, default=3, help="backups and restores per instance (median)")
    parser.add_argument("--flavor", choices=["redis", "valkey"], default="redis")
    options = parser.parse_args()
    FLAVOR["flavor"] = options.flavor
    tls_ns, plain_ns = "amp-bench-tls-%d" % os.getpid(), "amp-bench-plain-%d" % os.getpid()
    backup_dir = "/tmp/amp-bench-tls-%d" % os.getpid()
    runs = {False: [], True: []}
    try:
        playbook("deploy", tls_ns, backup_dir, True)
        open_plaintext_port(tls_ns)
        start_client(tls_ns)
        address = kubectl("-n", tls_ns, "get", "pod", POD, "-o", "jsonpath={.status.podIP}")
        cli = admin_cli(tls_ns)
        for dummy in range(options.rounds):
            for tls_enabled in (False, True):
                runs[tls_enabled].append(benchmark(tls_ns, address, tls_enabled, options.requests, cli))
        kubectl("-n", tls_ns, "delete", "pod", CLIENT, "--wait=false")
        fill(tls_ns, options.mb)
        tls_rates = backup_and_restore(tls_ns, backup_dir, True, options.restores)
        playbook("deploy", plain_ns, backup_dir, False)
        fill(plain_ns, options.mb)
        plain_rates = backup_and_restore(plain_ns, backup_dir, False, options.restores)
    finally:
        for namespace in (tls_ns, plain_ns):
            subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "delete", "namespace", namespace, "--wait=true",
                            "--ignore-not-found"], capture_output=True, check=False, timeout=600)
        subprocess.run(["rm", "-rf", backup_dir], check=False)
    print("bench_tls: %s-benchmark, 50 connections, 256-byte values, %d requests per test, median of %d rounds"
          % (options.flavor, options.requests, options.rounds))
    for command in ("GET", "SET"):
        plain_rps = statistics.median(run[command][0] for run in runs[False])
        tls_rps = statistics.median(run[command][0] for run in runs[True])
        plain_p95 = statistics.median(run[command][1] for run in runs[False])
        tls_p95 = statistics.median(run[command][1] for run in runs[True])
        print("  %s plaintext: %9.0f req/s, p95 %6.3f ms | TLS: %9.0f req/s, p95 %6.3f ms -> throughput TLS/plain "
              "= %.2f (goal >= 0.7), p95 TLS/plain = %.2f"
              % (command, plain_rps, plain_p95, tls_rps, tls_p95, tls_rps / plain_rps, tls_p95 / plain_p95))
    (plain_backup, plain_rto), (tls_backup, tls_rto) = ([statistics.median(values) for values in rates]
                                                        for rates in (plain_rates, tls_rates))
    plain_cpu, tls_cpu = (statistics.median(run["cpu"] for run in runs[mode]) for mode in (False, True))
    print("  server CPU per request: plaintext %.1f us, TLS %.1f us -> TLS/plain = %.2f (the client shares the node's "
          "CPUs: this is what TLS costs the server)" % (plain_cpu, tls_cpu, tls_cpu / plain_cpu))
    rounds = [[round(run["GET"][0]) for run in runs[mode]] for mode in (False, True)]
    print("  each round, GET req/s plaintext | TLS: %s | %s" % tuple(rounds))
    print("  backup of %d MB  : plaintext instance %6.1f MB/s, TLS-only %6.1f MB/s -> TLS/plain = %.2f (median of "
          "%d; each: %s | %s)" % (options.mb, plain_backup, tls_backup, tls_backup / plain_backup, options.restores,
                                  plain_rates[0], tls_rates[0]))
    print("  restore RTO      : plaintext instance %6.1f s, TLS-only %6.1f s -> TLS/plain = %.2f (median of %d; "
          "each: %s | %s)" % (plain_rto, tls_rto, tls_rto / plain_rto, options.restores, plain_rates[1],
                              tls_rates[1]))


if __name__ == "__main__":
    main()
