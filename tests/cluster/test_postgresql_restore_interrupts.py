"""A PostgreSQL restore stopped as an operator stops it, or failing by itself: every way out leaves the server on
its previous data, its archive whole and streaming, and nothing behind.

The instance (deploy.yml) holds set A (ids 1-100), is backed up (backup.yml), a time T is taken, then it holds set B
(ids 1-10 deleted, 101-150 added, each its own commit) and a client Deployment of 2 replicas. A restore to T gives
set A; a rolled back one leaves set B. The interrupted restores are held at their worst moment, `verifying`: the
old data directory set aside, the base backup in its place, the archive moved aside and the archiver stopped, the
server scaled up to recover. A ResourceQuota of no long-running pods keeps the server from starting there for as
long as the test needs (the restore's helper pod has a deadline and may run). Then: Ctrl-C (with a second restore
and a backup refused meanwhile), ansible-playbook's process group killed, the module itself killed (refused until
`-e rollback=yes`), and a verification that fails after the server was promoted on its new timeline. Last, after
all of them, the restore to T still gives exactly set A.
"""

import json
import os
import re
import signal
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import Psql
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import ANNOTATION

from interrupts import helper_pods, owner_pid, pod_ready, pods_held_back, process_gone, wait_for
from pg import ARCHIVE, ARCHIVE_VOLUME, NAME, archive_shell, commit_marker, playbook, start_playbook, \
    wait_until_archived

POD = NAME + "-0"
CLIENT = "app"
DATABASE = "alertmanagerpp"
VOLUME = "/var/lib/postgresql/data"
SET_A = list(range(1, 101))
SET_B = list(range(11, 151))
# Every row's value: bytes NUL, 0xFF, newline, carriage return, then its id.
VALUE = "'\\x00ff0a0d'::bytea || int4send(%s)"


def client_deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": CLIENT},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": CLIENT}},
                 "template": {"metadata": {"labels": {"app": CLIENT}}, "spec": {
                     "automountServiceAccountToken": False,
                     "containers": [{"name": "app", "image": "localhost/alertmanagerpp/busybox:1.35",
                                     "imagePullPolicy": "Never", "command": ["sleep", "3600"]}]}}},
    }


def server_now(psql):
    return psql.rows("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                     "AS t")[0]["t"]


def timeline(psql):
    return int(psql.rows("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) AS t")[0]["t"], 16)


@pytest.fixture(scope="module")
def site(core, apps, request, tmp_path_factory):
    """{namespace, backup_dir, psql, target (T), timeline}: set A backed up, T, then set B and the clients."""
    namespace = "amp-pg-interrupts-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    backup_dir = tmp_path_factory.mktemp("pg-interrupts")
    playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    psql = Psql(configuration, namespace, POD, timeout=600)
    psql.script("CREATE TABLE kept (id int PRIMARY KEY, v bytea NOT NULL);\n"
                "INSERT INTO kept SELECT i, %s FROM generate_series(1, 100) i;\n" % (VALUE % "i"), database=DATABASE)
    playbook(namespace, backup_dir, "backup")
    time.sleep(0.05)
    target = server_now(psql)
    time.sleep(0.05)
    psql.script("DELETE FROM kept WHERE id <= 10;\n" + "".join(
        "INSERT INTO kept VALUES (%d, %s);\n" % (i, VALUE % i) for i in range(101, 151)), database=DATABASE)
    wait_until_archived(namespace, psql, commit_marker(psql))
    apps.create_namespaced_deployment(namespace, client_deployment())
    return {"namespace": namespace, "backup_dir": backup_dir, "psql": psql, "target": target,
            "timeline": timeline(psql), "configuration": configuration}


def restore_args(site, *extra):
    options = {"postgresql_restore_clients": [CLIENT], "postgresql_restore_pre_backup": False,
               "postgresql_restore_check_table": "public.kept", "postgresql_restore_check_database": DATABASE}
    return ("-e", "store=postgresql", "-e", "recovery_target_time=" + site["target"], "-e", "confirm=yes",
            "-e", json.dumps(options)) + extra


def restore(site, *extra, check=True):
    """restore.yml's output, its lines unfolded."""
    result = playbook(site["namespace"], site["backup_dir"], "restore", *restore_args(site, *extra), check=check)
    return " ".join(result.stdout.split())


def start_restore(site, request):
    """restore.yml in a session of its own; stopped at the end of the test if the test left it running."""
    log = open(os.path.join(site["backup_dir"], "restore-%d.log" % time.monotonic_ns()), "w+")
    process = start_playbook(site["namespace"], site["backup_dir"], "restore", *restore_args(site), stdout=log)
    request.addfinalizer(lambda: stop(process))
    return process, log


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(600)


def recorded(apps, namespace):
    annotations = apps.read_namespaced_stateful_set(NAME, namespace).metadata.annotations or {}
    return json.loads(annotations[ANNOTATION]) if ANNOTATION in annotations else None


def wait_for_verifying(apps, namespace, process, log):
    def reached():
        state = recorded(apps, namespace)
        if process.poll() is not None:
            log.seek(0)
            pytest.fail("the restore ended before it was interrupted:\n" + log.read()[-3000:])
        return state if state and state.get("phase") == "verifying" else None
    state = wait_for("the restore to start the server on the restored data", reached, timeout=300)
    assert state["data_moved"] and state["archive_moved"], state
    return state


def ids_and_values(psql):
    row = psql.rows("SELECT string_agg(id::text, ',' ORDER BY id) AS ids, bool_and(v = %s)::text AS v FROM kept"
                    % (VALUE % "id"), database=DATABASE)[0]
    return [int(i) for i in row["ids"].split(",")], row["v"]


def volume_leftovers(site):
    """The restore's directories on the server's volume: the old data directory, its work directory."""
    return run_shell(site["configuration"], site["namespace"], POD, "postgresql",
                     'ls -A "$1" | grep -E "^\\.(pre-)?restore-" || true', args=[VOLUME]).split()


def archive_asides(site):
    """The archive's before-restore-* directories: the old timeline's files, set aside by a restore."""
    return archive_shell(site["namespace"], 'find "$1" -maxdepth 2 -name "before-restore-*" || true',
                         ARCHIVE_VOLUME).split()


def assert_back_on_set_b(core, apps, site, pid=None, timeout=300):
    """pid: the interrupted restore's module, which must be gone."""
    namespace, psql = site["namespace"], site["psql"]
    if pid is not None:
        wait_for("the restore process to end", lambda: process_gone(pid), timeout)
    wait_for("nothing recorded on the StatefulSet", lambda: recorded(apps, namespace) is None, timeout)
    wait_for("pod 0 Ready", lambda: pod_ready(core, namespace, POD), timeout)
    assert ids_and_values(psql) == (SET_B, "true")
    assert timeline(psql) == site["timeline"], "the server does not run on its previous timeline"
    assert apps.read_namespaced_deployment_scale(CLIENT, namespace).spec.replicas == 2
    assert apps.read_namespaced_stateful_set_scale(NAME, namespace).spec.replicas == 1
    assert apps.read_namespaced_stateful_set_scale(ARCHIVE, namespace).spec.replicas == 1
    wait_for("no helper pod", lambda: not helper_pods(core, namespace, NAME))
    assert volume_leftovers(site) == [] and archive_asides(site) == []
    # The archive is back where the archiver writes, and it streams the server's WAL again.
    wait_until_archived(namespace, psql, commit_marker(psql), timeout=180)


def test_ctrl_c_rolls_back_and_a_second_restore_a_backup_or_a_retention_is_refused_meanwhile(core, apps, site, request):
    namespace = site["namespace"]
    with pods_held_back(core, namespace):
        process, log = start_restore(site, request)
        state = wait_for_verifying(apps, namespace, process, log)
        assert not apps.read_namespaced_stateful_set_scale(ARCHIVE, namespace).spec.replicas
        second = restore(site, check=False)
        assert "another restore" in second and "two restores of one instance cannot overlap" in second, second[-3000:]
        backup = " ".join(playbook(namespace, site["backup_dir"], "backup", check=False).stdout.split())
        assert "a base backup of %s/%s must wait: restore" % (namespace, NAME) in backup, backup[-3000:]
        retention = " ".join(playbook(namespace, site["backup_dir"], "backup", "--tags", "postgresql_backup_retention",
                                      "-e", "postgresql_backup_keep_last=1", check=False).stdout.split())
        assert "another run holds" in retention, retention[-3000:]
        assert recorded(apps, namespace)["phase"] == "verifying", "the hold did not hold"
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    process.wait(300)
    assert_back_on_set_b(core, apps, site, owner_pid(state))


def test_a_dead_controller_rolls_back(core, apps, site, request):
    """ansible-playbook's process group killed: the module (in its worker's session) notices and rolls back."""
    namespace = site["namespace"]
    with pods_held_back(core, namespace):
        process, log = start_restore(site, request)
        state = wait_for_verifying(apps, namespace, process, log)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert not process_gone(owner_pid(state)), "the module was in the killed group: nothing left to test"
    assert_back_on_set_b(core, apps, site, owner_pid(state))


def test_a_killed_restore_is_refused_until_rolled_back_and_the_rollback_restores_all(core, apps, site, request):
    """The module itself killed: no chance to roll back. The server, let start meanwhile, recovers the restored
    data and promotes with no archiver; the rollback still puts the previous data and the archive back."""
    namespace = site["namespace"]
    with pods_held_back(core, namespace):
        process, log = start_restore(site, request)
        state = wait_for_verifying(apps, namespace, process, log)
        os.kill(owner_pid(state), signal.SIGKILL)
        process.wait(60)
    assert recorded(apps, namespace) is not None
    time.sleep(31)  # the heartbeat goes stale
    refused = restore(site, check=False)
    assert "an interrupted" in refused and "-e store=postgresql -e rollback=yes" in refused, refused[-3000:]
    out = " ".join(playbook(namespace, site["backup_dir"], "restore", "-e", "store=postgresql",
                            "-e", "rollback=yes").stdout.split())
    assert re.search(r"rolled back: the server runs on its previous data", out), out[-3000:]
    assert_back_on_set_b(core, apps, site, owner_pid(state))
    again = playbook(namespace, site["backup_dir"], "restore", "-e", "store=postgresql", "-e", "rollback=yes").stdout
    assert re.search(r"nothing\s+to\s+roll\s+back", again) and "changed=0" in again, again[-3000:]


def test_a_verification_that_fails_after_promotion_rolls_back_and_the_restore_still_works(core, apps, site):
    """The check table missing from the restored data: the server recovered to T and promoted on a new timeline
    before the count failed. Rolled back: set B on the old timeline. Then the restore to T gives set A."""
    out = restore(site, "-e", '{"postgresql_restore_check_table": "public.no_such_table"}', check=False)
    assert 'relation "public.no_such_table" does not exist' in out, out[-3000:]
    assert "rolled back: the server runs on its previous data" in out, out[-3000:]
    assert_back_on_set_b(core, apps, site)

    out = restore(site, "-e", '{"postgresql_restore_pre_backup": true}')
    assert "public.kept holds 100 rows" in out, out[-3000:]
    assert ids_and_values(site["psql"]) == (SET_A, "true")
    assert timeline(site["psql"]) > site["timeline"]
    assert recorded(apps, site["namespace"]) is None and volume_leftovers(site) == []
    # Kept: the old timeline's segments, which the base backups taken before the restore roll forward with.
    assert len(archive_asides(site)) == 1
