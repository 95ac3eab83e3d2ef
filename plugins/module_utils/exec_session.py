# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What both exec transports share: the target, the channels, the command's stderr and its status.

Websocket frames start with one channel byte (0 stdin, 1 stdout, 2 stderr,
3 status, 255 close in v5); SPDY opens one stream per channel (exec_spdy).
When the command ends the server sends a Status document (channel 3, or
SPDY's error stream) carrying the exit code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from urllib.parse import urlencode, urlsplit, quote
except ImportError:  # pragma: no cover - Python 2 is not supported by the collection
    from urllib import urlencode, quote
    from urlparse import urlsplit

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255
V4 = "v4.channel.k8s.io"
V5 = "v5.channel.k8s.io"
# Large enough to amortise per-frame cost, well under the API server's 32 MiB message limit.
STDIN_FRAME_BYTES = 1024 * 1024
STDERR_KEEP_BYTES = 64 * 1024
# The server's frames are never trusted to be small: nothing it announces is
# buffered beyond these (the API server sends at most 32 KiB of stdout per frame).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_STATUS_BYTES = 64 * 1024


class PodExecError(DatastoresError):
    """The exec could not be opened, or broke off."""


def exec_path(configuration, namespace, pod, container, command, stdin):
    """The exec endpoint's path and query, below the API server's URL path."""
    query = [("command", part) for part in command]
    query += [("container", container), ("stdin", "true" if stdin else "false"),
              ("stdout", "true"), ("stderr", "true"), ("tty", "false")]
    return "%s/api/v1/namespaces/%s/pods/%s/exec?%s" % (
        urlsplit(configuration.host).path.rstrip("/"), quote(namespace), quote(pod), urlencode(query))


def exec_url(configuration, namespace, pod, container, command, stdin):
    url = urlsplit(configuration.host)
    return "%s://%s%s" % ("wss" if url.scheme == "https" else "ws", url.netloc,
                          exec_path(configuration, namespace, pod, container, command, stdin))


def parse_status(payload):
    """The status document the server sends when the command ends (any shape is a clean error)."""
    if len(payload) > MAX_STATUS_BYTES:
        raise PodExecError("the exec status document exceeds %d bytes" % MAX_STATUS_BYTES)
    try:
        status = json.loads(bytes(payload).decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        raise PodExecError("the exec status document is not JSON: %s" % exc)
    if not isinstance(status, dict):
        raise PodExecError("the exec status document is not an object: %.200r" % (status,))
    return status


def exit_code(status):
    """The command's exit code from the channel-3 status document."""
    if status.get("status") == "Success":
        return 0
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    for cause in details.get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", 1))
            except (TypeError, ValueError):
                raise PodExecError("exec failed with an unreadable exit code: %.100r" % (cause.get("message"),))
    raise PodExecError("exec failed: %.500s" % (status.get("message") or status))


class ExecSession(object):
    """What both transports share: the target, the command's stderr and its status document."""

    def __init__(self, configuration, namespace, pod, container, command, stdin=False, timeout=60):
        self.configuration = configuration
        self.namespace, self.pod, self.container = namespace, pod, container
        self.command, self.stdin = command, stdin
        self.target = "%s/%s (container %s)" % (namespace, pod, container)
        self.timeout = timeout
        self.stderr = bytearray()
        self.status = None

    def keep_stderr(self, payload):
        self.stderr += payload[:max(0, STDERR_KEEP_BYTES - len(self.stderr))]

    def exit_code(self):
        if self.status is None:
            raise PodExecError("exec in %s ended without a status (connection cut?)" % self.target)
        return exit_code(self.status)

    def auth_header(self):
        """The Authorization header's value, as the library's own requests send it (None: no token).

        Its kubeconfig loader files a token under BearerToken since the
        library's 2x releases, under authorization before; get_api_key_with_prefix
        runs the refresh hook (tokens of exec plugins and expiring ones).
        """
        return self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")


def status_json_message(body):
    """The message of a Kubernetes Status document, or None when the body is not one."""
    try:
        return json.loads(body).get("message")
    except (ValueError, AttributeError):
        return None


def status_message(body):
    return status_json_message(body) or body.decode("utf-8", "replace")[:300]
