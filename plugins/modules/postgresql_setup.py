#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_setup
short_description: Bring a PostgreSQL server's roles, database and extensions to what the collection wants
version_added: 0.4.0
description:
  - Runs C(psql) in the server's container as the superuser over the pod's Unix socket (peer authentication, so no
    password crosses the exec), reads the roles, memberships, databases and extensions, and changes only what
    differs.
  - Each role logs in with the password of its Secret, set as a SCRAM-SHA-256 verifier computed by the module (the
    server never sees the password); a stored verifier that already matches the Secret is left alone. Roles get no
    attribute but LOGIN (and REPLICATION when asked); an attribute granted by hand is taken away.
  - The database is created owned by I(owner); PUBLIC may not connect to it, I(owner) and I(connect_roles) may.
  - Then (not in check mode) every role but the superuser logs in over TCP to 127.0.0.1 with its Secret's password,
    the way clients do; a role that cannot fails the module with the server's reason.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  roles:
    description: The roles to create or correct; the superuser's entry (I(superuser)) only gets its password set.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      secret:
        description: Secret holding the role's password.
        type: str
        required: true
      key:
        description: Key of the password in the Secret.
        type: str
        default: password
      replication:
        description: The role may replicate (standbys, base backups).
        type: bool
        default: false
      superuser:
        description: The role is the superuser.
        type: bool
        default: false
      member_of:
        description: Roles it is granted (e.g. C(pg_monitor)).
        type: list
        elements: str
        default: []
  database:
    description: The application's database.
    type: str
    required: true
  owner:
    description: Owner of the database.
    type: str
    required: true
  connect_roles:
    description: Roles besides the owner that may connect to the database.
    type: list
    elements: str
    default: []
  extensions:
    description: Extensions created in the database.
    type: list
    elements: str
    default: []
  absent_replication_slots:
    description:
      - Replication slots dropped when they exist (a switched-off WAL archiver's, whose slot would otherwise hold
        WAL back). A slot still in use fails the module; stop its consumer first.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - alertmanagerpp.datastores.postgresql_pod
  - alertmanagerpp.datastores.kubernetes_auth
attributes:
  check_mode:
    support: full
    description: Reads the server and reports what would change; runs no statement that changes anything.
  diff_mode:
    support: full
    description: Shows the changes, one line each; never a password.
"""

EXAMPLES = r"""
- name: Roles, database and extensions
  alertmanagerpp.datastores.postgresql_setup:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-postgresql
    roles:
      - {name: postgres, secret: alertmanagerpp-postgresql-superuser, superuser: true}
      - {name: alertmanagerpp, secret: alertmanagerpp-postgresql-app}
      - {name: monitoring, secret: alertmanagerpp-postgresql-monitoring, member_of: [pg_monitor]}
    database: alertmanagerpp
    owner: alertmanagerpp
    extensions: [pg_stat_statements]
"""

RETURN = r"""
changes:
  description: What changed (or would change in check mode), one line each.
  returned: always
  type: list
  elements: str
  sample: ["create role alertmanagerpp", "create database alertmanagerpp owned by alertmanagerpp"]
logins:
  description: The roles that logged in over TCP with their Secret's password after the set-up, as role@database.
  returned: always
  type: list
  elements: str
  sample: ["alertmanagerpp@alertmanagerpp", "monitoring@postgres"]
server_version:
  description: The server's version.
  returned: always
  type: str
  sample: "15.14"
"""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import read_password
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import (
    PostgresError,
    connect_pod,
    database_plan,
    extension_plan,
    ops_plan,
    read_state,
    role_plan,
    run_pod_module,
    slot_plan,
)

ROLE_SPEC = dict(
    name=dict(type="str", required=True),
    secret=dict(type="str", required=True, no_log=False),
    key=dict(type="str", default="password", no_log=False),
    replication=dict(type="bool", default=False),
    superuser=dict(type="bool", default=False),
    member_of=dict(type="list", elements="str", default=[]),
)


def role_passwords(module, kube):
    """Each role's spec with its password read from its Secret (and registered with no_log)."""
    params = module.params
    specs = []
    for role in params["roles"]:
        password = read_password(kube, {"password": None, "password_secret": role["secret"],
                                        "password_secret_key": role["key"], "namespace": params["namespace"]})
        if not password:
            raise PostgresError("Secret %s/%s key %s is empty" % (params["namespace"], role["secret"], role["key"]))
        module.no_log_values.add(password)
        specs.append(dict(role, password=password))
    return specs


def plan(params, specs, state):
    roles, memberships, databases, extensions, ops_present, slots = state
    statements = {"postgres": [], params["database"]: []}
    changes = []
    for spec in specs:
        role_statements, role_changes = role_plan(roles, memberships, spec)
        statements["postgres"].extend(role_statements)
        changes.extend(role_changes)
    db_statements, db_changes = database_plan(databases, params["database"], params["owner"],
                                              params["connect_roles"])
    statements["postgres"].extend(db_statements)
    ext_statements, ext_changes = extension_plan(extensions, params["extensions"])
    statements[params["database"]].extend(ext_statements)
    ops_statements, ops_changes = ops_plan(ops_present)
    statements["postgres"].extend(ops_statements)
    slot_statements, slot_changes = slot_plan(slots, params["absent_replication_slots"])
    statements["postgres"].extend(slot_statements)
    return statements, changes + db_changes + ext_changes + ops_changes + slot_changes


def verify_logins(psql, params, specs):
    """Every role but the superuser logs in over TCP with its Secret's password: the owner to its database."""
    entries = [(spec["name"], spec["password"],
                params["database"] if spec["name"] in [params["owner"]] + params["connect_roles"] else "postgres")
               for spec in specs if not spec["superuser"]]
    psql.logins(entries)
    return ["%s@%s" % (user, database) for user, dummy, database in entries]


def setup(module):
    params = module.params
    kube = connect_api(params)
    dummy, psql = connect_pod(params, kube)
    specs = role_passwords(module, kube)
    version, state = read_state(psql, params["database"])
    statements, changes = plan(params, specs, state)
    if changes and not module.check_mode:
        # Roles and the database first: the extensions go into that database.
        for database in ("postgres", params["database"]):
            if statements[database]:
                psql.script("\n".join(statements[database]) + "\n", database)
    logins = [] if module.check_mode else verify_logins(psql, params, specs)
    result = {"changed": bool(changes), "changes": changes, "server_version": version, "logins": logins}
    if module._diff:
        result["diff"] = {"before": "", "after": "".join(line + "\n" for line in changes)}
    return result


def main():
    spec = dict(
        roles=dict(type="list", elements="dict", default=[], options=ROLE_SPEC),
        database=dict(type="str", required=True),
        owner=dict(type="str", required=True),
        connect_roles=dict(type="list", elements="str", default=[]),
        extensions=dict(type="list", elements="str", default=[]),
        absent_replication_slots=dict(type="list", elements="str", default=[]),
    )
    run_pod_module(spec, setup)


if __name__ == "__main__":
    main()
