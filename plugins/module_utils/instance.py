# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that name one instance's server, and finding its pod and password through the API.

Shared by every module that talks to a server (doc fragment redis_instance).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import (
    ApiException, DatastoresError, api_error_text)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import first_pod, is_ready, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

INSTANCE_ARG_SPEC = dict(
    namespace=dict(type="str", required=True),
    pod=dict(type="str"),
    statefulset=dict(type="str"),
    container=dict(type="str", default="redis"),
    flavor=dict(type="str", choices=["redis", "valkey"], default="redis"),
    port=dict(type="int", default=6379),
    user=dict(type="str"),
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


class InstanceError(DatastoresError):
    """The pod or its password cannot be used."""


def pod_name(params):
    """The pod the params name: `pod`, or pod 0 of `statefulset`."""
    return params["pod"] or first_pod(params["statefulset"])


def resolve_pod(kube, params):
    """Name of the pod to talk to (pod, or pod 0 of the StatefulSet): it exists, is Ready, has the container."""
    namespace, name = params["namespace"], pod_name(params)
    pod = read_pod(kube, namespace, name)
    if pod is None:
        hint = " (StatefulSet %s has no pod 0)" % params["statefulset"] if params["statefulset"] else ""
        raise InstanceError("pod %s/%s not found%s" % (namespace, name, hint))
    containers = [c["name"] for c in pod["spec"]["containers"]]
    if params["container"] not in containers:
        raise InstanceError("pod %s/%s has no container %s (it has: %s)"
                            % (namespace, name, params["container"], ", ".join(containers)))
    if not is_ready(pod):
        raise InstanceError("pod %s/%s is not Ready" % (namespace, name))
    return name


def read_password(kube, params):
    """The password from the params or from the named Secret (None: no password)."""
    if params["password"] is not None or not params["password_secret"]:
        return params["password"]
    namespace, secret_name, key = params["namespace"], params["password_secret"], params["password_secret_key"]
    try:
        secret = kube.request("GET", "/api/v1/namespaces/%s/secrets/%s" % (namespace, secret_name))
    except ApiException as exc:
        raise InstanceError("cannot read Secret %s/%s: %s" % (namespace, secret_name, api_error_text(exc)))
    data = secret.get("data") or {}
    if key not in data:
        raise InstanceError("Secret %s/%s has no key %s" % (namespace, secret_name, key))
    return base64.b64decode(data[key]).decode("utf-8")


def cli_factory(module, kube):
    """(password, pod -> cli) for the pods of the instance the module's params name; the password read once and
    registered with no_log."""
    params = module.params
    password = read_password(kube, params)
    if password:
        module.no_log_values.add(password)

    def cli_for(pod, timeout=60):
        return pod_cli(kube.configuration, params["namespace"], pod, params["container"], password,
                       flavor=params["flavor"], port=params["port"], timeout=timeout, user=params["user"])
    return password, cli_for


def pod_cli_for(module, kube, pod):
    """(password, cli) for a pod of the instance the module's params name; the password is registered with no_log."""
    password, cli_for = cli_factory(module, kube)
    return password, cli_for(pod)


def connect(module, kube, pod=None):
    """(pod, cli) for the instance a module's params name (or its pod `pod`): the pod is Ready, the password
    registered with no_log."""
    params = dict(module.params, pod=pod, statefulset=None) if pod else module.params
    pod = resolve_pod(kube, params)
    dummy, cli = pod_cli_for(module, kube, pod)
    return pod, cli
