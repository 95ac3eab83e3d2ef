#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_credentials
short_description: One step of rotating ACL users' passwords without a failed request
version_added: 0.5.0
description:
  - An ACL user may hold several passwords. A rotation runs the steps in order, each idempotent and each leaving
    every consumer able to log in; the Secret and the servers hold the rotation's state, so a rotation stopped
    anywhere is finished by running it again with the same I(rotation).
  - C(stage) generates each user's new password into its Secret as key C(<key>.next), unless the Secret is
    already marked with I(rotation) or holds that key (then it is kept, e.g. one you put there yourself).
  - C(admit) makes every server pod of I(statefulset) accept each user's current, staged and previous passwords.
  - C(promote) makes the staged password the current one, keeps the old one as C(<key>.previous) and marks the
    Secret with I(rotation).
  - C(wait) waits until every server pod's password files (I(auth_dir)/I(users[].file)) show the current
    passwords (the kubelet refreshes mounted Secrets within a minute or two).
  - C(apply) gives the servers and Sentinels the current password of a user they log in as (I(users[].apply)),
    C(CONFIG SET masterauth) on every server for the replication user, C(SENTINEL SET <master> auth-pass) on
    every Sentinel for the Sentinels' user; only while a rotation is under way (the C(.previous) key exists).
  - C(retire) makes every server accept the current password only, then drops the C(.previous) keys.
  - Only SHA-256 hashes of passwords are arguments of a command (C(ACL SETUSER <user>) with C(#<hash>)); the admin's
    password travels on the exec's stdin. No password is in the module's result.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [stage, admit, promote, wait, apply, retire]
  rotation:
    description: The rotation's id, recorded on the Secrets by C(promote) (e.g. the date).
    type: str
    required: true
  users:
    description: The ACL users to rotate and where their passwords are.
    type: list
    elements: dict
    required: true
    suboptions:
      user:
        description: ACL user name.
        type: str
        required: true
      secret:
        description: Secret in I(namespace) holding its password.
        type: str
        required: true
      key:
        description: Key of the password in I(secret).
        type: str
        required: true
      file:
        description: Name of its password file in I(auth_dir) of the server container (for C(wait)); empty for none.
        type: str
        default: ""
      apply:
        description:
          - Where the servers or Sentinels use this user's password to log in themselves (for C(apply)), and
            for C(sentinel-auth-pass) also whose password file C(wait) waits for in the Sentinels' pods.
        type: str
        choices: ["", masterauth, sentinel-auth-pass]
        default: ""
  length:
    description: Length of a generated password.
    type: int
    default: 32
  auth_dir:
    description: Directory of the password files in the server container.
    type: str
    default: /etc/redis-auth
  timeout:
    description: Seconds C(wait) waits for the password files.
    type: int
    default: 300
  sentinel_statefulset:
    description: The Sentinels' StatefulSet (Sentinel topology); empty for none.
    type: str
    default: ""
  sentinel_container:
    description: Container of the Sentinel.
    type: str
    default: sentinel
  sentinel_port:
    description: Port of the Sentinels.
    type: int
    default: 26379
  sentinel_secret:
    description: Secret with the Sentinels' own password (key C(password)).
    type: str
  master_name:
    description: The name the Sentinels monitor the primary under; the StatefulSet's name by default.
    type: str
notes:
  - I(statefulset) is required (I(pod) is not used).
  - The admin login (I(user), I(password_secret), I(password_secret_key)) tries the Secret's current, previous
    and staged values, so the admin's own password can be rotated with the others.
  - Supports check mode and diff (key names and password counts, never a value).
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
"""

EXAMPLES = r"""
- name: Let every server accept the new passwords beside the old
  alertmanagerpp.datastores.redis_credentials:
    step: admit
    rotation: "2026-12-06"
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    users:
      - {user: app, secret: alertmanagerpp-redis-auth, key: password, file: app}
"""

RETURN = r"""
secrets:
  description: Per Secret, the keys written or dropped (C(stage), C(promote), C(retire)).
  returned: always
  type: dict
  sample: {"alertmanagerpp-redis-auth": ["password.next"]}
applied:
  description: The pods given a user's current password (C(apply)), as C(<pod>/<user>).
  returned: always
  type: list
  elements: str
servers:
  description: Per pod, per user, how many passwords it accepted before and after (C(admit), C(retire)).
  returned: always
  type: dict
  sample: {"alertmanagerpp-redis-0": {"app": [1, 2]}}
waited:
  description: Seconds C(wait) waited.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.credentials import rotate
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import module_argument_spec

USER_SPEC = dict(user=dict(type="str", required=True), secret=dict(type="str", required=True, no_log=False),
                 key=dict(type="str", required=True, no_log=False), file=dict(type="str", default=""),
                 apply=dict(type="str", choices=["", "masterauth", "sentinel-auth-pass"], default=""))


def main():
    spec = module_argument_spec(
        step=dict(type="str", required=True, choices=["stage", "admit", "promote", "wait", "apply", "retire"]),
        rotation=dict(type="str", required=True),
        users=dict(type="list", elements="dict", required=True, options=USER_SPEC),
        length=dict(type="int", default=32),
        auth_dir=dict(type="str", default="/etc/redis-auth"),
        timeout=dict(type="int", default=300),
        sentinel_statefulset=dict(type="str", default=""),
        sentinel_container=dict(type="str", default="sentinel"),
        sentinel_port=dict(type="int", default=26379),
        sentinel_secret=dict(type="str", no_log=False),
        master_name=dict(type="str"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not module.params["statefulset"]:
        module.fail_json(msg="statefulset is required: a rotation reaches every server pod of the StatefulSet")
    run_module(module, lambda: rotate(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
