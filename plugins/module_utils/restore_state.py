# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore must survive: its state in the cluster, signals, a controller that dies.

A restore records itself in an annotation on the StatefulSet before it
changes anything (phase, original replica counts, where the old data was
put, the helper pod) and keeps a heartbeat in it. So:

- a second restore of the instance refuses while the heartbeat is fresh
  (the annotation is written with the StatefulSet's resourceVersion as a
  precondition: of two restores starting at once, one wins);
- a restore whose process died (SIGKILL, a lost machine) leaves the
  annotation with a stale heartbeat: the next run refuses and names the way
  back (`rollback`), which reads everything it needs from the annotation;
- SIGINT, SIGTERM and SIGHUP, and the death of the ansible-playbook process
  that started it, turn into RestoreInterrupted in the main thread, which
  rolls back. Ansible's workers run modules in a session of their own, so
  killing ansible-playbook's process group does not reach the module: the
  module watches its ancestors up to ansible-playbook instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import socket
import threading
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

ANNOTATION = "alertmanagerpp.io/restore"
HEARTBEAT_SECONDS = 5
# A heartbeat older than this means its restore is gone.
STALE_SECONDS = 30
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What a restore (and its rollback) does in the namespace, and with named clients: docs/rbac.md.
RESTORE_NEEDS = [("get", "apps", "statefulsets"), ("patch", "apps", "statefulsets"),
                 ("patch", "apps", "statefulsets/scale"), ("get", "", "pods"), ("create", "", "pods"),
                 ("delete", "", "pods"), ("create", "", "pods/exec"), ("get", "", "persistentvolumeclaims")]
CLIENT_NEEDS = [("get", "apps", "deployments/scale"), ("patch", "apps", "deployments/scale")]


class RestoreInterrupted(BaseException):
    """A signal or the controller's death stopped the restore (BaseException: no `except Exception` eats it)."""


class RestoreError(DatastoresError):
    """The restore failed (after a rollback, when one was needed)."""


class RestoreBusy(DatastoresError):
    """Another restore runs, or an interrupted one left its state: nothing was changed."""


def read_state(statefulset):
    """The recorded restore of a StatefulSet object, or None."""
    text = (statefulset.metadata.annotations or {}).get(ANNOTATION)
    if not text:
        return None
    try:
        state = json.loads(text)
    except ValueError:
        state = None
    if not isinstance(state, dict):
        return {"phase": "unreadable", "raw": text[:200]}
    return state


def heartbeat_age(state, now=None):
    """Seconds since the state's last heartbeat (infinite when it has none)."""
    try:
        beat = index.parse_iso(state["heartbeat"])
    except (KeyError, TypeError, ValueError):
        return float("inf")
    return ((now or index.utc_now()) - beat).total_seconds()


def describe(state):
    return "restore %s of backup %s (phase %s, started %s by %s)" % (
        state.get("id"), state.get("backup"), state.get("phase"), state.get("started_at"), state.get("owner"))


ROLLBACK_COMMAND = "ansible-playbook playbooks/restore.yml -e rollback=yes"


def busy_message(state, target, now=None, rollback_command=ROLLBACK_COMMAND):
    """Why a new restore may not start beside this recorded one."""
    age = heartbeat_age(state, now)
    if age < STALE_SECONDS:
        return ("another %s is running on %s (heartbeat %ds ago): two restores of one instance cannot overlap; "
                "wait for it to end" % (describe(state), target, max(0, age)))
    return ("an interrupted %s left its state on StatefulSet %s (no heartbeat for %s): the instance may be stopped "
            "or hold half-restored files. Run `%s` to put the previous data back and start it as it was (see "
            "docs/dr-runbook.md, 'An interrupted restore'), then restore again if you still want this backup"
            % (describe(state), target, silence(age), rollback_command))


def silence(age):
    """How long a restore's heartbeat has been silent, for a message."""
    return "%ds" % age if age != float("inf") else "ever"


def busy_for(doing, state, target, now=None, rollback_command=ROLLBACK_COMMAND):
    """Why `doing` (e.g. "a base backup") may not run on an instance while this restore is recorded on it."""
    age = heartbeat_age(state, now)
    if age < STALE_SECONDS:
        return ("%s of %s must wait: %s is running on it (heartbeat %ds ago), and its server is stopped or replaced "
                "until it ends; run again afterwards" % (doing, target, describe(state), max(0, age)))
    return ("%s of %s must wait: an interrupted %s left its state on the StatefulSet (no heartbeat for %s). Run `%s` "
            "first (see docs/dr-runbook.md, 'An interrupted restore')"
            % (doing, target, describe(state), silence(age), rollback_command))


def owner():
    return "%s:%d" % (socket.gethostname(), os.getpid())


class StateRecorder(object):
    """Writes one restore's state into the StatefulSet annotation; heartbeats from a thread."""

    def __init__(self, apps, namespace, name):
        self.apps, self.namespace, self.name = apps, namespace, name
        self.state = None
        self.lock = threading.Lock()

    def claim(self, state):
        """Record a new restore, refusing when one is recorded; atomic against a concurrent claim."""
        statefulset = self.apps.read_namespaced_stateful_set(self.name, self.namespace)
        recorded = read_state(statefulset)
        if recorded is not None:
            raise RestoreBusy(busy_message(recorded, "%s/%s" % (self.namespace, self.name)))
        self.state = dict(state, owner=owner(), heartbeat=index.iso(index.utc_now()))
        body = {"metadata": {"resourceVersion": statefulset.metadata.resource_version,
                             "annotations": {ANNOTATION: json.dumps(self.state, sort_keys=True)}}}
        try:
            self.apps.patch_namespaced_stateful_set(self.name, self.namespace, body)
        except Exception as exc:  # ApiException; 409: someone else wrote first
            if getattr(exc, "status", None) == 409:
                raise RestoreBusy("another restore of %s/%s started at the same moment; this one changed nothing"
                                  % (self.namespace, self.name))
            raise

    def adopt(self, state):
        """Take over a recorded state (a rollback of an interrupted restore)."""
        self.state = dict(state, owner=owner())
        self.write()

    def update(self, **changes):
        self.state.update(changes)
        self.write()

    def write(self):
        with self.lock:
            self.state["heartbeat"] = index.iso(index.utc_now())
            body = {"metadata": {"annotations": {ANNOTATION: json.dumps(self.state, sort_keys=True)}}}
            self.apps.patch_namespaced_stateful_set(self.name, self.namespace, body)

    def clear(self):
        with self.lock:
            body = {"metadata": {"annotations": {ANNOTATION: None}}}
            self.apps.patch_namespaced_stateful_set(self.name, self.namespace, body)
            self.state = None


def ancestors(pid=None):
    """[(pid, start time)] of the process's ancestors up to the first one outside its session.

    That last one is ansible-playbook when a worker (a session leader) runs the
    module; it and every process between are the controller. Empty without /proc.
    """
    chain, pid = [], pid or os.getpid()
    try:
        session = os.getsid(pid)
        while True:
            parent, start = _stat(pid)
            if parent <= 1:
                return chain
            chain.append((parent, _stat(parent)[1]))
            if os.getsid(parent) != session:
                return chain
            pid = parent
    except (OSError, ValueError, IndexError):
        return chain


def _stat(pid):
    """(parent pid, start time in clock ticks) from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[19])


def alive(process):
    pid, start = process
    try:
        return _stat(pid)[1] == start
    except (OSError, ValueError, IndexError):
        return False


class Watch(object):
    """Heartbeats the recorded state (if a recorder is given) and signals the main thread when the controller is
    gone (the base backup uses it for that alone)."""

    def __init__(self, recorder=None, interval=1.0):
        self.recorder = recorder
        self.interval = interval
        self.controller = ancestors()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="restore-watch", daemon=True)
        self.lost_controller = False

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join()

    def _loop(self):
        last_beat = time.monotonic()
        while not self.stopped.wait(self.interval):
            if not self.lost_controller and not all(alive(process) for process in self.controller):
                self.lost_controller = True
                os.kill(os.getpid(), signal.SIGTERM)
            if self.recorder is None:
                continue
            if time.monotonic() - last_beat >= HEARTBEAT_SECONDS and self.recorder.state is not None:
                try:
                    self.recorder.write()
                    last_beat = time.monotonic()
                except Exception:  # pylint: disable=broad-except  # a missed beat is retried next second
                    pass


class Signals(object):
    """SIGINT/SIGTERM/SIGHUP raise RestoreInterrupted; while `shielded`, they are only noted.

    The claim of the state runs shielded (a signal then is raised by
    unshield(), inside the block that rolls back), and so does the rollback: a
    second Ctrl-C must not leave it half done.
    """

    def __init__(self, shielded=False):
        self.previous = {}
        self.shielded = shielded
        self.received = []

    def __enter__(self):
        for signum in SIGNALS:
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        self.received.append(signal.Signals(signum).name)
        if not self.shielded:
            self.shielded = True
            raise RestoreInterrupted("interrupted by %s" % signal.Signals(signum).name)

    def unshield(self):
        """From here signals interrupt; one that came while shielded interrupts now."""
        self.shielded = False
        if self.received:
            self.shielded = True
            raise RestoreInterrupted("interrupted by %s" % self.received[0])
