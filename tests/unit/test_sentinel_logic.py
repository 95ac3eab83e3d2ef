"""The parsing and decisions of the Sentinel roll that need no server (the cluster tests run the rest)."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import Rollout, in_sync
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import (
    addresses_in, fields, flags_by_address, replica_offsets, sentinel_line)

# As redis-cli prints SENTINEL REPLICAS without a terminal: name/value lines, one entry after the other.
REPLICAS = "\n".join(["name", "10.0.0.18:6379", "ip", "10.0.0.18", "port", "6379", "flags", "slave",
                      "name", "10.0.0.9:6379", "ip", "10.0.0.9", "port", "6379", "flags", "s_down,slave"])


def test_flags_by_address_in_a_flat_reply():
    reply = ("name\n10.0.0.9:6379\nip\n10.0.0.9\nport\n6379\nflags\ns_down,slave\n"
             "name\n10.0.0.18:6379\nip\n10.0.0.18\nport\n6379\nflags\nslave\n")
    assert flags_by_address(reply) == {"10.0.0.9": "s_down,slave", "10.0.0.18": "slave"}
    assert flags_by_address("") == {}


def test_addresses_in_a_flat_reply():
    assert addresses_in(REPLICAS) == ["10.0.0.18", "10.0.0.9"]
    assert addresses_in("") == []


def test_fields_of_one_entry():
    assert fields("name\nm\nip\n10.0.0.10\nflags\nmaster\n")["flags"] == "master"


def test_replica_offsets_from_info():
    info = {"role": "master", "connected_slaves": "2", "master_repl_offset": "120",
            "slave0": "ip=10.0.0.18,port=6379,state=online,offset=120,lag=0",
            "slave1": "ip=10.0.0.9,port=6379,state=online,offset=98,lag=1"}
    assert replica_offsets(info) == {"10.0.0.18": 120, "10.0.0.9": 98}


def test_in_sync_needs_the_link_up_and_no_full_sync_running():
    assert in_sync({"role": "slave", "master_link_status": "up", "master_sync_in_progress": "0"})
    assert not in_sync({"role": "slave", "master_link_status": "down", "master_sync_in_progress": "0"})
    assert not in_sync({"role": "slave", "master_link_status": "up", "master_sync_in_progress": "1"})
    assert not in_sync({"role": "master"})
    assert not in_sync({})


def test_stale_addresses_are_the_remembered_ones_no_longer_in_the_set():
    expected = {"primary": "a", "replicas": ["b", "c"], "sentinels": ["s2", "s3"]}
    assert Rollout.stale({"replicas": ["b", "c"], "sentinels": ["s2"]}, expected) == []
    assert Rollout.stale({"replicas": ["b", "c", "old"], "sentinels": ["s2", "s3", "s9"]},
                         expected) == ["old", "s9"]


def test_a_sentinels_view_names_its_primary_flags_failover_and_replicas():
    master = fields("name\nm\nip\n10.0.0.10\nflags\ns_down,o_down,master\nfailover-state\nselect_slave\n")
    assert sentinel_line("s-0", master, REPLICAS) == (
        "s-0 names 10.0.0.10 (s_down,o_down,master; failover select_slave), "
        "replicas 10.0.0.18 slave, 10.0.0.9 s_down,slave")
    assert sentinel_line("s-1", {"ip": "10.0.0.10", "flags": "master", "failover-state": "none"}, "") == \
        "s-1 names 10.0.0.10 (master), replicas none"
