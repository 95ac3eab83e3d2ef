"""The instance's certificates (module_utils/tls.py), checked by openssl as well as by the module's own rules."""

import datetime
import subprocess

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import (
    generate_ca, generate_leaf, load_cert, renewal_reason, subject_alternative_names)

DNS = ["alertmanagerpp-redis.alertmanagerpp.svc", "alertmanagerpp-redis.alertmanagerpp.svc.cluster.local",
       "localhost"]
IPS = ["10.0.0.17", "127.0.0.1", "fd00::17"]
NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.timezone.utc)


def issue(days=365):
    ca_key, ca_cert = generate_ca("alertmanagerpp-redis CA", 3650, now=NOW)
    key, cert = generate_leaf(ca_key, ca_cert, "alertmanagerpp-redis", DNS, IPS, days, now=NOW)
    return ca_key, ca_cert, key, cert


def test_the_certificate_names_every_address_and_openssl_verifies_it_as_server_and_client(tmp_path):
    ca_key, ca_cert, key, cert = issue()
    assert subject_alternative_names(load_cert(cert, "cert")) == (set(DNS), set(IPS))
    (tmp_path / "ca.crt").write_text(ca_cert)
    (tmp_path / "tls.crt").write_text(cert)
    for purpose in ("sslserver", "sslclient"):
        result = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", str(tmp_path / "ca.crt"),
                                 str(tmp_path / "tls.crt")], capture_output=True, text=True, check=False)
        assert result.returncode == 0 and ": OK" in result.stdout, result.stdout + result.stderr
    assert "BEGIN PRIVATE KEY" in key and "ENCRYPTED" not in key


def test_a_fresh_certificate_may_stay():
    ca_key, ca_cert, key, cert = issue()
    assert renewal_reason(cert, key, ca_cert, DNS, IPS, 30, now=NOW) is None


def test_renewal_when_close_to_expiry_a_name_is_missing_or_the_parts_do_not_belong_together():
    ca_key, ca_cert, key, cert = issue(days=60)
    assert renewal_reason(cert, key, ca_cert, DNS, IPS, 30, now=NOW + datetime.timedelta(days=31)) == \
        "it expires 2027-02-04 00:00 UTC (within 30 days)"
    assert renewal_reason(cert, key, ca_cert, DNS + ["new.svc"], IPS + ["10.0.0.18"], 30, now=NOW) == \
        "it does not name new.svc, 10.0.0.18"
    other_ca_key, other_ca, other_key, other_cert = issue()
    assert renewal_reason(cert, other_key, ca_cert, DNS, IPS, 30, now=NOW) == "the key is not the certificate's"
    assert renewal_reason(cert, key, other_ca, DNS, IPS, 30, now=NOW) == "the CA did not sign the certificate"
    assert renewal_reason("garbage", key, ca_cert, DNS, IPS, 30, now=NOW).startswith(
        "the certificate is not a PEM certificate")
