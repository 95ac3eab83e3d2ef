#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_info
short_description: PING a Redis/Valkey pod with its password and read its INFO
version_added: 0.1.0
description:
  - Runs C(PING) and C(INFO) with C(redis-cli)/C(valkey-cli) in the server's container, the password passed on
    the exec's stdin. Fails when the server does not answer C(PONG) (wrong password, loading, down).
  - Read-only.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  sections:
    description: INFO sections to read; empty reads the default set.
    type: list
    elements: str
    default: []
  info:
    description: Read INFO after the PING; false only logs in and PINGs (a user that may not run INFO, such as
      the application's).
    type: bool
    default: true
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
"""

EXAMPLES = r"""
- name: Is the instance answering with its password?
  alertmanagerpp.datastores.redis_info:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    sections: [server, persistence]
  register: redis
"""

RETURN = r"""
pod:
  description: The pod that answered.
  returned: always
  type: str
ping:
  description: The reply to PING.
  returned: always
  type: str
  sample: PONG
info:
  description: INFO fields of the requested sections (values as strings).
  returned: always
  type: dict
  sample: {"redis_version": "7.0.15", "aof_enabled": "1"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    INSTANCE_REQUIRED_ONE_OF,
    connect,
    module_argument_spec,
    pod_name,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    RedisAdminError,
    check_reply,
    parse_info,
)


def read(module):
    pod, cli = connect(module, connect_api(module.params))
    ping = check_reply(cli("PING"), "PING")
    if ping != "PONG":
        raise RedisAdminError("PING answered %r" % ping[:200])
    if not module.params["info"]:
        return {"changed": False, "pod": pod, "ping": ping, "info": {}}
    info = parse_info(check_reply(cli("INFO", *module.params["sections"]), "INFO"))
    return {"changed": False, "pod": pod, "ping": ping, "info": info}


def main():
    module = AnsibleModule(argument_spec=module_argument_spec(sections=dict(type="list", elements="str", default=[]),
                                                              info=dict(type="bool", default=True)),
                           mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, required_one_of=INSTANCE_REQUIRED_ONE_OF,
                           supports_check_mode=True)
    run_module(module, lambda: read(module), "%s/%s" % (module.params["namespace"], pod_name(module.params)))


if __name__ == "__main__":
    main()
