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
  - Never removes a segment a kept base backup needs, the partial segment being received, a timeline history
    file, anything the archiver did not name, nor the archive of a system no kept base backup is of (reported in
    C(unused_systems)).
    Without any base backup, removes nothing.
  - Runs under the instance's backup lock (as the base backups' retention does), so no base backup is published or
    deleted while it decides.
  - When the archiver's pod is not running (the archive switched off, or down), does nothing and says so.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
  - alertmanagerpp.datastores.wal_archiver
  - alertmanagerpp.datastores.kubernetes_auth
options:
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

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    prune, run_archive_module)


def retention(module, archive, directory):
    result = prune(archive, directory, module.params["cluster"], module.check_mode, module.params["kept_backups"])
    if not module._diff:
        result.pop("diff")
    return result


def main():
    run_archive_module(dict(kept_backups=dict(type="list", elements="str")), retention,
                       {"removed": [], "removed_bytes": 0, "kept_bytes": 0, "kept_from": {}, "unused_systems": {}},
                       "WAL archive retention")


if __name__ == "__main__":
    main()
