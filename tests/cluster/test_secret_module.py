"""redis_secret against the real API: it completes, rebinds and deletes Secrets, and never prints a value."""

import base64
import json

import pytest

from test_module_errors import run_module

NAME = "amp-secret-test"


@pytest.fixture
def secret_namespace(namespace, core):
    """A throwaway namespace holding Secret NAME with one user-supplied key."""
    core.create_namespaced_secret(namespace, {"metadata": {"name": NAME}, "stringData": {"mine": "kept value"}})
    return namespace


def read(core, namespace):
    data = core.read_namespaced_secret(NAME, namespace).data or {}
    return dict((key, base64.b64decode(value).decode()) for key, value in data.items())


def test_a_missing_key_is_added_and_nothing_else_changes(tmp_path, core, secret_namespace):
    args = {"namespace": secret_namespace, "name": NAME, "keys": ["mine", "password"]}
    completed, result = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and result["changed"] and result["added"] == ["password"], result
    values = read(core, secret_namespace)
    assert values["mine"] == "kept value" and len(values["password"]) == 32
    assert values["password"] not in json.dumps(result) and "kept value" not in json.dumps(result)
    completed, again = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and not again["changed"]
    assert read(core, secret_namespace) == values


def test_a_password_file_follows_its_uri(tmp_path, core, secret_namespace):
    args = {"namespace": secret_namespace, "name": NAME, "keys": ["password"],
            "password_file": {"key": "file.json", "password_key": "password", "uri": "redis://127.0.0.1:6379"}}
    completed, result = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and sorted(result["added"]) == ["file.json", "password"], result
    first = read(core, secret_namespace)
    assert json.loads(first["file.json"]) == {"redis://127.0.0.1:6379": first["password"]}
    args["password_file"]["uri"] = "redis://127.0.0.1:6380"
    completed, result = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and result["added"] == ["file.json"], result
    second = read(core, secret_namespace)
    assert second["password"] == first["password"]
    assert json.loads(second["file.json"]) == {"redis://127.0.0.1:6380": first["password"]}


def test_check_mode_then_absent(tmp_path, core, secret_namespace):
    args = {"namespace": secret_namespace, "name": NAME, "state": "absent"}
    completed, result = run_module(tmp_path, "redis_secret", dict(args, keys=["other"], state="present"),
                                   check_mode=True)
    assert completed.returncode == 0 and result["changed"] and "other" not in read(core, secret_namespace)
    completed, result = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and result["changed"]
    with pytest.raises(Exception, match="Not Found"):
        core.read_namespaced_secret(NAME, secret_namespace)
    completed, result = run_module(tmp_path, "redis_secret", args)
    assert completed.returncode == 0 and not result["changed"]
