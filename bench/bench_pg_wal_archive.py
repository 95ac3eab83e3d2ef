"""Benchmark the PostgreSQL WAL archive's RPO on the local cluster: idle, then busy, in one run.

An instance deployed by deploy.yml (standard_stores [postgresql], its WAL archiver on) is measured from inside the
server: a procedure commits a row, then polls every 10 ms until the archiver has flushed the commit's WAL on its own
volume (pg_stat_get_wal_senders().flush_lsn, which pg_receivewal --synchronous reports after its fsync). That wait is
what a loss of the server's volume at the moment of the commit would have lost: the RPO.
  idle   COMMITS commits, 2 s apart, nothing else running
  busy   the same while pgbench (4 clients, no rate limit) saturates the server's 2 cores
Printed: the median and the worst of each, as a ratio to the goals (idle: archive_timeout, 60 s; busy: 5 s), and
the busy/idle ratio (the baseline measured in the same run).

Run: .venv/bin/python bench/bench_pg_wal_archive.py [COMMITS]
"""

import json
import re
import statistics
import subprocess
import sys
import threading
import uuid

from kubernetes import client, config

from benchlib import ENV, KUBECONFIG, KUBECTL, PLAYBOOK, ROOT, delete_namespace

NAME = "alertmanagerpp-postgresql"
POD = NAME + "-0"
BIN = "/usr/lib/postgresql/15/bin"
VARIABLES = {"postgresql_resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
             "postgresql_storage_size": "4Gi"}
ARCHIVE_TIMEOUT, BUSY_GOAL = 60.0, 5.0
# Commits a row, then waits until the archiver flushed the commit; a NOTICE per commit with the wait in seconds.
PROCEDURE = """
CREATE TABLE IF NOT EXISTS rpo_probe (i int, at timestamptz);
CREATE OR REPLACE PROCEDURE rpo_probe(commits int, gap float) LANGUAGE plpgsql AS $$
DECLARE
  committed pg_lsn;
  started timestamptz;
BEGIN
  FOR i IN 1..commits LOOP
    INSERT INTO rpo_probe VALUES (i, clock_timestamp());
    COMMIT;
    committed := pg_current_wal_lsn();
    started := clock_timestamp();
    WHILE coalesce((SELECT max(flush_lsn) FROM pg_stat_get_wal_senders()), '0/0') < committed LOOP
      IF clock_timestamp() - started > interval '120 seconds' THEN
        RAISE EXCEPTION 'commit % not archived after 120 s', i;
      END IF;
      PERFORM pg_sleep(0.01);
    END LOOP;
    RAISE NOTICE 'rpo %', extract(epoch FROM clock_timestamp() - started);
    PERFORM pg_sleep(gap);
  END LOOP;
END $$;
"""


def exec_in_pod(namespace, *command, stdin=None):
    return subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, "-n", namespace, "exec", "-i", POD, "-c",
                           "postgresql", "--"] + list(command), input=stdin, capture_output=True, check=True,
                          text=True)


def psql(namespace, sql):
    """Run SQL as the superuser in the application's database; (stdout, stderr: the NOTICEs)."""
    done = exec_in_pod(namespace, "%s/psql" % BIN, "-XAtq", "-h", "/run/postgresql", "-U", "postgres", "-d",
                       "alertmanagerpp", "-v", "ON_ERROR_STOP=1", "-f", "-", stdin=sql)
    return done.stdout, done.stderr


def deploy(namespace):
    variables = dict(VARIABLES, postgresql_namespace=namespace)
    subprocess.run([PLAYBOOK, "playbooks/deploy.yml", "-e", "profile=standard", "-e", json.dumps(variables)],
                   cwd=ROOT, env=dict(ENV, AMP_STANDARD_STORES="postgresql"), capture_output=True, check=True)
    psql(namespace, PROCEDURE)
    exec_in_pod(namespace, "%s/pgbench" % BIN, "-h", "/run/postgresql", "-U", "postgres", "-i", "-q", "-s", "10",
                "alertmanagerpp")


def measure(namespace, commits, gap):
    dummy, notices = psql(namespace, "CALL rpo_probe(%d, %s);" % (commits, gap))
    return [float(value) for value in re.findall(r"rpo ([0-9.]+)", notices)]


def busy(namespace, seconds, outcome):
    done = exec_in_pod(namespace, "%s/pgbench" % BIN, "-h", "/run/postgresql", "-U", "postgres", "-c", "4", "-j",
                       "2", "-T", str(seconds), "alertmanagerpp")
    outcome.append(re.search(r"tps = ([0-9.]+)", done.stdout).group(1))


def report(name, values, goal):
    median, worst = statistics.median(values), max(values)
    print("  %-5s %2d commits: RPO median %.3f s, worst %.3f s -> worst/goal = %.4f (goal %.0f s)"
          % (name, len(values), median, worst, worst / goal, goal))
    return median


def main():
    commits = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    core = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
    namespace = "amp-bench-pg-wal-%s" % uuid.uuid4().hex[:6]
    try:
        deploy(namespace)
        idle = measure(namespace, commits, 2)
        tps = []
        load = threading.Thread(target=busy, args=(namespace, commits * 2 + 30, tps))
        load.start()
        loaded = measure(namespace, commits, 1)
        load.join()
        print("bench_pg_wal_archive: commit -> flushed on the archive's volume (pg_receivewal --synchronous)")
        idle_median = report("idle", idle, ARCHIVE_TIMEOUT)
        busy_median = report("busy", loaded, BUSY_GOAL)
        ratio = busy_median / max(idle_median, 1e-3)
        print("  busy/idle median = %.1f (pgbench %s tps meanwhile)" % (ratio, tps[0] if tps else "?"))
    finally:
        delete_namespace(core, namespace)


if __name__ == "__main__":
    main()
