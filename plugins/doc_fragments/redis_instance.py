# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options naming the server of one instance and its password."""

    DOCUMENTATION = r"""
options:
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  pod:
    description: Pod of the server. Mutually exclusive with I(statefulset).
    type: str
  statefulset:
    description: StatefulSet whose primary (pod 0 in the standalone topology) to talk to.
    type: str
  container:
    description: Container running the server.
    type: str
    default: redis
  flavor:
    description: Server flavor; chooses C(redis-cli)/C(valkey-cli) and C(redis-check-rdb)/C(valkey-check-rdb).
    type: str
    choices: [redis, valkey]
    default: redis
  port:
    description: Port of the server inside the pod.
    type: int
    default: 6379
  user:
    description:
      - ACL user to log in as; omitted, the server's default user.
      - The roles pass the user each task needs (docs/security.md), e.g. C(backup) for a snapshot, C(admin) for a
        restore.
    type: str
  password:
    description: Password of I(user). Mutually exclusive with I(password_secret).
    type: str
  password_secret:
    description: Name of a Secret in I(namespace) holding the password.
    type: str
  password_secret_key:
    description: Key of the password in I(password_secret).
    type: str
    default: password
notes:
  - The password reaches C(redis-cli) in the pod on the exec's stdin, never as a process argument.
"""
