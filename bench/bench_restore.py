"""Benchmark the DR restore on the local cluster, against baselines measured in the same run.

An instance deployed by playbooks/deploy.yml holds about 1 GB of incompressible
values; backup.yml backs it up. Then:
  restart   delete the pod, time until it is Ready again (it reloads its AOF), median of three;
  restore   restore.yml -e backup=<id> -e confirm=yes (no pre-restore snapshot):
            its RTO (start to verified across one more restart, and Ready);
  upload    the RDB upload rate of the restore against
            kubectl exec -i POD -- sh -c 'cat > file' of the same file.
Goals (issue 5): RTO < 60 s and RTO <= 3 x restart; upload / kubectl >= 0.8.

Run: make bench (or .venv/bin/python bench/bench_restore.py [--mb 1024])
"""

import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from benchlib import ENV, KUBECONFIG, KUBECTL, NAME, PLAYBOOK, POD, ROOT, kubectl, restart_seconds  # noqa: E402


def playbook(namespace, backup_dir, *args):
    extra = ['{"redis_namespace": "%s", "redis_backup_dir": "%s", "redis_maxmemory": "3gb", '
             '"redis_storage_size": "8Gi", "redis_resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, '
             '"limits": {"cpu": "2", "memory": "4Gi"}}}' % (namespace, backup_dir)]
    result = subprocess.run([PLAYBOOK, "-e", "profile=standard", "-e", extra[0]] + list(args), cwd=ROOT, env=ENV,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (" ".join(args), result.stdout[-3000:]))
    return result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--keep", action="store_true", help="keep the namespace and backups (to look into a run)")
    options = parser.parse_args()
    namespace = "amp-bench-restore-%d" % os.getpid()
    backup_dir = "/tmp/amp-bench-restore-%d" % os.getpid()
    try:
        playbook(namespace, backup_dir, "playbooks/deploy.yml")
        kubectl("-n", namespace, "exec", POD, "-c", "redis", "--", "sh", "-c",
                "for i in $(seq 1 %d); do head -c 1048576 /dev/urandom | sh /etc/redis-config/cli.sh -x SET big:$i >/dev/null; done"
                % options.mb)
        out = playbook(namespace, backup_dir, "playbooks/backup.yml")
        backup = re.search(r"Backup (\S+) from", out).group(1)
        rdb = "%s/%s/%s/%s.rdb" % (backup_dir, namespace, NAME, backup)
        size = os.path.getsize(rdb)
        # The kubelet takes 3-25 s to release a deleted pod here: the median of three restarts.
        restarts = [restart_seconds(namespace, POD) for dummy in range(3)]
        t_restart = sorted(restarts)[1]
        out = playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "backup=" + backup, "-e", "confirm=yes",
                       "-e", '{"redis_restore_pre_snapshot": false}')
        rto = float(re.search(r"RTO ([0-9.]+) s", out).group(1))
        downtime = float(re.search(r"instance was down ([0-9.]+) s", out).group(1))
        upload = float(re.search(r"RDB uploaded \(\d+ bytes, ([0-9.]+) MB/s", out).group(1))
        steps = re.findall(r"^[\s-]*'?\s*([0-9.]+s \S.*?)'?$", out, re.MULTILINE)
        with open(rdb, "rb") as handle:
            start = time.monotonic()
            kubectl("-n", namespace, "exec", "-i", POD, "-c", "redis", "--", "sh", "-c",
                    "cat > /data/upload-baseline && rm -f /data/upload-baseline", stdin=handle)
            baseline = size / 1e6 / (time.monotonic() - start)
    finally:
        if options.keep:
            print("kept: namespace %s, backups in %s" % (namespace, backup_dir))
        else:
            subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "delete", "namespace", namespace, "--wait=true"],
                           capture_output=True, check=False)
            subprocess.run(["rm", "-rf", backup_dir], check=False)
    print("bench_restore: RDB of %.0f MB" % (size / 1e6))
    print("  plain pod restart (AOF reload) : %6.1f s  (median of %s)" % (t_restart, ", ".join("%.1f" % t for t in restarts)))
    print("  restore RTO (start -> verified): %6.1f s  (goal < 60 s) -> RTO/restart = %.1f (goal <= 3; "
          "%.1f against the fastest restart)" % (rto, rto / t_restart, rto / min(restarts)))
    print("  of which the instance was down : %6.1f s  (the upload runs beside the live instance)" % downtime)
    print("  restore steps (seconds since start):")
    for line in steps:
        print("    " + line)
    print("  upload into the volume         : %6.1f MB/s (transfer and size check; the CRC64 check is a step of its own)"
          % upload)
    print("  kubectl exec -i cat > file     : %6.1f MB/s -> upload/kubectl = %.2f (goal >= 0.8)"
          % (baseline, upload / baseline))


if __name__ == "__main__":
    main()
