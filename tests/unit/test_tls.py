"""The instance's certificates (module_utils/tls.py), checked by openssl as well as by the module's own rules."""

import datetime
import subprocess

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import (
    expiry_reason, fingerprint, generate_ca, generate_leaf, load_cert, pair_problem, renewal_reason,
    subject_alternative_names)

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
    assert renewal_reason(cert, key, other_ca, DNS, IPS, 30, now=NOW) == \
        "a client trusting the CA certificate (ca.crt) refuses it: signature does not match"
    assert renewal_reason("garbage", key, ca_cert, DNS, IPS, 30, now=NOW).startswith(
        "the certificate is not a PEM certificate")


def root_over_intermediates():
    """(key PEM, certificate PEM) of a root that may sign one level of intermediates (generate_ca's may not)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import (
        builder, cert_pem, key_pem, name, new_key)
    key = new_key()
    cert = (builder(name("root"), name("root"), key.public_key(), 3650, NOW)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(key, hashes.SHA256()))
    return key_pem(key), cert_pem(cert)


def intermediate(root_key, root_cert):
    """(key PEM, certificate PEM) of an intermediate CA the root signs, as a corporate PKI hands out."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.tls import (
        builder, cert_pem, key_pem, load_key, name, new_key)
    issuer_key, issuer = load_key(root_key, "root key"), load_cert(root_cert, "root")
    key = new_key()
    cert = (builder(name("intermediate"), issuer.subject, key.public_key(), 365, NOW)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return key_pem(key), cert_pem(cert)


def test_a_supplied_certificate_may_come_through_an_intermediate_it_carries():
    root_key, root = root_over_intermediates()
    middle_key, middle = intermediate(root_key, root)
    key, cert = generate_leaf(middle_key, middle, "redis", DNS, IPS, 90, now=NOW)
    assert pair_problem(cert + middle, key, root, DNS, IPS, now=NOW) is None
    assert pair_problem(cert, key, root, DNS, IPS, now=NOW) == \
        "a client trusting the CA certificate (ca.crt) refuses it: no chain leads from it to the CA (an intermediate " \
        "missing after it in tls.crt?)"
    # A root that may sign end certificates only (path length 0), as generate_ca makes: clients refuse the chain.
    short_key, short_root = generate_ca("root", 3650, now=NOW)
    middle_key, middle = intermediate(short_key, short_root)
    key, cert = generate_leaf(middle_key, middle, "redis", DNS, IPS, 90, now=NOW)
    assert pair_problem(cert + middle, key, short_root, DNS, IPS, now=NOW) == \
        "a client trusting the CA certificate (ca.crt) refuses it: path length constraint violated"


def test_a_wildcard_covers_one_label_and_no_more():
    ca_key, ca_cert = generate_ca("ca", 3650, now=NOW)
    key, cert = generate_leaf(ca_key, ca_cert, "redis", ["*.redis-headless.ns.svc"], ["127.0.0.1"], 90, now=NOW)
    assert pair_problem(cert, key, ca_cert, ["redis-0.redis-headless.ns.svc"], [], now=NOW) is None
    assert pair_problem(cert, key, ca_cert, ["a.b.redis-headless.ns.svc"], [], now=NOW) == \
        "it does not name a.b.redis-headless.ns.svc"
    assert pair_problem(cert, key, ca_cert, ["redis-headless.ns.svc"], [], now=NOW) == \
        "it does not name redis-headless.ns.svc"


def test_an_expired_or_not_yet_valid_certificate_is_refused_and_expiry_is_told_apart():
    ca_key, ca_cert, key, cert = issue(days=60)
    assert pair_problem(cert, key, ca_cert, DNS, IPS, now=NOW + datetime.timedelta(days=61)).startswith(
        "it is valid only from 2026-12-05 23:55 UTC to 2027-02-04 00:00 UTC")
    assert pair_problem(cert, key, ca_cert, DNS, IPS, now=NOW - datetime.timedelta(days=1)).startswith(
        "it is valid only from")
    assert expiry_reason(cert, 30, now=NOW) is None
    assert expiry_reason(cert, 61, now=NOW) == "it expires 2027-02-04 00:00 UTC (within 61 days)"


def test_the_fingerprint_is_the_sha256_of_the_der(tmp_path):
    ca_key, ca_cert, key, cert = issue()
    (tmp_path / "tls.crt").write_text(cert)
    result = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "tls.crt"), "-noout", "-fingerprint",
                             "-sha256"], capture_output=True, text=True, check=True)
    assert fingerprint(cert) == result.stdout.strip().split("=", 1)[1].replace(":", "").lower()
