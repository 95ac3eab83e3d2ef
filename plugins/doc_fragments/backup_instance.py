# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options naming one instance's backup directory (dest/cluster/namespace/name), and the files' modes."""

    DOCUMENTATION = r"""
options:
  dest:
    description: Base directory of the backups.
    type: path
    required: true
  cluster:
    description:
      - Identity of the Kubernetes cluster the instance runs in; a directory level and a manifest field, so that
        backups of two clusters never mix (lock, retention, C(latest)).
      - Letters, digits, C(.), C(_) and C(-). The roles default it to the UID of the cluster's C(kube-system)
        namespace; an inventory may name it (C(redis_cluster)).
    type: str
    required: true
  namespace:
    description: Namespace of the instance.
    type: str
    required: true
  name:
    description: Instance name (the StatefulSet).
    type: str
    required: true
"""

    # The permissions of what a backup writes (snapshot).
    MODES = r"""
options:
  file_mode:
    description: Octal permissions of backup files (RDB, manifest, lock), whatever the umask.
    type: str
    default: '0600'
  dir_mode:
    description: Octal permissions of the directories the module creates, and of the instance directory.
    type: str
    default: '0700'
"""
