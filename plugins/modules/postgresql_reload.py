#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_reload
short_description: Reload a PostgreSQL server onto its ConfigMap's configuration, without a restart
version_added: 0.4.0
description:
  - Compares the checksum of the configuration the server last loaded (recorded by the pod's start script and by
    this module) with I(checksum), the one of the ConfigMap's C(postgresql.conf) and C(pg_hba.conf) as rendered.
    When they are equal there is nothing to do.
  - Otherwise waits until the pod's volume shows the new files (an annotation on the pod makes the kubelet refresh
    it at once), runs C(pg_reload_conf()), and fails naming every line the server could not apply, and every
    parameter that would need a restart (the role rolls the pod for those before it reloads).
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  config_dir:
    description: Where the ConfigMap is mounted in the container.
    type: str
    default: /etc/postgresql-config
  loaded_file:
    description: The file holding the checksum of the configuration the server loaded.
    type: str
    default: /run/postgresql/config-loaded
  checksum:
    description: SHA-256 of C(postgresql.conf) followed by C(pg_hba.conf), as the ConfigMap holds them.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the pod's volume to show the files, and for the reload.
    type: int
    default: 120
extends_documentation_fragment:
  - alertmanagerpp.datastores.postgresql_pod
  - alertmanagerpp.datastores.kubernetes_auth
attributes:
  check_mode:
    support: full
    description: Reports whether a reload is due; reloads nothing.
  diff_mode:
    support: none
    description: The role prints which parameters are reloaded and which roll the pod, before it applies them.
"""

EXAMPLES = r"""
- name: Reload onto the new configuration
  alertmanagerpp.datastores.postgresql_reload:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-postgresql
    checksum: "{{ (conf + hba) | hash('sha256') }}"
"""

RETURN = r"""
reloaded:
  description: The server reloaded its configuration.
  returned: always
  type: bool
pending_restart:
  description: Parameters the server holds for its next restart (empty on success).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import (
    Reload,
    connect_pod,
    run_pod_module,
)


def reload(module):
    params = module.params
    kube = connect_api(params)
    pod, psql = connect_pod(params, kube)
    step = Reload(kube, psql, params["namespace"], pod, params["container"], params["config_dir"],
                  params["loaded_file"])
    return step.run(params["checksum"], module.check_mode, params["timeout"])


def main():
    spec = dict(
        config_dir=dict(type="str", default="/etc/postgresql-config"),
        loaded_file=dict(type="str", default="/run/postgresql/config-loaded"),
        checksum=dict(type="str", required=True),
        timeout=dict(type="int", default=120),
    )
    run_pod_module(spec, reload)


if __name__ == "__main__":
    main()
