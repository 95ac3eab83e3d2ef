# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health report of the PostgreSQL instance: gather facts (read-only), judge them, render them.

The server's facts come from one psql run over the pod's socket (SERVER_QUERIES); server_facts(), assess() and
render_text() are pure, so the judgement is unit-tested on what a real PostgreSQL answers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import (
    ApiException, DatastoresError, api_error_text)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import (
    assess_pod,
    disk_facts,
    judge_ratio,
    percent,
    pod_facts,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import Psql, rowsets

DEFAULT_LIMITS = dict(
    connections_critical_ratio=0.90, connections_warning_ratio=0.75,
    disk_critical_ratio=0.85, disk_warning_ratio=0.70,
    long_transaction_seconds=600, idle_in_transaction_seconds=300,
    xid_age_warning=500000000, xid_age_critical=1500000000,
)

SERVER_QUERIES = {
    "server": "SELECT split_part(current_setting('server_version'), ' ', 1) AS version, "
              "pg_is_in_recovery() AS in_recovery, "
              "extract(epoch FROM now() - pg_postmaster_start_time())::bigint AS uptime_seconds, "
              "current_setting('max_connections')::int AS max_connections",
    "connections": "SELECT coalesce(state, 'other') AS state, count(*) AS count FROM pg_stat_activity "
                   "WHERE backend_type = 'client backend' GROUP BY 1",
    "transactions": "SELECT coalesce(max(extract(epoch FROM now() - xact_start)) FILTER "
                    "(WHERE state <> 'idle in transaction'), 0)::bigint AS oldest_seconds, "
                    "coalesce(max(extract(epoch FROM now() - state_change)) FILTER "
                    "(WHERE state = 'idle in transaction'), 0)::bigint AS idle_in_transaction_seconds "
                    "FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start IS NOT NULL",
    "databases": "SELECT d.datname AS name, pg_database_size(d.oid) AS size_bytes, age(d.datfrozenxid) AS xid_age, "
                 "s.blks_hit, s.blks_read, s.deadlocks, s.xact_rollback, s.xact_commit "
                 "FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid WHERE d.datallowconn",
    "pending_restart": "SELECT name FROM pg_settings WHERE pending_restart",
    "slots": "SELECT slot_name AS name, active, wal_status, CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
             "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END AS retained_bytes "
             "FROM pg_replication_slots",
}


def server_facts(rows):
    """The report's server section from the rows of SERVER_QUERIES."""
    server = dict(rows["server"][0])
    connections = dict((row["state"], row["count"]) for row in rows["connections"])
    total = sum(connections.values())
    hits = sum(row["blks_hit"] for row in rows["databases"])
    reads = sum(row["blks_read"] for row in rows["databases"])
    server.update({
        "connections": {"by_state": connections, "total": total,
                        "used_ratio": round(total / server["max_connections"], 4) if server["max_connections"] else None},
        "transactions": rows["transactions"][0] if rows["transactions"] else
        {"oldest_seconds": 0, "idle_in_transaction_seconds": 0},
        "databases": dict((row["name"], {"size_bytes": row["size_bytes"], "xid_age": row["xid_age"],
                                         "deadlocks_total": row["deadlocks"]}) for row in rows["databases"]),
        "cache_hit_ratio_since_reset": round(hits / (hits + reads), 4) if hits + reads else None,
        "pending_restart": [row["name"] for row in rows["pending_restart"]],
        "slots": dict((row["name"], dict((key, row[key]) for key in ("active", "wal_status", "retained_bytes")))
                      for row in rows["slots"]),
    })
    return server


def exporter_facts(metrics_text):
    """pg_up and the scrape error flag from the exporter's /metrics text."""
    values = {}
    for line in metrics_text.splitlines():
        if line.startswith(("pg_up ", "pg_exporter_last_scrape_error ")):
            name, dummy, value = line.rpartition(" ")
            values[name.strip()] = float(value)
    return {"reachable": True, "pg_up": values.get("pg_up"), "scrape_error": values.get("pg_exporter_last_scrape_error")}


def gather(kube, params):
    """The report dict of pod 0 of the StatefulSet the params name."""
    namespace, name = params["namespace"], params["statefulset"] + "-0"
    report = {"namespace": namespace, "statefulset": params["statefulset"], "pod": None}
    pod = read_pod(kube, namespace, name)
    if pod is None:
        return report
    report["pod"] = pod_facts(pod)
    if report["pod"]["ready"]:
        psql = Psql(kube.configuration, namespace, name, params["container"], params["bin_dir"],
                    params["socket_dir"], params["port"])
        try:
            report["server"] = server_facts(rowsets(psql, SERVER_QUERIES))
        except DatastoresError as exc:
            report["server_error"] = str(exc)
        try:
            report["disk"] = disk_facts(run_shell(kube.configuration, namespace, name, params["container"],
                                                  'df -Pk "$1"', args=[params["data_dir"]]))
        except (DatastoresError, ValueError, IndexError) as exc:
            report["disk_error"] = str(exc)
    archiver = kube.get("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, params["wal_archive_statefulset"]))
    if archiver is not None:
        report["wal_archive"] = {"statefulset": archiver["metadata"]["name"], "slot": params["wal_archive_slot"],
                                 "ready_replicas": (archiver.get("status") or {}).get("readyReplicas") or 0}
    if params["check_exporter"]:
        try:
            metrics = kube.request("GET", "%s:%d/proxy/metrics" % (pod_path(namespace, name), params["exporter_port"]),
                                   raw=True)
            report["exporter"] = exporter_facts(metrics.decode("utf-8", "replace"))
        except ApiException as exc:
            report["exporter"] = {"reachable": False, "error": api_error_text(exc)}
    return report


def assess(report, limits=None):
    """(problems, warnings): problems make the instance unhealthy."""
    limits = dict(DEFAULT_LIMITS, **(limits or {}))
    problems, warnings = [], []
    if not assess_pod(report.get("pod"), problems, warnings):
        return problems, warnings
    server = report.get("server")
    if server is None:
        problems.append("the server did not answer: %s" % report.get("server_error", "not asked"))
    else:
        assess_server(server, limits, problems, warnings)
    if server is not None and report.get("wal_archive"):
        assess_wal_archive(server["slots"].get(report["wal_archive"]["slot"]), problems)
    disk = report.get("disk")
    if disk:
        judge_ratio(disk["used_ratio"], limits["disk_critical_ratio"], limits["disk_warning_ratio"],
                    "data volume used", problems, warnings)
    exporter = report.get("exporter")
    if exporter is not None and not exporter["reachable"]:
        problems.append("the exporter does not answer through the API server's pod proxy: %s" % exporter["error"])
    elif exporter is not None and exporter["pg_up"] != 1:
        problems.append("the exporter reports pg_up %s (it cannot query the server as the monitoring role)"
                        % exporter["pg_up"])
    return problems, warnings


def assess_server(server, limits, problems, warnings):
    if server["in_recovery"]:
        problems.append("the server is in recovery (read-only); the instance's one server must be a primary")
    judge_ratio(server["connections"]["used_ratio"], limits["connections_critical_ratio"],
                limits["connections_warning_ratio"], "connections of max_connections", problems, warnings)
    transactions = server["transactions"]
    if transactions["oldest_seconds"] > limits["long_transaction_seconds"]:
        warnings.append("a transaction has been open for %d s" % transactions["oldest_seconds"])
    if transactions["idle_in_transaction_seconds"] > limits["idle_in_transaction_seconds"]:
        warnings.append("a session has been idle in a transaction for %d s"
                        % transactions["idle_in_transaction_seconds"])
    for name, database in sorted(server["databases"].items()):
        if database["xid_age"] > limits["xid_age_critical"]:
            problems.append("database %s is %d transactions from its last freeze (wraparound at about 2e9)"
                            % (name, database["xid_age"]))
        elif database["xid_age"] > limits["xid_age_warning"]:
            warnings.append("database %s is %d transactions from its last freeze" % (name, database["xid_age"]))
    if server["pending_restart"]:
        warnings.append("parameters waiting for a restart: %s" % ", ".join(server["pending_restart"]))


def assess_wal_archive(slot, problems):
    """The WAL archiver (its StatefulSet exists) must stream through its slot."""
    if slot is None:
        problems.append("the WAL archiver has no replication slot: it never reached the server")
    elif slot["wal_status"] == "lost":
        problems.append("the WAL archive has a gap: its slot lost WAL it had not received (take a base backup)")
    elif not slot["active"]:
        problems.append("the WAL archiver does not stream; the server holds %d MiB of WAL for it"
                        % ((slot["retained_bytes"] or 0) // 1048576))


def wal_archive_line(archive, slot):
    if slot is None:
        state = "no slot"
    else:
        state = "%s, %d MiB held for it" % ("streaming" if slot["active"] else "NOT streaming",
                                            (slot["retained_bytes"] or 0) // 1048576)
    return "WAL archive %s: %s" % (archive["statefulset"], state)


def render_text(report, problems, warnings):
    """One line per fact for a human, problems and warnings last."""
    lines = ["PostgreSQL %s/%s" % (report["namespace"], report["statefulset"])]
    pod = report.get("pod")
    if pod:
        lines.append("pod %s: %s, %s" % (pod["name"], pod["phase"], "Ready" if pod["ready"] else "NOT Ready"))
    server = report.get("server")
    if server:
        connections = server["connections"]
        lines.append("server %s, up %d s, %s" % (server["version"], server["uptime_seconds"],
                                                 "in recovery" if server["in_recovery"] else "primary"))
        lines.append("connections %d of %d (%s)"
                     % (connections["total"], server["max_connections"], percent(connections["used_ratio"])))
        lines.append("cache hit ratio since the statistics' reset %s" % percent(server["cache_hit_ratio_since_reset"]))
        lines.extend("database %s: %d MiB, transaction ID age %d"
                     % (name, database["size_bytes"] // 1048576, database["xid_age"])
                     for name, database in sorted(server["databases"].items()))
    archive = report.get("wal_archive")
    if archive:
        lines.append(wal_archive_line(archive, (server or {}).get("slots", {}).get(archive["slot"])))
    disk = report.get("disk")
    if disk:
        lines.append("data volume %s used of %d MiB" % (percent(disk["used_ratio"]), disk["size_bytes"] // 1048576))
    exporter = report.get("exporter")
    if exporter:
        lines.append("exporter " + ("pg_up %s" % exporter["pg_up"] if exporter["reachable"] else "unreachable"))
    lines.extend("PROBLEM: " + problem for problem in problems)
    lines.extend("warning: " + warning for warning in warnings)
    return lines
