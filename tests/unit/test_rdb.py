"""RDB format checks, against files written by a real redis-server."""

import os
import shutil

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import (
    RdbError,
    check_file,
    crc64,
    header_version,
    parse_check_rdb,
)


def test_crc64_check_value():
    # The check value of Redis' crc64 (Jones, reflected): crc64("123456789").
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def test_crc64_continues_across_chunks():
    assert crc64(b"56789", crc64(b"1234")) == crc64(b"123456789")


def saved_rdb(server, tmp_path):
    server.cli("SET", "a", "1")
    server.cli("SAVE")
    copy = tmp_path / "copy.rdb"
    shutil.copy(os.path.join(server.directory, "dump.rdb"), copy)
    return copy


def test_real_rdb_passes(redis_server, tmp_path):
    result = check_file(saved_rdb(redis_server, tmp_path))
    assert result["crc64_verified"] is True
    assert result["checksum"] != "0" * 16


def test_a_flipped_byte_fails_the_crc(redis_server, tmp_path):
    path = saved_rdb(redis_server, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(RdbError, match="CRC64 mismatch"):
        check_file(path)


def test_a_truncated_file_fails(redis_server, tmp_path):
    path = saved_rdb(redis_server, tmp_path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(RdbError, match="end marker|too short"):
        check_file(path)


def test_not_an_rdb(tmp_path):
    path = tmp_path / "x.rdb"
    path.write_bytes(b"hello world, this is not redis data at all")
    with pytest.raises(RdbError, match="not an RDB file"):
        check_file(path)


def test_header_versions():
    assert header_version(b"REDIS0011") == 11
    assert header_version(b"REDIS0009\xfa") == 9
    with pytest.raises(RdbError):
        header_version(b"REDIS00x1")


def test_parse_check_rdb_output():
    output = ("[offset 0] Checking RDB file dump.rdb\n[offset 27] AUX FIELD redis-ver = '7.0.15'\n"
              "[offset 120] \\o/ RDB looks OK! \\o/\n[info] 3 keys read\n[info] 1 expires\n"
              "[info] 1 already expired\n")
    assert parse_check_rdb(output) == {"ok": True, "keys": 3, "expires": 1, "already_expired": 1,
                                       "server_version": "7.0.15"}
