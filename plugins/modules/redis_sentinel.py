#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_sentinel
short_description: Roll a Sentinel set's servers without losing writes, reset stale Sentinels, report the set
version_added: 0.4.0
description:
  - For the C(sentinel) topology, whose server StatefulSet uses the C(OnDelete) strategy.
  - With I(roll), restarts the server pods that run an older template than their StatefulSet's, replicas first,
    each back in sync before the next, then the primary after a switchover (writes paused until every replica
    holds them, C(SENTINEL FAILOVER), the old primary made a replica of the new one, writes resumed). Without any
    Sentinel yet (first start, conversion from standalone) the pods restart in ordinal order. Then waits until
    there is one primary and every replica is in sync.
  - With I(reconcile), waits until every Sentinel is Ready and a majority names the primary, resets (one at a
    time, C(SENTINEL RESET)) a Sentinel that remembers a server or Sentinel no longer in the set, and waits until
    each sees the whole set.
  - Reports each server's role and each Sentinel's view, and judges the set in I(problems) and I(healthy). A whole
    set has one primary, every replica linked to it, at least I(quorum) Sentinels answering, all naming that
    primary and seeing every replica and every other Sentinel. Check mode reports what it would do.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  roll:
    description: Restart outdated server pods in the safe order.
    type: bool
    default: false
  reconcile:
    description: Wait for the Sentinels to agree and see the whole set, resetting stale ones.
    type: bool
    default: false
  timeout:
    description: Seconds each wait may take.
    type: int
    default: 300
  pause_seconds:
    description: Longest write pause of a switchover (ended as soon as the new primary is in place).
    type: int
    default: 30
  quorum:
    description:
      - The Sentinels' quorum; fewer Sentinels answering is a problem (no failover possible).
      - By default the quorum the Sentinels report (at least a majority of them).
    type: int
extends_documentation_fragment:
  - alertmanagerpp.datastores.sentinel_set
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
notes:
  - I(pod) and I(container) of the instance options are not used; I(statefulset) is required.
"""

EXAMPLES = r"""
- name: Roll the servers onto the new template, primary last
  alertmanagerpp.datastores.redis_sentinel:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    roll: true
"""

RETURN = r"""
steps:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["restart alertmanagerpp-redis-2", "switch the primary away from alertmanagerpp-redis-0 (SENTINEL FAILOVER)"]
primary:
  description: The primary's pod as the Sentinels name it (null when no Sentinel does).
  returned: always
  type: str
servers:
  description: Each server pod's address (its Service's ClusterIP), role, link to the primary and offset.
  returned: always
  type: dict
sentinels:
  description: Each Sentinel pod's view (addresses of the primary, the replicas and the other Sentinels), or its error.
  returned: always
  type: dict
problems:
  description: What keeps the set from being whole, one sentence each; empty when it is.
  returned: always
  type: list
  elements: str
healthy:
  description: True when there is no problem.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    module_argument_spec,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_health import (
    sentinel_problems,
    sentinel_views,
    server_problems,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import Rollout
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SENTINEL_ARG_SPEC, from_module


def converge(module):
    params = module.params
    members = from_module(module, connect_api(params))
    rollout = Rollout(members, timeout=params["timeout"], pause_seconds=params["pause_seconds"])
    if params["roll"]:
        if module.check_mode:
            rollout.steps.extend("restart %s" % pod for pod in rollout.plan()[0])
        else:
            rollout.roll()
    if params["reconcile"]:
        rollout.reconcile_sentinels(check_mode=module.check_mode)
    address = members.primary_address()
    servers, views = members.state(), sentinel_views(members)
    problems = server_problems(servers) + sentinel_problems(
        servers, views, dict((pod, members.address(pod)) for pod in members.sentinels()), params["quorum"])
    return {"changed": bool(rollout.steps), "steps": rollout.steps,
            "primary": members.pod_at(address) if address else None, "servers": servers, "sentinels": views,
            "problems": problems, "healthy": not problems}


def main():
    module = AnsibleModule(
        argument_spec=module_argument_spec(
            roll=dict(type="bool", default=False), reconcile=dict(type="bool", default=False),
            timeout=dict(type="int", default=300), pause_seconds=dict(type="int", default=30),
            quorum=dict(type="int"), **SENTINEL_ARG_SPEC),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    if not module.params["statefulset"]:
        module.fail_json(msg="statefulset is required: the Sentinel set is named by its servers' StatefulSet")
    run_module(module, lambda: converge(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
