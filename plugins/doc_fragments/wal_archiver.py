# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options that name the WAL archiver's pod and where its volume holds the archive."""

    DOCUMENTATION = r"""
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
"""
