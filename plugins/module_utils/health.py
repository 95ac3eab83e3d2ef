# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health report of one instance: gather facts (read-only), judge them, render them.

health_gather.gather() talks to the cluster; assess() and render_text() here are pure, so the
judgement is unit-tested on INFO from a real server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import is_ready
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    check_reply,
    keyspace,
    parse_info,
)

DEFAULT_LIMITS = dict(
    memory_critical_ratio=0.90, memory_warning_ratio=0.75,
    clients_critical_ratio=0.80, clients_warning_ratio=0.60,
    disk_critical_ratio=0.85, disk_warning_ratio=0.70,
    unsaved_changes_max_age_seconds=7200, slowlog_warning_length=64,
)


def read_limits(requested, defaults=None):
    """The requested thresholds as numbers; DatastoresError names any the report does not know."""
    defaults = DEFAULT_LIMITS if defaults is None else defaults
    unknown = sorted(set(requested) - set(defaults))
    if unknown:
        raise DatastoresError("unknown limits %s; known: %s" % (", ".join(unknown), ", ".join(sorted(defaults))))
    try:
        return dict((name, float(value)) for name, value in requested.items())
    except (TypeError, ValueError) as exc:
        raise DatastoresError("limits must be numbers: %s" % exc)


def pod_facts(pod):
    """Phase, readiness and restarts of each container, from a pod (a dict as the API server writes it)."""
    status = pod.get("status", {})
    restarts = dict((c["name"], c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    return {"name": pod["metadata"]["name"], "phase": status.get("phase"), "ready": is_ready(pod), "restarts": restarts}


def disk_facts(df_output):
    """Used/size bytes of the data volume from `df -Pk /data` output."""
    fields = df_output.strip().splitlines()[-1].split()
    size_kb, used_kb = int(fields[1]), int(fields[2])
    return {"size_bytes": size_kb * 1024, "used_bytes": used_kb * 1024,
            "used_ratio": round(used_kb / size_kb, 4) if size_kb else None}


def exporter_facts(metrics_text):
    """redis_up and the scrape error flag from the exporter's /metrics text."""
    values = {}
    for line in metrics_text.splitlines():
        if line.startswith(("redis_up ", "redis_exporter_last_scrape_error")):
            name, dummy, value = line.rpartition(" ")
            values[name.split("{")[0]] = float(value)
    return {"reachable": True, "redis_up": values.get("redis_up"),
            "scrape_error": values.get("redis_exporter_last_scrape_error")}


def server_facts(info, slowlog_length, now=None):
    """The report's server section from parsed INFO (all sections)."""
    now = time.time() if now is None else now

    def number(key, default=0):
        return float(info.get(key, default) or default)
    hits, misses = number("keyspace_hits"), number("keyspace_misses")
    maxmemory, used = number("maxmemory"), number("used_memory")
    maxclients, clients = number("maxclients"), number("connected_clients")
    return {
        "version": info.get("redis_version") or info.get("valkey_version"),
        "role": info.get("role"),
        "connected_replicas": int(number("connected_slaves")),
        "uptime_seconds": int(number("uptime_in_seconds")),
        "loading": info.get("loading") == "1",
        "memory": {"used_bytes": int(used), "maxmemory_bytes": int(maxmemory),
                   "used_ratio": round(used / maxmemory, 4) if maxmemory else None,
                   "fragmentation_ratio": number("mem_fragmentation_ratio")},
        "clients": {"connected": int(clients), "maxclients": int(maxclients), "blocked": int(number("blocked_clients")),
                    "used_ratio": round(clients / maxclients, 4) if maxclients else None,
                    "rejected_connections_total": int(number("rejected_connections"))},
        "ops_per_second": int(number("instantaneous_ops_per_sec")),
        "hit_rate_since_start": round(hits / (hits + misses), 4) if hits + misses else None,
        "evicted_keys_total": int(number("evicted_keys")),
        "keys": dict((db, values["keys"]) for db, values in keyspace(info).items()),
        "persistence": {
            "last_save_age_seconds": int(now - number("rdb_last_save_time", now)),
            "last_save_status": info.get("rdb_last_bgsave_status"),
            "changes_since_last_save": int(number("rdb_changes_since_last_save")),
            "aof_enabled": info.get("aof_enabled") == "1",
            "aof_last_write_status": info.get("aof_last_write_status"),
            "aof_last_rewrite_status": info.get("aof_last_bgrewrite_status"),
        },
        "slowlog_length": slowlog_length,
    }


def read_server(cli):
    """INFO all and SLOWLOG LEN through a pod_cli callable."""
    info = parse_info(check_reply(cli("INFO", "all"), "INFO"))
    slowlog_length = int(check_reply(cli("SLOWLOG", "LEN"), "SLOWLOG LEN").strip() or 0)
    return server_facts(info, slowlog_length)


def judge_ratio(value, critical, warning, what, problems, warnings):
    """Add a problem or a warning for a ratio above one of its two limits (None: nothing to judge)."""
    if value is None:
        return
    text = "%s at %.0f%%" % (what, value * 100)
    if value > critical:
        problems.append("%s (limit %.0f%%)" % (text, critical * 100))
    elif value > warning:
        warnings.append("%s (warning above %.0f%%)" % (text, warning * 100))


def assess_pod(pod, problems, warnings):
    """Judge the pod's readiness and restarts; False when there is no pod (nothing else to judge)."""
    if pod is None:
        problems.append("pod not found")
        return False
    if not pod["ready"]:
        problems.append("pod %s is not Ready (phase %s)" % (pod["name"], pod["phase"]))
    restarted = dict((name, count) for name, count in pod["restarts"].items() if count)
    if restarted:
        warnings.append("containers restarted: %s" % ", ".join("%s %d times" % item for item in sorted(restarted.items())))
    return True


def assess(report, limits=None, expect_primary=True):
    """(problems, warnings): problems make the instance unhealthy. A server of a Sentinel set may be a replica
    (expect_primary false); the set's own checks judge the roles."""
    limits = dict(DEFAULT_LIMITS, **(limits or {}))
    problems, warnings = [], []
    if not assess_pod(report.get("pod"), problems, warnings):
        return problems, warnings
    server = report.get("server")
    if server is None:
        problems.append("the server did not answer: %s" % report.get("server_error", "not asked"))
    else:
        assess_server(server, limits, problems, warnings, expect_primary)
    for checker in (assess_disk, assess_exporter):
        checker(report, limits, problems, warnings)
    return problems, warnings


def assess_server(server, limits, problems, warnings, expect_primary=True):
    if server["loading"]:
        problems.append("the server is loading its data")
    if expect_primary and server["role"] != "master":
        problems.append("role is %s; the standalone instance must be a primary" % server["role"])
    for value, prefix, what in ((server["memory"]["used_ratio"], "memory", "memory used of maxmemory"),
                                (server["clients"]["used_ratio"], "clients", "clients of maxclients")):
        judge_ratio(value, limits[prefix + "_critical_ratio"], limits[prefix + "_warning_ratio"], what,
                    problems, warnings)
    if server["clients"]["rejected_connections_total"]:
        warnings.append("%d connections rejected since start (maxclients reached)"
                        % server["clients"]["rejected_connections_total"])
    persistence = server["persistence"]
    if persistence["last_save_status"] != "ok":
        problems.append("the last RDB save failed (rdb_last_bgsave_status %s)" % persistence["last_save_status"])
    if persistence["aof_enabled"] and "err" in (persistence["aof_last_write_status"],
                                                persistence["aof_last_rewrite_status"]):
        problems.append("the AOF failed (last write %s, last rewrite %s)"
                        % (persistence["aof_last_write_status"], persistence["aof_last_rewrite_status"]))
    if (persistence["changes_since_last_save"]
            and persistence["last_save_age_seconds"] > limits["unsaved_changes_max_age_seconds"]):
        warnings.append("%d changes unsaved for %d s (no RDB save succeeded)"
                        % (persistence["changes_since_last_save"], persistence["last_save_age_seconds"]))
    if server["slowlog_length"] >= limits["slowlog_warning_length"]:
        warnings.append("slow log holds %d entries" % server["slowlog_length"])


def assess_disk(report, limits, problems, warnings):
    disk = report.get("disk")
    if disk is None:
        return
    judge_ratio(disk["used_ratio"], limits["disk_critical_ratio"], limits["disk_warning_ratio"],
                "data volume used", problems, warnings)


def assess_exporter(report, limits, problems, warnings):
    exporter = report.get("exporter")
    if exporter is None:
        return
    if not exporter["reachable"]:
        problems.append("the exporter does not answer through the API server's pod proxy: %s (when a NetworkPolicy "
                        "keeps the control plane out, allow it in redis_network_policy_exporter_ip_blocks: "
                        "docs/security.md)" % exporter.get("error"))
    elif exporter["redis_up"] != 1:
        problems.append("the exporter reports redis_up %s" % exporter["redis_up"])


def render_text(report, problems, warnings):
    """The report for a human, one fact per line."""
    lines = ["%s/%s: %s" % (report["namespace"], report["statefulset"],
                            "HEALTHY" if not problems else "UNHEALTHY (%d problems)" % len(problems))]
    pod = report.get("pod")
    if pod:
        lines.append("pod %s: %s, ready %s, restarts %s" % (pod["name"], pod["phase"], pod["ready"], pod["restarts"]))
    server = report.get("server")
    if server:
        memory, clients, persistence = server["memory"], server["clients"], server["persistence"]
        lines += [
            "server %s, role %s, %d replicas, up %d s" % (
                server["version"], server["role"], server["connected_replicas"], server["uptime_seconds"]),
            "memory %s of maxmemory %s (%s), fragmentation %.2f" % (
                mib(memory["used_bytes"]), mib(memory["maxmemory_bytes"]) if memory["maxmemory_bytes"] else "unlimited",
                percent(memory["used_ratio"]), memory["fragmentation_ratio"]),
            "clients %d of %d (%s), blocked %d, rejected since start %d" % (
                clients["connected"], clients["maxclients"], percent(clients["used_ratio"]), clients["blocked"],
                clients["rejected_connections_total"]),
            "ops/s %d, hit rate since start %s, evicted since start %d, keys %s" % (
                server["ops_per_second"], percent(server["hit_rate_since_start"]), server["evicted_keys_total"],
                server["keys"] or "none"),
            "last RDB save %d s ago (%s), %d changes since; AOF %s, last write %s, last rewrite %s" % (
                persistence["last_save_age_seconds"], persistence["last_save_status"],
                persistence["changes_since_last_save"], "on" if persistence["aof_enabled"] else "off",
                persistence["aof_last_write_status"], persistence["aof_last_rewrite_status"]),
            "slow log %d entries" % server["slowlog_length"],
        ]
    disk = report.get("disk")
    if disk:
        lines.append("data volume %s of %s (%s)" % (mib(disk["used_bytes"]), mib(disk["size_bytes"]),
                                                    percent(disk["used_ratio"])))
    exporter = report.get("exporter")
    if exporter:
        lines.append("exporter: %s" % ("redis_up %s" % exporter["redis_up"] if exporter["reachable"]
                                       else "not answering (%s)" % exporter.get("error")))
    lines += ["PROBLEM: " + text for text in problems] + ["warning: " + text for text in warnings]
    return lines


def mib(number):
    return "%.1f MiB" % (number / 1048576.0)


def percent(ratio):
    return "n/a" if ratio is None else "%.1f%%" % (ratio * 100)
