#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_restore
short_description: Restore PostgreSQL to the latest state, a time, an LSN or a restore point; verified, rolled back on failure
version_added: 0.4.0
description:
  - Plans as M(alertmanagerpp.datastores.postgresql_restore_plan) (the same refusals, before anything is touched),
    starting from I(backup) when given (the plan the operator confirmed).
  - Then stops the named client Deployments and the server; once the archiver holds the server's last WAL, a
    helper pod on the server's volume unpacks the base backup (decompressed on the controller) and the archive's
    segments (relayed from the archiver's pod) into a directory of their own, and writes C(recovery.signal) and the
    recovery settings in C(postgresql.auto.conf); the current data directory is set aside on the volume (the way
    back) and the restored one takes its place.
  - The system's archive is set aside whole (C(before-restore-<time>)) and the archiver stopped, so that it starts
    again on the new timeline; the server recovers and promotes. Verified - the new timeline's history names the
    target, the server accepts a write, I(check_table)'s rows are counted - the recovery settings are reset, the
    old data directory removed, the archiver and clients started.
  - Any failure, signal (Ctrl-C), or the death of the ansible-playbook that started it rolls back - the old data
    directory and archive back, everything started as it was. The restore records itself on the StatefulSet; a
    second restore refuses, and I(rollback) undoes one whose process died.
  - Check mode plans and says what it would do.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
  - alertmanagerpp.datastores.wal_archiver
  - alertmanagerpp.datastores.kubernetes_auth
options:
  target:
    description: As M(alertmanagerpp.datastores.postgresql_restore_plan).
    type: str
    choices: [latest, time, lsn, name]
    default: latest
  target_value:
    description: As M(alertmanagerpp.datastores.postgresql_restore_plan).
    type: str
  system_identifier:
    description: As M(alertmanagerpp.datastores.postgresql_restore_plan).
    type: str
  backup:
    description: The base backup to start from (the id the plan named); by default the plan's choice.
    type: str
  rollback:
    description: Undo an interrupted restore from the state it recorded on the StatefulSet, instead of restoring.
    type: bool
    default: false
  clients:
    description: Deployments in the namespace to scale to 0 during the restore and back afterwards.
    type: list
    elements: str
    default: []
  check_table:
    description: A table (C(schema.table)) of I(check_database) whose rows the verification counts and reports.
    type: str
  check_database:
    description: The database of I(check_table).
    type: str
    default: postgres
  bin_dir:
    description: Directory of PostgreSQL's programs in the server's and the archiver's containers.
    type: str
    default: /usr/lib/postgresql/15/bin
  socket_dir:
    description: The server's socket directory in its container.
    type: str
    default: /run/postgresql
  port:
    description: The server's port.
    type: int
    default: 5432
  volume_dir:
    description: Where the data volume is mounted in the server's container (and in the helper pod).
    type: str
    default: /var/lib/postgresql/data
  data_dir:
    description: The data directory, on that volume.
    type: str
    default: /var/lib/postgresql/data/pgdata
  timeout:
    description: Seconds to wait for each step (the recovery itself included).
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Plans (reading the backups and the archive) and says what it would do; changes nothing.
  diff_mode:
    support: none
    description: A restore has no before and after to show but its plan, which check mode returns.
"""

EXAMPLES = r"""
- name: Restore to just before a bad deployment
  alertmanagerpp.datastores.postgresql_restore:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-postgresql
    archiver_statefulset: alertmanagerpp-postgresql-wal-archive
    target: time
    target_value: "2026-12-07T06:29:00Z"
    backup: alertmanagerpp-postgresql-20261207T020000Z
    clients: [alertmanagerpp]
"""

RETURN = r"""
plan:
  description: The plan restored (as M(alertmanagerpp.datastores.postgresql_restore_plan)).
  returned: unless rollback
  type: dict
timeline:
  description: The restored server's new timeline.
  returned: success
  type: int
stop_reason:
  description: Where recovery stopped, as the timeline's history file says (e.g. C(before 2026-12-07 06:29:00+00)).
  returned: success
  type: str
check_rows:
  description: The rows of I(check_table) after the restore (null without one).
  returned: success
  type: int
rto_seconds:
  description: Seconds from the start of the restore to the server verified.
  returned: success
  type: float
downtime_seconds:
  description: Seconds the server was stopped or recovering.
  returned: success
  type: float
steps:
  description: What was done, with the seconds since the start.
  returned: success
  type: list
  elements: str
msg:
  description: What a rollback or check mode did or would do.
  returned: when rollback or in check mode
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_access import require
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore import (
    PostgresqlRestore, refuse_beside_a_recorded_restore, rollback_interrupted)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore_plan import plan
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    ARCHIVER_ARG_SPEC, require_archive)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    CLIENT_NEEDS, RESTORE_NEEDS)

OPTIONS = dict(
    target=dict(type="str", choices=["latest", "time", "lsn", "name"], default="latest"),
    target_value=dict(type="str"), system_identifier=dict(type="str"), backup=dict(type="str"),
    rollback=dict(type="bool", default=False), clients=dict(type="list", elements="str", default=[]),
    check_table=dict(type="str"), check_database=dict(type="str", default="postgres"),
    bin_dir=dict(type="str", default="/usr/lib/postgresql/15/bin"),
    socket_dir=dict(type="str", default="/run/postgresql"), port=dict(type="int", default=5432),
    volume_dir=dict(type="str", default="/var/lib/postgresql/data"),
    data_dir=dict(type="str", default="/var/lib/postgresql/data/pgdata"), timeout=dict(type="int", default=600))


def settings(params):
    """(the psql options, the volume's paths) from the params."""
    return ({"bin_dir": params["bin_dir"], "socket_dir": params["socket_dir"], "port": params["port"]},
            {"volume": params["volume_dir"], "data": params["data_dir"]})


def restore(module):
    params = module.params
    kube = connect(params)
    require(kube, params["namespace"], RESTORE_NEEDS + (CLIENT_NEEDS if params["clients"] else []),
            "the rollback" if params["rollback"] else "the restore")
    psql_options, paths = settings(params)
    if params["rollback"]:
        if module.check_mode:
            return {"changed": False, "msg": "check mode: a rollback is not rehearsed"}
        return rollback_interrupted(kube, params["namespace"], params["name"], params["archiver_container"],
                                    psql_options, paths, params["timeout"])
    refuse_beside_a_recorded_restore(kube, params["namespace"], params["name"])
    archive = require_archive(params)
    directory = index.instance_dir(params["dest"], params["cluster"], params["namespace"], params["name"])
    planned = plan(archive, index.list_backups(directory, cluster=params["cluster"]),
                   os.path.join(params["bin_dir"], "pg_waldump"), params["target"], params["target_value"],
                   params["system_identifier"], params["backup"])["plan"]
    if module.check_mode:
        return {"changed": True, "plan": planned, "msg": "would restore %s/%s from %s to %s" % (
            params["namespace"], params["name"], planned["backup"], planned["target"])}
    check = {"table": params["check_table"], "database": params["check_database"]} if params["check_table"] else None
    result = PostgresqlRestore(kube, params["namespace"], params["name"], planned, archive,
                               params["archiver_statefulset"], paths, psql_options, clients=params["clients"],
                               check=check, timeout=params["timeout"]).run(directory)
    return dict(result, changed=True, plan=planned)


def main():
    module = AnsibleModule(argument_spec=dict(ARCHIVER_ARG_SPEC, **OPTIONS), supports_check_mode=True)
    params = module.params
    run_module(module, lambda: restore(module), "restore of %s/%s failed" % (params["namespace"], params["name"]))


if __name__ == "__main__":
    main()
