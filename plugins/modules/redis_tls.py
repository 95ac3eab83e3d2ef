#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_tls
short_description: The instance's TLS certificate, generated and renewed or supplied and checked, and its reload
version_added: 0.6.0
description:
  - C(secret) with I(source=generate) keeps a small CA of the instance in Secret I(ca_secret) (made once, mounted
    nowhere) and the servers' certificate it signs in Secret I(secret) (type C(kubernetes.io/tls), keys
    C(tls.crt), C(tls.key), C(ca.crt)). The certificate is issued again when it does not parse, its key is not
    its own, the CA did not sign it, it expires within I(renew_before_days), or it lacks one of I(dns_names) or
    I(ip_addresses).
  - C(secret) with I(source=supplied) checks the user's Secret I(secret) of the same shape and never writes it
    (the certificate leads to C(ca.crt), possibly through intermediates following it in C(tls.crt); its key;
    its validity now; every one of I(dns_names) and I(ip_addresses)); close to expiry it warns.
  - C(reload) makes every server pod of I(statefulset) load the certificate of I(secret) with
    C(CONFIG SET tls-cert-file tls-key-file tls-ca-cert-file) as the admin, once its mounted copy in I(tls_dir)
    shows it. The StatefulSet's annotation C(alertmanagerpp.io/tls-loaded) records the fingerprint loaded, so a
    rerun changes nothing.
  - No private key is an argument or in the result.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
requirements:
  - cryptography
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [secret, reload]
  source:
    description: Whether the collection issues the certificate or the user supplies it in I(secret).
    type: str
    choices: [generate, supplied]
    default: generate
  secret:
    description: The servers' Secret (C(tls.crt), C(tls.key), C(ca.crt)).
    type: str
    required: true
  ca_secret:
    description: The CA's Secret (C(ca.crt), C(ca.key)); required by C(secret) with I(source=generate).
    type: str
  common_name:
    description: Common name of the certificate; the CA is named after it.
    type: str
    default: alertmanagerpp-redis
  dns_names:
    description: DNS names the clients use, each required in the certificate.
    type: list
    elements: str
    default: []
  extra_dns_names:
    description: Further DNS names a generated certificate carries, not required of a supplied one.
    type: list
    elements: str
    default: []
  ip_addresses:
    description: IP addresses the clients use, each required in the certificate.
    type: list
    elements: str
    default: []
  days:
    description: Validity of a generated certificate, in days.
    type: int
    default: 365
  ca_days:
    description: Validity of a generated CA, in days.
    type: int
    default: 3650
  renew_before_days:
    description: A generated certificate this close to its expiry is issued again; a supplied one gets a warning.
    type: int
    default: 30
  labels:
    description: Labels of the Secrets the module creates.
    type: dict
    default: {}
  tls_dir:
    description: Where the servers' Secret is mounted in the server container (for C(reload)).
    type: str
    default: /etc/redis-tls
  timeout:
    description: Seconds C(reload) waits for the kubelet to show the new certificate in every pod.
    type: int
    default: 300
notes:
  - C(reload) needs I(statefulset) and the admin's login (I(user), I(password_secret), I(password_secret_key)).
  - Supports check mode and diff (the certificate's names, expiry and fingerprint, never a key).
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
"""

EXAMPLES = r"""
- name: The servers' certificate, issued by the instance's CA and renewed 30 days before it expires
  alertmanagerpp.datastores.redis_tls:
    step: secret
    namespace: alertmanagerpp
    secret: alertmanagerpp-redis-tls
    ca_secret: alertmanagerpp-redis-tls-ca
    dns_names: [alertmanagerpp-redis.alertmanagerpp.svc, localhost]
    ip_addresses: [127.0.0.1]

- name: Every server loads it
  alertmanagerpp.datastores.redis_tls:
    step: reload
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    secret: alertmanagerpp-redis-tls
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
"""

RETURN = r"""
renewed:
  description: Whether C(secret) issued a new certificate.
  returned: step secret
  type: bool
reason:
  description: Why the certificate was issued (none when it was kept).
  returned: step secret
  type: str
ca_created:
  description: Whether C(secret) made a new CA (its C(ca.crt) is what clients trust).
  returned: step secret
  type: bool
not_after:
  description: Expiry of the certificate (UTC).
  returned: step secret
  type: str
  sample: "2027-12-06T05:00:00Z"
dns_names:
  description: DNS names in the certificate.
  returned: step secret
  type: list
  elements: str
ip_addresses:
  description: IP addresses in the certificate.
  returned: step secret
  type: list
  elements: str
fingerprint:
  description: SHA-256 of the certificate (DER), hex.
  returned: always
  type: str
reloaded:
  description: Pods that loaded the certificate (C(reload)).
  returned: step reload
  type: list
  elements: str
waited:
  description: Seconds C(reload) waited for the mounted files.
  returned: step reload
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import tls
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import module_argument_spec
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls_secret import Reload, TlsSecrets


def manage(module):
    secrets = TlsSecrets(module, connect(module.params))
    if module.params["step"] == "reload":
        return Reload(secrets).run()
    if module.params["source"] == "supplied":
        return secrets.check_supplied()
    return secrets.ensure_generated()


def main():
    spec = module_argument_spec(
        step=dict(type="str", required=True, choices=["secret", "reload"]),
        source=dict(type="str", choices=["generate", "supplied"], default="generate"),
        secret=dict(type="str", required=True, no_log=False),
        ca_secret=dict(type="str", no_log=False),
        common_name=dict(type="str", default="alertmanagerpp-redis"),
        dns_names=dict(type="list", elements="str", default=[]),
        extra_dns_names=dict(type="list", elements="str", default=[]),
        ip_addresses=dict(type="list", elements="str", default=[]),
        days=dict(type="int", default=365),
        ca_days=dict(type="int", default=3650),
        renew_before_days=dict(type="int", default=30),
        labels=dict(type="dict", default={}),
        tls_dir=dict(type="str", default="/etc/redis-tls"),
        timeout=dict(type="int", default=300))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("step", "reload", ("statefulset", "password_secret"))])
    if not tls.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    if module.params["step"] == "secret" and module.params["source"] == "generate" and not module.params["ca_secret"]:
        module.fail_json(msg="ca_secret is required to generate the certificate (the CA's Secret)")
    if module.params["days"] <= module.params["renew_before_days"]:
        module.fail_json(msg="days (%d) must exceed renew_before_days (%d), or every run would issue a new "
                             "certificate" % (module.params["days"], module.params["renew_before_days"]))
    run_module(module, lambda: manage(module), module.params["namespace"])


if __name__ == "__main__":
    main()
