"""The backup index: listing statuses, latest, retention arithmetic, the lock."""

import datetime
import hashlib
import json

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


def make_backup(directory, days_ago, data=b"REDIS0010-data", name="inst"):
    when = NOW - datetime.timedelta(days=days_ago)
    backup = index.backup_id(name, when)
    (directory / (backup + ".rdb")).write_bytes(data)
    index.write_json_atomically(str(directory / (backup + ".json")), {
        "format": index.MANIFEST_FORMAT, "id": backup, "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data), "finished_at": index.iso(when), "keys_total": 1,
    })
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
