"""The PostgreSQL instance of the cluster tests: its playbooks, psql and the WAL archive in the archiver's pod."""

import os
import pathlib
import subprocess
import sys
import time
import uuid

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-postgresql"
SMALL = ('{"postgresql_storage_size": "2Gi", "postgresql_resources": {"requests": {"cpu": "250m", '
         '"memory": "256Mi"}, "limits": {"memory": "512Mi"}}}')

ARCHIVE = NAME + "-wal-archive"
ARCHIVE_VOLUME = "/var/lib/postgresql/wal-archive"
SLOT = "alertmanagerpp_wal_archive"


def command(namespace, backup_dir, name, *args):
    return [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "playbooks/%s.yml" % name,
            "-e", "postgresql_namespace=" + namespace, "-e", "postgresql_backup_dir=" + str(backup_dir),
            "-e", SMALL] + list(args)


def environment():
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), AMP_STANDARD_STORES="postgresql",
                ANSIBLE_NOCOLOR="1")


def playbook(namespace, backup_dir, name, *args, check=True):
    result = subprocess.run(command(namespace, backup_dir, name, *args), cwd=ROOT, env=environment(),
                            capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def start_playbook(namespace, backup_dir, name, *args, stdout=subprocess.PIPE):
    """The playbook in a session of its own, as from a terminal (stdout: a pipe to read, or a file)."""
    return subprocess.Popen(command(namespace, backup_dir, name, *args), cwd=ROOT, env=environment(),
                            stdout=stdout, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def archive_shell(namespace, script, *args, timeout=120):
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return run_shell(configuration, namespace, ARCHIVE + "-0", "wal-archive", script, timeout=timeout, args=args)


# The newest two files of the archive (the segment being received and the one before), decompressed when gzip.
ARCHIVE_HOLDS = """cd "$1" && for f in $(ls -t | head -2); do gzip -dcf "$f" 2>/dev/null; done \
  | grep -c -a -F "$2" || true"""


def archive_directory(psql):
    """The archive of this database system: the volume's directory named by its system identifier."""
    return "%s/%s" % (ARCHIVE_VOLUME, psql.rows("SELECT system_identifier::text AS s FROM pg_control_system()")[0]["s"])


def wait_until_archived(namespace, psql, marker, timeout=120):
    """Seconds until `marker` (written in a committed row) is in the archive's newest segments."""
    started = time.monotonic()
    directory = archive_directory(psql)
    while int(archive_shell(namespace, ARCHIVE_HOLDS, directory, marker).strip() or 0) == 0:
        assert time.monotonic() - started < timeout, "%s not in the archive after %d s" % (marker, timeout)
        time.sleep(0.2)
    return time.monotonic() - started


def commit_marker(psql):
    """A committed row holding a new marker (after a row in the same page: no full-page image hides it)."""
    marker = "amp-wal-marker-" + uuid.uuid4().hex
    psql.script("CREATE TABLE IF NOT EXISTS wal_probe (t text);\nINSERT INTO wal_probe VALUES ('before');\n",
                database="alertmanagerpp")
    psql.script("INSERT INTO wal_probe VALUES ('%s');\n" % marker, database="alertmanagerpp")
    return marker


def scale_archiver(apps, core, namespace, replicas, timeout=300):
    apps.patch_namespaced_stateful_set_scale(ARCHIVE, namespace, {"spec": {"replicas": replicas}})
    deadline = time.monotonic() + timeout
    while True:
        status = apps.read_namespaced_stateful_set(ARCHIVE, namespace).status
        pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=postgresql-wal-archive")
        if replicas == 0 and not pods.items or replicas and (status.ready_replicas or 0) == replicas:
            return
        assert time.monotonic() < deadline, "archiver not at %d replicas after %d s" % (replicas, timeout)
        time.sleep(1)
