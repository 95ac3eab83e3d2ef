"""Which server a snapshot may read, decided on real redis-server primaries and replicas on loopback."""

import pytest

from redis_server import PASSWORD, RedisServer, wait_until

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import parse_info
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.snapshot_source import (
    SourceError,
    replica_rejection,
    single_primary,
)


def info(server):
    return parse_info(server.cli("INFO", "replication"))


@pytest.fixture
def pair(tmp_path):
    """A primary and its replica, linked and in sync."""
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    primary, replica = RedisServer(tmp_path / "p"), RedisServer(tmp_path / "r")
    primary.cli("CONFIG", "SET", "repl-diskless-sync-delay", "0")
    replica.cli("CONFIG", "SET", "masterauth", PASSWORD)
    replica.cli("REPLICAOF", "127.0.0.1", primary.port)
    primary.cli("EVAL", "redis.call('SET', 'k\\0\\n\\255', 'v')", "0")
    wait_until(lambda: replica_rejection(info(replica), info(primary), 10) is None)
    yield primary, replica
    replica.stop()
    primary.stop()


def test_an_in_sync_replica_qualifies(pair):
    primary, replica = pair
    assert replica_rejection(info(replica), info(primary), 10) is None


def test_a_replica_behind_the_primarys_offset_does_not(pair):
    primary, replica = pair
    seen = info(replica)
    primary.cli("SET", "after", "the replica was read")
    reason = replica_rejection(seen, info(primary), 10)
    assert reason.startswith("behind the primary (offset %s < " % seen["slave_repl_offset"])


def test_a_replica_whose_link_is_down_does_not(pair):
    primary, replica = pair
    # The replica is cut off and cannot log in again.
    primary.cli("CONFIG", "SET", "requirepass", "another password")
    primary.cli("-a", "another password", "--no-auth-warning", "CLIENT", "KILL", "TYPE", "replica")
    wait_until(lambda: info(replica).get("master_link_status") == "down")
    primary_info = parse_info(primary.cli("-a", "another password", "--no-auth-warning", "INFO", "replication"))
    assert replica_rejection(info(replica), primary_info, 10) == "link to the primary is down"


def test_a_replica_silent_for_longer_than_the_lag_allowed_does_not():
    replica = {"role": "slave", "master_replid": "a" * 40, "master_link_status": "up",
               "master_sync_in_progress": "0", "master_last_io_seconds_ago": "11", "slave_repl_offset": "100"}
    primary = {"master_replid": "a" * 40, "master_repl_offset": "100"}
    assert replica_rejection(replica, primary, 10) == "last heard from the primary 11s ago (more than 10s)"
    assert replica_rejection(replica, primary, 11) is None


def test_a_replica_of_another_history_does_not(pair, tmp_path):
    primary, replica = pair
    (tmp_path / "o").mkdir()
    other = RedisServer(tmp_path / "o")
    other.cli("CONFIG", "SET", "repl-diskless-sync-delay", "0")
    try:
        replica.cli("REPLICAOF", "127.0.0.1", other.port)
        wait_until(lambda: info(replica).get("master_link_status") == "up")
        assert replica_rejection(info(replica), info(primary), 10) == (
            "follows another replication history than the primary")
    finally:
        other.stop()


def test_a_primary_is_not_a_replica(pair):
    primary, dummy = pair
    assert replica_rejection(info(primary), info(primary), 10) == "not a replica (role master)"


def test_exactly_one_primary_is_required(pair):
    primary, replica = pair
    assert single_primary({"p": info(primary), "r": info(replica)}) == "p"
    replica.cli("REPLICAOF", "NO", "ONE")
    with pytest.raises(SourceError, match="several pods act as primary .p, r.: the set is split"):
        single_primary({"p": info(primary), "r": info(replica)})
    with pytest.raises(SourceError, match="no pod of the instance is a primary .r slave."):
        single_primary({"r": {"role": "slave"}})
