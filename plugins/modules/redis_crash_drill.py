#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_crash_drill
short_description: Crash a standalone instance's server under a stream of writes and measure the recovery
version_added: 0.5.0
description:
  - Starts a writer pod (the instance's image) that writes numbered keys through the instance's client Service, as
    the application does, and logs each reply in its own clock. The keys expire after an hour.
  - Then kills the server (I(variant=kill), SIGKILL of the server process, the container restarts in the same pod)
    or deletes its pod (I(variant=delete), with the pod's grace period, as a drain or an eviction does), waits for
    pod 0 to be Ready again and for new acknowledged writes.
  - Reports the longest gap between two acknowledged writes (until the instance answers through its Service
    again), the time until pod 0 was Ready again, and the acknowledged writes the server lacks afterwards, as a
    count and as the seconds of writing they span.
  - Disruptive. Check mode does nothing and reports nothing measured.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  variant:
    description: How the server dies.
    type: str
    choices: [kill, delete]
    default: kill
  service:
    description: The client Service the writer writes to; default the StatefulSet's name.
    type: str
  recovery_target_seconds:
    description: The target for answering again and for Ready again; a report lists in C(missed) what took longer.
    type: float
    default: 30
  lost_target_seconds:
    description:
      - The target for acknowledged writes lost, in seconds of writing they span; 0 allows none.
      - The server's C(appendfsync everysec) bounds what a crash of the node may lose to about a second; a crash of
        the process loses nothing written to the kernel.
    type: float
    default: 1
extends_documentation_fragment:
  - alertmanagerpp.datastores.drill_writer
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
notes:
  - For the standalone topology; a Sentinel set has the failover drill (M(alertmanagerpp.datastores.redis_failover_drill)).
"""

EXAMPLES = r"""
- name: SIGKILL the server under writes
  alertmanagerpp.datastores.redis_crash_drill:
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
    variant: {description: kill or delete, type: str, returned: always}
    pod: {description: The server's pod, type: str, returned: always}
    ready_seconds: {description: From the kill or deletion until pod 0 was Ready again, type: float,
        returned: always}
    renewed_seconds:
      description:
        - From the kill or deletion until the restarted container (kill) or the new pod (delete) was first seen.
        - The rest of ready_seconds is the server's own start; for a deletion, this part is the old
          pod's shutdown and the kubelet's clean-up, which a busy node stretches.
      type: float
      returned: always
    write_unavailable_seconds: {description: Longest gap between two acknowledged writes (the writer's clock),
        type: float, returned: always}
    acknowledged_writes: {description: Writes the writer saw acknowledged, type: int, returned: always}
    failed_writes: {description: Writes that failed (not acknowledged), type: int, returned: always}
    lost_writes: {description: Acknowledged writes the server lacks afterwards, type: int, returned: always}
    lost_write_seconds: {description: Seconds of writing the lost writes span, type: float, returned: always}
    lost_sample: {description: The first few lost writes (key numbers), type: str, returned: always}
    missed:
      description: The targets missed, one line each; empty when every target was met.
      type: list
      elements: str
      returned: always
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.crash_drill import (
    VARIANTS, CrashDrill, missed_targets)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import (
    WRITER_ARG_SPEC, login_problem, server_image, writer_login)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE, module_argument_spec, read_password)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api


def drill(module):
    params = module.params
    if module.check_mode:
        return {"changed": False, "msg": "check mode: no drill run"}
    kube = connect_api(params)
    namespace, name = params["namespace"], params["statefulset"]
    password = read_password(kube, params)
    if password:
        module.no_log_values.add(password)
    statefulset = kube.request("GET", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, name))
    server = (namespace, name, params["container"], params["flavor"], params["port"], params["user"], password)
    report = CrashDrill(kube, server, params["service"] or name, server_image(statefulset, params["container"]),
                        writer_login(params), "%d" % time.time(), timeout=params["timeout"]).run(params["variant"])
    report["missed"] = missed_targets(report, params["recovery_target_seconds"], params["lost_target_seconds"])
    return {"changed": True, "report": report}


def main():
    module = AnsibleModule(
        argument_spec=module_argument_spec(
            variant=dict(type="str", choices=list(VARIANTS), default="kill"), service=dict(type="str"),
            recovery_target_seconds=dict(type="float", default=30), lost_target_seconds=dict(type="float", default=1),
            **WRITER_ARG_SPEC),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    if login_problem(module.params):
        module.fail_json(msg=login_problem(module.params))
    run_module(module, lambda: drill(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
