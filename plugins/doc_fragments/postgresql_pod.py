# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options that name a PostgreSQL server's pod and how psql reaches it there."""

    DOCUMENTATION = r"""
options:
  namespace:
    description: Namespace of the server's pod.
    type: str
    required: true
  statefulset:
    description: The server's StatefulSet; its pod 0 is used (it must be Ready).
    type: str
    required: true
  container:
    description: The server's container.
    type: str
    default: postgresql
  bin_dir:
    description: Directory of C(psql) in the container.
    type: str
    default: /usr/lib/postgresql/15/bin
  socket_dir:
    description: Directory of the server's Unix socket.
    type: str
    default: /run/postgresql
  port:
    description: Port of the server (it names the socket too).
    type: int
    default: 5432
"""
