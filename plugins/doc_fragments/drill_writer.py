# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of a drill's writer pod (module_utils/drill.py)."""

    DOCUMENTATION = r"""
options:
  writer_user:
    description: ACL user the writer logs in as, the application's; empty for the default user.
    type: str
    default: app
  writer_secret:
    description: Secret holding the writer's password; default C(<statefulset>-auth), the application's.
    type: str
  writer_secret_key:
    description: Key of the writer's password in I(writer_secret).
    type: str
    default: password
  timeout:
    description: Seconds each wait of the drill may take.
    type: int
    default: 180
notes:
  - I(statefulset) and I(password_secret) are required, I(pod) and I(password) are not used. I(user) and
    I(password_secret) log in to read the servers and count the missing keys (an administrator); the writer pod
    logs in as I(writer_user) and reads its password from the Secret, never from its arguments.
"""
