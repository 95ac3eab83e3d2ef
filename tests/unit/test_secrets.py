"""Password values a Secret may hold: what the servers and clients can take as one line, and what they cannot."""

import base64

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance_facts import password_problems
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import (
    SecretError, check_values, decoded, password_problem, value_problem)


@pytest.mark.parametrize("value", ["s3cret-Passw0rd", "with inner space", "quote\"and\\backslash", "ünïcödé"])
def test_values_a_client_can_send_are_accepted(value):
    assert value_problem(value) is None


@pytest.mark.parametrize("value, words", [
    ("password\n", "ends with a newline"),
    ("password\r\n", "ends with a newline"),
    (" password", "starts with a space"),
    ("password\t", "ends with a tab"),
    ("", "is empty"),
    ("pass\nword", "control character"),
    ("pass\x00word", "control character"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_surprising_values_are_named(value, words):
    assert words in value_problem(value)


def test_decoded_keeps_bytes_that_are_not_text():
    secret = {"data": {"a": base64.b64encode(b"ok").decode(), "b": base64.b64encode(b"\xff").decode()}}
    assert decoded(secret) == {"a": "ok", "b": b"\xff"}


def test_check_values_names_every_bad_key_and_only_the_keys_asked():
    values = {"admin": "fine-password", "backup": "trailing\n", "probe": "", "other": "\n"}
    with pytest.raises(SecretError) as error:
        check_values("ns/users", values, ["admin", "backup", "probe", "missing"])
    message = str(error.value)
    assert "Secret ns/users" in message
    assert "key backup ends with a newline" in message and "key probe is empty" in message
    assert "other" not in message and "admin" not in message
    check_values("ns/users", values, ["admin"])


def secret(**values):
    return {"data": dict((key, base64.b64encode(value.encode()).decode()) for key, value in values.items())}


def test_a_supplied_secret_must_exist_with_its_keys_a_generated_one_need_not():
    assert "ns/app does not exist and may not be created here: create it with the key(s) password" in \
        password_problem("ns/app", None, ["password"], create=False)
    assert password_problem("ns/app", secret(other="x"), ["password"], create=False) == \
        "Secret ns/app has no key password"
    assert password_problem("ns/app", None, ["password"], create=True) is None
    assert password_problem("ns/app", secret(other="x"), ["password"], create=True) is None
    assert password_problem("ns/app", secret(password="fine-password"), ["password"], create=False) is None


def test_a_bad_value_is_named_whether_or_not_the_role_may_complete_the_secret():
    for create in (True, False):
        assert "key password ends with a newline" in password_problem(
            "ns/app", secret(password="newline\n"), ["password"], create)


def test_password_problems_give_one_message_per_secret_and_never_a_value():
    read = {"a": secret(password="value-one\n"), "b": secret(password="fine-password"), "c": None}
    asked = [{"name": "a", "keys": ["password"], "create": True}, {"name": "b", "keys": ["password"], "create": True},
             {"name": "c", "keys": ["password"], "create": False}]
    problems = password_problems("ns", read, asked)
    assert len(problems) == 2
    assert problems[0].startswith("Secret ns/a: key password ends with a newline")
    assert problems[1].startswith("Secret ns/c does not exist")
    assert not any("value-one" in problem for problem in problems)
