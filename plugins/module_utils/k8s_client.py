# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes layer, part 1: connection options and the API clients.

The auth options are named as kubernetes.core's modules name them (with the
same environment fallbacks), so one `module_defaults` entry for the action
group `group/alertmanagerpp.datastores.k8s` serves both collections.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import ApiException, DatastoresError

import importlib
import json

try:
    from kubernetes import config as kube_config
    from kubernetes.client.api_client import ApiClient
    from kubernetes.client.configuration import Configuration
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by kube_configuration
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="path", fallback=(lambda: os.environ.get("K8S_AUTH_KUBECONFIG"),)),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
)
AUTH_ENV = dict(context="K8S_AUTH_CONTEXT", host="K8S_AUTH_HOST", api_key="K8S_AUTH_API_KEY",
                ca_cert="K8S_AUTH_SSL_CA_CERT", client_cert="K8S_AUTH_CERT_FILE",
                client_key="K8S_AUTH_KEY_FILE", proxy="K8S_AUTH_PROXY")


class KubernetesError(DatastoresError):
    """No usable connection to the API server, or an object is not as the collection needs it."""


def kube_configuration(params):
    """A kubernetes Configuration from module params named as in AUTH_ARG_SPEC."""
    if not HAS_KUBERNETES:
        raise KubernetesError("the kubernetes Python library is required: %s" % KUBERNETES_IMPORT_ERROR)
    value = dict((k, params.get(k) or os.environ.get(AUTH_ENV.get(k, ""), None)) for k in AUTH_ARG_SPEC)
    configuration = Configuration()
    if value["kubeconfig"] or not value["host"]:
        try:
            kube_config.load_kube_config(config_file=value["kubeconfig"], context=value["context"],
                                         client_configuration=configuration, persist_config=False)
        except Exception as exc:  # the library raises several unrelated types here
            raise KubernetesError("cannot load kubeconfig %s: %s" % (value["kubeconfig"] or "(default)", exc))
    if value["host"]:
        configuration.host = value["host"]
    if value["api_key"]:
        configuration.api_key = {"authorization": "Bearer " + value["api_key"]}
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"),
                              ("client_key", "key_file"), ("proxy", "proxy")):
        if value[option]:
            setattr(configuration, attribute, value[option])
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = params["validate_certs"]
    return configuration


class Kube(object):
    """The configuration (for exec) and the typed API clients of one connection.

    Each typed client is imported when first used: CoreV1Api alone costs 0.4 s
    to import, paid by every module run otherwise.
    """

    CLIENTS = {"core": ("core_v1_api", "CoreV1Api"), "apps": ("apps_v1_api", "AppsV1Api")}

    def __init__(self, configuration):
        self.configuration = configuration
        self.api = ApiClient(configuration)

    def __getattr__(self, name):
        if name not in self.CLIENTS:
            raise AttributeError(name)
        module, cls = self.CLIENTS[name]
        client = getattr(importlib.import_module("kubernetes.client.api." + module), cls)(self.api)
        setattr(self, name, client)
        return client

    def request(self, method, path, body=None, content_type="application/json", raw=False):
        """One call of the API as plain JSON (dicts as the server writes them), or bytes with raw.

        The short modules of the deploy path read and write this way: no typed
        client to import. Errors raise ApiException as the typed clients do.
        """
        headers = {"Accept": "*/*" if raw else "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if not hasattr(self.api, "param_serialize"):  # the client generated before openapi-generator 7
            return self.api.call_api(path, method, header_params=headers, body=body, auth_settings=["BearerToken"],
                                     response_type=None if raw else "object", _return_http_data_only=True,
                                     _preload_content=not raw)
        response = self.api.call_api(*self.api.param_serialize(method, path, header_params=headers, body=body,
                                                               auth_settings=["BearerToken"]))
        data = response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return data if raw else (json.loads(data) if data else None)

    def get(self, path):
        """GET a path as a dict; None when the API server answers 404."""
        try:
            return self.request("GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def connect(params):
    """A Kube for the auth options in a module's params."""
    return Kube(kube_configuration(params))
