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
    Secrets named in I(secrets), whether the passwords named in I(passwords) can be used, the data of the
    ConfigMaps named in I(config_maps), the PodDisruptionBudget API version the
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
  passwords:
    description:
      - Secret keys that must hold passwords (one line of text), checked before anything changes so that a
        bad value is refused at preflight rather than giving pods that never get Ready. The values are read
        here and never returned; I(password_problems) names the Secret and key and what is wrong.
      - Of a Secret the role may not create or complete (I(create=false)), its absence or a missing key is a
        problem too.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the Secret.
        type: str
        required: true
      keys:
        description: Its keys that hold passwords.
        type: list
        elements: str
        required: true
      create:
        description: The role creates the Secret and the missing keys (false, the user supplies them).
        type: bool
        default: true
  config_maps:
    description: ConfigMaps of the instance whose data to return.
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
password_problems:
  description: What makes the passwords of I(passwords) unusable, one message per Secret; empty when none.
  returned: always
  type: list
  elements: str
  sample: ["Secret alertmanagerpp/app: key password ends with a newline ..."]
config_maps:
  description: For each ConfigMap in I(config_maps), its data, or null when it does not exist.
  returned: always
  type: dict
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
                secrets=dict(type="list", elements="str", default=[], no_log=False),
                passwords=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
                    name=dict(type="str", required=True, no_log=False),
                    keys=dict(type="list", elements="str", required=True, no_log=False),
                    create=dict(type="bool", default=True))),
                config_maps=dict(type="list", elements="str", default=[]))
    spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    run_module(module, lambda: dict(gather(connect(params), params["namespace"], params["name"], params["secrets"],
                                           params["passwords"], params["config_maps"]), changed=False),
               "facts of %s/%s" % (params["namespace"], params["name"]))


if __name__ == "__main__":
    main()
