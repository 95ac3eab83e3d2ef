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

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError

ALPHABET = string.ascii_letters + string.digits
WHITESPACE_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


class SecretError(DatastoresError):
    """The Secret cannot be read, created or completed."""


def generate(length):
    return "".join(secrets.choice(ALPHABET) for dummy in range(length))


def decoded(secret):
    """{key: text} of a Secret's data (the Secret a dict as the API server writes it); a value that is not UTF-8
    text is kept as bytes (value_problem names it)."""
    values = {}
    for key, value in (secret.get("data") or {}).items():
        raw = base64.b64decode(value)
        try:
            values[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            values[key] = raw
    return values


def value_problem(value):
    """Why a password cannot be used as is (None: it can). The ACL file, the replication's masterauth, the
    exporter's password file and the clients all take it as one line of text."""
    if isinstance(value, bytes):
        return "is not UTF-8 text"
    if not value:
        return "is empty"
    if value != value.strip():
        where, edge = ("ends", value[-1]) if value[-1].isspace() else ("starts", value[0])
        return ("%s with %s (written by echo or an editor? create the Secret with kubectl create secret generic "
                "--from-literal, or printf '%%s')" % (where, WHITESPACE_NAMES.get(edge, "whitespace")))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "contains a control character (newline, tab, NUL...)"
    return None


def values_problem(target, values, keys):
    """Why the values of `keys` cannot be passwords, naming every bad key (None: they can)."""
    problems = ["key %s %s" % (key, value_problem(values[key])) for key in keys
                if key in values and value_problem(values[key])]
    if problems:
        return ("Secret %s: %s; the servers would not start or clients could not log in. Replace the value(s)."
                % (target, "; ".join(problems)))
    return None


def check_values(target, values, keys):
    """Raise SecretError naming every key among `keys` whose value cannot be a password."""
    problem = values_problem(target, values, keys)
    if problem:
        raise SecretError(problem)


def supplied_problem(target, values, keys):
    """Why a Secret the user supplies (values None: it does not exist) lacks `keys` (None: it has them)."""
    if values is None:
        return ("Secret %s does not exist and may not be created here: create it with the key(s) %s"
                % (target, ", ".join(keys)))
    absent = [key for key in keys if key not in values]
    if absent:
        return "Secret %s has no key %s" % (target, ", ".join(absent))
    return None


def password_problem(target, secret, keys, create):
    """Why Secret `secret` (a dict as the API server returns it, or None) cannot give its `keys` as passwords:
    a value that is not one line of text, or, when the role may not create or complete it (create false), the
    Secret or a key missing. None when it can."""
    if secret is None:
        return None if create else supplied_problem(target, None, keys)
    values = decoded(secret)
    return values_problem(target, values, keys) or (None if create else supplied_problem(target, values, keys))


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
