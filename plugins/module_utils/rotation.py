# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotating the ACL users' passwords without a failed request (the redis_credentials module's logic).

An ACL user may hold several passwords, so a rotation is a sequence of
steps that each leave every consumer able to log in:

  stage    the new password is generated into the Secret beside the old, under
           key `<key>.next` (no consumer reads that key);
  admit    every server accepts both (ACL SETUSER user #<sha256 of each>);
  promote  `<key>` takes the new value, the old one moves to `<key>.previous`,
           `<key>.next` goes, and the Secret is marked with the rotation's id;
  (the playbook restarts the consumers that read the Secret once)
  wait     every server pod's mounted password file shows the new value;
  retire   every server accepts the Secret's password only; `<key>.previous`
           goes.

Each step is idempotent and reads its state from the Secret and the servers,
so a rotation stopped anywhere is finished by running it again with the same
id; a run with an id already promoted changes nothing but what is left to
retire. Only hashes of passwords are ever arguments of a command.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import generate

ANNOTATION = "alertmanagerpp.io/rotation"
STAGED_SUFFIX = ".next"
PREVIOUS_SUFFIX = ".previous"
HASH = re.compile(r"^[0-9a-f]{64}$")


def staged_key(key):
    return key + STAGED_SUFFIX


def previous_key(key):
    return key + PREVIOUS_SUFFIX


def password_hash(password):
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def rotated(secret, rotation):
    """Whether `secret` (a dict as the API server writes it) was promoted by rotation `rotation`."""
    return ((secret.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION) == rotation


def stage_values(values, keys, rotation_done, length):
    """{`<key>.next`: new password} to add: none once the rotation is promoted; a staged value is kept (a rerun
    after an interruption must not replace a password the servers may already accept)."""
    if rotation_done:
        return {}
    return dict((staged_key(key), generate(length)) for key in keys if staged_key(key) not in values)


def promotion_patch(values, keys, rotation):
    """The merge patch that makes each staged value the current one, keeps the old one as `<key>.previous` (the
    servers accept it until `retire`) and marks the Secret (None: nothing staged)."""
    staged = [key for key in keys if staged_key(key) in values]
    if not staged:
        return None
    string_data = dict((key, values[staged_key(key)]) for key in staged)
    string_data.update((previous_key(key), values[key]) for key in staged)
    return {"metadata": {"annotations": {ANNOTATION: rotation}}, "stringData": string_data,
            "data": dict((staged_key(key), None) for key in staged)}


def retirement_patch(values, keys):
    """The merge patch that drops the `<key>.previous` values once no server accepts them (None: none left)."""
    previous = [previous_key(key) for key in keys if previous_key(key) in values]
    return {"data": dict((key, None) for key in previous)} if previous else None


def pods_not_rotated(pods, annotation, rotation):
    """Names of the pods (dicts as the API server writes them) whose template predates `rotation`, terminating
    ones included: they may still be using the old password."""
    return [pod["metadata"]["name"] for pod in pods
            if ((pod["metadata"].get("annotations") or {}).get(annotation)) != rotation]


def acl_password_hashes(acl_list):
    """{user: set of password hashes} from the text of ACL LIST (one `user <name> <rules...>` line per user)."""
    users = {}
    for line in acl_list.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "user":
            continue
        users[words[1]] = set(word[1:] for word in words[2:] if word.startswith("#") and HASH.match(word[1:]))
    return users


def acl_changes(current, wanted, exact):
    """ACL SETUSER rules (`#<hash>` to add, `!<hash>` to remove) that make a user's password hashes hold
    `wanted` (and nothing else when `exact`)."""
    rules = ["#" + h for h in sorted(wanted - current)]
    if exact:
        rules += ["!" + h for h in sorted(current - wanted)]
    return rules
