# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options that name a Sentinel set beside its servers' StatefulSet (module_utils.sentinel_set)."""

    DOCUMENTATION = r"""
options:
  sentinel_statefulset:
    description: The Sentinels' StatefulSet; defaults to C(<statefulset>-sentinel).
    type: str
  master_name:
    description: The name the Sentinels know the primary by; defaults to I(statefulset).
    type: str
  sentinel_port:
    description: Port of the Sentinels.
    type: int
    default: 26379
  sentinel_secret:
    description: Secret with the Sentinels' password (key C(password)); defaults to C(<statefulset>-sentinel).
    type: str
"""
