"""The rotation's decisions (module_utils/rotation.py), the ACL parts against a real redis-server (a password
with non-ASCII letters: the server must hash the same bytes as the module)."""

import hashlib
import subprocess

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rotation import (
    ANNOTATION, acl_changes, acl_password_hashes, password_hash, pods_not_rotated, promotion_patch,
    retirement_patch, rotated, stage_values)


def test_staging_generates_only_what_is_missing_and_nothing_once_promoted():
    values = {"admin": "a" * 32, "backup": "b" * 32, "backup.next": "kept-because-servers-may-accept-it"}
    staged = stage_values(values, ["admin", "backup"], rotation_done=False, length=40)
    assert list(staged) == ["admin.next"] and len(staged["admin.next"]) == 40
    assert staged["admin.next"].isalnum()
    assert stage_values(values, ["admin", "backup"], rotation_done=True, length=40) == {}


def test_promotion_keeps_the_old_password_as_previous_and_marks_the_secret():
    values = {"password": "old", "password.next": "new", "other": "x"}
    patch = promotion_patch(values, ["password"], "2026-12-06")
    assert patch == {"metadata": {"annotations": {ANNOTATION: "2026-12-06"}},
                     "stringData": {"password": "new", "password.previous": "old"},
                     "data": {"password.next": None}}
    assert promotion_patch({"password": "new"}, ["password"], "2026-12-06") is None
    assert rotated({"metadata": {"annotations": {ANNOTATION: "2026-12-06"}}}, "2026-12-06")
    assert not rotated({"metadata": {}}, "2026-12-06")


def test_retirement_drops_only_the_previous_keys_of_the_rotated_users():
    values = {"admin": "n", "admin.previous": "o", "probe": "p", "probe.previous": "q"}
    assert retirement_patch(values, ["admin"]) == {"data": {"admin.previous": None}}
    assert retirement_patch({"admin": "n"}, ["admin"]) is None


def test_acl_rules_add_and_in_exact_mode_remove_hashes():
    old, new, stray = password_hash("old"), password_hash("new"), password_hash("stray")
    assert password_hash("new") == hashlib.sha256(b"new").hexdigest()
    assert acl_changes({old}, {old, new}, exact=False) == ["#" + new]
    assert acl_changes({old, new, stray}, {new}, exact=True) == sorted(["!" + old, "!" + stray])
    assert acl_changes({new}, {new}, exact=True) == []


def test_pods_of_an_older_template_are_named_terminating_or_not():
    pods = [{"metadata": {"name": "a", "annotations": {ANNOTATION: "r1"}}},
            {"metadata": {"name": "b", "annotations": {ANNOTATION: "r0"}, "deletionTimestamp": "now"}},
            {"metadata": {"name": "c"}}]
    assert pods_not_rotated(pods, ANNOTATION, "r1") == ["b", "c"]


def admin_cli(server, *args):
    return subprocess.run(["redis-cli", "-p", str(server.port), "--user", "admin"] + list(args),
                          env={"REDISCLI_AUTH": "admin-password", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False).stdout.strip()


def test_the_rules_applied_to_a_real_server_let_exactly_the_wanted_passwords_in(redis_server):
    redis_server.cli("ACL", "SETUSER", "admin", "on", ">admin-password", "+@all", "~*")
    redis_server.cli("ACL", "SETUSER", "app", "on", ">old-ÿ-pässwörd", "+ping")
    old, new = password_hash("old-ÿ-pässwörd"), password_hash("new-password")
    before = acl_password_hashes(admin_cli(redis_server, "ACL", "LIST"))
    assert before["app"] == {old} and before["admin"] == {password_hash("admin-password")}
    assert admin_cli(redis_server, "ACL", "SETUSER", "app", *acl_changes(before["app"], {old, new}, False)) == "OK"
    assert acl_password_hashes(admin_cli(redis_server, "ACL", "LIST"))["app"] == {old, new}
    assert admin_cli(redis_server, "ACL", "SETUSER", "app", *acl_changes({old, new}, {new}, True)) == "OK"
    assert acl_password_hashes(admin_cli(redis_server, "ACL", "LIST"))["app"] == {new}

    def ping(password):
        return subprocess.run(["redis-cli", "-p", str(redis_server.port), "--user", "app", "PING"],
                              env={"REDISCLI_AUTH": password, "PATH": "/usr/bin:/bin"}, capture_output=True,
                              text=True, check=False)
    assert ping("new-password").stdout.strip() == "PONG"
    assert "WRONGPASS" in ping("old-ÿ-pässwörd").stdout + ping("old-ÿ-pässwörd").stderr
