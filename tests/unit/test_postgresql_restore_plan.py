"""Which base backup a PostgreSQL restore starts from, and the refusals that touch nothing."""

import pytest

import hashlib

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore_plan import (
    RestorePlanError, backup_problem, choose, needed_segments, of_system, target)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    parse_restore_points)


def window(backup, from_lsn, from_time, to_lsn=None, to_time=None, problem=None):
    return {"backup": backup, "system_identifier": "7", "from_lsn": from_lsn, "from_time": from_time,
            "to_lsn": to_lsn, "to_time": to_time, "problem": problem}


WINDOWS = [
    window("b1", "0/3000100", "2026-12-07T06:00:00Z", "0/9000028", "2026-12-07T06:50:00.250000Z"),
    window("b2", "0/6000100", "2026-12-07T06:30:00Z", "0/9000028", "2026-12-07T06:50:00.250000Z"),
    window("b0", "0/1000100", "2026-12-07T05:00:00Z", problem="the archive does not hold its first segment X"),
]


def test_latest_starts_from_the_newest_whole_window():
    chosen, wanted = choose(WINDOWS, target("latest", None))
    assert chosen["backup"] == "b2" and wanted["lsn"] == "0/9000028"


@pytest.mark.parametrize("when, backup", [
    ("2026-12-07T06:45:00Z", "b2"),
    ("2026-12-07T07:45:00+01:00", "b2"),         # the same moment with an offset
    ("2026-12-07T06:15:00Z", "b1"),               # before b2 ended: only b1 holds it
    ("2026-12-07T06:50:00.249999Z", "b2"),        # just before the newest commit
])
def test_a_time_picks_the_newest_backup_that_ends_before_it(when, backup):
    assert choose(WINDOWS, target("time", when))[0]["backup"] == backup


@pytest.mark.parametrize("when, words", [
    ("2026-12-07T06:50:01Z", "no base backup and archive reach 2026-12-07T06:50:01.000000Z: no commit after it"),
    ("2026-12-07T06:50:00.250000Z", "restore to the latest state"),  # the newest commit: none after it
    ("2026-12-07T05:30:00Z", "reach from 2026-12-07T06:00:00Z"),
])
def test_a_time_outside_every_window_is_refused_naming_what_is_held(when, words):
    with pytest.raises(RestorePlanError) as error:
        choose(WINDOWS, target("time", when))
    message = str(error.value)
    assert words in message and "Nothing was touched" in message
    assert "b0: the archive does not hold its first segment" in message


def test_an_lsn_picks_the_newest_window_holding_it_and_refuses_beyond():
    assert choose(WINDOWS, target("lsn", "0/5000000"))[0]["backup"] == "b1"
    assert choose(WINDOWS, target("lsn", "0/7000000"))[0]["backup"] == "b2"
    with pytest.raises(RestorePlanError, match="reach LSN 0/A000000"):
        choose(WINDOWS, target("lsn", "0/a000000"))


def test_a_named_point_must_be_in_the_archive_once():
    chosen, wanted = choose(WINDOWS, target("name", "before-migration"), {"before-migration": ["0/7000028"]})
    assert chosen["backup"] == "b2" and wanted["lsn"] == "0/7000028"
    with pytest.raises(RestorePlanError, match="no restore point named 'other'"):
        choose(WINDOWS, target("name", "other"), {"before-migration": ["0/7000028"]})
    with pytest.raises(RestorePlanError, match="2 restore points named"):
        choose(WINDOWS, target("name", "twice"), {"twice": ["0/4000028", "0/7000028"]})


def test_without_a_whole_window_even_latest_is_refused():
    with pytest.raises(RestorePlanError) as error:
        choose([WINDOWS[2]], target("latest", None))
    assert "no base backup can be rolled forward" in str(error.value)
    assert "b0: the archive does not hold its first segment" in str(error.value)


def test_a_window_with_no_commit_after_its_backup_holds_no_time():
    quiet = [window("b3", "0/6000100", "2026-12-07T06:30:00Z", "0/6000200", None)]
    with pytest.raises(RestorePlanError, match="no commit yet"):
        choose(quiet, target("time", "2026-12-07T06:31:00Z"))
    assert choose(quiet, target("latest", None))[0]["backup"] == "b3"


@pytest.mark.parametrize("kind, value, words", [
    ("time", "2026-12-07 06:30:00", "has no offset"),
    ("time", "yesterday", "is not a time"),
    ("time", "", "needs its value"),
    ("lsn", "0/XYZ", "is not an LSN"),
    ("lsn", "3000148", "is not an LSN"),
    ("name", "x" * 64, "at most 63 bytes"),
    ("xid", "1234", "the target is one of"),
])
def test_bad_targets_are_refused_before_anything(kind, value, words):
    with pytest.raises(RestorePlanError, match=words):
        target(kind, value)


def test_targets_are_normalised():
    assert target("time", "2026-12-07 07:30:00+01:00")["value"] == "2026-12-07T06:30:00.000000Z"
    assert target("lsn", " 0/3000148 ")["value"] == "0/3000148"
    assert target("latest", "ignored") == {"kind": "latest", "value": None}


def test_one_system_the_newest_backups_unless_named():
    other = dict(window("c1", "0/2000100", "2026-12-07T07:00:00Z", "0/2000200", None), system_identifier="8")
    assert [entry["backup"] for entry in of_system(WINDOWS + [other])] == ["c1"]
    assert len(of_system(WINDOWS + [other], "7")) == 3
    with pytest.raises(RestorePlanError, match="no base backup of database system 9"):
        of_system(WINDOWS, "9")


def test_the_segments_replayed_run_from_the_backups_first_to_the_targets():
    names = dict((number, "00000001000000000000000%X" % number) for number in range(2, 10))
    names[9] += ".partial"
    assert needed_segments(names, names[3]) == [names[n] for n in range(3, 10)]
    assert needed_segments(names, names[3], "0/5000028") == [names[3], names[4], names[5]]
    assert needed_segments(names, names[3], "0/FF000028") == [names[n] for n in range(3, 10)]


def test_restore_points_are_read_from_waldump_each_lsn_once():
    text = ("rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03000090, prev 0/03000058, "
            "desc: RESTORE_POINT before migration\n"
            "rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03000090, prev 0/03000058, "
            "desc: RESTORE_POINT before migration\n"
            "rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/0500A0B0, prev 0/0500A058, "
            "desc: RESTORE_POINT other\n")
    assert parse_restore_points(text) == {"before migration": ["0/3000090"], "other": ["0/500A0B0"]}


def test_a_base_backup_whose_file_changed_is_named(tmp_path):
    path = tmp_path / "b.tar.zst"
    path.write_bytes(b"base backup bytes")
    entry = {"file": str(path), "document": {"bytes": 17, "sha256": hashlib.sha256(b"base backup bytes").hexdigest()}}
    assert backup_problem(entry) is None
    path.write_bytes(b"base backup byteZ")
    assert "sha256 differs" in backup_problem(entry)
    path.write_bytes(b"short")
    assert "holds 5 bytes, its manifest says 17" in backup_problem(entry)
    path.unlink()
    assert "cannot be read" in backup_problem(entry)
