#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_backup_prune
short_description: Apply the retention policy to the backups of a Redis/Valkey instance
version_added: 0.1.0
description:
  - Keeps the I(keep_last) newest backups and those younger than I(keep_days); deletes the other good backups
    (manifest first, then the RDB). With neither set, deletes nothing.
  - Never deletes the newest backup whose sha256 still matches its manifest.
  - Never deletes what it cannot parse (unreadable manifest, RDB without manifest, manifest without RDB, a file
    whose sha256 no longer matches); it reports them in C(untouched) and warns.
  - Takes the instance lock, so it cannot run during a snapshot or a restore of the same instance; under it,
    removes the files that killed runs left (partial downloads, manifest temp files).
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
options:
  keep_last:
    description: Number of newest backups to keep (at least 1).
    type: int
  keep_days:
    description: Keep backups younger than this many days.
    type: int
attributes:
  check_mode:
    support: full
    description: Reports what would be deleted and deletes nothing.
  diff_mode:
    support: none
    description: Nothing to diff; the result describes what was done.
"""

EXAMPLES = r"""
- name: Keep two weeks of backups, and at least the last 14
  alertmanagerpp.datastores.redis_backup_prune:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-redis
    keep_last: 14
    keep_days: 14
"""

RETURN = r"""
deleted:
  description: Ids of the deleted backups (would be deleted, in check mode).
  returned: always
  type: list
  elements: str
kept:
  description: Ids of the kept good backups.
  returned: always
  type: list
  elements: str
untouched:
  description: Entries that are not good backups and were left alone, with the reason.
  returned: always
  type: list
  elements: dict
leftovers_removed:
  description: Files of killed runs removed (would be removed, in check mode).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module


def prune(module):
    params = module.params
    if params["keep_last"] is not None and params["keep_last"] < 1:
        raise index.BackupIndexError("keep_last must be at least 1 (the newest backup is always kept)")
    if params["keep_days"] is not None and params["keep_days"] < 0:
        raise index.BackupIndexError("keep_days must not be negative")
    directory = index.instance_dir(params["dest"], params["cluster"], params["namespace"], params["name"])
    if not os.path.isdir(directory):
        return {"changed": False, "deleted": [], "kept": [], "untouched": [], "leftovers_removed": []}
    with index.InstanceLock(directory):
        leftovers = index.leftovers(directory) if module.check_mode else index.clean_leftovers(directory)
        entries = index.list_backups(directory, verify=True, cluster=params["cluster"])
        delete, keep, untouched = index.retention_plan(entries, params["keep_last"], params["keep_days"])
        if not module.check_mode:
            for entry in delete:
                index.delete_backup(entry)
    for entry in untouched:
        module.warn("left %s alone: %s (%s)" % (entry["id"], entry["status"], entry["reason"]))
    return {"changed": bool(delete or leftovers), "deleted": [e["id"] for e in delete],
            "kept": [e["id"] for e in keep], "untouched": [index.public(e) for e in untouched],
            "leftovers_removed": leftovers}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **index.INSTANCE_ARG_SPEC,
            keep_last=dict(type="int"),
            keep_days=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: prune(module), "retention under %s failed" % module.params["dest"])


if __name__ == "__main__":
    main()
