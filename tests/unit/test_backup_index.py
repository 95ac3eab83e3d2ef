"""The backup index: listing statuses, latest, retention arithmetic, the lock."""

import datetime
import hashlib
import json
import os
import stat

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


def make_backup(directory, days_ago, data=b"REDIS0010-data", name="inst", cluster="c1", suffix=".rdb", **fields):
    when = NOW - datetime.timedelta(days=days_ago)
    backup = index.backup_id(name, when)
    (directory / (backup + suffix)).write_bytes(data)
    index.write_json_atomically(str(directory / (backup + ".json")), dict({
        "format": index.MANIFEST_FORMAT, "id": backup, "cluster": cluster, "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data), "finished_at": index.iso(when), "keys_total": 1, "file": backup + suffix,
    }, **fields))
    return backup


def ids(entries):
    return [e["id"] for e in entries]


def test_listing_is_oldest_first_and_latest_is_the_newest(tmp_path):
    old, new = make_backup(tmp_path, 3), make_backup(tmp_path, 1)
    entries = index.list_backups(str(tmp_path), verify=True)
    assert ids(entries) == [old, new]
    assert index.latest(entries)["id"] == new


def test_statuses_of_what_is_not_a_good_backup(tmp_path):
    good = make_backup(tmp_path, 5)
    corrupt = make_backup(tmp_path, 4)
    (tmp_path / (corrupt + ".rdb")).write_bytes(b"REDIS0010-dat!")  # same size, other content
    missing = make_backup(tmp_path, 3)
    (tmp_path / (missing + ".rdb")).unlink()
    (tmp_path / "inst-20261120T000000Z.rdb").write_bytes(b"orphan")
    (tmp_path / "inst-20261121T000000Z.json").write_text("{not json")
    statuses = {e["id"]: e["status"] for e in index.list_backups(str(tmp_path), verify=True)}
    assert statuses == {good: "ok", corrupt: "corrupt", missing: "missing-rdb",
                        "inst-20261120T000000Z": "no-manifest", "inst-20261121T000000Z": "unparseable"}


def test_a_corrupt_newest_backup_is_not_latest(tmp_path):
    good = make_backup(tmp_path, 2)
    newest = make_backup(tmp_path, 1)
    (tmp_path / (newest + ".rdb")).write_bytes(b"REDIS0010-XXXX")
    assert index.latest(index.list_backups(str(tmp_path), verify=True))["id"] == good
    # Without verify, only the manifests are read: the newest still looks good.
    assert index.latest(index.list_backups(str(tmp_path)))["id"] == newest


def test_retention_keep_last(tmp_path):
    backups = [make_backup(tmp_path, d) for d in (5, 4, 3, 2, 1)]
    delete, keep, untouched = index.retention_plan(index.list_backups(str(tmp_path)), keep_last=2, now=NOW)
    assert ids(delete) == backups[:3] and ids(keep) == backups[3:] and untouched == []


def test_retention_keep_days_or_last(tmp_path):
    backups = [make_backup(tmp_path, d) for d in (10, 8, 6, 2, 1)]
    delete, keep, dummy = index.retention_plan(index.list_backups(str(tmp_path)), keep_last=1, keep_days=7, now=NOW)
    assert ids(keep) == backups[2:]
    assert ids(delete) == backups[:2]


def test_retention_never_deletes_the_newest_good_backup(tmp_path):
    backups = [make_backup(tmp_path, d) for d in (30, 20)]
    delete, keep, dummy = index.retention_plan(index.list_backups(str(tmp_path)), keep_days=7, now=NOW)
    assert ids(keep) == [backups[1]] and ids(delete) == [backups[0]]


def test_retention_without_rules_deletes_nothing(tmp_path):
    make_backup(tmp_path, 30)
    delete, keep, dummy = index.retention_plan(index.list_backups(str(tmp_path)), now=NOW)
    assert delete == [] and len(keep) == 1


def test_retention_leaves_what_it_cannot_parse(tmp_path):
    make_backup(tmp_path, 30)
    make_backup(tmp_path, 1)
    (tmp_path / "inst-20200101T000000Z.json").write_text("{not json")
    delete, dummy, untouched = index.retention_plan(index.list_backups(str(tmp_path)), keep_last=1, now=NOW)
    assert [e["status"] for e in untouched] == ["unparseable"]
    assert all(e["status"] == "ok" for e in delete)


def test_delete_removes_manifest_and_rdb(tmp_path):
    backup = make_backup(tmp_path, 1)
    index.delete_backup(index.list_backups(str(tmp_path))[0])
    assert not (tmp_path / (backup + ".rdb")).exists() and not (tmp_path / (backup + ".json")).exists()


def test_the_instance_lock_is_exclusive(tmp_path):
    with index.InstanceLock(str(tmp_path)):
        with pytest.raises(index.BackupIndexError, match="cannot overlap"):
            with index.InstanceLock(str(tmp_path)):
                pass
    with index.InstanceLock(str(tmp_path)):  # released
        pass


def test_manifest_written_atomically_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.json"
    index.write_json_atomically(str(path), {"format": 1})
    assert json.loads(path.read_text()) == {"format": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize("content", [
    "[1]", "1", "null", '"text"', '{"format": 1}', '{"format": 1, "sha256": 5, "bytes": 1, "finished_at": "x"}',
    '{"format": 1, "sha256": "%s", "bytes": "1", "finished_at": "2026-11-20T00:00:00Z"}' % ("0" * 64),
    '{"format": 1, "sha256": "%s", "bytes": 1, "finished_at": 20261120}' % ("0" * 64),
    '{"format": 1, "sha256": "%s", "bytes": 1, "finished_at": "2026-11-20T00:00:00Z", "cluster": []}' % ("0" * 64),
    "\xff\xfe not utf-8",
])
def test_a_malformed_manifest_is_listed_as_such_and_blocks_nothing(tmp_path, content):
    good = make_backup(tmp_path, 2)
    (tmp_path / "inst-20261121T000000Z.json").write_bytes(content.encode("latin-1"))
    (tmp_path / "inst-20261121T000000Z.rdb").write_bytes(b"x")
    entries = index.list_backups(str(tmp_path), verify=True, cluster="c1")
    statuses = {e["id"]: e["status"] for e in entries}
    assert statuses == {good: "ok", "inst-20261121T000000Z": "unparseable"}
    assert "manifest" in [e for e in entries if e["status"] != "ok"][0]["reason"]
    assert index.latest(entries)["id"] == good
    delete, keep, untouched = index.retention_plan(entries, keep_last=1, now=NOW)
    assert ids(keep) == [good] and ids(untouched) == ["inst-20261121T000000Z"] and delete == []
    assert index.public(untouched[0])["status"] == "unparseable"


def test_another_clusters_manifest_is_foreign_never_latest(tmp_path):
    own = make_backup(tmp_path, 3, cluster="c1")
    other = make_backup(tmp_path, 1, cluster="c2")
    entries = index.list_backups(str(tmp_path), verify=True, cluster="c1")
    assert {e["id"]: e["status"] for e in entries} == {own: "ok", other: "foreign"}
    assert index.latest(entries)["id"] == own
    delete, dummy, untouched = index.retention_plan(entries, keep_last=1, now=NOW)
    assert delete == [] and ids(untouched) == [other]


def test_two_clusters_file_apart(tmp_path):
    one = index.instance_dir(str(tmp_path), "prod-eu-1", "ns", "redis")
    two = index.instance_dir(str(tmp_path), "prod-us-1", "ns", "redis")
    assert one != two and one.startswith(str(tmp_path / "prod-eu-1"))


@pytest.mark.parametrize("cluster,namespace,name", [
    ("", "ns", "r"), ("..", "ns", "r"), ("a/b", "ns", "r"), ("-x", "ns", "r"), ("c", "..", "r"), ("c", "ns", "a/b"),
    ("c", "ns", ""),
])
def test_names_that_would_leave_the_backup_directory_are_refused(tmp_path, cluster, namespace, name):
    with pytest.raises(index.BackupIndexError):
        index.instance_dir(str(tmp_path), cluster, namespace, name)


def test_base_backups_of_postgresql_are_listed_checked_and_deleted_like_rdbs(tmp_path):
    old = make_backup(tmp_path, 3, data=b"tar-zst", suffix=".tar.zst", store="postgresql", end_lsn="0/2000100")
    corrupt = make_backup(tmp_path, 2, data=b"tar-zst", suffix=".tar.zst", store="postgresql")
    (tmp_path / (corrupt + ".tar.zst")).write_bytes(b"tar-zsT")
    missing = make_backup(tmp_path, 1, data=b"tar", suffix=".tar", store="postgresql")
    (tmp_path / (missing + ".tar")).unlink()
    entries = index.list_backups(str(tmp_path), verify=True)
    assert {e["id"]: e["status"] for e in entries} == {old: "ok", corrupt: "corrupt", missing: "missing-file"}
    public = index.public(entries[0])
    assert public["file"].endswith(old + ".tar.zst") and public["store"] == "postgresql"
    assert public["end_lsn"] == "0/2000100"
    index.delete_backup(entries[0])
    assert not (tmp_path / (old + ".tar.zst")).exists() and not (tmp_path / (old + ".json")).exists()


def test_a_manifest_naming_a_file_outside_its_backup_is_unparseable(tmp_path):
    backup = make_backup(tmp_path, 1, file="../../etc/passwd")
    entry = index.list_backups(str(tmp_path))[0]
    assert (entry["id"], entry["status"]) == (backup, "unparseable")


def test_leftovers_of_killed_runs_are_removed_and_nothing_else(tmp_path):
    backup = make_backup(tmp_path, 1)
    leftovers = [".%s.rdb.partial-4242" % backup, ".%s.tar.zst.partial-4244" % backup, "%s.json.tmp-4243" % backup]
    kept = [".lock", ".notes", "README", backup + ".rdb", backup + ".json"]
    for name in leftovers + [".lock", ".notes", "README"]:
        (tmp_path / name).write_bytes(b"x")
    assert index.clean_leftovers(str(tmp_path)) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


@pytest.fixture
def wide_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_backup_files_are_private_whatever_the_umask(tmp_path, wide_umask):
    directory = str(tmp_path / "base" / "c1" / "ns" / "inst")
    index.make_dirs(directory, 0o700)
    for level in ("base", "base/c1", "base/c1/ns", "base/c1/ns/inst"):
        assert stat.S_IMODE((tmp_path / level).stat().st_mode) == 0o700, level
    index.write_json_atomically(os.path.join(directory, "m.json"), {"format": 1})
    with index.create_private(os.path.join(directory, "f.rdb"), 0o600) as handle:
        handle.write(b"x")
    with index.InstanceLock(directory):
        pass
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "base/c1/ns/inst").iterdir()}
    assert modes == {"m.json": 0o600, "f.rdb": 0o600, ".lock": 0o600}


def test_modes_are_configurable_and_the_instance_directory_is_tightened(tmp_path, wide_umask):
    directory = tmp_path / "inst"
    directory.mkdir(mode=0o755)
    index.make_dirs(str(directory), 0o750)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    index.write_json_atomically(str(directory / "m.json"), {}, 0o640)
    assert stat.S_IMODE((directory / "m.json").stat().st_mode) == 0o640


@pytest.mark.parametrize("text", ["600", "0600", "0o600"])
def test_modes_parse_as_octal(text):
    assert index.parse_mode(text, "file_mode") == 0o600


@pytest.mark.parametrize("text", ["rw", "0800", "01000", "-1"])
def test_bad_modes_are_refused(text):
    with pytest.raises(index.BackupIndexError, match="not an octal permission mode"):
        index.parse_mode(text, "file_mode")
