"""PostgreSQL base backups by playbooks/backup.yml and the WAL archive, on the real cluster (standard_stores
[postgresql]).

A table of hostile rows (every byte value, NUL, newline, 0xFF, invalid UTF-8, big and small values) is backed up;
the backup is then decompressed on this machine, checked by pg_verifybackup, and started by a PostgreSQL 15 here:
it must hold exactly the rows the pod held. Then the interruptions an operator causes: a second backup while one
runs is refused naming the lock; Ctrl-C in the middle of the stream stops it and publishes nothing; a killed
module publishes nothing and its partial file is removed by the next run; check mode writes nothing.

The WAL archiver (its own StatefulSet and volume): a commit reaches the archive while it streams; an outage of the
archiver loses nothing (the slot holds the WAL, and the archive is continuous across the outage, as pg_waldump reads
it); switched off, its slot is dropped and its volume kept; switched on again, it streams.
"""

import datetime
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid

import pytest
import zstandard

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import Psql

from pg import (
    ARCHIVE,
    NAME,
    ROOT,
    SLOT,
    archive_directory,
    archive_shell,
    commit_marker,
    playbook,
    scale_archiver,
    start_playbook,
    wait_until_archived,
)

BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
# Every byte value in keys and values; text that is not UTF-8 as bytea; NULs and newlines; big and small rows.
HOSTILE = r"""
CREATE TABLE hostile (k bytea PRIMARY KEY, v bytea, t text);
INSERT INTO hostile SELECT decode(lpad(to_hex(i), 8, '0'), 'hex'), decode(repeat(lpad(to_hex(i % 256), 2, '0'),
  1 + i % 300), 'hex'), E'line\nbreak\t' || i FROM generate_series(0, 200000) i;
INSERT INTO hostile VALUES ('\x00'::bytea, '\x000aff0d80c328fffe'::bytea, NULL),
  ('\xff'::bytea, (SELECT string_agg(decode(lpad(to_hex(b), 2, '0'), 'hex'), ''::bytea) FROM generate_series(0, 255) b),
   E'\u00e9\u2603');
INSERT INTO hostile SELECT decode('fe' || lpad(to_hex(i), 6, '0'), 'hex'),
  (SELECT string_agg(sha512(int4send(i * 1000 + j)), ''::bytea) FROM generate_series(1, 40000) j), 'big'
  FROM generate_series(1, 40) i;
"""
DIGEST = "SELECT count(*) || ':' || md5(string_agg(md5(k || coalesce(v, '') || convert_to(coalesce(t, '~'), " \
         "'UTF8')), '' ORDER BY k)) AS digest FROM hostile"


@pytest.fixture(scope="module")
def instance(core, request, tmp_path_factory):
    """(namespace, psql, backups' base directory, the instance's backup directory, the table's digest)."""
    namespace = "amp-pg-backup-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    backup_dir = tmp_path_factory.mktemp("pg-backups")
    playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    psql = Psql(configuration, namespace, NAME + "-0", timeout=600)
    psql.script(HOSTILE, database="alertmanagerpp")
    digest = psql.rows(DIGEST, database="alertmanagerpp")[0]["digest"]
    cluster = core.read_namespace("kube-system").metadata.uid
    return namespace, psql, backup_dir, backup_dir / cluster / namespace / NAME, digest


def every_file(directory):
    return sorted(path.name for path in directory.iterdir()) if directory.is_dir() else []


def published(directory):
    return [name for name in every_file(directory) if not name.startswith(".")]


def start_local_server(data, port):
    """Start PostgreSQL 15 here on a restored data directory (recovery from its backup_label); its socket dir."""
    (data / "postgresql.conf").write_text("listen_addresses = ''\n")
    (data / "pg_hba.conf").write_text("local all all peer\n")
    run_dir = data.parent / "run"
    run_dir.mkdir()
    subprocess.run(["chown", "-R", "postgres:postgres", str(data.parent)], check=True)
    os.chmod(data, 0o700)
    subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "120",
                    "-l", str(data.parent / "log"), "start", "-o",
                    "-c port=%d -c unix_socket_directories=%s" % (port, run_dir)], check=True, capture_output=True)
    return run_dir


def exporter_metrics(core, namespace):
    """{name: value} of the series the pod's exporter publishes now (labels dropped: one series per name here)."""
    address = core.read_namespaced_pod(NAME + "-0", namespace).status.pod_ip
    with urllib.request.urlopen("http://%s:9187/metrics" % address, timeout=30) as response:
        text = response.read().decode()
    return dict((line.split("{")[0].split()[0], float(line.split()[-1])) for line in text.splitlines()
                if line.startswith("pg_amp_backup"))


def test_a_base_backup_restores_here_to_exactly_the_rows_of_the_pod(instance, core, tmp_path):
    namespace, psql, backup_dir, directory, digest = instance
    output = playbook(namespace, backup_dir, "backup").stdout
    assert "every file checked against the server manifest" in output
    names = published(directory)
    assert len(names) == 2 and names[0].endswith(".json") and names[1].endswith(".tar.zst"), names
    manifest = json.loads((directory / names[0]).read_text())
    assert manifest["store"] == "postgresql" and manifest["checks"]["verified"] is True
    assert oct((directory / names[1]).stat().st_mode & 0o777) == "0o600"
    assert manifest["bytes"] == (directory / names[1]).stat().st_size
    assert manifest["tar_bytes"] > manifest["bytes"]  # compressed
    # Recorded in the server, where the exporter reads it for PostgreSQLBackupTooOld.
    assert psql.rows("SELECT id, end_lsn::text FROM alertmanagerpp_ops.backups") == [
        {"id": manifest["id"], "end_lsn": manifest["end_lsn"]}]
    metrics = exporter_metrics(core, namespace)
    finished = index.parse_iso(manifest["finished_at"]).timestamp()
    assert metrics["pg_amp_backup_last_success_timestamp_seconds"] == finished
    assert metrics["pg_amp_backup_recorded"] == 1

    base = pathlib.Path(tempfile.mkdtemp(prefix="amp-pg-restore-"))
    try:
        data = base / "data"
        data.mkdir()
        with open(directory / names[1], "rb") as handle:
            stream = zstandard.ZstdDecompressor().stream_reader(handle)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                tar.extractall(data)  # nosec: the backup this test just took
        verified = subprocess.run([str(BIN / "pg_verifybackup"), str(data)], capture_output=True, text=True,
                                  check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        port = 55000 + os.getpid() % 5000
        run_dir = start_local_server(data, port)
        try:
            restored = subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "psql"), "-XAt", "-h",
                                       str(run_dir), "-p", str(port), "-d", "alertmanagerpp", "-c", DIGEST],
                                      capture_output=True, text=True, check=True).stdout.strip()
        finally:
            subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "stop"], check=False, capture_output=True)
        assert restored == digest
        assert digest.startswith("200043:")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def wait_for_partial(directory, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if directory.is_dir() and any(".partial-" in path.name for path in directory.iterdir()):
            return
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.05)
    raise AssertionError("no partial file in %s after %d s" % (directory, timeout))


# The table (~150 MB) at 5 MB/s: a backup streams for ~30 s, long enough to interrupt it for sure.
SLOW = ("-e", "postgresql_backup_max_rate=5M", "-e", "postgresql_backup_compression=none")


def test_a_second_backup_while_one_streams_is_refused_naming_the_lock(instance):
    namespace, dummy, backup_dir, directory, dummy = instance
    before = published(directory)
    first = start_playbook(namespace, backup_dir, "backup", *SLOW)
    wait_for_partial(directory, first)
    second = playbook(namespace, backup_dir, "backup", check=False)
    first_output = first.communicate(timeout=600)[0]
    assert second.returncode != 0 and "another run holds" in second.stdout, second.stdout[-3000:]
    assert first.returncode == 0, first_output[-3000:]
    assert len(published(directory)) == len(before) + 2


def module_pid(playbook_pid):
    """The PID of the postgresql_basebackup module that ansible-playbook `playbook_pid` runs: the deepest of its
    descendants naming the module (the shell Ansible starts it with names it too)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        chain = ancestry(int(entry.name))
        if b"AnsiballZ_postgresql_basebackup" in command and playbook_pid in chain:
            found.append((len(chain), int(entry.name)))
    return max(found)[1] if found else None


def ancestry(pid):
    chain = []
    while pid > 1:
        try:
            pid = int((pathlib.Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        chain.append(pid)
    return chain


def wait_until_no_backup_runs_in_the_server(psql):
    deadline = time.monotonic() + 60
    while psql.rows("SELECT pid FROM pg_stat_progress_basebackup"):
        assert time.monotonic() < deadline, "pg_basebackup still runs in the server"
        time.sleep(1)


def test_ctrl_c_during_the_stream_stops_the_backup_and_publishes_nothing(instance):
    """Ctrl-C ends ansible-playbook; the module (in a session of its own, which the terminal's signal never reaches)
    notices its controller is gone, stops the stream and removes its file: nothing published, nothing left, and
    the server's side of the backup ends."""
    namespace, psql, backup_dir, directory, dummy = instance
    before = every_file(directory)
    process = start_playbook(namespace, backup_dir, "backup", *SLOW)
    wait_for_partial(directory, process)
    time.sleep(2)
    os.killpg(process.pid, signal.SIGINT)
    output = process.communicate(timeout=300)[0]
    assert process.returncode != 0, output[-3000:]
    wait_until_no_backup_runs_in_the_server(psql)
    deadline = time.monotonic() + 30
    while every_file(directory) != before:
        assert time.monotonic() < deadline, every_file(directory)
        time.sleep(0.5)
    listing = playbook(namespace, backup_dir, "backup", "--tags", "postgresql_backup_list").stdout
    assert "corrupt" not in listing and "missing" not in listing


def test_a_killed_backup_publishes_nothing_and_the_next_run_cleans_up(instance):
    """SIGKILL of the module (a lost controller, the OOM killer): its partial file stays, the server's side of the
    backup ends by itself, the next run removes the file under the lock and backs up."""
    namespace, psql, backup_dir, directory, dummy = instance
    before = published(directory)
    process = start_playbook(namespace, backup_dir, "backup", *SLOW)
    wait_for_partial(directory, process)
    pid = module_pid(process.pid)
    assert pid, "no postgresql_basebackup module under ansible-playbook %d" % process.pid
    os.kill(pid, signal.SIGKILL)
    output = process.communicate(timeout=300)[0]
    assert process.returncode != 0, output[-3000:]
    assert published(directory) == before
    assert [name for name in every_file(directory) if ".partial-" in name]
    wait_until_no_backup_runs_in_the_server(psql)
    again = playbook(namespace, backup_dir, "backup", "-v").stdout
    assert "leftovers_removed" in again
    assert not [name for name in every_file(directory) if ".partial-" in name]
    assert len(published(directory)) == len(before) + 2


def test_check_mode_writes_nothing(instance):
    namespace, dummy, backup_dir, directory, dummy = instance
    before = every_file(directory)
    output = playbook(namespace, backup_dir, "backup", "--check").stdout
    assert "would take a base backup of %s/%s-0" % (namespace, NAME) in output
    assert every_file(directory) == before


def slot(psql):
    return psql.rows("SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                     "AS behind, restart_lsn::text FROM pg_replication_slots WHERE slot_name = '%s'" % SLOT)


# Decompress the complete segments from $2 to $3 of the archive $1 into a scratch directory of its volume and let
# pg_waldump read every record from $4 to $5 across them: a gap or a damaged record fails it.
WALDUMP = """set -e
cd "$1" && rm -rf ../check && mkdir ../check
for f in *; do
  case "$f" in *.partial) continue ;; esac
  n=$(basename "$f" .gz)
  if [ "$n" \\< "$2" ] || [ "$n" \\> "$3" ]; then continue; fi
  gzip -dcf "$f" > "../check/$n"
done
ls ../check | wc -l
if /usr/lib/postgresql/15/bin/pg_waldump --path=../check --start="$4" --end="$5" --quiet; then status=0
else status=$?; fi
rm -rf ../check
exit $status"""


def test_a_commit_reaches_the_archive_on_its_own_volume_as_it_streams(instance, core):
    namespace, psql, dummy, dummy, dummy = instance
    archiver = core.read_namespaced_pod(ARCHIVE + "-0", namespace)
    assert [volume.persistent_volume_claim.claim_name for volume in archiver.spec.volumes
            if volume.persistent_volume_claim] == ["archive-%s-0" % ARCHIVE]
    assert slot(psql)[0]["active"] is True
    seconds = wait_until_archived(namespace, psql, commit_marker(psql))
    print("a commit was in the archive %.1f s after it was acknowledged" % seconds)


def test_an_archiver_outage_loses_nothing_and_leaves_no_gap(instance, core, apps):
    """While the archiver is away the slot holds the WAL on the server; back, it receives all of it: pg_waldump
    reads every record from before the outage to after it out of the archive, and the commit made while it was away
    is in its segment."""
    namespace, psql, dummy, dummy, dummy = instance
    scale_archiver(apps, core, namespace, 0)
    held = slot(psql)[0]
    assert held["active"] is False and held["wal_status"] in ("reserved", "extended")
    start = held["restart_lsn"]
    marker = commit_marker(psql)
    marker_segment = psql.rows("SELECT pg_walfile_name(pg_current_wal_lsn() - 1) AS w")[0]["w"]
    # More than two segments of WAL while nobody archives.
    psql.script("CREATE TABLE IF NOT EXISTS wal_filler AS SELECT g, md5(g::text) AS m FROM generate_series(1, 1) g;\n"
                "INSERT INTO wal_filler SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 150000) g;\n",
                database="alertmanagerpp")
    assert slot(psql)[0]["behind"] > 32 * 1024 * 1024
    end = psql.rows("SELECT pg_current_wal_lsn()::text AS lsn")[0]["lsn"]
    scale_archiver(apps, core, namespace, 1)
    psql.script("SELECT pg_switch_wal();\n")
    first, last = (psql.rows("SELECT pg_walfile_name('%s') AS w" % lsn)[0]["w"] for lsn in (start, end))
    deadline = time.monotonic() + 300
    directory = archive_directory(psql)
    while archive_shell(namespace, 'ls "$1"', directory).split().count(last + ".gz") == 0:
        assert time.monotonic() < deadline, "segment %s not archived after 300 s: %s" % (last, slot(psql))
        time.sleep(1)
    output = archive_shell(namespace, WALDUMP, directory, first, last, start, end, timeout=300)
    assert int(output.split()[0]) >= 3, output
    held_commit = archive_shell(namespace, 'gzip -dc "$1/$2.gz" | grep -c -a -F "$3" || true', directory,
                                marker_segment, marker)
    assert int(held_commit.strip() or 0) >= 1, "the commit of the outage is not in %s" % marker_segment


def test_switched_off_the_archiver_and_its_slot_go_and_its_volume_stays(instance, core):
    """Off: pod and slot gone, volume kept. While it is off the server removes the WAL the archive would resume
    from; on again, the archiver sets what it held aside (a before-gap-* directory) and streams from its new slot
    instead of asking for removed WAL for ever."""
    namespace, psql, backup_dir, dummy, dummy = instance
    playbook(namespace, backup_dir, "deploy", "-e", "profile=standard", "-e", "postgresql_wal_archive_enabled=false")
    assert not core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=postgresql-wal-archive").items
    assert slot(psql) == []
    claims = [claim.metadata.name for claim in core.list_namespaced_persistent_volume_claim(namespace).items]
    assert "archive-%s-0" % ARCHIVE in claims
    directory = archive_directory(psql)
    for dummy in range(3):  # segments switched and checkpointed away: nothing holds them any more
        psql.script("CREATE TABLE IF NOT EXISTS gap_filler (g int, m text);\n"
                    "INSERT INTO gap_filler SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g;\n"
                    "SELECT pg_switch_wal();\nCHECKPOINT;\n", database="alertmanagerpp")
    playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")
    assert slot(psql)[0]["active"] is True
    wait_until_archived(namespace, psql, commit_marker(psql))
    set_aside = archive_shell(namespace, 'ls -d "$1"/before-gap-*', directory).split()
    assert len(set_aside) == 1, set_aside


WINDOW = re.compile(r"(?P<backup>%s-\d{8}T\d{6}Z): from its end \((?P<from_lsn>[0-9A-F]+/[0-9A-F]+), (?P<from_time>\S+)\) "
                    r"to the newest commit in the archive, at (?P<to_time>\S+); newest record "
                    r"(?P<to_lsn>[0-9A-F]+/[0-9A-F]+)" % NAME)
BROKEN = re.compile(r"(?P<backup>%s-\d{8}T\d{6}Z): cannot be rolled forward: the archive lacks the segments "
                    r"between (?P<before>[0-9A-F]{24})\.gz and (?P<after>[0-9A-F]{24})\.gz" % NAME)


def reach(namespace, backup_dir):
    """The backup listing's lines on the archive, unfolded."""
    return " ".join(playbook(namespace, backup_dir, "backup", "--tags", "postgresql_backup_list").stdout.split())


def utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def switch_segments(psql, count):
    """`count` segments with rows in them, each closed; the name of the last one closed."""
    for dummy in range(count):
        psql.script("CREATE TABLE IF NOT EXISTS reach_filler (g int, m text);\n"
                    "INSERT INTO reach_filler SELECT g, md5(g::text) FROM generate_series(1, 20000) g;\n",
                    database="alertmanagerpp")
        last = psql.rows("SELECT pg_walfile_name(pg_switch_wal()) AS w")[0]["w"]
    return last


def wait_for_segment(namespace, archive, name, timeout=120):
    deadline = time.monotonic() + timeout
    while name + ".gz" not in archive_shell(namespace, 'ls "$1"', archive).split():
        assert time.monotonic() < deadline, "segment %s not archived after %d s" % (name, timeout)
        time.sleep(1)


def test_the_listing_says_how_far_each_base_backup_rolls_forward_and_names_a_missing_segment(instance):
    """A new base backup's window runs to the newest commit the archive holds (one made just before is in it);
    backups from before the gap the previous test made cannot be rolled forward; a segment taken out of the
    archive breaks the new backup's window, naming the hole; put back, the window is whole again."""
    namespace, psql, backup_dir, directory, dummy = instance
    playbook(namespace, backup_dir, "backup")
    before = utc(psql.rows("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS t")[0]["t"])
    wait_until_archived(namespace, psql, commit_marker(psql))
    backups = sorted(name[:-len(".json")] for name in published(directory) if name.endswith(".json"))
    listing = reach(namespace, backup_dir)
    windows = dict((match.group("backup"), match) for match in WINDOW.finditer(listing))
    assert backups[-1] in windows, listing[-3000:]
    assert before <= utc(windows[backups[-1]].group("to_time")) <= datetime.datetime.now(datetime.timezone.utc)
    for backup in backups[:-1]:  # taken before the archive's gap: their first segments were set aside
        assert backup in windows or "%s: cannot be rolled forward: the archive does not hold its first segment" \
            % backup in listing, listing[-3000:]

    archive = archive_directory(psql)
    newest_backup = json.loads((directory / (backups[-1] + ".json")).read_text())
    last = switch_segments(psql, 3)
    wait_for_segment(namespace, archive, last)
    complete = sorted(name[:-len(".gz")] for name in archive_shell(namespace, 'ls "$1"', archive).split()
                      if re.match(r"^[0-9A-F]{24}\.gz$", name) and name[8:24] > newest_backup["wal_segments"][0][8:])
    assert len(complete) >= 3, complete
    taken = complete[-2]  # a hole inside the new backup's window
    archive_shell(namespace, 'mkdir -p "$1/../held" && mv "$1/$2.gz" "$1/../held/"', archive, taken)
    try:
        broken = dict((match.group("backup"), match) for match in BROKEN.finditer(reach(namespace, backup_dir)))
        assert backups[-1] in broken, broken
        assert broken[backups[-1]].group("before")[8:] < taken[8:] < broken[backups[-1]].group("after")[8:]
    finally:
        archive_shell(namespace, 'mv "$1/../held/$2.gz" "$1/" && rmdir "$1/../held"', archive, taken)
    assert backups[-1] in [match.group("backup") for match in WINDOW.finditer(reach(namespace, backup_dir))]


SEGMENT_FILES = 'cd "$1" && find . -type f -printf "%P\\n" | grep -E "(^|/)[0-9A-F]{24}(\\.gz)?$" | sort || true'


def test_retention_removes_only_the_wal_no_kept_base_backup_needs(instance):
    """Runs last: earlier tests left several base backups, an archive since the first and a before-gap directory.
    Keeping one base backup, the archive keeps the segments from its first one on (pg_waldump reads them through to
    the present) and loses the older ones; check mode removes nothing; a second run removes nothing."""
    namespace, psql, backup_dir, directory, dummy = instance
    archive = archive_directory(psql)
    before = archive_shell(namespace, SEGMENT_FILES, archive).split()
    assert any(path.startswith("before-gap-") for path in before), before
    keep_one = ("-e", "postgresql_backup_keep_last=1", "-e", "postgresql_backup_keep_days=0")

    checked = playbook(namespace, backup_dir, "backup", "--check", "--tags", "postgresql_backup_retention",
                       *keep_one).stdout
    would = re.search(r"WAL archive: removed (\d+) files", checked)
    assert would and int(would.group(1)) > 0, checked[-3000:]
    assert archive_shell(namespace, SEGMENT_FILES, archive).split() == before

    playbook(namespace, backup_dir, "backup", *keep_one)
    manifests = [name for name in published(directory) if name.endswith(".json")]
    assert len(manifests) == 1, published(directory)
    manifest = json.loads((directory / manifests[0]).read_text())
    first = manifest["wal_segments"][0]
    after = archive_shell(namespace, SEGMENT_FILES, archive).split()
    assert after and all(os.path.basename(path)[8:24] >= first[8:] for path in after), (first, after)
    assert first + ".gz" in after and not any(path.startswith("before-gap-") for path in after), (first, after)
    assert set(after) >= set(path for path in before if os.path.basename(path)[8:24] >= first[8:])
    assert archive_shell(namespace, 'ls -d "$1"/before-gap-* 2>/dev/null || true', archive).split() == []

    psql.script("SELECT pg_switch_wal();\n")
    end = psql.rows("SELECT pg_current_wal_flush_lsn()::text AS lsn")[0]["lsn"]
    last = psql.rows("SELECT pg_walfile_name('%s') AS w" % end)[0]["w"]
    wait_for_segment(namespace, archive, last)
    output = archive_shell(namespace, WALDUMP, archive, first, last, manifest["start_lsn"], end, timeout=300)
    assert int(output.split()[0]) >= 2, output

    again = playbook(namespace, backup_dir, "backup", "--tags", "postgresql_backup_retention", *keep_one).stdout
    assert "WAL archive: removed 0 files" in again, again[-3000:]


def restore_plan(namespace, backup_dir, target="latest", value=None):
    """(succeeded, the postgresql_restore_plan module's result) for this instance."""
    arguments = {"dest": str(backup_dir), "cluster": backup_dir_cluster(backup_dir), "namespace": namespace,
                 "name": NAME, "archiver_statefulset": ARCHIVE, "target": target}
    if value is not None:
        arguments["target_value"] = value
    command = [str(pathlib.Path(sys.executable).parent / "ansible"), "all", "-m",
               "alertmanagerpp.datastores.postgresql_restore_plan", "-a", json.dumps(arguments)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert " => " in result.stdout, result.stdout + result.stderr
    return result.returncode == 0, json.loads(result.stdout.split(" => ", 1)[1])


def backup_dir_cluster(backup_dir):
    """The cluster's directory under the backups' base directory (the only one there)."""
    return [path.name for path in pathlib.Path(backup_dir).iterdir() if path.is_dir()][0]


def test_the_restore_plan_picks_the_backup_and_refuses_what_it_cannot_reach(instance, core, apps):
    """Runs last (the archiver ends scaled to 0). Latest: a new base backup, the archive's segments from its
    first one. A restore point made now is found by name at the LSN the server gave it. Refused, each naming what
    the backups hold: a time after the newest commit, a time before the oldest backup's end, a name not in the
    archive, the chosen base backup once its file changed, and any plan while the archiver is down."""
    namespace, psql, backup_dir, directory, dummy = instance
    playbook(namespace, backup_dir, "backup")
    point = "amp plan point " + uuid.uuid4().hex[:8]
    point_lsn = psql.rows("SELECT pg_create_restore_point('%s')::text AS lsn" % point)[0]["lsn"]
    wait_until_archived(namespace, psql, commit_marker(psql))
    backups = sorted(name[:-len(".json")] for name in published(directory) if name.endswith(".json"))
    manifest = json.loads((directory / (backups[-1] + ".json")).read_text())

    ok, latest = restore_plan(namespace, backup_dir)
    assert ok, latest
    assert latest["plan"]["backup"] == backups[-1] and latest["plan"]["target"]["kind"] == "latest"
    assert latest["plan"]["segments"][0][:24] == manifest["wal_segments"][0], latest["plan"]["segments"][:3]

    ok, named = restore_plan(namespace, backup_dir, "name", point)
    assert ok, named
    start = named["plan"]["target"]["lsn"]  # the record's start; the server gave its end
    assert 0 < psql.rows("SELECT pg_wal_lsn_diff('%s', '%s')::int AS d" % (point_lsn, start))[0]["d"] <= 256
    assert named["plan"]["backup"] == backups[-1]
    assert named["plan"]["segments"][-1][:24] == psql.rows("SELECT pg_walfile_name('%s') AS w" % start)[0]["w"]

    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    refusals = [(("time", later), "no base backup and archive reach"),
                (("time", "2020-01-01T00:00:00Z"), "no base backup and archive reach 2020-01-01T00:00:00.000000Z"),
                (("name", "no such point"), "the archive holds no restore point named 'no such point'"),
                (("time", "2026-12-07 06:00:00"), "has no offset")]
    for (kind, value), words in refusals:
        ok, refused = restore_plan(namespace, backup_dir, kind, value)
        assert not ok and words in refused["msg"], refused["msg"]
        if words.startswith("no base") or words.startswith("the archive"):
            assert "the backups and the archive reach from" in refused["msg"], refused["msg"]
            assert "Nothing was touched" in refused["msg"], refused["msg"]

    data = pathlib.Path(latest["plan"]["file"])
    original = data.read_bytes()
    data.write_bytes(original[:1000] + bytes([original[1000] ^ 0xFF]) + original[1001:])
    try:
        ok, refused = restore_plan(namespace, backup_dir)
        assert not ok and "base backup %s is the one to restore from, but its file's sha256 differs" % backups[-1] \
            in refused["msg"], refused["msg"]
    finally:
        data.write_bytes(original)

    scale_archiver(apps, core, namespace, 0)
    ok, refused = restore_plan(namespace, backup_dir)
    assert not ok and "the WAL archiver's pod is absent, so the archive cannot be read" in refused["msg"], refused
