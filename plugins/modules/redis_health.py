#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_health
short_description: Health report of a Redis/Valkey instance (read-only)
version_added: 0.1.0
description:
  - Reads the pod (readiness, restarts), the server (C(INFO all), C(SLOWLOG LEN)) with the password passed on the
    exec's stdin, the data volume's usage (C(df) in the container) and the exporter's C(redis_up) through the API
    server's pod proxy (no network path from the controller to the pod needed).
  - Judges them against I(limits) and returns the report, the problems (unhealthy) and the warnings. It does not
    fail on an unhealthy instance, so that the caller can print the report first (see the redis_monitoring role's
    C(health) entry point).
  - Read-only; never changes anything.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  check_exporter:
    description: Also read the exporter's metrics through the API server's pod proxy.
    type: bool
    default: true
  exporter_port:
    description: Port of the exporter in the pod.
    type: int
    default: 9121
  data_dir:
    description: Mount path of the data volume in the server's container.
    type: str
    default: /data
  limits:
    description:
      - Overrides of the limits, by name. Ratios are of maxmemory, maxclients and the volume's size.
      - C(memory_critical_ratio) (0.90), C(memory_warning_ratio) (0.75), C(clients_critical_ratio) (0.80),
        C(clients_warning_ratio) (0.60), C(disk_critical_ratio) (0.85), C(disk_warning_ratio) (0.70),
        C(unsaved_changes_max_age_seconds) (7200), C(slowlog_warning_length) (64).
    type: dict
    default: {}
  expect_primary:
    description:
      - A server that is not a primary is a problem (the standalone topology). Set false for the servers of a
        Sentinel set, whose roles the C(redis_sentinel) module judges.
    type: bool
    default: true
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
"""

EXAMPLES = r"""
- name: Health of the instance
  alertmanagerpp.datastores.redis_health:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    limits:
      memory_critical_ratio: 0.95
  register: health

- name: Fail when unhealthy
  ansible.builtin.fail:
    msg: "{{ health.problems }}"
  when: not health.healthy
"""

RETURN = r"""
healthy:
  description: No problems found (warnings allowed).
  returned: always
  type: bool
problems:
  description: What makes the instance unhealthy, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["memory used of maxmemory at 93% (limit 90%)"]
concerns:
  description: What deserves a look but is not unhealthy (named so because Ansible consumes a module's C(warnings)).
  returned: always
  type: list
  elements: str
report:
  description: The facts (pod, server, disk, exporter), for pipelines.
  returned: always
  type: dict
text:
  description: The report for a human, one line per fact, problems and warnings last.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import (
    assess,
    read_limits,
    render_text,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health_gather import gather
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    INSTANCE_REQUIRED_ONE_OF,
    module_argument_spec,
    pod_name,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect


def report(module):
    limits = read_limits(module.params["limits"])
    facts = gather(module, connect(module.params))
    problems, warnings = assess(facts, limits, expect_primary=module.params["expect_primary"])
    return {"changed": False, "healthy": not problems, "problems": problems, "concerns": warnings, "report": facts,
            "text": render_text(facts, problems, warnings)}


def main():
    module = AnsibleModule(
        argument_spec=module_argument_spec(
            check_exporter=dict(type="bool", default=True),
            exporter_port=dict(type="int", default=9121),
            data_dir=dict(type="str", default="/data"),
            limits=dict(type="dict", default={}),
            expect_primary=dict(type="bool", default=True),
        ),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, required_one_of=INSTANCE_REQUIRED_ONE_OF,
        supports_check_mode=True)
    target = "%s/%s" % (module.params["namespace"], pod_name(module.params))
    run_module(module, lambda: report(module), "health of %s" % target)


if __name__ == "__main__":
    main()
