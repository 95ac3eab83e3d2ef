#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_failover_drill
short_description: Kill or freeze a Sentinel set's primary under a stream of writes and measure the failover
version_added: 0.4.0
description:
  - Starts a writer pod (the instance's image) that writes numbered keys through Sentinel discovery, asking a
    Sentinel again after every failed write as a Sentinel-aware client does, and logs each reply.
  - Then kills the primary (I(variant=kill), pod deleted with grace period 0) or freezes its server process
    (I(variant=freeze), SIGSTOP, continued once a new primary takes writes), waits for a new primary, for writes
    acknowledged by it, and for the old primary to rejoin as an in-sync replica.
  - Reports the time until the Sentinels named a new primary, the longest gap between two acknowledged writes
    (in the writer's clock), and how many acknowledged writes the new primary lacks (the goal is 0). The keys it
    wrote (C(drill:<run>:<n>)) stay.
  - Disruptive. Check mode does nothing and reports nothing measured.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  variant:
    description: How the primary fails.
    type: str
    choices: [kill, freeze]
    default: kill
extends_documentation_fragment:
  - alertmanagerpp.datastores.drill_writer
  - alertmanagerpp.datastores.sentinel_set
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
"""

EXAMPLES = r"""
- name: Kill the primary under writes
  alertmanagerpp.datastores.redis_failover_drill:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    variant: kill
  register: drill
"""

RETURN = r"""
report:
  description: What the drill measured.
  returned: unless in check mode
  type: dict
  contains:
    variant: {description: kill or freeze, type: str, returned: always}
    primary_before: {description: The primary's pod before the drill, type: str, returned: always}
    primary_after: {description: The primary's pod after it, type: str, returned: always}
    new_primary_named_seconds: {description: From the kill or freeze until a majority of Sentinels named another
        primary, type: float, returned: always}
    write_unavailable_seconds: {description: Longest gap between two acknowledged writes, type: float,
        returned: always}
    rejoined_seconds: {description: From the kill or freeze until the old primary was an in-sync replica,
        type: float, returned: always}
    acknowledged_writes: {description: Writes the writer saw acknowledged, type: int, returned: always}
    failed_writes: {description: Writes that failed (not acknowledged; retried elsewhere), type: int,
        returned: always}
    lost_writes: {description: Acknowledged writes the new primary lacks, type: int, returned: always}
    lost_sample: {description: The first few of those (key numbers), type: str, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    WRITER_ARG_SPEC, login_problem, server_image, writer_login)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.failover_drill import Drill
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    module_argument_spec,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import (
    SENTINEL_ARG_SPEC, from_module, sentinel_secret)


def drill(module):
    params = module.params
    if module.check_mode:
        return {"changed": False, "msg": "check mode: no drill run"}
    members = from_module(module, connect_api(params))
    run_id = "%d" % time.time()
    report = Drill(members, run_id, server_image(members.read_statefulset(members.statefulset)),
                   (writer_login(params), sentinel_secret(params)), timeout=params["timeout"]).run(params["variant"])
    return {"changed": True, "report": report}


def main():
    module = AnsibleModule(
        argument_spec=module_argument_spec(
            variant=dict(type="str", choices=["kill", "freeze"], default="kill"),
            **dict(WRITER_ARG_SPEC, **SENTINEL_ARG_SPEC)),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    if login_problem(module.params):
        module.fail_json(msg=login_problem(module.params))
    run_module(module, lambda: drill(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
