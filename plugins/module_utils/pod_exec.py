# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exec in a pod with binary-safe streams in both directions, at kubectl's speed.

PodExec chooses the transport (exec_spdy, falling back to exec_websocket)
behind one interface; run() and run_shell() are the short conversations.
The Kubernetes Python client's own exec stream decodes stdout as text by
default and, read through its update()/read_stdout() loop, moved 1.6 MB/s
here; both transports read frames straight off the socket and hand output to
a sink frame by frame, so memory stays bounded whatever the size. Every pod
conversation of the collection (snapshot, restore, health report) goes
through this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import PodExecError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_spdy import SpdyExec, UpgradeRefused
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_websocket import WebsocketExec

TRANSPORTS = ("auto", "spdy", "websocket")
# AMP_EXEC_TRANSPORT=websocket forces the websocket path (for comparison, or a server without SPDY).
TRANSPORT = os.environ.get("AMP_EXEC_TRANSPORT", "auto")


class PodExec(object):
    """One exec session, over SPDY or websocket. Use as a context manager.

    with PodExec(configuration, "ns", "pod-0", "redis", ["cat", "/data/dump.rdb"]) as session:
        rc = session.stream(sink.write)

    transport "auto" speaks SPDY (kubectl's protocol, the fastest path through
    the API server and the CRI streaming server) and falls back to websocket
    when a proxy is configured or the server refuses the upgrade for any reason
    but the pod's (401, 403, 404); "spdy" and "websocket" force one.
    """

    def __init__(self, configuration, namespace, pod, container, command, stdin=False, timeout=60,
                 transport=None):
        self.args = (configuration, namespace, pod, container, command, stdin, timeout)
        self.transport = transport or TRANSPORT
        if self.transport not in TRANSPORTS:
            raise PodExecError("unknown exec transport %r (one of %s)" % (self.transport, ", ".join(TRANSPORTS)))
        self.session = None

    def __enter__(self):
        configuration = self.args[0]
        if self.transport == "spdy" or (self.transport == "auto" and not configuration.proxy):
            session = SpdyExec(*self.args)
            try:
                self.session = session.__enter__()
                return self.session
            except UpgradeRefused as exc:
                if self.transport == "spdy" or exc.status in (401, 403, 404):
                    raise PodExecError("cannot exec in %s: %s" % (session.target, exc))
        self.session = WebsocketExec(*self.args).__enter__()
        return self.session

    def __exit__(self, *exc_info):
        if self.session is not None:
            self.session.__exit__(*exc_info)


def run(configuration, namespace, pod, container, command, stdin_data=None, timeout=60, max_stdout=16 * 1024 * 1024):
    """Run a command with small output; return (rc, stdout bytes, stderr bytes)."""
    out = bytearray()

    def collect(chunk):
        if len(out) + len(chunk) > max_stdout:
            raise PodExecError("output of %s exceeds %d bytes" % (command[0], max_stdout))
        out.extend(chunk)

    with PodExec(configuration, namespace, pod, container, command,
                 stdin=stdin_data is not None, timeout=timeout) as session:
        if stdin_data is not None:
            session.send(stdin_data)
            session.close_stdin()
        rc = session.stream(collect)
        return rc, bytes(out), bytes(session.stderr)


def run_shell(configuration, namespace, pod, container, script, timeout=60, args=()):
    """Run a shell script (with positional args) in the container; its stdout, or PodExecError with its stderr."""
    command = ["sh", "-c", script, "sh"] + [str(arg) for arg in args]
    rc, out, err = run(configuration, namespace, pod, container, command, timeout=timeout)
    if rc != 0:
        detail = err.decode("utf-8", "replace").strip()[:500]
        raise PodExecError("in %s/%s: `%s` failed (%d): %s" % (namespace, pod, script[:80], rc, detail))
    return out.decode("utf-8", "replace")
