# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""postgresql.conf from variables: a base tuned for the pod's resources, the user's parameters over it, and which
of them need a restart (the rest are reloaded).

The base follows the usual rules for a dedicated server, scaled to the container's memory limit (a pod has no
more memory than that, whatever the node has): shared_buffers a quarter, the planner's cache estimate three
quarters, work_mem what remains shared by every connection's few sorts, and WAL sized to the volume.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sizes import SizeError, k8s_quantity_bytes

MB = 1024 * 1024
GB = 1024 * MB

# PostgreSQL 15's parameters of context "postmaster": read at server start only
# (`postgres --describe-config`; tests/unit/test_postgresql_settings.py compares
# this list with the installed server's). Any other parameter is reloaded.
RESTART_PARAMETERS = frozenset("""
archive_mode autovacuum_freeze_max_age autovacuum_max_workers autovacuum_multixact_freeze_max_age bonjour
bonjour_name cluster_name data_directory data_sync_retry dynamic_shared_memory_type event_source external_pid_file
hba_file hot_standby huge_page_size huge_pages ident_file jit_provider listen_addresses logging_collector
max_connections max_files_per_process max_locks_per_transaction max_logical_replication_workers
max_pred_locks_per_transaction max_prepared_transactions max_replication_slots max_wal_senders
max_worker_processes min_dynamic_shared_memory old_snapshot_threshold port recovery_target recovery_target_action
recovery_target_inclusive recovery_target_lsn recovery_target_name recovery_target_time recovery_target_timeline
recovery_target_xid shared_buffers shared_memory_type shared_preload_libraries superuser_reserved_connections
track_activity_query_size track_commit_timestamp unix_socket_directories unix_socket_group unix_socket_permissions
wal_buffers wal_decode_buffer_size wal_level wal_log_hints
""".split())

# Set by the role from its own variables (paths, port, the libraries its
# monitoring needs): a user's postgresql_parameters may not change them.
MANAGED_PARAMETERS = frozenset([
    "data_directory", "hba_file", "ident_file", "config_file", "port", "listen_addresses",
    "unix_socket_directories", "password_encryption", "logging_collector",
])

NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


class SettingsError(SizeError):
    """A parameter that cannot go into postgresql.conf."""


def _megabytes(value):
    return "%dMB" % max(1, value // MB)


def _kilobytes(value):
    return "%dkB" % max(64, value // 1024)


def tuned_base(memory_limit, max_connections, storage_size):
    """The tuned parameters for a pod with this memory limit, connection count and volume size."""
    memory = k8s_quantity_bytes(memory_limit)
    storage = k8s_quantity_bytes(storage_size)
    connections = int(max_connections)
    if connections < 1:
        raise SettingsError("max_connections must be at least 1, not %r" % max_connections)
    shared_buffers = max(128 * MB, memory // 4)
    if shared_buffers > memory // 2:
        raise SettingsError("a memory limit of %s leaves no room for PostgreSQL's shared buffers "
                            "(128MB at least, half the limit at most): give the pod at least 256Mi" % memory_limit)
    # Each connection may run a few sorts or hashes at once; what shared
    # buffers leave is shared among them.
    work_mem = max(MB, (memory - shared_buffers) // (connections * 2))
    # WAL between checkpoints: an eighth of the volume, 256MB..4GB.
    max_wal_size = min(4 * GB, max(256 * MB, storage // 8))
    return {
        "max_connections": connections,
        "shared_buffers": _megabytes(shared_buffers),
        "effective_cache_size": _megabytes(memory * 3 // 4),
        "work_mem": _kilobytes(work_mem),
        "maintenance_work_mem": _megabytes(min(GB, max(64 * MB, memory // 16))),
        "max_wal_size": _megabytes(max_wal_size),
        "min_wal_size": _megabytes(max_wal_size // 4),
        # WAL a replication slot may hold back (the archiver's, when it is down): a quarter of the volume. Beyond
        # it the slot is lost and the archive has a gap (an alert), rather than a full volume stopping the server.
        "max_slot_wal_keep_size": _megabytes(max(max_wal_size, storage // 4)),
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "wal_compression": "lz4",
        "random_page_cost": "1.1",
        "effective_io_concurrency": 200,
        # Containers rarely have huge pages; "try" has crashed servers whose
        # cgroup had a hugetlb limit of zero.
        "huge_pages": "off",
    }


def _text(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def merged(base, required, overrides):
    """base, then the user's overrides, then the role's required parameters (which overrides may not touch)."""
    for name in overrides:
        if not NAME_PATTERN.match(str(name)):
            raise SettingsError("postgresql_parameters: %r is not a parameter name" % (name,))
        if name in MANAGED_PARAMETERS:
            raise SettingsError("postgresql_parameters: %s is set by the role (from its own variables)" % name)
    settings = dict(base)
    settings.update(overrides)
    settings.update(required)
    for name, value in settings.items():
        if isinstance(value, (dict, list)) or value is None:
            raise SettingsError("postgresql_parameters: %s must be a string, number or boolean" % name)
        if "\n" in _text(value) or "\0" in _text(value):
            raise SettingsError("postgresql_parameters: the value of %s spans lines" % name)
    return dict((name, _text(value)) for name, value in settings.items())


def conf_lines(settings):
    """postgresql.conf's lines, one `name = 'value'` per parameter, sorted."""
    return ["%s = '%s'" % (name, settings[name].replace("'", "''")) for name in sorted(settings)]


def restart_part(settings):
    """The parameters that need a restart: their change rolls the pod; the others are reloaded."""
    return dict((name, value) for name, value in settings.items() if name in RESTART_PARAMETERS)


def changed_parameters(old, new):
    """{'restart': [...], 'reload': [...]}: the parameters whose value differs between two settings dicts."""
    names = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    return {"restart": [name for name in names if name in RESTART_PARAMETERS],
            "reload": [name for name in names if name not in RESTART_PARAMETERS]}


def settings(memory_limit, max_connections, storage_size, required, overrides):
    """The parameters of postgresql.conf: the tuned base, the user's overrides, the role's required ones."""
    if not memory_limit:
        raise SettingsError("postgresql_resources needs limits.memory: the configuration is sized from it")
    return merged(tuned_base(memory_limit, max_connections, storage_size), required, overrides)


def parse_conf(text):
    """The parameters of a postgresql.conf this module rendered (one `name = 'value'` per line)."""
    parsed = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        parsed[name.strip()] = value
    return parsed


def conf_changes(old_text, new_settings):
    """changed_parameters between the live ConfigMap's postgresql.conf (None: no server yet) and new settings."""
    if old_text is None:
        return {"restart": [], "reload": []}
    return changed_parameters(parse_conf(old_text), new_settings)
