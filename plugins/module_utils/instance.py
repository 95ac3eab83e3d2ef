# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding an instance's pod and password through the API (shared by the modules)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import (
    AUTH_ARG_SPEC,
    kube_configuration,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

try:
    from kubernetes.client import ApiClient, CoreV1Api
    from kubernetes.client.rest import ApiException
except ImportError:  # reported by pod_exec.kube_configuration
    ApiException = Exception

# Module options naming the server of one instance (doc fragment redis_instance).
INSTANCE_ARG_SPEC = dict(
    namespace=dict(type="str", required=True),
    pod=dict(type="str"),
    statefulset=dict(type="str"),
    container=dict(type="str", default="redis"),
    flavor=dict(type="str", choices=["redis", "valkey"], default="redis"),
    port=dict(type="int", default=6379),
    password=dict(type="str", no_log=True),
    password_secret=dict(type="str", no_log=False),
    password_secret_key=dict(type="str", default="password", no_log=False),
)
INSTANCE_MUTUALLY_EXCLUSIVE = [("pod", "statefulset"), ("password", "password_secret")]
INSTANCE_REQUIRED_ONE_OF = [("pod", "statefulset")]


def module_argument_spec(**options):
    """A module's own options plus the instance and Kubernetes auth options."""
    spec = dict(options)
    spec.update(INSTANCE_ARG_SPEC)
    spec.update(AUTH_ARG_SPEC)
    return spec


class InstanceError(Exception):
    """The pod or its password cannot be used."""


def resolve_pod(core, params):
    """Name of the pod to talk to (pod, or pod 0 of the StatefulSet): it exists, is Ready, has the container."""
    namespace = params["namespace"]
    name = params["pod"] or "%s-0" % params["statefulset"]
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if getattr(exc, "status", None) == 404:
            hint = " (StatefulSet %s has no pod 0)" % params["statefulset"] if params["statefulset"] else ""
            raise InstanceError("pod %s/%s not found%s" % (namespace, name, hint))
        raise InstanceError("cannot read pod %s/%s: %s" % (namespace, name, getattr(exc, "reason", exc)))
    containers = [c.name for c in pod.spec.containers]
    if params["container"] not in containers:
        raise InstanceError("pod %s/%s has no container %s (it has: %s)"
                            % (namespace, name, params["container"], ", ".join(containers)))
    ready = [c.status for c in (pod.status.conditions or []) if c.type == "Ready"]
    if ready != ["True"]:
        raise InstanceError("pod %s/%s is not Ready" % (namespace, name))
    return name


def read_password(core, params):
    """The password from the params or from the named Secret (None: no password)."""
    if params["password"] is not None or not params["password_secret"]:
        return params["password"]
    namespace, secret_name, key = params["namespace"], params["password_secret"], params["password_secret_key"]
    try:
        secret = core.read_namespaced_secret(secret_name, namespace)
    except ApiException as exc:
        raise InstanceError("cannot read Secret %s/%s: %s" % (namespace, secret_name, getattr(exc, "reason", exc)))
    data = secret.data or {}
    if key not in data:
        raise InstanceError("Secret %s/%s has no key %s" % (namespace, secret_name, key))
    return base64.b64decode(data[key]).decode("utf-8")


def pod_cli_for(module, configuration, core, pod):
    """(password, cli) for a pod of the instance the module's params name; the password is registered with no_log."""
    params = module.params
    password = read_password(core, params)
    if password:
        module.no_log_values.add(password)
    cli = pod_cli(configuration, params["namespace"], pod, params["container"], password,
                  flavor=params["flavor"], port=params["port"])
    return password, cli


def connect(module):
    """(configuration, core API, pod, password, cli) for the instance a module's params name.

    The pod is checked to be Ready; the password is registered with no_log.
    """
    configuration = kube_configuration(module.params)
    core = CoreV1Api(ApiClient(configuration))
    pod = resolve_pod(core, module.params)
    password, cli = pod_cli_for(module, configuration, core, pod)
    return configuration, core, pod, password, cli
