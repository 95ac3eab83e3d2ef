# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options naming one instance's backup directory (dest/namespace/name)."""

    DOCUMENTATION = r"""
options:
  dest:
    description: Base directory of the backups.
    type: path
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
