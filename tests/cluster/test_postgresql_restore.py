"""PostgreSQL point-in-time restore by playbooks/restore.yml -e store=postgresql, on the real cluster.

A table of timestamped rows is written before and after a base backup; a time T is taken between two commits;
more rows follow and the table is dropped. Restored to T: exactly the rows committed before T, a new timeline whose
history says where recovery stopped, a server that takes writes and an archiver that streams again. Then the
volume is lost (the claim deleted, the server initialised anew, empty): restored to the latest state, every
acknowledged row the archive received is back. A target the archive does not reach is refused and leaves the
running server as it was.
"""

import datetime
import os
import re
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import Psql
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import ANNOTATION

from pg import NAME, archive_directory, commit_marker, playbook, wait_until_archived

ROWS = ("CREATE TABLE IF NOT EXISTS pitr (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT "
        "clock_timestamp(), v bytea);\n")
CHECK = ("-e", '{"postgresql_restore_check_table": "public.pitr", "postgresql_restore_check_database": '
               '"alertmanagerpp"}')


@pytest.fixture(scope="module")
def instance(core, request, tmp_path_factory):
    """(namespace, psql, backups' base directory)."""
    namespace = "amp-pg-restore-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    backup_dir = tmp_path_factory.mktemp("pg-restore")
    playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return namespace, Psql(configuration, namespace, NAME + "-0", timeout=600), backup_dir


def write_rows(psql, count):
    """`count` rows, each its own transaction (so each its own commit time), of hostile bytes; the newest id."""
    psql.script(ROWS + "".join("INSERT INTO pitr (v) VALUES ('\\x00ff0a0d%08x'::bytea);\n" % n for n in range(count)),
                database="alertmanagerpp")
    return newest(psql)


def newest(psql):
    return int(psql.rows("SELECT coalesce(max(id), 0)::text AS n FROM pitr", database="alertmanagerpp")[0]["n"])


def server_now(psql):
    return psql.rows("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                     "AS t")[0]["t"]


def pod_uid(core, namespace):
    return core.read_namespaced_pod(NAME + "-0", namespace).metadata.uid


def restore(namespace, backup_dir, *args, check=True):
    """restore.yml's output, its lines unfolded."""
    return " ".join(playbook(namespace, backup_dir, "restore", "-e", "store=postgresql", *args, check=check).stdout.split())


def test_a_target_the_archive_does_not_reach_is_refused_and_nothing_is_touched(instance, core, apps):
    namespace, psql, backup_dir = instance
    playbook(namespace, backup_dir, "backup")
    uid = pod_uid(core, namespace)
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = restore(namespace, backup_dir, "-e", "recovery_target_time=" + later, "-e", "confirm=yes", check=False)
    assert "no base backup and archive reach" in out and "Nothing was touched" in out, out[-3000:]
    out = restore(namespace, backup_dir, "-e", "recovery_target_lsn=0/1", "-e", "recovery_target_name=x", check=False)
    assert "at most one of" in out, out[-3000:]
    assert pod_uid(core, namespace) == uid
    sts = apps.read_namespaced_stateful_set(NAME, namespace)
    assert sts.spec.replicas == 1 and ANNOTATION not in (sts.metadata.annotations or {})


def test_restored_to_a_time_exactly_the_rows_committed_before_it(instance, core):
    namespace, psql, backup_dir = instance
    write_rows(psql, 50)
    playbook(namespace, backup_dir, "backup")
    write_rows(psql, 100)
    time.sleep(0.05)
    target = server_now(psql)
    time.sleep(0.05)
    before = newest(psql)
    write_rows(psql, 100)
    psql.script("DROP TABLE pitr;\n", database="alertmanagerpp")
    wait_until_archived(namespace, psql, commit_marker(psql))

    plan = restore(namespace, backup_dir, "-e", "recovery_target_time=" + target, check=False)
    assert "Not restoring without confirmation" in plan and "to time %s" % target[:19] in plan, plan[-3000:]
    out = restore(namespace, backup_dir, "-e", "recovery_target_time=" + target, "-e", "confirm=yes", *CHECK)
    assert re.search(r"where recovery stopped: before \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", out), out[-4000:]
    assert "public.pitr holds %d rows" % before in out, out[-4000:]
    rows = psql.rows("SELECT count(*)::int AS n, max(id)::int AS m, max(at) <= '%s'::timestamptz AS before, "
                     "bool_and(substr(v, 1, 4) = '\\x00ff0a0d'::bytea) AS bytes FROM pitr" % target,
                     database="alertmanagerpp")[0]
    assert rows == {"n": before, "m": before, "before": True, "bytes": True}, rows
    timeline = psql.rows("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t")[0]["t"]
    assert int(timeline, 16) >= 2
    settings = psql.rows("SELECT pg_read_file('postgresql.auto.conf') AS f")[0]["f"]
    assert "recovery_target" not in settings and "restore_command" not in settings, settings
    # The archiver streams the new timeline into the emptied archive; the restored server takes writes.
    wait_until_archived(namespace, psql, commit_marker(psql))
    assert write_rows(psql, 1) > before


def test_restored_to_the_latest_state_after_the_volume_is_lost(instance, core, apps):
    namespace, psql, backup_dir = instance
    playbook(namespace, backup_dir, "backup")
    acknowledged = write_rows(psql, 200)
    wait_until_archived(namespace, psql, commit_marker(psql))
    system = archive_directory(psql).rsplit("/", 1)[1]

    apps.patch_namespaced_stateful_set_scale(NAME, namespace, {"spec": {"replicas": 0}})
    wait_gone(core, namespace, NAME + "-0")
    core.delete_namespaced_persistent_volume_claim("data-%s-0" % NAME, namespace)
    wait_claim_gone(core, namespace, "data-%s-0" % NAME)
    apps.patch_namespaced_stateful_set_scale(NAME, namespace, {"spec": {"replicas": 1}})
    wait_ready(core, namespace, NAME + "-0")
    assert psql.rows("SELECT system_identifier::text AS s FROM pg_control_system()")[0]["s"] != system
    assert not psql.rows("SELECT 1 AS x FROM pg_class WHERE relname = 'pitr'")

    out = restore(namespace, backup_dir, "-e", "confirm=yes", "-e",
                  '{"postgresql_restore_system_identifier": "%s"}' % system, *CHECK)
    assert "where recovery stopped: no recovery target specified" in out, out[-4000:]
    assert psql.rows("SELECT system_identifier::text AS s FROM pg_control_system()")[0]["s"] == system
    assert newest(psql) == acknowledged
    assert psql.rows("SELECT count(*)::int AS n FROM pitr", database="alertmanagerpp")[0]["n"] >= 200


def wait_gone(core, namespace, pod, timeout=300):
    deadline = time.monotonic() + timeout
    while core.list_namespaced_pod(namespace, field_selector="metadata.name=" + pod).items:
        assert time.monotonic() < deadline, "pod %s still there after %d s" % (pod, timeout)
        time.sleep(1)


def wait_claim_gone(core, namespace, claim, timeout=300):
    deadline = time.monotonic() + timeout
    while core.list_namespaced_persistent_volume_claim(namespace, field_selector="metadata.name=" + claim).items:
        assert time.monotonic() < deadline, "claim %s still there after %d s" % (claim, timeout)
        time.sleep(1)


def wait_ready(core, namespace, pod, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        found = core.list_namespaced_pod(namespace, field_selector="metadata.name=" + pod).items
        if found and any(c.type == "Ready" and c.status == "True" for c in found[0].status.conditions or []):
            return
        assert time.monotonic() < deadline, "pod %s not Ready after %d s" % (pod, timeout)
        time.sleep(1)
