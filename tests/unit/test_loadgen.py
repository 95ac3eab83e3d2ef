"""The open-loop load generator (module_utils/loadgen.py): its RESP reading, its numbers, and runs against a real
redis-server, plaintext and TLS."""

import json
import os
import ssl
import subprocess
import sys

import pytest
from redis_server import PASSWORD

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import loadgen
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import generate_ca

REPLIES = b"+OK\r\n$5\r\nhello\r\n$-1\r\n-WRONGTYPE Operation against a key\r\n$0\r\n\r\n:7\r\n"


def test_replies_split_at_any_byte_come_out_whole_and_in_order():
    expected, dummy = loadgen.split_replies(REPLIES)
    assert [e for e, line in expected] == [False, False, False, True, False, False]
    assert [line[:1] for e, line in expected] == [b"+", b"$", b"$", b"-", b"$", b":"]
    for cut in range(len(REPLIES)):
        first, rest = loadgen.split_replies(REPLIES[:cut])
        second, left = loadgen.split_replies(rest + REPLIES[cut:])
        assert first + second == expected and left == b""


def test_a_bulk_reply_holding_crlf_is_one_reply():
    replies, rest = loadgen.split_replies(b"$4\r\na\r\nb\r\n+OK\r\n")
    assert len(replies) == 2 and rest == b""


def test_percentiles_are_nearest_rank_in_milliseconds():
    values = sorted(i / 1000.0 for i in range(1, 101))  # 1..100 ms
    assert loadgen.percentile(values, 0.5) == 50.0 and loadgen.percentile(values, 0.95) == 95.0
    assert loadgen.percentile(values, 1.0) == 100.0 and loadgen.percentile([], 0.5) is None
    assert loadgen.summary([0.002])["p99_ms"] == 2.0


def run(server, rate, connections, seconds, cacert=None, keys=100000):
    tls = loadgen.tls_context(cacert) if cacert else None
    load = loadgen.Load(rate, connections, seconds, keys=keys, seed=1)
    return load.run(lambda: loadgen.Connection(("127.0.0.1", server.port), tls, [PASSWORD]))


def test_the_rate_asked_is_the_rate_sent_and_every_reply_is_counted(redis_server):
    report = run(redis_server, 400, 20, 2)
    commands = report["commands"]
    assert commands["GET"]["count"] + commands["SET"]["count"] == 800 and report["missing_replies"] == 0
    assert 0.7 < commands["GET"]["count"] / 800.0 < 0.9
    assert commands["GET"]["errors"] == commands["SET"]["errors"] == 0
    assert 0 < commands["GET"]["p50_ms"] <= commands["GET"]["p95_ms"] <= commands["GET"]["max_ms"]
    assert report["connect"]["count"] == 20 and report["send_lag"]["count"] == 800
    assert int(redis_server.cli("DBSIZE")) > 0  # the SETs were written


def test_error_replies_are_counted_not_fatal(redis_server):
    redis_server.cli("RPUSH", "loadgen:000000000000", "x")  # GET on a list: WRONGTYPE; SET replaces it
    report = run(redis_server, 200, 5, 1, keys=1)
    commands = report["commands"]
    assert commands["GET"]["errors"] > 0 and commands["SET"]["errors"] == 0 and report["missing_replies"] == 0


def test_it_speaks_tls_and_checks_the_servers_certificate(tls_server):
    server, cacert = tls_server
    report = run(server, 200, 10, 1, cacert=cacert)
    assert report["commands"]["GET"]["count"] + report["commands"]["SET"]["count"] == 200


def test_as_a_script_it_prints_one_json_report_and_takes_the_password_from_the_environment(redis_server):
    result = subprocess.run([sys.executable, loadgen.__file__, "--host", "127.0.0.1", "--port",
                             str(redis_server.port), "--rate", "100", "--connections", "4", "--seconds", "1"],
                            env=dict(os.environ, REDISCLI_AUTH=PASSWORD), capture_output=True, text=True,
                            check=True)
    report = json.loads(result.stdout)
    assert report["ops_per_second"] > 90 and PASSWORD not in result.stdout + result.stderr


def test_a_wrong_password_is_refused_at_connect(redis_server):
    result = subprocess.run([sys.executable, loadgen.__file__, "--host", "127.0.0.1", "--port",
                             str(redis_server.port), "--rate", "100", "--connections", "1", "--seconds", "1"],
                            env=dict(os.environ, REDISCLI_AUTH="wrong"), capture_output=True, text=True,
                            check=False)
    assert result.returncode != 0 and "AUTH refused" in result.stderr


def test_a_server_whose_certificate_another_ca_signed_is_refused(tls_server, tmp_path):
    server, dummy = tls_server
    stranger = tmp_path / "stranger.crt"
    stranger.write_text(generate_ca("stranger CA", 30)[1])
    with pytest.raises(ssl.SSLCertVerificationError):
        run(server, 100, 1, 1, cacert=str(stranger))
