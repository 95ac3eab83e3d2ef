#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_instance_info
short_description: What the cluster holds of a Redis/Valkey instance, and what its API server offers
version_added: 0.3.0
description:
  - Reads in one pass whether the namespace exists, the live StatefulSet, which of the instance's optional objects
    (PodDisruptionBudget, NetworkPolicy, named like the StatefulSet) exist, the key names (never the values) of the
    Secrets named in I(secrets), the PodDisruptionBudget API version the
    server serves (C(policy/v1) from Kubernetes 1.21, C(policy/v1beta1) before) and whether the Prometheus
    Operator's ServiceMonitor and PrometheusRule kinds are served.
  - The roles decide from these facts instead of one module run per question.
  - Read-only; never changes anything.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  namespace:
    description: Namespace of the instance.
    type: str
    required: true
  name:
    description: Name of the instance (its StatefulSet).
    type: str
    required: true
  secrets:
    description: Secrets of the instance whose key names to report (never their values).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.read_only
"""

EXAMPLES = r"""
- name: Read the instance's facts
  alertmanagerpp.datastores.redis_instance_info:
    namespace: alertmanagerpp
    name: alertmanagerpp-redis
  register: instance

- name: Deploy the ServiceMonitor only where the operator runs
  ansible.builtin.debug:
    msg: "{{ instance.prometheus_operator }}"
"""

RETURN = r"""
target:
  description: C(<namespace>/<name>), the instance these facts are about.
  returned: always
  type: str
namespace_exists:
  description: The namespace exists.
  returned: always
  type: bool
statefulset:
  description: The live StatefulSet as the API server returns it, or null.
  returned: always
  type: dict
settled:
  description: The StatefulSet exists and its rollout was complete when read (every replica updated and Ready).
  returned: always
  type: bool
existing:
  description: Which optional objects of the instance exist, by kind.
  returned: always
  type: dict
  sample: {"PodDisruptionBudget": true, "NetworkPolicy": false}
secret_keys:
  description: For each Secret in I(secrets), its key names, or null when it does not exist.
  returned: always
  type: dict
  sample: {"alertmanagerpp-redis-auth": ["password"]}
pod_addresses:
  description: >-
    ClusterIP of each per-pod Service of the instance (Sentinel topology: the pods' stable addresses), by pod name.
  returned: always
  type: dict
  sample: {"alertmanagerpp-redis-0": "10.0.0.17"}
pdb_api_version:
  description: The PodDisruptionBudget API version to use.
  returned: always
  type: str
  sample: policy/v1
prometheus_operator:
  description: The Prometheus Operator's ServiceMonitor and PrometheusRule kinds are served.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance_facts import gather
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC, connect


def main():
    spec = dict(namespace=dict(type="str", required=True), name=dict(type="str", required=True),
                secrets=dict(type="list", elements="str", default=[], no_log=False))
    spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    run_module(module, lambda: dict(gather(connect(params), params["namespace"], params["name"], params["secrets"]),
                                    changed=False),
               "facts of %s/%s" % (params["namespace"], params["name"]))


if __name__ == "__main__":
    main()
