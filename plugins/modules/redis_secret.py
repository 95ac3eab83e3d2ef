#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_secret
short_description: A Secret of generated passwords, created once and kept; no value ever in arguments or results
version_added: 0.2.0
description:
  - Makes sure Secret I(name) in I(namespace) holds a password under each of I(keys), generating (in the module,
    from the C(secrets) module's CSPRNG) only those that are missing. Existing values are never replaced.
  - With I(password_file), also keeps a key holding the JSON password file of C(redis_exporter), a map of one
    URI to the password, in step with the password it names.
  - No value is a module argument or in the result, so tasks need no C(no_log) and fail with readable messages.
  - With I(create=false) the Secret is the user's, and the module only checks that it exists with I(keys).
  - In check mode on a namespace that does not exist yet, reports that the Secret would be created.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  namespace:
    description: Namespace of the Secret.
    type: str
    required: true
  name:
    description: Name of the Secret.
    type: str
    required: true
  state:
    description: C(present) creates or completes the Secret; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  keys:
    description: Keys that hold a generated password.
    type: list
    elements: str
    default: [password]
  length:
    description: Length of generated passwords (letters and digits).
    type: int
    default: 32
  password_file:
    description: A key holding C(redis_exporter)'s password file for one URI, derived from another key's password.
    type: dict
    suboptions:
      key:
        description: Key of the password file.
        type: str
        required: true
      password_key:
        description: Key (among I(keys)) whose password the file holds.
        type: str
        required: true
      uri:
        description: The one URI the password is for.
        type: str
        required: true
  create:
    description: Create or complete the Secret; false only checks that it exists and holds I(keys).
    type: bool
    default: true
  labels:
    description: Labels of a Secret the module creates.
    type: dict
    default: {}
extends_documentation_fragment:
  - alertmanagerpp.datastores.kubernetes_auth
attributes:
  check_mode:
    support: full
    description: Reads the Secret and reports what would be created or added; writes nothing.
  diff_mode:
    support: full
    description: Shows the keys before and after; values are shown as C(<hidden>).
"""

EXAMPLES = r"""
- name: The application's password, generated once
  alertmanagerpp.datastores.redis_secret:
    namespace: alertmanagerpp
    name: alertmanagerpp-redis-auth

- name: The exporter's own password and its password file bound to its own instance
  alertmanagerpp.datastores.redis_secret:
    namespace: alertmanagerpp
    name: alertmanagerpp-redis-exporter
    keys: [password]
    password_file: {key: password-file.json, password_key: password, uri: "redis://127.0.0.1:6379"}
"""

RETURN = r"""
created:
  description: The Secret was created (would be, in check mode).
  returned: always
  type: bool
added:
  description: Keys given a value (would be, in check mode), new or brought in step.
  returned: always
  type: list
  elements: str
keys:
  description: Keys the Secret holds afterwards.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import ApiException, api_error_text, run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC, connect
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import (
    SecretError,
    check_values,
    decoded,
    missing_values,
    redacted,
    supplied_problem,
)


def argument_spec():
    spec = dict(
        namespace=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        keys=dict(type="list", elements="str", default=["password"], no_log=False),
        length=dict(type="int", default=32),
        password_file=dict(type="dict", no_log=False, options=dict(
            key=dict(type="str", required=True, no_log=False),
            password_key=dict(type="str", required=True, no_log=False),
            uri=dict(type="str", required=True))),
        create=dict(type="bool", default=True),
        labels=dict(type="dict", default={}),
    )
    spec.update(AUTH_ARG_SPEC)
    return spec


def secret_path(namespace, name=""):
    return "/api/v1/namespaces/%s/secrets/%s" % (namespace, name)


def read_secret(kube, namespace, name):
    """The Secret (a dict), or None when it (or its namespace) does not exist."""
    try:
        return kube.get(secret_path(namespace, name))
    except ApiException as exc:
        raise SecretError("cannot read Secret %s/%s: %s" % (namespace, name, api_error_text(exc)))


def ensure_present(module, kube, secret):
    params = module.params
    target = "%s/%s" % (params["namespace"], params["name"])
    existing = decoded(secret) if secret is not None else {}
    for value in existing.values():
        module.no_log_values.add(value if isinstance(value, str) else value.decode("latin-1"))
    check_values(target, existing, params["keys"])
    if not params["create"]:
        problem = supplied_problem(target, existing if secret is not None else None, params["keys"])
        if problem:
            raise SecretError(problem)
        return {"changed": False, "created": False, "added": [], "keys": sorted(existing)}
    if params["length"] < 16:
        raise SecretError("length %d is too short for a generated password (at least 16)" % params["length"])
    added = missing_values(existing, params["keys"], params["length"], params["password_file"])
    for value in added.values():
        module.no_log_values.add(value)
    result = {"changed": bool(added), "created": secret is None, "added": sorted(added),
              "keys": sorted(set(existing) | set(added)),
              "diff": {"before": redacted(existing) if secret is not None else {},
                       "after": redacted(set(existing) | set(added))}}
    if added and not module.check_mode:
        write(kube, params, secret, added)
    return result


def write(kube, params, secret, added):
    if secret is None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": params["name"], "namespace": params["namespace"], "labels": params["labels"]},
                "stringData": added}
        try:
            kube.request("POST", secret_path(params["namespace"]), body)
        except ApiException as exc:
            raise api_failure("create", params, exc)
        return
    body = {"metadata": {"resourceVersion": secret["metadata"]["resourceVersion"]}, "stringData": added}
    try:
        kube.request("PATCH", secret_path(params["namespace"], params["name"]), body,
                     content_type="application/merge-patch+json")
    except ApiException as exc:
        raise api_failure("complete", params, exc)


def api_failure(action, params, exc):
    target = "%s/%s" % (params["namespace"], params["name"])
    why = api_error_text(exc)
    return SecretError("cannot %s Secret %s: %s" % (action, target, why))


def ensure_absent(module, kube, secret):
    params = module.params
    if secret is None:
        return {"changed": False, "created": False, "added": [], "keys": []}
    if not module.check_mode:
        try:
            kube.request("DELETE", secret_path(params["namespace"], params["name"]))
        except ApiException as exc:
            if exc.status != 404:
                raise api_failure("delete", params, exc)
    return {"changed": True, "created": False, "added": [], "keys": [],
            "diff": {"before": redacted(secret.get("data") or {}), "after": {}}}


def manage(module):
    params = module.params
    kube = connect(params)
    secret = read_secret(kube, params["namespace"], params["name"])
    if params["state"] == "absent":
        result = ensure_absent(module, kube, secret)
    else:
        result = ensure_present(module, kube, secret)
    if not module._diff:
        result.pop("diff", None)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, lambda: manage(module))


if __name__ == "__main__":
    main()
