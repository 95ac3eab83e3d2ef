# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to a PostgreSQL server in its pod: psql through exec, as the server's own OS user.

psql connects over the pod's Unix socket, where pg_hba.conf lets the OS user
postgres in as the superuser by peer authentication: no password crosses the
exec, the API server or a process list. Statements go in on stdin; results
come back as one JSON document per query. Passwords are set as SCRAM-SHA-256
verifiers computed here, so the server (and its log, should a statement fail)
never sees one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError, run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import resolve_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import AUTH_ARG_SPEC
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run, run_shell

SCRAM_ITERATIONS = 4096
VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# The options naming the server's pod (doc fragment postgresql_pod).
POD_ARG_SPEC = dict(
    namespace=dict(type="str", required=True),
    statefulset=dict(type="str", required=True),
    container=dict(type="str", default="postgresql"),
    bin_dir=dict(type="str", default="/usr/lib/postgresql/15/bin"),
    socket_dir=dict(type="str", default="/run/postgresql"),
    port=dict(type="int", default=5432),
)


def run_pod_module(options, body):
    """Build the module (its options, the pod's, the Kubernetes auth ones), run body(module) and exit with its
    result: one line naming the pod on failure."""
    spec = dict(options)
    spec.update(POD_ARG_SPEC)
    spec.update(AUTH_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_module(module, lambda: body(module), "%s/%s-0" % (module.params["namespace"], module.params["statefulset"]))


class PostgresError(DatastoresError):
    """psql failed, or the server holds something the collection cannot change safely."""


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as libpq computes it)."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def verifier_matches(verifier, password):
    """Whether a stored verifier (or None, or an MD5 hash) is the SCRAM verifier of this password."""
    match = VERIFIER.match(verifier or "")
    if not match:
        return False
    iterations, salt = int(match.group(1)), base64.b64decode(match.group(2))
    return hmac.compare_digest(scram_verifier(password, salt, iterations), verifier)


def _pgpass(field):
    return field.replace("\\", "\\\\").replace(":", "\\:")


def ident(name):
    """A quoted SQL identifier."""
    return '"%s"' % name.replace('"', '""')


def literal(text):
    """A quoted SQL string (standard_conforming_strings is on since 9.1)."""
    if "\0" in text:
        raise PostgresError("a SQL string cannot hold a NUL byte")
    return "'%s'" % text.replace("'", "''")


def check_role_name(name):
    if not ROLE_NAME.match(name or ""):
        raise PostgresError("role or database name %r: lower-case letters, digits and _ only, "
                            "not starting with a digit, at most 63 characters" % (name,))
    return name


def connect_pod(params, kube):
    """(pod, Psql) for pod 0 of the StatefulSet the params name; the pod exists, is Ready, has the container."""
    pod = resolve_pod(kube, dict(params, pod=None))
    return pod, Psql(kube.configuration, params["namespace"], pod, params["container"], params["bin_dir"],
                     params["socket_dir"], params["port"])


class Psql(object):
    """psql in a pod's server container as the superuser over the local socket."""

    def __init__(self, configuration, namespace, pod, container="postgresql", bin_dir="/usr/lib/postgresql/15/bin",
                 socket_dir="/run/postgresql", port=5432, timeout=60):
        self.target = (configuration, namespace, pod, container)
        self.bin_dir, self.socket_dir, self.port = bin_dir, socket_dir, str(port)
        self.psql = "%s/psql" % bin_dir
        self.command = [self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-h", socket_dir, "-p", self.port, "-U", "postgres"]
        self.timeout = timeout

    def script(self, sql, database="postgres"):
        """Run statements (on stdin, in one session); return psql's output as text."""
        configuration, namespace, pod, container = self.target
        rc, out, err = run(configuration, namespace, pod, container, self.command + ["-d", database, "-f", "-"],
                           stdin_data=sql.encode("utf-8"), timeout=self.timeout)
        if rc != 0:
            raise PostgresError("psql in %s/%s (database %s) failed (exit %s): %s"
                                % (namespace, pod, database, rc, err.decode("utf-8", "replace").strip()[-800:]))
        return out.decode("utf-8")

    def logins(self, entries):
        """Log in over TCP to 127.0.0.1 as each (user, password, database), in one exec: the passwords go into a
        private .pgpass the exec writes from its stdin and removes. PostgresError names each login refused, with
        the server's reason."""
        configuration, namespace, pod, container = self.target
        script = ('umask 077; f=$(mktemp "$1/.pgpass.XXXXXX"); trap \'rm -f "$f"\' EXIT; cat >"$f"; '
                  'psql=$2; port=$3; shift 3; status=0; '
                  'while [ $# -ge 2 ]; do '
                  'if ! out=$(PGPASSFILE="$f" "$psql" -X -A -t -q -w -h 127.0.0.1 -p "$port" -U "$1" -d "$2" '
                  '-c "SELECT current_user" 2>&1); then echo "role $1, database $2: $out" >&2; status=1; fi; '
                  'shift 2; done; exit $status')
        stdin = "".join("127.0.0.1:%s:%s:%s:%s\n" % (self.port, _pgpass(database), _pgpass(user), _pgpass(password))
                        for user, password, database in entries)
        args = [value for user, dummy, database in entries for value in (user, database)]
        rc, dummy, err = run(configuration, namespace, pod, container,
                             ["sh", "-c", script, "sh", self.socket_dir, self.psql, self.port] + args,
                             stdin_data=stdin.encode("utf-8"), timeout=self.timeout)
        if rc != 0:
            raise PostgresError("cannot log in over TCP with the Secret's password: %s"
                                % err.decode("utf-8", "replace").strip()[-800:])

    def rows(self, query, database="postgres"):
        """A query's rows as a list of dicts."""
        out = self.script("SELECT coalesce(json_agg(q), '[]') FROM (%s) q;\n" % query, database)
        return json.loads(out.strip() or "[]")


ROLE_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls", "rolcanlogin")
ATTRIBUTE_KEYWORDS = {"rolsuper": "SUPERUSER", "rolcreaterole": "CREATEROLE", "rolcreatedb": "CREATEDB",
                      "rolreplication": "REPLICATION", "rolbypassrls": "BYPASSRLS", "rolcanlogin": "LOGIN"}


def wanted_attributes(spec):
    """The attributes a collection role has: it logs in; replication if asked; nothing else, ever."""
    attributes = dict((name, False) for name in ROLE_ATTRIBUTES)
    attributes.update(rolcanlogin=True, rolreplication=bool(spec.get("replication")))
    if spec.get("superuser"):
        attributes.update(rolsuper=True, rolcreaterole=True, rolcreatedb=True, rolreplication=True,
                          rolbypassrls=True)
    return attributes


def _keywords(attributes):
    return " ".join(ATTRIBUTE_KEYWORDS[name] if on else "NO" + ATTRIBUTE_KEYWORDS[name]
                    for name, on in sorted(attributes.items()))


def role_plan(live_roles, memberships, spec, salt=None):
    """(statements, changes) bringing one role to its spec: {name, password, replication, superuser, member_of}.

    live_roles: {name: pg_authid row}; memberships: set of (group, member). Statements carry the password as a
    SCRAM verifier only; changes name what changes, never a secret.
    """
    name = check_role_name(spec["name"])
    live = live_roles.get(name)
    attributes = wanted_attributes(spec)
    statements, changes = [], []
    if live is None:
        statements.append("CREATE ROLE %s %s PASSWORD %s;"
                          % (ident(name), _keywords(attributes), literal(scram_verifier(spec["password"], salt))))
        changes.append("create role %s" % name)
    else:
        differing = dict((key, value) for key, value in attributes.items() if bool(live.get(key)) != value)
        if differing:
            statements.append("ALTER ROLE %s %s;" % (ident(name), _keywords(differing)))
            changes.append("role %s: %s" % (name, _keywords(differing)))
        if not verifier_matches(live.get("rolpassword"), spec["password"]):
            statements.append("ALTER ROLE %s PASSWORD %s;"
                              % (ident(name), literal(scram_verifier(spec["password"], salt))))
            changes.append("role %s: password set from its Secret" % name)
    for group in spec.get("member_of") or []:
        if (group, name) not in memberships:
            statements.append("GRANT %s TO %s;" % (ident(check_role_name(group)), ident(name)))
            changes.append("grant %s to %s" % (group, name))
    return statements, changes


def database_plan(live_databases, name, owner, connect_roles):
    """(statements, changes) for the application's database: present, owned by owner, CONNECT for owner and
    connect_roles only (not PUBLIC). live_databases: {name: {owner, public_connect, connectors: [...]}}."""
    check_role_name(name)
    live = live_databases.get(name)
    statements, changes = [], []
    if live is None:
        statements.append("CREATE DATABASE %s OWNER %s;" % (ident(name), ident(owner)))
        changes.append("create database %s owned by %s" % (name, owner))
        live = {"owner": owner, "public_connect": True, "connectors": [owner]}
    elif live["owner"] != owner:
        statements.append("ALTER DATABASE %s OWNER TO %s;" % (ident(name), ident(owner)))
        changes.append("database %s: owner %s -> %s" % (name, live["owner"], owner))
    if live["public_connect"]:
        statements.append("REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC;" % ident(name))
        changes.append("database %s: PUBLIC may no longer connect" % name)
    for role in connect_roles:
        if role not in live["connectors"]:
            statements.append("GRANT CONNECT ON DATABASE %s TO %s;" % (ident(name), ident(role)))
            changes.append("database %s: %s may connect" % (name, role))
    return statements, changes


def extension_plan(live_extensions, wanted):
    """(statements, changes) creating the wanted extensions that are missing."""
    missing = [name for name in wanted if name not in live_extensions]
    return (["CREATE EXTENSION IF NOT EXISTS %s;" % ident(check_role_name(name)) for name in missing],
            ["create extension %s" % name for name in missing])


# Where backup.yml records each published base backup, in the database postgres; the exporter (pg_monitor) reads
# the newest one for the backup age alert.
OPS_SCHEMA = "alertmanagerpp_ops"
BACKUPS_TABLE = OPS_SCHEMA + ".backups"
OPS_STATEMENTS = [
    "CREATE SCHEMA IF NOT EXISTS %s;" % OPS_SCHEMA,
    "REVOKE ALL ON SCHEMA %s FROM PUBLIC;" % OPS_SCHEMA,
    "CREATE TABLE IF NOT EXISTS %s (id text PRIMARY KEY, kind text NOT NULL, finished_at timestamptz NOT NULL, "
    "end_lsn pg_lsn, bytes bigint);" % BACKUPS_TABLE,
    "GRANT USAGE ON SCHEMA %s TO pg_monitor;" % OPS_SCHEMA,
    "GRANT SELECT ON %s TO pg_monitor;" % BACKUPS_TABLE,
]


def ops_plan(present):
    """(statements, changes) creating the backup records' table (run in the database postgres) when missing."""
    if present:
        return [], []
    return list(OPS_STATEMENTS), ["create table %s (the base backups' records, read by the exporter)"
                                  % BACKUPS_TABLE]


def slot_plan(live_slots, absent):
    """(statements, changes) dropping the replication slots named in `absent` that exist; one still in use (its
    consumer not yet stopped) is refused rather than dropped under it."""
    statements, changes = [], []
    for name in absent:
        if name not in live_slots:
            continue
        if live_slots[name]:
            raise PostgresError("replication slot %s is still in use: stop its consumer first" % name)
        statements.append("SELECT pg_drop_replication_slot(%s);" % literal(name))
        changes.append("drop replication slot %s" % name)
    return statements, changes


ROLES_QUERY = "SELECT rolname, rolpassword, %s FROM pg_authid" % ", ".join(ROLE_ATTRIBUTES)
MEMBERSHIPS_QUERY = ("SELECT g.rolname AS grp, m.rolname AS member FROM pg_auth_members a "
                     "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member")
DATABASES_QUERY = (
    "SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, "
    "coalesce(bool_or(a.grantee = 0 AND a.privilege_type = 'CONNECT'), false) AS public_connect, "
    "coalesce(array_agg(pg_get_userbyid(a.grantee)) FILTER (WHERE a.grantee <> 0 AND a.privilege_type = 'CONNECT'),"
    " '{}') AS connectors "
    "FROM pg_database d LEFT JOIN LATERAL aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a ON true "
    "GROUP BY d.datname, d.datdba")


def rowsets(psql, queries, database="postgres"):
    """{name: rows} of several queries in one psql run (one exec in a pod)."""
    parts = ", ".join("%s, (SELECT coalesce(json_agg(q), '[]') FROM (%s) q)" % (literal(name), query)
                      for name, query in sorted(queries.items()))
    return json.loads(psql.script("SELECT json_build_object(%s);\n" % parts, database).strip())


def read_state(psql, database):
    """What the server holds: its version, roles, memberships, databases, the extensions of `database` (if it
    exists), whether the backup records' table exists and its replication slots ({name: active}); two psql runs."""
    state = rowsets(psql, {"roles": ROLES_QUERY, "memberships": MEMBERSHIPS_QUERY, "databases": DATABASES_QUERY,
                           "version": "SELECT split_part(current_setting('server_version'), ' ', 1) AS v",
                           "ops": "SELECT to_regclass(%s) IS NOT NULL AS present" % literal(BACKUPS_TABLE),
                           "slots": "SELECT slot_name, active FROM pg_replication_slots"})
    roles = dict((row["rolname"], row) for row in state["roles"])
    memberships = set((row["grp"], row["member"]) for row in state["memberships"])
    databases = dict((row["name"], row) for row in state["databases"])
    extensions = set()
    if database in databases:
        extensions = set(row["extname"] for row in psql.rows("SELECT extname FROM pg_extension", database))
    slots = dict((row["slot_name"], row["active"]) for row in state["slots"])
    return state["version"][0]["v"], (roles, memberships, databases, extensions, state["ops"][0]["present"], slots)


class Reload(object):
    """Reload a running server onto its ConfigMap's current postgresql.conf and pg_hba.conf.

    The kubelet refreshes a ConfigMap volume on its own schedule (a minute or more); any change of the pod object
    makes it refresh at once, so the pod gets an annotation naming the configuration it should see. The start
    script and every reload record the checksum of the files the server loaded, so a second run changes nothing.
    """

    NUDGE_ANNOTATION = "alertmanagerpp.io/config-checksum"

    def __init__(self, kube, psql, namespace, pod, container, config_dir, loaded_file, sleep=None):
        self.kube, self.psql = kube, psql
        self.namespace, self.pod, self.container = namespace, pod, container
        self.config_dir, self.loaded_file = config_dir, loaded_file
        self.sleep = sleep

    def shell(self, script, *args):
        return run_shell(self.kube.configuration, self.namespace, self.pod, self.container, script, args=args)

    def checksums(self):
        """(checksum of the mounted files, checksum the server last loaded or '')."""
        out = self.shell('cat "$1/postgresql.conf" "$1/pg_hba.conf" | sha256sum | cut -d" " -f1; '
                         'cat "$2" 2>/dev/null || true', self.config_dir, self.loaded_file)
        lines = out.split("\n")
        return lines[0].strip(), (lines[1].strip() if len(lines) > 1 else "")

    def wait_for_files(self, checksum, timeout):
        path = "/api/v1/namespaces/%s/pods/%s" % (self.namespace, self.pod)
        self.kube.request("PATCH", path, {"metadata": {"annotations": {self.NUDGE_ANNOTATION: checksum}}},
                          content_type="application/merge-patch+json")
        wait_for("the pod %s/%s to show the new configuration" % (self.namespace, self.pod),
                 lambda: self.checksums()[0] == checksum, timeout, sleep=self.sleep or time.sleep)

    def reload(self, timeout):
        before = self.psql.rows("SELECT pg_conf_load_time()::text AS t")[0]["t"]
        self.psql.rows("SELECT pg_reload_conf() AS ok")
        wait_for("the server to reload its configuration",
                 lambda: self.psql.rows("SELECT pg_conf_load_time()::text AS t")[0]["t"] != before, timeout,
                 sleep=self.sleep or time.sleep)

    def problems(self):
        """Errors in the files as the server read them (it keeps the old value of each bad line)."""
        rows = self.psql.rows("SELECT sourcefile AS file, sourceline AS line, name, error FROM pg_file_settings "
                              "WHERE error IS NOT NULL UNION ALL SELECT 'pg_hba.conf', line_number, NULL, error "
                              "FROM pg_hba_file_rules WHERE error IS NOT NULL")
        return ["%s line %s%s: %s" % (row["file"], row["line"], " (%s)" % row["name"] if row["name"] else "",
                                      row["error"]) for row in rows]

    def pending_restart(self):
        return [row["name"] for row in self.psql.rows("SELECT name FROM pg_settings WHERE pending_restart")]

    def run(self, checksum, check_mode, timeout):
        """{changed, reloaded, pending_restart}; PostgresError when the server refused part of the files."""
        mounted, loaded = self.checksums()
        if loaded == checksum:
            return {"changed": False, "reloaded": False, "pending_restart": []}
        if check_mode:
            return {"changed": True, "reloaded": False, "pending_restart": []}
        if mounted != checksum:
            self.wait_for_files(checksum, timeout)
        self.reload(timeout)
        problems = self.problems()
        if problems:
            raise PostgresError("the server kept its previous settings for what it could not read: %s"
                                % "; ".join(problems))
        pending = self.pending_restart()
        if pending:
            raise PostgresError("these parameters changed but need a restart, which a reload cannot apply: %s "
                                "(the pod was expected to roll for them)" % ", ".join(pending))
        self.shell('printf %s "$1" >"$2"', checksum, self.loaded_file)
        return {"changed": True, "reloaded": True, "pending_restart": []}
