# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the roles; the logic lives in module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sizes import (
    SizeError,
    k8s_quantity_bytes,
    redis_memory_bytes,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_settings import (
    conf_changes,
    conf_lines,
    restart_part,
    settings,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rotation import pods_not_rotated
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.statefulset import (
    immutable_changes,
    storage_growth,
)


def _wrap(function):
    def filter_function(*args):
        try:
            return function(*args)
        except SizeError as exc:
            raise AnsibleFilterError(str(exc))
    filter_function.__name__ = function.__name__
    filter_function.__doc__ = function.__doc__
    return filter_function


def backup_line(entry):
    """One line of a backup listing."""
    if entry.get("store") == "postgresql":
        content = "WAL to %s" % (entry.get("end_lsn") or "?")
    else:
        content = "%8s keys" % (entry.get("keys_total") if entry.get("keys_total") is not None else "?")
    line = "%s  %-11s %12s bytes  %s  %s" % (
        entry.get("id"), entry.get("status"), entry.get("bytes") if entry.get("bytes") is not None else "?",
        content, entry.get("created") or "")
    return line + ("  (%s)" % entry["reason"] if entry.get("reason") else "")


def recovery_window_line(window):
    """One line of the WAL archive's reach from a base backup (postgresql_wal_archive_info's windows)."""
    if window.get("problem"):
        return "%s: cannot be rolled forward: %s" % (window["backup"], window["problem"])
    if not window.get("to_time"):
        return ("%s: from its end (%s, %s) to the newest record in the archive, %s; no commit in its newest "
                "segments" % (window["backup"], window["from_lsn"], window["from_time"], window.get("to_lsn") or "?"))
    return "%s: from its end (%s, %s) to the newest commit in the archive, at %s; newest record %s" % (
        window["backup"], window["from_lsn"], window["from_time"], window["to_time"], window.get("to_lsn") or "?")


def pod_failure_report(item):
    """The lines explaining a pod that is not Ready: (pod, its Events' k8s_info result, its k8s_log result)."""
    pod, events, log = item
    messages = [event.get("message") for event in
                sorted(events.get("resources") or [], key=lambda e: e["metadata"].get("creationTimestamp") or "")]
    return (["Events of %s:" % pod["pod"]] + (messages[-10:] or ["(none)"])
            + ["Last log lines of %s/%s:" % (pod["pod"], pod["container"])] + (log.get("log_lines") or ["(no log)"]))


class FilterModule(object):
    def filters(self):
        return {
            "redis_memory_bytes": _wrap(redis_memory_bytes),
            "k8s_quantity_bytes": _wrap(k8s_quantity_bytes),
            "statefulset_immutable_changes": _wrap(immutable_changes),
            "statefulset_storage_growth": _wrap(storage_growth),
            "backup_line": backup_line,
            "pod_failure_report": pod_failure_report,
            "recovery_window_line": recovery_window_line,
            "pods_not_rotated": pods_not_rotated,
            "postgresql_settings": _wrap(settings),
            "postgresql_conf_lines": conf_lines,
            "postgresql_restart_settings": restart_part,
            "postgresql_conf_changes": conf_changes,
        }
