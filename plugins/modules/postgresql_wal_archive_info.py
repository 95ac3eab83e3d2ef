#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_wal_archive_info
short_description: How far each base backup can be rolled forward through the WAL archive (read-only)
version_added: 0.4.0
description:
  - Lists the good base backups of the instance in its backup directory and the archive on the WAL archiver's
    volume (in its pod). For each database system a base backup is of, reads the archive's newest segments with
    C(pg_waldump) (decompressed on the archive's volume), the newest record and the newest commit, with its time.
  - For each base backup, its recovery window, from its end (the LSN, and the time the backup was published, a
    little after it) to the newest record and commit of the archive, when the archive holds every segment from
    the backup's first one on; otherwise the window is empty and C(problem) names the missing segments.
  - When the archiver's pod is not running, reads nothing and says so.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
extends_documentation_fragment:
  - alertmanagerpp.datastores.backup_instance
  - alertmanagerpp.datastores.wal_archiver
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
options:
  bin_dir:
    description: Directory of C(pg_waldump) in the archiver's container.
    type: str
    default: /usr/lib/postgresql/15/bin
"""

EXAMPLES = r"""
- name: What can be restored
  alertmanagerpp.datastores.postgresql_wal_archive_info:
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
    namespace: alertmanagerpp
    name: alertmanagerpp-postgresql
    archiver_statefulset: alertmanagerpp-postgresql-wal-archive
  register: archive
"""

RETURN = r"""
archiver:
  description: C(running) when the archive was read, otherwise why it was not (C(absent), C(not running)).
  returned: always
  type: str
systems:
  description:
    - Per system identifier with a good base backup, its archive - C(segments) (count), C(newest_lsn) (the newest
      record), C(newest_commit_lsn), C(newest_commit_time) (UTC, the server's clock), C(gaps) (pairs of the
      segments on either side of each hole).
  returned: always
  type: dict
windows:
  description:
    - Per good base backup, oldest first - C(backup), C(system_identifier), C(from_lsn), C(from_time), C(to_lsn),
      C(to_time) (the newest commit; null when the archive holds none after the backup) and C(problem) (null, or
      why the archive cannot roll this backup forward).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_wal_archive import (
    recovery_windows, run_archive_module)


def windows(module, archive, directory):
    entries = index.list_backups(directory, cluster=module.params["cluster"])
    return recovery_windows(archive, entries, os.path.join(module.params["bin_dir"], "pg_waldump"))


def main():
    run_archive_module(dict(bin_dir=dict(type="str", default="/usr/lib/postgresql/15/bin")), windows,
                       {"systems": {}, "windows": []}, "reading the WAL archive")


if __name__ == "__main__":
    main()
