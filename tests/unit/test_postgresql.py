"""Roles, database and extensions planned by module_utils.postgresql, run against a real PostgreSQL 15."""

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import (
    PostgresError,
    database_plan,
    extension_plan,
    literal,
    ops_plan,
    read_state,
    role_plan,
    scram_verifier,
    slot_plan,
    verifier_matches,
)

# Every printable ASCII character a generated or supplied password may hold, quotes and colons included.
HOSTILE_PASSWORD = "p'a\"s:s\\w;o$rd -- %s" % "".join(chr(c) for c in range(33, 127))


def plan_everything(psql, specs, database="app_db", owner="app_owner"):
    version, (roles, memberships, databases, extensions, ops_present, dummy) = read_state(psql, database)
    assert version.startswith("15.")
    statements, changes = [], []
    for spec in specs:
        more, described = role_plan(roles, memberships, spec)
        statements += more
        changes += described
    more, described = database_plan(databases, database, owner, ["monitor_role"])
    statements += more
    changes += described
    ext_statements, ext_changes = extension_plan(extensions, ["pg_stat_statements"])
    ops_statements, ops_changes = ops_plan(ops_present)
    return statements + ops_statements, ext_statements, changes + ext_changes + ops_changes


def apply(psql, specs):
    statements, ext_statements, changes = plan_everything(psql, specs)
    if statements:
        psql.script("\n".join(statements) + "\n")
    if ext_statements:
        psql.script("\n".join(ext_statements) + "\n", "app_db")
    return changes


SPECS = [
    {"name": "app_owner", "password": HOSTILE_PASSWORD},
    {"name": "monitor_role", "password": "monitor-secret-1", "member_of": ["pg_monitor"]},
    {"name": "repl_role", "password": "repl-secret-1", "replication": True},
]


def test_the_verifier_computed_here_is_one_the_server_accepts_for_a_login(postgresql_server):
    postgresql_server.script("CREATE ROLE verifier_check LOGIN PASSWORD %s;\n"
                             % literal(scram_verifier(HOSTILE_PASSWORD)))
    assert postgresql_server.login("verifier_check", HOSTILE_PASSWORD).stdout.strip() == "verifier_check"
    refused = postgresql_server.login("verifier_check", HOSTILE_PASSWORD + "x")
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr


def test_a_verifier_the_server_made_is_recognised_and_another_password_is_not(postgresql_server):
    postgresql_server.script("SET password_encryption = 'scram-sha-256'; "
                             "CREATE ROLE server_made LOGIN PASSWORD 'made-by-the-server';\n")
    stored = postgresql_server.rows("SELECT rolpassword FROM pg_authid WHERE rolname = 'server_made'")[0]
    assert verifier_matches(stored["rolpassword"], "made-by-the-server")
    assert not verifier_matches(stored["rolpassword"], "made-by-the-server ")
    assert not verifier_matches(None, "anything")
    assert not verifier_matches("md5" + "0" * 32, "anything")


def test_the_set_up_makes_roles_database_and_extension_then_changes_nothing(postgresql_server):
    changes = apply(postgresql_server, SPECS)
    assert "create role app_owner" in changes and "create database app_db owned by app_owner" in changes
    assert "create extension pg_stat_statements" in changes
    assert "create table alertmanagerpp_ops.backups (the base backups' records, read by the exporter)" in changes
    again = plan_everything(postgresql_server, SPECS)
    assert again == ([], [], [])
    for spec in SPECS:
        database = "app_db" if spec["name"] in ("app_owner", "monitor_role") else "postgres"
        assert postgresql_server.login(spec["name"], spec["password"], database).stdout.strip() == spec["name"]
    attributes = postgresql_server.rows(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles "
        "WHERE rolname IN ('app_owner', 'repl_role') ORDER BY 1")
    assert attributes == [
        {"rolname": "app_owner", "rolsuper": False, "rolcreaterole": False, "rolcreatedb": False,
         "rolreplication": False},
        {"rolname": "repl_role", "rolsuper": False, "rolcreaterole": False, "rolcreatedb": False,
         "rolreplication": True}]
    refused = postgresql_server.login("repl_role", "repl-secret-1", "app_db")
    assert refused.returncode != 0 and "permission denied for database" in refused.stderr
    # The backup records: the monitoring role (pg_monitor) reads them, the application may not.
    postgresql_server.script("INSERT INTO alertmanagerpp_ops.backups VALUES ('b1', 'base', now(), '0/1', 1);")
    query = "SELECT id FROM alertmanagerpp_ops.backups"
    read = postgresql_server.login("monitor_role", "monitor-secret-1", "postgres", query)
    assert read.stdout.strip() == "b1", read.stderr
    denied = postgresql_server.login("app_owner", HOSTILE_PASSWORD, "postgres", query)
    assert "permission denied for schema alertmanagerpp_ops" in denied.stderr, denied.stderr


def test_a_power_granted_by_hand_and_a_changed_password_are_corrected(postgresql_server):
    apply(postgresql_server, SPECS)
    postgresql_server.script("ALTER ROLE app_owner CREATEROLE SUPERUSER; REVOKE pg_monitor FROM monitor_role; "
                             "GRANT CONNECT ON DATABASE app_db TO PUBLIC;\n")
    specs = [dict(SPECS[0], password="a-new-password")] + SPECS[1:]
    changes = apply(postgresql_server, specs)
    assert changes == ["role app_owner: NOCREATEROLE NOSUPERUSER",
                       "role app_owner: password set from its Secret",
                       "grant pg_monitor to monitor_role",
                       "database app_db: PUBLIC may no longer connect"]
    assert not any(HOSTILE_PASSWORD in line or "a-new-password" in line for line in changes)
    assert postgresql_server.login("app_owner", "a-new-password", "app_db").returncode == 0
    assert postgresql_server.login("app_owner", HOSTILE_PASSWORD, "app_db").returncode != 0
    assert plan_everything(postgresql_server, specs) == ([], [], [])


def test_names_that_are_not_plain_identifiers_are_refused():
    with pytest.raises(PostgresError, match="lower-case letters"):
        role_plan({}, set(), {"name": 'x"; DROP TABLE y; --', "password": "p"})
    with pytest.raises(PostgresError, match="lower-case letters"):
        database_plan({}, "Bad-Name", "owner", [])
    with pytest.raises(PostgresError, match="NUL"):
        literal("a\0b")


def test_a_slot_no_longer_wanted_is_dropped_and_one_in_use_is_refused(postgresql_server):
    postgresql_server.script("SELECT pg_create_physical_replication_slot('gone_archiver', true);\n")
    slots = read_state(postgresql_server, "postgres")[1][5]
    assert slots == {"gone_archiver": False}
    statements, changes = slot_plan(slots, ["gone_archiver", "never_made"])
    assert changes == ["drop replication slot gone_archiver"]
    postgresql_server.script("\n".join(statements) + "\n")
    assert read_state(postgresql_server, "postgres")[1][5] == {}
    with pytest.raises(PostgresError, match="still in use"):
        slot_plan({"busy": True}, ["busy"])
