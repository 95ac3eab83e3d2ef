# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """How modules that exec in pods reach the API server (as kubernetes.core's modules do)."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Kubeconfig file (env C(K8S_AUTH_KUBECONFIG)); default C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context (env C(K8S_AUTH_CONTEXT)).
    type: str
  host:
    description: API server URL (env C(K8S_AUTH_HOST)).
    type: str
  api_key:
    description: Bearer token (env C(K8S_AUTH_API_KEY)).
    type: str
  validate_certs:
    description: Verify the API server's certificate.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description: CA certificate of the API server (env C(K8S_AUTH_SSL_CA_CERT)).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description: Client certificate (env C(K8S_AUTH_CERT_FILE)).
    type: path
    aliases: [cert_file]
  client_key:
    description: Client key (env C(K8S_AUTH_KEY_FILE)).
    type: path
    aliases: [key_file]
  proxy:
    description: HTTP proxy for the API server (env C(K8S_AUTH_PROXY)).
    type: str
requirements:
  - kubernetes (Python)
"""
