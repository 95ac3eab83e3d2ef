"""The WAL archive's retention plan (module_utils/postgresql_wal_archive.py); the cluster test prunes a real one."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    keep_points, parse_listing, prune_plan)

SYSTEM = "7312345678901234567"
OTHER = "7299999999999999999"


def backup(system, first, status="ok", kind="base"):
    return {"id": "b-" + first, "status": status,
            "document": {"kind": kind, "system_identifier": system, "wal_segments": [first]}}


def test_the_oldest_good_base_backup_of_each_system_sets_its_keep_point():
    entries = [backup(SYSTEM, "000000010000000000000009"), backup(SYSTEM, "000000020000000000000005"),
               backup(SYSTEM, "000000010000000000000001", status="corrupt"),
               backup(OTHER, "00000001000000010000000A"), {"status": "no-manifest", "document": None}]
    # Timeline 2's segment 5 is older than timeline 1's segment 9: the position decides, not the name.
    assert keep_points(entries) == {SYSTEM: "000000020000000000000005", OTHER: "00000001000000010000000A"}
    # What the base backups' retention keeps (in check mode it deletes nothing).
    assert keep_points(entries, kept=["b-000000010000000000000009"]) == {SYSTEM: "000000010000000000000009"}


def test_segments_before_the_keep_point_go_and_everything_else_stays():
    files = parse_listing("\n".join([
        "100 %s/000000010000000000000003.gz" % SYSTEM,
        "101 %s/000000010000000000000004" % SYSTEM,
        "102 %s/000000010000000000000005.gz" % SYSTEM,  # the keep point itself
        "103 %s/000000020000000000000006.gz.partial" % SYSTEM,
        "104 %s/00000002.history" % SYSTEM,
        "105 %s/before-gap-20261207T010203Z/000000010000000000000001.gz" % SYSTEM,
        "106 %s/before-gap-20261207T010203Z/000000010000000000000007.gz" % SYSTEM,
        "112 %s/before-gap-20261207T010203Z/000000010000000000000002.gz.partial" % SYSTEM,  # never to be completed
        "107 %s/notes/000000010000000000000001.gz" % SYSTEM,  # not the archiver's
        "108 %s/000000010000000000000001.gz.bak" % SYSTEM,
        "109 %s/000000010000000000000001.gz" % OTHER,  # no kept base backup of this system
        "110 lost+found/000000010000000000000001",
        "111 %s/with space 000000010000000000000001" % SYSTEM,
        "garbage line",
    ]))
    remove, keep, unused = prune_plan(files, {SYSTEM: "000000010000000000000005"})
    assert [path for path, dummy in remove] == [
        "%s/000000010000000000000003.gz" % SYSTEM, "%s/000000010000000000000004" % SYSTEM,
        "%s/before-gap-20261207T010203Z/000000010000000000000001.gz" % SYSTEM,
        "%s/before-gap-20261207T010203Z/000000010000000000000002.gz.partial" % SYSTEM]
    assert len(keep) == 9 and sum(size for dummy, size in remove) == 418
    assert unused == {OTHER: 109}


def test_without_a_kept_base_backup_nothing_goes():
    files = [("%s/000000010000000000000003.gz" % SYSTEM, 5)]
    assert prune_plan(files, keep_points([])) == ([], files, {SYSTEM: 5})
