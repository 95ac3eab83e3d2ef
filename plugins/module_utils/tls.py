# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance's certificates: a small CA of its own, the servers' certificate it signs, and when to renew.

Keys are ECDSA P-256 (cheap handshakes: every probe and every redis-cli of
a module opens a connection). The servers' certificate carries every name
and address a client uses: the Services' DNS names, the per-pod Services'
ClusterIPs (which Sentinel hands out), localhost and 127.0.0.1 for the tools
inside the pod. It serves both as server and as client certificate
(replication and Sentinel connect with it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module that needs it
    HAS_CRYPTOGRAPHY = False

CLOCK_SKEW = datetime.timedelta(minutes=5)


class TlsError(DatastoresError):
    """A certificate or key cannot be used."""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_cert(pem, what):
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii") if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise TlsError("%s is not a PEM certificate: %s" % (what, exc))


def load_key(pem, what):
    try:
        return serialization.load_pem_private_key(pem.encode("ascii") if isinstance(pem, str) else pem, None)
    except (ValueError, TypeError) as exc:
        raise TlsError("%s is not an unencrypted PEM private key: %s" % (what, exc))


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def builder(subject, issuer, public_key, days, now):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + datetime.timedelta(days=days)))


def generate_ca(common_name, days, now=None):
    """(key PEM, certificate PEM) of a new CA that signs only end certificates."""
    now = now or utc_now()
    key = new_key()
    cert = (builder(name(common_name), name(common_name), key.public_key(), days, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key_pem(key), cert_pem(cert)


def generate_leaf(ca_key, ca_cert, common_name, dns_names, ip_addresses, days, now=None):
    """(key PEM, certificate PEM) for the servers, signed by the CA, valid as server and client."""
    now = now or utc_now()
    issuer_key, issuer = load_key(ca_key, "the CA key"), load_cert(ca_cert, "the CA certificate")
    key = new_key()
    alternative = ([x509.DNSName(d) for d in dns_names]
                   + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses])
    cert = (builder(name(common_name), issuer.subject, key.public_key(), days, now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                           critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return key_pem(key), cert_pem(cert)


def subject_alternative_names(cert):
    """(set of DNS names, set of IP address texts) of a certificate."""
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(extension.get_values_for_type(x509.DNSName)),
            set(str(a) for a in extension.get_values_for_type(x509.IPAddress)))


def not_after(cert):
    return cert.not_valid_after_utc


def key_matches(cert, key):
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*public) == key.public_key().public_bytes(*public)


def fingerprint(cert_text):
    """SHA-256 of the certificate's DER, hex: what the pods' annotations and the results name it by."""
    return load_cert(cert_text, "the certificate").fingerprint(hashes.SHA256()).hex()


def load_bundle(text, what):
    """Every certificate of a PEM bundle (at least one)."""
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii") if isinstance(text, str) else text)
    except ValueError as exc:
        raise TlsError("%s is not a PEM certificate: %s" % (what, exc))
    return certs


def server_verifier(roots, now, subject):
    """A verifier of a server certificate for `subject` as TLS clients check it: the chain up to one of `roots`
    (signatures, validity, CA flags, path lengths, name constraints) and the name. Extensions beyond those are
    not required: certificates OpenSSL clients accept pass."""
    ca = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    leaf = ExtensionPolicy.permit_all().require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    return (PolicyBuilder().store(Store(roots)).time(now).extension_policies(ca_policy=ca, ee_policy=leaf)
            .build_server_verifier(subject))


def subjects(dns_names, ip_addresses):
    """(text, general name) of every name and address a client may connect to."""
    return ([(n, x509.DNSName(n)) for n in dns_names]
            + [(a, x509.IPAddress(ipaddress.ip_address(a))) for a in ip_addresses])


def pair_problem(cert_text, key_text, ca_text, dns_names, ip_addresses, now=None):
    """Why the servers cannot use this certificate, key and CA bundle (None: they can): one does not parse, the
    key is not the certificate's, it is not valid now, a client connecting by one of `dns_names` or
    `ip_addresses` would refuse it (a name missing, or no chain to the CA). The certificate may be followed by
    its intermediates."""
    now = now or utc_now()
    try:
        chain, key = load_bundle(cert_text, "the certificate"), load_key(key_text, "the key")
        roots = load_bundle(ca_text, "the CA certificate")
    except TlsError as exc:
        return str(exc)
    cert = chain[0]
    if not key_matches(cert, key):
        return "the key is not the certificate's"
    if not cert.not_valid_before_utc <= now <= not_after(cert):
        return "it is valid only from %s to %s" % (cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M UTC"),
                                                   not_after(cert).strftime("%Y-%m-%d %H:%M UTC"))
    if subject_alternative_names(cert) == (set(), set()):
        return "it names no DNS name or address (no subjectAltName)"
    missing = []
    for text, subject in subjects(dns_names, ip_addresses):
        try:
            server_verifier(roots, now, subject).verify(cert, chain[1:])
        except VerificationError as exc:
            why = str(exc).split(" (encountered", 1)[0].replace("validation failed: ", "").replace(
                "candidates exhausted: ", "")
            if "subjectAltName" not in why:
                if "no interior errors" in why:
                    why = "no chain leads from it to the CA (an intermediate missing after it in tls.crt?)"
                return "a client trusting the CA certificate (ca.crt) refuses it: %s" % why
            missing.append(text)
    if missing:
        return "it does not name %s" % ", ".join(missing)
    return None


def expiry_reason(cert_text, renew_before_days, now=None):
    """'it expires <when> (within N days)' when the certificate expires within `renew_before_days`, else None."""
    now = now or utc_now()
    cert = load_cert(cert_text, "the certificate")
    if not_after(cert) - now < datetime.timedelta(days=renew_before_days):
        return "it expires %s (within %d days)" % (not_after(cert).strftime("%Y-%m-%d %H:%M UTC"), renew_before_days)
    return None


def renewal_reason(cert_text, key_text, ca_text, dns_names, ip_addresses, renew_before_days, now=None):
    """Why the generated certificate must be replaced (None: it may stay): pair_problem's reasons, or it expires
    within `renew_before_days`."""
    return (pair_problem(cert_text, key_text, ca_text, dns_names, ip_addresses, now=now)
            or expiry_reason(cert_text, renew_before_days, now=now))
