# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering the health report's facts from the cluster (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import (
    disk_facts,
    exporter_facts,
    pod_facts,
    read_server,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import pod_cli_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import (
    PodExecError,
    kube_configuration,
    run_shell,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import RedisAdminError

try:
    from kubernetes.client import ApiClient, CoreV1Api
    from kubernetes.client.rest import ApiException
except ImportError:  # reported by pod_exec.kube_configuration
    ApiException = Exception


def gather(module):
    """The report dict for the instance the module's params name."""
    params = module.params
    configuration = kube_configuration(params)
    core = CoreV1Api(ApiClient(configuration))
    namespace = params["namespace"]
    name = params["pod"] or "%s-0" % params["statefulset"]
    report = {"namespace": namespace, "statefulset": params["statefulset"] or name, "pod": None}
    try:
        report["pod"] = pod_facts(core.read_namespaced_pod(name, namespace))
    except ApiException as exc:
        if getattr(exc, "status", None) != 404:
            raise
        return report
    if report["pod"]["ready"]:
        add_server_and_disk(module, core, configuration, name, report)
    if params["check_exporter"]:
        report["exporter"] = read_exporter(core, namespace, name, params["exporter_port"])
    return report


def add_server_and_disk(module, core, configuration, pod, report):
    params = module.params
    dummy, cli = pod_cli_for(module, configuration, core, pod)
    try:
        report["server"] = read_server(cli)
    except (RedisAdminError, PodExecError) as exc:
        report["server_error"] = str(exc)
    try:
        report["disk"] = disk_facts(run_shell(configuration, params["namespace"], pod, params["container"],
                                              'df -Pk "$1"', args=[params["data_dir"]]))
    except (PodExecError, ValueError, IndexError) as exc:
        report["disk_error"] = str(exc)


def read_exporter(core, namespace, pod, port):
    """The exporter's view, through the API server's pod proxy."""
    try:
        response = core.connect_get_namespaced_pod_proxy_with_path(
            "%s:%d" % (pod, port), namespace, "metrics", _preload_content=False)
        return exporter_facts(response.data.decode("utf-8", "replace"))
    except ApiException as exc:
        return {"reachable": False, "error": "%s %s" % (getattr(exc, "status", ""), getattr(exc, "reason", exc))}
