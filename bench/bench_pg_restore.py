"""Benchmark the PostgreSQL point-in-time restore on the local cluster, against a baseline in the same run.

An instance deployed by playbooks/deploy.yml (standard_stores [postgresql]) holds a pgbench database of about
--mb MB; backup.yml takes a base backup; pgbench then writes for a while (WAL the restore replays). Then:
  restart   delete the server's pod, time until it is Ready again (crash recovery of its own WAL), median of three;
  restore   restore.yml -e store=postgresql -e confirm=yes to the latest state (no base backups around it): its
            RTO, from its start to the server recovered, promoted and verified, and the time it was down.
Goals (issue 17): RTO < 120 s for ~1 GB; the ratio RTO/restart says what the restore adds to a restart.

Run: .venv/bin/python bench/bench_pg_restore.py [--mb 1024]
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from benchlib import ENV, KUBECONFIG, KUBECTL, PLAYBOOK, ROOT, kubectl, restart_seconds  # noqa: E402

NAME = "alertmanagerpp-postgresql"
POD = NAME + "-0"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
# pgbench's scale 1 is about 15 MB on disk.
MB_PER_SCALE = 15


def playbook(namespace, backup_dir, *args):
    variables = {"postgresql_namespace": namespace, "postgresql_backup_dir": backup_dir,
                 "postgresql_storage_size": "8Gi",
                 "postgresql_resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}}
    result = subprocess.run([PLAYBOOK, "-e", "profile=standard", "-e", json.dumps(variables)] + list(args), cwd=ROOT,
                            env=dict(ENV, AMP_STANDARD_STORES="postgresql"), capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (" ".join(args), result.stdout[-3000:]))
    return result.stdout


def pgbench(namespace, *args):
    return kubectl("-n", namespace, "exec", POD, "-c", "postgresql", "--", PGBENCH, "-h", "/run/postgresql",
                   "-U", "postgres", *args)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--seconds", type=int, default=30, help="pgbench writes after the base backup")
    options = parser.parse_args()
    namespace = "amp-bench-pg-restore-%d" % os.getpid()
    backup_dir = "/tmp/amp-bench-pg-restore-%d" % os.getpid()
    try:
        playbook(namespace, backup_dir, "playbooks/deploy.yml")
        pgbench(namespace, "-i", "-q", "-s", str(max(1, options.mb // MB_PER_SCALE)), "postgres")
        size = int(kubectl("-n", namespace, "exec", POD, "-c", "postgresql", "--", "psql", "-h", "/run/postgresql",
                           "-U", "postgres", "-XAtc", "SELECT pg_database_size('postgres')").strip())
        playbook(namespace, backup_dir, "playbooks/backup.yml")
        pgbench(namespace, "-c", "4", "-j", "2", "-T", str(options.seconds), "-n", "postgres")
        restarts = [restart_seconds(namespace, POD) for dummy in range(3)]
        t_restart = sorted(restarts)[1]
        out = playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "store=postgresql", "-e", "confirm=yes",
                       "-e", '{"postgresql_restore_pre_backup": false, "postgresql_restore_post_backup": false}')
        rto = float(re.search(r"RTO ([0-9.]+) s", out).group(1))
        downtime = float(re.search(r"server was down ([0-9.]+) s", out).group(1))
        steps = re.findall(r"^[\s-]*'?\s*([0-9.]+s \S.*?)'?$", out, re.MULTILINE)
    finally:
        subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "delete", "namespace", namespace, "--wait=true"],
                       capture_output=True, check=False)
        subprocess.run(["rm", "-rf", backup_dir], check=False)
    print("bench_pg_restore: database of %.0f MB, pgbench writes for %d s after the base backup"
          % (size / 1e6, options.seconds))
    print("  plain pod restart (crash recovery): %6.1f s  (median of %s)"
          % (t_restart, ", ".join("%.1f" % t for t in restarts)))
    print("  restore RTO to the latest state    : %6.1f s  (goal < 120 s) -> RTO/restart = %.1f"
          % (rto, rto / t_restart))
    print("  of which the server was down       : %6.1f s" % downtime)
    print("  restore steps (seconds since start):")
    for line in steps:
        print("    " + line)


if __name__ == "__main__":
    main()
