"""The restore's own bookkeeping: recorded state, heartbeat age, signals, the controller watch."""

import datetime
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import restore_state as state_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    ANNOTATION,
    RestoreInterrupted,
    Signals,
    alive,
    ancestors,
    busy_for,
    busy_message,
    heartbeat_age,
    read_state,
)

NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)


class Meta(object):
    def __init__(self, annotations):
        self.annotations = annotations


class Sts(object):
    def __init__(self, annotations):
        self.metadata = Meta(annotations)


def test_state_is_read_from_the_annotation_and_garbage_is_reported_not_trusted():
    assert read_state(Sts(None)) is None
    assert read_state(Sts({ANNOTATION: '{"phase": "verifying"}'}))["phase"] == "verifying"
    assert read_state(Sts({ANNOTATION: "[1]"}))["phase"] == "unreadable"
    assert read_state(Sts({ANNOTATION: "{not json"}))["phase"] == "unreadable"


def test_a_fresh_heartbeat_is_a_running_restore_a_stale_one_an_interrupted_one():
    fresh = {"heartbeat": "2026-11-23T11:59:55Z", "phase": "verifying", "owner": "host:1"}
    stale = dict(fresh, heartbeat="2026-11-23T11:50:00Z")
    assert heartbeat_age(fresh, NOW) == 5
    assert "another restore" in busy_message(fresh, "ns/r", NOW)
    assert "interrupted" in busy_message(stale, "ns/r", NOW) and "-e rollback=yes" in busy_message(stale, "ns/r", NOW)
    assert heartbeat_age({"phase": "x"}, NOW) == float("inf")
    assert "no heartbeat for ever" in busy_message({"phase": "x"}, "ns/r", NOW)


def test_a_backup_beside_a_restore_waits_for_it_or_for_its_rollback():
    fresh = {"heartbeat": "2026-11-23T11:59:55Z", "phase": "verifying", "owner": "host:1", "backup": "b1"}
    stale = dict(fresh, heartbeat="2026-11-23T11:50:00Z")
    running = busy_for("a base backup", fresh, "ns/pg", NOW)
    assert running.startswith("a base backup of ns/pg must wait: restore") and "phase verifying" in running
    assert "heartbeat 5s ago" in running and "rollback" not in running
    interrupted = busy_for("a base backup", stale, "ns/pg", NOW, rollback_command="undo -e store=postgresql")
    assert "an interrupted restore" in interrupted and "no heartbeat for 600s" in interrupted
    assert "`undo -e store=postgresql` first" in interrupted


def test_a_signal_interrupts_unless_shielded():
    with Signals() as signals:
        with pytest.raises(RestoreInterrupted, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        assert signals.shielded, "after the first signal the rollback runs shielded"
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C is only noted
        time.sleep(0.1)
    assert signals.received == ["SIGTERM", "SIGINT"]


def test_a_signal_during_the_shielded_claim_interrupts_at_unshield():
    with Signals(shielded=True) as signals:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.1)
        with pytest.raises(RestoreInterrupted, match="SIGHUP"):
            signals.unshield()


def test_handlers_are_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with Signals():
        assert signal.getsignal(signal.SIGTERM) != before
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_controller_is_every_ancestor_up_to_the_first_outside_the_session():
    """A child in a session of its own (as an Ansible worker): its chain ends at this process."""
    code = ("import json, sys; sys.path[:0] = %r; "
            "from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import ancestors; "
            "print(json.dumps(ancestors()))" % sys.path[:3])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         start_new_session=True).stdout
    chain = [tuple(p) for p in __import__("json").loads(out)]
    assert chain and chain[-1][0] == os.getpid()
    assert all(alive(process) for process in chain)


def test_a_dead_or_reused_pid_is_not_alive():
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    assert not alive((child.pid, 0))
    me = [p for p in ancestors() if p[0] == os.getppid()]
    assert not me or not alive((me[0][0], me[0][1] + 1)), "another start time is another process"


def test_the_stale_limit_outlasts_several_heartbeats():
    assert state_module.STALE_SECONDS >= 3 * state_module.HEARTBEAT_SECONDS
