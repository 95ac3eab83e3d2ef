#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_wal_archive_prune
short_description: Remove the WAL archive's segments that no kept base backup needs
version_added: 0.4.0
description:
  - Lists the archive on the WAL archiver's volume (in its pod) and the good base backups of the instance in its
    backup directory; per database system, removes the segments before the first segment of the oldest kept base
    backup of that system, the ones set aside at a gap (C(before-gap-*)) included, and the set-aside directories
    left empty.
  - Never removes a segment a kept base backup needs, the partial segment being received, a timeline history file, anything the
    archiver did not name, nor the archive of a system no kept base backup is of (reported in C(unused_systems)).
    Without any base backup, removes nothing.
  - Runs under the instance's backup lock (as the base backups' retention does), so no base backup is published or
    deleted while it decides.
  - When the archiver's pod is not running (the archive switched off, or down), does nothing and says so.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
  - alertmanagerpp.datastores.kubernetes_auth
options:
  archiver_statefulset:
    description: The WAL archiver's StatefulSet (in O(namespace)); its pod 0 holds the archive.
    type: str
    required: true
  archiver_container:
    description: The archiver's container.
    type: str
    default: wal-archive
  archive_dir:
    description: Where the archive's volume is mounted in that container.
    type: str
    default: /var/lib/postgresql/wal-archive
  kept_backups:
    description:
      - Ids of the base backups to count as kept (the base backups' retention's C(kept)); without it, every good
        base backup in the directory counts.
      - In check mode the base backups' retention deletes nothing; passing what it would keep gives this plan the
        same view.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description: Reports what would be removed and removes nothing.
  diff_mode:
    support: full
    description: The archive's file count and bytes before and after.
"""

EXAMPLES = r"""
- name: Keep only the WAL the kept base backups need
  alertmanagerpp.datastores.postgresql_wal_archive_prune:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-postgresql
    archiver_statefulset: alertmanagerpp-postgresql-wal-archive
"""

RETURN = r"""
archiver:
  description: C(running) when the archive was read, otherwise why it was not (C(absent), C(not running)).
  returned: always
  type: str
removed:
  description: The removed files (would be removed, in check mode), relative to O(archive_dir).
  returned: always
  type: list
  elements: str
removed_bytes:
  description: Their bytes on the archive's volume (compressed, as stored).
  returned: always
  type: int
kept_bytes:
  description: Bytes of the files kept.
  returned: always
  type: int
kept_from:
  description: Per system identifier, the first segment kept (the oldest kept base backup's first segment).
  returned: always
  type: dict
unused_systems:
  description: Per system identifier without a kept base backup, the bytes its archive holds (left alone).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import first_pod, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import WalArchive, prune


def archiver_state(pod):
    if pod is None:
        return "absent"
    return "running" if (pod.get("status") or {}).get("phase") == "Running" else "not running"


def run(module):
    params = module.params
    kube = connect_api(params)
    pod = first_pod(params["archiver_statefulset"])
    state = archiver_state(read_pod(kube, params["namespace"], pod))
    if state != "running":
        return {"changed": False, "archiver": state, "removed": [], "removed_bytes": 0, "kept_bytes": 0,
                "kept_from": {}, "unused_systems": {}}
    archive = WalArchive(kube.configuration, params["namespace"], pod, params["archiver_container"],
                         params["archive_dir"])
    directory = index.instance_dir(params["dest"], params["cluster"], params["namespace"], params["name"])
    result = dict(prune(archive, directory, params["cluster"], module.check_mode, params["kept_backups"]),
                  archiver=state)
    if not module._diff:
        result.pop("diff")
    return result


def main():
    spec = dict(index.INSTANCE_ARG_SPEC, archiver_statefulset=dict(type="str", required=True),
                archiver_container=dict(type="str", default="wal-archive"),
                archive_dir=dict(type="str", default="/var/lib/postgresql/wal-archive"),
                kept_backups=dict(type="list", elements="str"))
    spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda: run(module), "WAL archive retention of %s/%s failed"
               % (module.params["namespace"], module.params["archiver_statefulset"]))


if __name__ == "__main__":
    main()
