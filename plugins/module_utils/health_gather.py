# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathering the health report's facts from the cluster (read-only); health.py judges them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import (
    ApiException, DatastoresError, api_error_text)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.health import (
    disk_facts,
    exporter_facts,
    pod_facts,
    read_server,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import pod_cli_for, pod_name
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell


def gather(module, kube):
    """The report dict for the instance the module's params name."""
    params = module.params
    namespace, name = params["namespace"], pod_name(params)
    report = {"namespace": namespace, "statefulset": params["statefulset"] or name, "pod": None}
    pod = read_pod(kube, namespace, name)
    if pod is None:
        return report
    report["pod"] = pod_facts(pod)
    if report["pod"]["ready"]:
        add_server_and_disk(module, kube, name, report)
    if params["check_exporter"]:
        report["exporter"] = read_exporter(kube, namespace, name, params["exporter_port"])
    return report


def add_server_and_disk(module, kube, pod, report):
    params = module.params
    dummy, cli = pod_cli_for(module, kube, pod)
    try:
        report["server"] = read_server(cli)
    except DatastoresError as exc:
        report["server_error"] = str(exc)
    try:
        report["disk"] = disk_facts(run_shell(kube.configuration, params["namespace"], pod, params["container"],
                                              'df -Pk "$1"', args=[params["data_dir"]]))
    except (DatastoresError, ValueError, IndexError) as exc:
        report["disk_error"] = str(exc)


def read_exporter(kube, namespace, pod, port):
    """The exporter's view, through the API server's pod proxy."""
    try:
        metrics = kube.request("GET", "%s:%d/proxy/metrics" % (pod_path(namespace, pod), port), raw=True)
        return exporter_facts(metrics.decode("utf-8", "replace"))
    except ApiException as exc:
        return {"reachable": False, "error": api_error_text(exc)}
