"""Password values a Secret may hold: what the servers and clients can take as one line, and what they cannot."""

import base64

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import (
    SecretError, check_values, decoded, value_problem)


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
