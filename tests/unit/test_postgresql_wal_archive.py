"""The WAL archive's retention plan (module_utils/postgresql_wal_archive.py); the cluster test prunes a real one."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    gaps, keep_points, live_segments, parse_inspection, parse_listing, prune_plan, window)

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
        "113 %s/before-restore-20261207T020304Z/000000010000000000000004.gz" % SYSTEM,  # a restore set it aside
        "114 %s/before-restore-20261207T020304Z/000000010000000000000008.gz" % SYSTEM,
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
        "%s/before-gap-20261207T010203Z/000000010000000000000002.gz.partial" % SYSTEM,
        "%s/before-restore-20261207T020304Z/000000010000000000000004.gz" % SYSTEM]
    assert len(keep) == 10 and sum(size for dummy, size in remove) == 418 + 113
    assert unused == {OTHER: 109}


def test_without_a_kept_base_backup_nothing_goes():
    files = [("%s/000000010000000000000003.gz" % SYSTEM, 5)]
    assert prune_plan(files, keep_points([])) == ([], files, {SYSTEM: 5})


WALDUMP_OUTPUT = """FILE 000000010000000000000007.gz.partial
LAST rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/07000110, prev 0/070000D8, desc: SWITCH
COMMIT
FILE 000000010000000000000006.gz
LAST rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/06FFFF80, prev 0/06FFFF48, desc: SWITCH
COMMIT rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/06FFFE10, prev 0/06FFFDD8, \
desc: COMMIT 2026-12-07 02:40:00.123456 UTC
FILE 000000010000000000000005.gz
LAST rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/05FFFF80, prev 0/05FFFF48, desc: SWITCH
COMMIT rmgr: Transaction len (rec/tot):     34/    34, tx:        734, lsn: 0/05000010, prev 0/05000000, \
desc: COMMIT 2026-12-07 02:39:00.000001 UTC
"""


def test_the_newest_record_is_the_newest_file_s_and_the_newest_commit_the_first_found():
    assert parse_inspection(WALDUMP_OUTPUT) == ("0/07000110", ("0/06FFFE10", "2026-12-07T02:40:00.123456Z"))
    assert parse_inspection("FILE x\nLAST \nCOMMIT \n") == (None, None)


def manifest(first, end_lsn="0/5000100"):
    return {"id": "b1", "system_identifier": SYSTEM, "wal_segments": [first], "end_lsn": end_lsn,
            "finished_at": "2026-12-07T02:30:00Z"}


def test_a_window_runs_to_the_newest_commit_only_over_an_unbroken_archive():
    files = [("%s/%s" % (SYSTEM, name), 1) for name in (
        "000000010000000000000003.gz", "000000010000000000000005.gz", "000000010000000000000006.gz",
        "000000010000000000000007.gz.partial")] + [
        ("%s/before-gap-x/000000010000000000000004.gz" % SYSTEM, 1), ("%s/00000002.history" % SYSTEM, 1)]
    segments = live_segments(files, SYSTEM)
    assert sorted(segments) == [3, 5, 6, 7] and segments[7] == "000000010000000000000007.gz.partial"
    assert gaps(segments) == [(3, 5)]
    commit = ("0/7000010", "2026-12-07T02:40:00Z")
    reach = window(manifest("000000010000000000000005"), segments, "0/7000110", commit)
    assert (reach["to_lsn"], reach["to_time"], reach["problem"]) == ("0/7000110", "2026-12-07T02:40:00Z", None)
    broken = window(manifest("000000010000000000000003"), segments, "0/7000110", commit)
    assert broken["to_time"] is None and broken["problem"] == (
        "the archive lacks the segments between 000000010000000000000003.gz and 000000010000000000000005.gz")
    before_its_end = window(manifest("000000010000000000000005", end_lsn="0/7000020"), segments, "0/7000110", commit)
    assert (before_its_end["to_lsn"], before_its_end["to_time"]) == ("0/7000110", None)
    missing = window(manifest("000000010000000000000002"), segments, "0/7000110", commit)
    assert missing["problem"] == "the archive does not hold its first segment 000000010000000000000002"


def test_a_backup_of_another_timeline_than_the_archive_streams_does_not_roll_forward():
    """After a restore the archive holds the new timeline (the old one set aside): a base backup of the old
    timeline, even at the same positions, cannot roll forward through it; one of the new timeline can."""
    names = ("000000020000000000000004.gz", "000000020000000000000005.gz.partial")
    files = [("%s/%s" % (SYSTEM, name), 1) for name in names]
    segments = live_segments(files, SYSTEM)
    commit = ("0/5000010", "2026-12-07T02:40:00Z")
    old = window(manifest("000000010000000000000004"), segments, "0/5000110", commit)
    assert old["to_lsn"] is None and old["problem"] == (
        "it is on timeline 1 and the archive holds timeline 2: restore from a base backup taken since")
    new = window(manifest("000000020000000000000004"), segments, "0/5000110", commit)
    assert (new["to_lsn"], new["problem"]) == ("0/5000110", None)
