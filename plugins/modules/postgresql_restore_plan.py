#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_restore_plan
short_description: Plan a PostgreSQL point-in-time restore, or refuse it, before anything is touched (read-only)
version_added: 0.4.0
description:
  - Chooses the base backup a restore to I(target) starts from - the newest whose recovery window (see
    M(alertmanagerpp.datastores.postgresql_wal_archive_info)) holds the target, among the base backups of one
    database system - and lists the archive's segments the recovery replays.
  - Refuses, with what the backups and the archive do hold, a target outside every window, a window broken by a
    missing segment, a restore point that is not in the archive (or is there twice), a chosen base backup whose
    file no longer matches its manifest (its sha256 is computed here), and an archiver that is not running.
  - Refuses first when a restore is recorded on the server's StatefulSet (I(name)), running or interrupted and not
    rolled back (the message names the rollback command), since such a restore may have stopped the archiver.
  - Reads the backup directory and the archive; never changes anything.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
  - alertmanagerpp.datastores.wal_archiver
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
options:
  target:
    description:
      - C(latest) replays every segment the archive holds; C(time) stops after the last commit at or before
        I(target_value); C(lsn) at that LSN; C(name) at the restore point of that name (pg_create_restore_point).
    type: str
    choices: [latest, time, lsn, name]
    default: latest
  target_value:
    description:
      - The time (ISO 8601 with its offset, e.g. C(2026-12-07T06:30:00Z)), the LSN (e.g. C(0/3000148)) or the
        restore point's name; ignored for C(latest).
    type: str
  system_identifier:
    description:
      - The database system to restore (its base backups' C(system_identifier)); by default that of the newest
        base backup.
    type: str
  bin_dir:
    description: Directory of C(pg_waldump) in the archiver's container.
    type: str
    default: /usr/lib/postgresql/15/bin
"""

EXAMPLES = r"""
- name: Plan a restore to just before a bad deployment
  alertmanagerpp.datastores.postgresql_restore_plan:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-postgresql
    archiver_statefulset: alertmanagerpp-postgresql-wal-archive
    target: time
    target_value: "2026-12-07T06:29:00Z"
  register: restore_plan
"""

RETURN = r"""
archiver:
  description: C(running) (the module fails when the archiver's pod is not).
  returned: always
  type: str
plan:
  description:
    - C(backup) (id), C(file), C(bytes), C(system_identifier), C(from_lsn) and C(from_time) (the backup's end),
      C(to_lsn) and C(to_time) (how far the archive reaches), C(target) (C(kind), C(value) and, where known,
      C(lsn)), C(segments) (the archive's files to replay, in order).
  returned: always
  type: dict
windows:
  description: Every base backup's recovery window, as M(alertmanagerpp.datastores.postgresql_wal_archive_info).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore import (
    refuse_beside_a_recorded_restore)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore_plan import plan
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    run_archive_module)


def planned(module, archive, directory):
    params = module.params
    entries = index.list_backups(directory, cluster=params["cluster"])
    return plan(archive, entries, os.path.join(params["bin_dir"], "pg_waldump"), params["target"],
                params["target_value"], params["system_identifier"])


def no_restore_recorded(kube, params):
    """A restore in progress (or interrupted) may have stopped the archiver: say so rather than fail to read it."""
    refuse_beside_a_recorded_restore(kube, params["namespace"], params["name"])


def main():
    run_archive_module(dict(target=dict(type="str", choices=["latest", "time", "lsn", "name"], default="latest"),
                            target_value=dict(type="str"), system_identifier=dict(type="str"),
                            bin_dir=dict(type="str", default="/usr/lib/postgresql/15/bin")),
                       planned, None, "planning the restore", precheck=no_restore_recorded)


if __name__ == "__main__":
    main()
