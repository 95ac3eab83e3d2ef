# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets whose values are generated here and never leave this process (the redis_secret module's logic).

Passing a generated password to kubernetes.core.k8s puts it in the task's
arguments and result, so the task needs no_log, and no_log hides every error
message too. Generated here, the value is in no argument and no result: the
task can stay loggable and fail with a plain message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import secrets
import string

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

ALPHABET = string.ascii_letters + string.digits


class SecretError(DatastoresError):
    """The Secret cannot be read, created or completed."""


def generate(length):
    return "".join(secrets.choice(ALPHABET) for dummy in range(length))


def decoded(secret):
    """{key: text} of a Secret's data (the Secret a dict as the API server writes it)."""
    return dict((key, base64.b64decode(value).decode("utf-8")) for key, value in (secret.get("data") or {}).items())


def password_file(uri, password):
    """The redis_exporter password file: a JSON map of one URI to its password."""
    return json.dumps({uri: password})


def missing_values(existing, keys, length, derived=None):
    """{key: value} to add so that `keys` hold passwords and the derived key matches its password.

    existing: {key: text} already in the Secret (never replaced, except a
    derived value that no longer matches its password).
    derived: dict(key, password_key, uri) for a password file, or None.
    """
    values = dict(existing)
    added = {}
    for key in keys:
        if key not in values:
            values[key] = added[key] = generate(length)
    if derived:
        if derived["password_key"] not in values:
            raise SecretError("the password file's key %s is not among the keys" % derived["password_key"])
        wanted = password_file(derived["uri"], values[derived["password_key"]])
        if values.get(derived["key"]) != wanted:
            added[derived["key"]] = wanted
    return added


def redacted(keys):
    """What --diff shows of a Secret: its keys, never a value."""
    return {"data": dict((key, "<hidden>") for key in sorted(keys))}
