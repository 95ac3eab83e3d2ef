#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_health
short_description: Health report of the PostgreSQL instance (read-only)
version_added: 0.4.0
description:
  - Reads the server's pod (phase, readiness, restarts), the server (one C(psql) run over the pod's socket as the
    superuser; version, primary or in recovery, uptime, connections against max_connections, the oldest transaction
    and the longest idle-in-transaction session, each database's size and transaction ID age, the cache hit ratio
    since the statistics' reset, parameters pending a restart, the replication slots), the data volume's use (C(df))
    and the exporter (C(pg_up) through the API server's pod proxy), then judges them.
  - When the WAL archiver's StatefulSet (O(wal_archive_statefulset)) exists, its slot (O(wal_archive_slot)) must
    exist, hold no lost WAL and stream; otherwise it is a problem.
  - Problems make the instance unhealthy; concerns deserve a look. Changes nothing.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  check_exporter:
    description: Read the exporter's metrics too.
    type: bool
    default: true
  exporter_port:
    description: Port of the exporter.
    type: int
    default: 9187
  data_dir:
    description: Where the data volume is mounted in the server's container.
    type: str
    default: /var/lib/postgresql/data
  wal_archive_statefulset:
    description: The WAL archiver's StatefulSet; C(<statefulset>-wal-archive) when omitted.
    type: str
  wal_archive_slot:
    description: The WAL archiver's replication slot.
    type: str
    default: alertmanagerpp_wal_archive
  limits:
    description:
      - Thresholds over the defaults; keys C(connections_critical_ratio) (0.90), C(connections_warning_ratio) (0.75),
        C(disk_critical_ratio) (0.85), C(disk_warning_ratio) (0.70), C(long_transaction_seconds) (600),
        C(idle_in_transaction_seconds) (300), C(xid_age_warning) (500000000), C(xid_age_critical) (1500000000).
    type: dict
    default: {}
extends_documentation_fragment:
  - alertmanagerpp.datastores.postgresql_pod
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
"""

EXAMPLES = r"""
- name: Health of the PostgreSQL instance
  alertmanagerpp.datastores.postgresql_health:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-postgresql
    limits:
      connections_critical_ratio: 0.95
  register: health
"""

RETURN = r"""
healthy:
  description: No problems found (concerns allowed).
  returned: always
  type: bool
problems:
  description: What makes the instance unhealthy, one sentence each.
  returned: always
  type: list
  elements: str
concerns:
  description: What deserves a look but is not unhealthy.
  returned: always
  type: list
  elements: str
report:
  description: The facts (pod, server, disk, exporter), for pipelines.
  returned: always
  type: dict
text:
  description: The report for a human, one line per fact, problems and concerns last.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import read_limits
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import run_pod_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_health import (
    DEFAULT_LIMITS,
    assess,
    gather,
    render_text,
)


def report(module):
    limits = read_limits(module.params["limits"], DEFAULT_LIMITS)
    params = dict(module.params, wal_archive_statefulset=module.params["wal_archive_statefulset"]
                  or module.params["statefulset"] + "-wal-archive")
    facts = gather(connect_api(params), params)
    problems, concerns = assess(facts, limits)
    return {"changed": False, "healthy": not problems, "problems": problems, "concerns": concerns, "report": facts,
            "text": render_text(facts, problems, concerns)}


def main():
    run_pod_module(dict(
        check_exporter=dict(type="bool", default=True),
        exporter_port=dict(type="int", default=9187),
        data_dir=dict(type="str", default="/var/lib/postgresql/data"),
        limits=dict(type="dict", default={}),
        wal_archive_statefulset=dict(type="str"),
        wal_archive_slot=dict(type="str", default="alertmanagerpp_wal_archive"),
    ), report)


if __name__ == "__main__":
    main()
