"""The base backup's stream check, on real pg_basebackup output of a real PostgreSQL 15 (tests/unit/postgresql_server.py).

Each damage a transfer or a disk can do (a flipped byte in a data file, in the manifest or in a WAL page, a file
or a WAL segment missing, a file too many, the stream cut short) is made to a real backup's tar and must be
refused naming it; pg_verifybackup, run on the same tars extracted, agrees on the data files and the manifest.
"""

import io
import random
import subprocess
import tarfile

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_basebackup import (
    BaseBackupError,
    StreamReader,
    TarCheck,
    format_lsn,
    parse_lsn,
    verify,
    wal_segments,
)

from postgresql_server import BIN, postgresql_server  # noqa: F401  pylint: disable=unused-import


@pytest.fixture(scope="module")
def backup_tar(postgresql_server):  # noqa: F811  pylint: disable=redefined-outer-name
    """(tar bytes of a base backup, the server's system identifier), after writing hostile rows."""
    psql = postgresql_server
    psql.script("CREATE TABLE hostile (k bytea PRIMARY KEY, v bytea);"
                "INSERT INTO hostile SELECT decode(lpad(to_hex(i), 8, '0'), 'hex'), "
                "decode(repeat(lpad(to_hex(i % 256), 2, '0'), 300), 'hex') FROM generate_series(0, 20000) i;"
                "INSERT INTO hostile VALUES ('\\x000aff0d'::bytea, '\\xc328fffe00'::bytea);")
    server = psql.server
    result = subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_basebackup"), "-h",
                             str(server.socket_dir), "-p", str(server.port), "-U", "postgres", "-D", "-", "-Ft",
                             "-X", "fetch", "--manifest-checksums=SHA256", "-c", "fast"],
                            capture_output=True, check=True)
    identifier = psql.rows("SELECT system_identifier::text AS id FROM pg_control_system()")[0]["id"]
    return result.stdout, identifier


def check(data, chunk_sizes=(32768,)):
    """Feed `data` to a TarCheck in chunks of the given sizes (cycled), as exec frames arrive; verify()."""
    reader = StreamReader()
    tar_check = TarCheck(reader).start()
    offset, sizes = 0, list(chunk_sizes)
    while offset < len(data):
        size = sizes[0]
        sizes = sizes[1:] + sizes[:1]
        reader.feed(data[offset:offset + size])
        offset += size
    reader.end()
    tar_check.join()
    return verify(tar_check)


def rewritten(data, change):
    """The tar with change(name, content) -> content or None (drop) applied to each regular file."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as target:
        for member in source:
            content = source.extractfile(member).read() if member.isreg() else None
            if member.isreg():
                content = change(member.name, content)
                if content is None:
                    continue
                member.size = len(content)
            target.addfile(member, io.BytesIO(content) if content is not None else None)
    return out.getvalue()


def flip(content, offset):
    return content[:offset] + bytes([content[offset] ^ 0xFF]) + content[offset + 1:]


def pg_verifybackup(data, tmp_path):
    """pg_verifybackup's verdict (WAL parsed by pg_waldump) on the tar extracted: 15 reads plain backups only."""
    directory = tmp_path / "plain"
    directory.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        tar.extractall(directory)  # nosec: our own test tar
    return subprocess.run([str(BIN / "pg_verifybackup"), str(directory)], capture_output=True, text=True,
                          check=False)


def test_a_real_backup_streamed_in_uneven_frames_verifies(backup_tar, tmp_path):
    data, identifier = backup_tar
    facts = check(data, chunk_sizes=[random.Random(7).randint(1, 70000) for dummy in range(50)])
    assert facts["system_identifier"] == identifier
    assert facts["files"] > 900 and facts["bytes"] > 5 * 1024 * 1024
    assert parse_lsn(facts["start_lsn"]) <= parse_lsn(facts["end_lsn"])
    assert facts["wal_segments"] == wal_segments(facts["timeline"], parse_lsn(facts["start_lsn"]),
                                                 parse_lsn(facts["end_lsn"]), 16 * 1024 * 1024)
    assert pg_verifybackup(data, tmp_path).returncode == 0


@pytest.mark.parametrize("what, change, message", [
    ("a byte of a data file", lambda name, c: flip(c, 100) if name == "global/1262" else c,
     "global/1262: SHA-256 differs"),
    ("a byte of the manifest", lambda name, c: c.replace(b'"Size": 3,', b'"Size": 4,', 1)
     if name == "backup_manifest" else c, "own checksum"),
    ("a data file dropped", lambda name, c: None if name == "PG_VERSION" else c,
     "PG_VERSION is in the manifest but not in the backup"),
    ("the WAL segment dropped", lambda name, c: None if name.startswith("pg_wal/0") else c, "is missing"),
    # The backup's WAL range lies in the segment's first page here: its address, then its magic number.
    ("a WAL page's address", lambda name, c: flip(c, 8) if name.startswith("pg_wal/0") else c,
     "is damaged: its valid pages end at"),
    ("a WAL page's magic", lambda name, c: flip(c, 0) if name.startswith("pg_wal/0") else c,
     "is damaged: its first page is not a valid header"),
])
def test_damage_is_refused_naming_it(backup_tar, tmp_path, what, change, message):
    data, dummy = backup_tar
    damaged = rewritten(data, change)
    with pytest.raises(BaseBackupError, match=message):
        check(damaged)
    assert pg_verifybackup(damaged, tmp_path).returncode != 0, what


def test_a_file_the_manifest_does_not_list_is_refused(backup_tar):
    data, dummy = backup_tar
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as target:
        for member in source:
            if member.name == "backup_manifest":
                extra = tarfile.TarInfo("base/1/99999")
                extra.size = 8192
                target.addfile(extra, io.BytesIO(b"\0" * 8192))
            target.addfile(member, source.extractfile(member) if member.isreg() else None)
    with pytest.raises(BaseBackupError, match="not in the manifest: base/1/99999"):
        check(out.getvalue())


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.999])
def test_a_stream_cut_short_is_refused(backup_tar, fraction):
    data, dummy = backup_tar
    with pytest.raises(BaseBackupError, match="cannot be read|no backup_manifest"):
        check(data[:int(len(data) * fraction)])


def test_wal_names_and_lsns():
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    size = 16 * 1024 * 1024
    assert wal_segments(1, parse_lsn("0/2000028"), parse_lsn("0/2000100"), size) == ["000000010000000000000002"]
    assert wal_segments(3, parse_lsn("1/FF000028"), parse_lsn("2/1000000"), size) == [
        "0000000300000001000000FF", "000000030000000200000000"]
