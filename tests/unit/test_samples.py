"""Sample values read binary-safely, against a real local redis-server (Debian's)."""

import os
import subprocess

import pytest
import redis

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    RedisAdminError,
    key_text,
    sample_values,
)

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_check import sample_mismatches

from redis_server import PASSWORD

# Every byte value appears in some key: NUL, tab, newline, CR, space, quotes, 0x80-0xFF (invalid UTF-8 alone).
HOSTILE_KEYS = [bytes([b]) + b":k" for b in range(256)] + [
    b"bin:\xff\xfe1", b"\x00", b"a\x00b", b"line\nbreak", b"tab\there", b"cr\r", b"-", b"- -2", b"'\"$(id)`",
    b"\xc3\x28", b" leading space", b"x" * 300]


def cli_runner(server, db=0):
    def run_cli(args, stdin):
        result = subprocess.run(["redis-cli", "-p", str(server.port), "-n", str(db)] + args, input=stdin,
                                env=dict(os.environ, REDISCLI_AUTH=PASSWORD), capture_output=True, check=True)
        return result.stdout
    return run_cli


@pytest.fixture
def client(redis_server):
    connection = redis.Redis(port=redis_server.port, password=PASSWORD)
    for index, key in enumerate(HOSTILE_KEYS):
        connection.set(key, bytes(range(256)) + key + bytes([index % 256]))
    connection.set(b"ttl:\x00", b"v", px=600000)
    yield connection
    connection.close()


def test_every_hostile_key_is_read_and_tells_its_value(redis_server, client):
    samples = sample_values(cli_runner(redis_server), keys=HOSTILE_KEYS + [b"ttl:\x00"])
    assert sorted(samples) == sorted(HOSTILE_KEYS + [b"ttl:\x00"])
    digests = [samples[key][0] for key in HOSTILE_KEYS]
    assert None not in digests and len(set(digests)) == len(HOSTILE_KEYS), "each value has its own digest"
    assert all(samples[key][1] == -1 for key in HOSTILE_KEYS)
    assert 0 < samples[b"ttl:\x00"][1] <= 600000


def test_a_changed_value_changes_the_digest(redis_server, client):
    before = sample_values(cli_runner(redis_server), keys=[b"a\x00b", b"bin:\xff\xfe1"])
    client.set(b"a\x00b", b"other")
    after = sample_values(cli_runner(redis_server), keys=[b"a\x00b", b"bin:\xff\xfe1"])
    assert after[b"bin:\xff\xfe1"] == before[b"bin:\xff\xfe1"]
    assert after[b"a\x00b"][0] != before[b"a\x00b"][0]


def test_a_missing_key_reads_as_missing_not_as_a_value(redis_server, client):
    """The old shell sampler read `a\\x00b` as `a` on both sides: missing == missing passed as a match."""
    samples = sample_values(cli_runner(redis_server), keys=[b"a", b"a\x00b", b"no\x00such"])
    assert samples[b"a"] == (None, -2) and samples[b"no\x00such"] == (None, -2)
    assert samples[b"a\x00b"][0] is not None


def test_random_samples_are_real_keys_with_values(redis_server, client):
    samples = sample_values(cli_runner(redis_server), count=40)
    assert samples and set(samples) <= set(HOSTILE_KEYS + [b"ttl:\x00"])
    assert all(digest is not None for digest, dummy in samples.values())


def test_random_samples_of_an_empty_database(redis_server, client):
    assert sample_values(cli_runner(redis_server, db=5), count=10) == {}


def test_an_unexpected_reply_is_an_error_not_a_sample(redis_server, client):
    with pytest.raises(RedisAdminError, match="unexpected reply while sampling"):
        sample_values(lambda args, stdin: b"ERR unknown command\n", keys=[b"k"])


def test_key_names_in_messages_are_printable():
    assert key_text(b"bin:\xff\xfe1") == "bin:\\xff\\xfe1"
    assert key_text(b"a\x00b\n\\") == "a\\x00b\\x0a\\x5c"


def test_sample_keys_may_vanish_only_when_their_ttl_could_have_run_out():
    taken = {("0", b"kept"): ("d1", -1), ("0", b"short"): ("d2", 1500), ("0", b"long"): ("d3", 600000),
             ("0", b"persistent-gone"): ("d4", -1), ("1", b"changed\xff"): ("d5", -1)}
    now = {("0", b"kept"): ("d1", -1), ("0", b"short"): (None, -2), ("0", b"long"): (None, -2),
           ("0", b"persistent-gone"): (None, -2), ("1", b"changed\xff"): ("d6", -1)}
    assert sample_mismatches(taken, now, elapsed_ms=5000) == ["db0:long", "db0:persistent-gone", "db1:changed\\xff"]
    assert sample_mismatches(taken, now, elapsed_ms=1000) == [
        "db0:long", "db0:persistent-gone", "db0:short", "db1:changed\\xff"]


def test_missing_on_both_sides_is_never_a_match():
    assert sample_mismatches({("0", b"a\x00b"): (None, -1)}, {("0", b"a\x00b"): (None, -2)}, 0) == ["db0:a\\x00b"]
