#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_backup_info
short_description: List the backups of a Redis/Valkey instance and find the latest trustworthy one
version_added: 0.1.0
description:
  - Reads the backup index of one instance (the JSON manifests under I(dest)/<cluster>/<namespace>/<name>/) and
    reports every backup with a status, oldest first. A manifest that cannot be read or has the wrong shape is
    listed as C(unparseable) with a warning, one naming another cluster as C(foreign); neither stops the listing.
  - With I(verify), recomputes each file's sha256 and size and compares them with its manifest.
  - C(latest) is the newest backup whose manifest is readable and (with I(verify)) whose sha256 still matches.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
options:
  verify:
    description: Recompute sha256 and size of every backup.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only.
  diff_mode:
    support: none
    description: Nothing to diff; the result describes what was done.
"""

EXAMPLES = r"""
- name: List the backups, checking every file
  alertmanagerpp.datastores.redis_backup_info:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-redis
    verify: true
  register: backups
"""

RETURN = r"""
backups:
  description: Every backup, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    id: {description: Backup id, type: str}
    status: {description: "ok, corrupt, missing-rdb, no-manifest or unparseable", type: str}
    reason: {description: Why the status is not ok, type: str}
    created: {description: UTC time the backup was finished, type: str}
    bytes: {description: Size of the RDB, type: int}
    sha256: {description: sha256 of the RDB from the manifest, type: str}
    keys_total: {description: Keys at snapshot time, type: int}
    rdb: {description: Path of the RDB, type: str}
    manifest: {description: Path of the manifest, type: str}
latest:
  description: The newest good backup, or null.
  returned: always
  type: dict
directory:
  description: The instance's backup directory.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module


def listing(module):
    params = module.params
    directory = index.instance_dir(params["dest"], params["cluster"], params["namespace"], params["name"])
    entries = index.list_backups(directory, verify=params["verify"], cluster=params["cluster"])
    for entry in entries:
        if entry["status"] in ("unparseable", "foreign"):
            module.warn("%s is not a backup of this instance: %s" % (entry["manifest"], entry["reason"]))
    latest = index.latest(entries)
    return {"changed": False, "directory": directory, "backups": [index.public(e) for e in entries],
            "latest": index.public(latest) if latest else None}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            **index.INSTANCE_ARG_SPEC,
            verify=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: listing(module), "cannot read the backups under %s" % module.params["dest"])


if __name__ == "__main__":
    main()
