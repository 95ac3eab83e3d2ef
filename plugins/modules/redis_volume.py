#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_volume
short_description: Grow the volumes of an instance's StatefulSet (its claim template cannot change)
version_added: 0.5.0
description:
  - C(step=check) refuses, before anything changes, unless the StorageClass of every PersistentVolumeClaim of the
    StatefulSet allows volume expansion.
  - C(step=expand) grows each claim's storage request to I(size), then deletes the StatefulSet object with its
    pods orphaned (they keep running on their volumes); applying the StatefulSet again with the new claim template
    adopts them, with no restart.
  - C(step=wait) waits until every claim's capacity, and the filesystem at I(mount) in its pod, show the new size.
    A volume plugin that expands offline leaves the claim C(FileSystemResizePending); the message says how to go on.
  - Each step is idempotent; check mode reports what C(expand) would do.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  namespace:
    description: Namespace of the StatefulSet.
    type: str
    required: true
  statefulset:
    description: The StatefulSet whose volumes grow.
    type: str
    required: true
  claim_template:
    description: The name of its volume claim template.
    type: str
    default: data
  size:
    description: The new size, a Kubernetes quantity (C(10Gi)).
    type: str
    required: true
  step:
    description: What to do.
    type: str
    choices: [check, expand, wait]
    required: true
  container:
    description: For I(step=wait), the container that mounts the volume.
    type: str
    default: redis
  mount:
    description: For I(step=wait), where the volume is mounted in I(container).
    type: str
    default: /data
  timeout:
    description: Seconds each wait may take.
    type: int
    default: 300
extends_documentation_fragment:
  - alertmanagerpp.datastores.kubernetes_auth
"""

EXAMPLES = r"""
- name: Grow the volumes to 10Gi
  alertmanagerpp.datastores.redis_volume:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    size: 10Gi
    step: expand
"""

RETURN = r"""
steps:
  description: What C(expand) did (or, in check mode, would do), one line each.
  returned: step expand
  type: list
  elements: str
volumes:
  description: For C(step=wait), each claim with its capacity and its filesystem's size in bytes.
  returned: step wait
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.volume_expansion import Volumes


def act(module):
    params = module.params
    volumes = Volumes(connect_api(params), params["namespace"], params["statefulset"], params["claim_template"],
                      params["size"], params["timeout"])
    if params["step"] == "check":
        growing = volumes.check()
        return {"changed": False, "claims": [c["metadata"]["name"] for c in growing]}
    if params["step"] == "expand":
        steps = volumes.expand(check_mode=module.check_mode)
        return {"changed": bool(steps), "steps": steps, "diff": {"before": "", "after": "\n".join(steps) + "\n"}}
    if module.check_mode:
        return {"changed": False, "volumes": []}
    grown = volumes.wait(params["container"], params["mount"])
    return {"changed": False, "volumes": [{"claim": c, "capacity": size, "filesystem_bytes": fs}
                                          for c, size, fs in grown]}


def main():
    spec = dict(namespace=dict(type="str", required=True), statefulset=dict(type="str", required=True),
                claim_template=dict(type="str", default="data"), size=dict(type="str", required=True),
                step=dict(type="str", choices=["check", "expand", "wait"], required=True),
                container=dict(type="str", default="redis"), mount=dict(type="str", default="/data"),
                timeout=dict(type="int", default=300))
    spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda: act(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
