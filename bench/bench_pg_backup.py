"""Benchmark PostgreSQL base backups against kubectl, in one run, on the local cluster.

An instance deployed by deploy.yml (standard_stores [postgresql]) is filled with about 1 GB: half pgbench's
tables (very compressible) and half rows of SHA-512 output (incompressible). Then, alternately, ROUNDS times:
  kubectl   kubectl exec POD -c postgresql -- pg_basebackup -D - -Ft -X fetch -c fast > file
  module    the postgresql_basebackup module as Ansible runs it (its own Python process), compression none:
            the tar streamed out, checked against the server's manifest, written, published with its manifest
  module+z  the same with zstd: the size ratio and the time
Ratios: module MB/s / kubectl MB/s (goal >= 0.9, the medians of the rounds); module peak RSS.

Run: .venv/bin/python bench/bench_pg_backup.py [ROUNDS] [MB]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from kubernetes import client, config

from benchlib import ENV, KUBECONFIG, KUBECTL, PLAYBOOK, ROOT, delete_namespace, timed

NAME = "alertmanagerpp-postgresql"
POD = NAME + "-0"
BIN = "/usr/lib/postgresql/15/bin"
MODULE = ROOT / "plugins" / "modules" / "postgresql_basebackup.py"
VARIABLES = {"postgresql_resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
             "postgresql_storage_size": "6Gi"}


def psql(namespace, sql):
    return subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "-n", namespace, "exec", "-i", POD, "-c",
                           "postgresql", "--", "%s/psql" % BIN, "-XAtq", "-h", "/run/postgresql", "-U", "postgres",
                           "-d", "alertmanagerpp", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                          input=sql.encode(), capture_output=True, check=True).stdout.decode()


def deploy_and_fill(namespace, megabytes):
    env = dict(ENV, AMP_STANDARD_STORES="postgresql")
    variables = dict(VARIABLES, postgresql_namespace=namespace)
    subprocess.run([PLAYBOOK, "playbooks/deploy.yml", "-e", "profile=standard", "-e", json.dumps(variables)],
                   cwd=ROOT, env=env, capture_output=True, check=True)
    scale = max(1, megabytes // 2 // 15)  # pgbench: ~15 MB per unit of scale
    subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "-n", namespace, "exec", POD, "-c", "postgresql", "--",
                    "%s/pgbench" % BIN, "-h", "/run/postgresql", "-U", "postgres", "-i", "-q", "-s", str(scale),
                    "alertmanagerpp"], capture_output=True, check=True)
    rows = megabytes // 2 * 16  # 64 KiB of SHA-512 output per row
    psql(namespace, "CREATE TABLE noise (i int PRIMARY KEY, v bytea); ALTER TABLE noise ALTER v SET STORAGE EXTERNAL;"
                    "INSERT INTO noise SELECT i, (SELECT string_agg(sha512(int4send(i * 1024 + j)), ''::bytea) "
                    "FROM generate_series(1, 1024) j) FROM generate_series(1, %d) i; CHECKPOINT;" % rows)
    return int(psql(namespace, "SELECT pg_database_size('alertmanagerpp')").strip())


def kubectl_backup(namespace, path):
    command = [KUBECTL, "--kubeconfig", KUBECONFIG, "-n", namespace, "exec", POD, "-c", "postgresql", "--",
               "%s/pg_basebackup" % BIN, "-h", "/run/postgresql", "-U", "postgres", "-D", "-", "-Ft", "-X", "fetch",
               "-c", "fast"]
    with open(path, "wb") as handle:
        seconds, dummy = timed(lambda: subprocess.run(command, stdout=handle, stderr=subprocess.PIPE, check=True))
    return os.path.getsize(path), seconds


def module_backup(namespace, dest, compression):
    """Run the module file as Ansible does (args file), in its own process: (result, its peak RSS in MB)."""
    args = {"ANSIBLE_MODULE_ARGS": {"namespace": namespace, "statefulset": NAME, "dest": dest, "cluster": "bench",
                                    "kubeconfig": KUBECONFIG, "compression": compression}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen([sys.executable, str(MODULE), handle.name], stdout=output, env=env)
        dummy, dummy, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        output.seek(0)
        result = json.loads(output.read())
    os.unlink(handle.name)
    if result.get("failed"):
        sys.exit("module failed: %s" % result.get("msg"))
    return result, usage.ru_maxrss / 1024.0


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    api = config.new_client_from_config(config_file=KUBECONFIG)
    core = client.CoreV1Api(api)
    namespace = "amp-bench-pg-backup-%s" % uuid.uuid4().hex[:6]
    work = tempfile.mkdtemp(prefix="amp-bench-pg-")
    try:
        start = time.monotonic()
        size = deploy_and_fill(namespace, megabytes)
        print("database: %.0f MB (pgbench tables and SHA-512 rows) in %.0f s" % (size / 1e6, time.monotonic() - start))
        rates = {"kubectl": [], "module": [], "module+z": []}
        for number in range(rounds):
            tar_bytes, seconds = kubectl_backup(namespace, os.path.join(work, "kubectl.tar"))
            rates["kubectl"].append(tar_bytes / 1e6 / seconds)
            os.unlink(os.path.join(work, "kubectl.tar"))
            plain, rss = module_backup(namespace, os.path.join(work, "none-%d" % number), "none")
            rates["module"].append(plain["transfer_mb_per_s"])
            zstd, rss = module_backup(namespace, os.path.join(work, "zstd-%d" % number), "zstd")
            rates["module+z"].append(zstd["tar_bytes"] / 1e6 / zstd["duration_seconds"])
            print("round %d: kubectl %.1f MB/s (%.1f s); module %.1f MB/s (transfer %.1f s, whole %.1f s); "
                  "module+zstd %.1f MB/s whole (%.1f s), %.0f MB -> %.0f MB"
                  % (number + 1, rates["kubectl"][-1], seconds, plain["transfer_mb_per_s"],
                     plain["transfer_seconds"], plain["duration_seconds"], rates["module+z"][-1],
                     zstd["duration_seconds"], zstd["tar_bytes"] / 1e6, zstd["bytes"] / 1e6))
            shutil.rmtree(os.path.join(work, "none-%d" % number))
            shutil.rmtree(os.path.join(work, "zstd-%d" % number))
        medians = dict((name, statistics.median(values)) for name, values in rates.items())
        print("bench_pg_backup: base backup of %.0f MB, %d rounds (medians)" % (plain["tar_bytes"] / 1e6, rounds))
        print("  kubectl exec pg_basebackup > file : %7.1f MB/s" % medians["kubectl"])
        print("  module, no compression           : %7.1f MB/s  -> module/kubectl = %.2f (goal >= 0.9)"
              % (medians["module"], medians["module"] / medians["kubectl"]))
        print("  module, zstd (whole run)         : %7.1f MB/s  -> size ratio %.3f (%.0f MB on disk)"
              % (medians["module+z"], zstd["bytes"] / zstd["tar_bytes"], zstd["bytes"] / 1e6))
        print("  module peak RSS                  : %7.1f MB" % rss)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        delete_namespace(core, namespace)


if __name__ == "__main__":
    main()
