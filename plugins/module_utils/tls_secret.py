# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance's TLS Secrets on the cluster, and the servers loading a new certificate (module redis_tls).

Generated: the CA's key and certificate live in their own Secret, mounted
nowhere; the servers' Secret (type kubernetes.io/tls: tls.crt, tls.key,
ca.crt) is written when tls.renewal_reason gives a reason. Supplied: the
user's Secret of the same shape is checked, never written.

The servers read a certificate at start and on CONFIG SET tls-cert-file;
the StatefulSet's annotation LOADED_ANNOTATION records the fingerprint they
were last given, so a rerun reloads nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import tls
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import (
    ApiException,
    DatastoresError,
    api_error_text,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import cli_factory
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import is_ready, pod_names, read_pod
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import RedisAdminError, check_reply
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import decoded

SERVER_KEYS = ("tls.crt", "tls.key", "ca.crt")
CA_KEYS = ("ca.crt", "ca.key")
LOADED_ANNOTATION = "alertmanagerpp.io/tls-loaded"
POLL_SECONDS = 2


class TlsSecretError(DatastoresError):
    """A TLS Secret cannot be read, written or used."""


def secret_path(namespace, name=""):
    return "/api/v1/namespaces/%s/secrets/%s" % (namespace, name)


def statefulset_path(namespace, name):
    return "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, name)


class TlsSecrets(object):
    """The servers' and the CA's Secrets of one instance."""

    def __init__(self, module, kube):
        self.module, self.kube, self.params = module, kube, module.params
        self.namespace = self.params["namespace"]
        self.versions = {}

    def target(self, name):
        return "%s/%s" % (self.namespace, name)

    def read(self, name):
        """{key: text} of Secret `name` (None when absent); private keys join the values never logged."""
        try:
            secret = self.kube.get(secret_path(self.namespace, name))
        except ApiException as exc:
            raise TlsSecretError("cannot read Secret %s: %s" % (self.target(name), api_error_text(exc)))
        if secret is None:
            return None
        self.versions[name] = secret["metadata"]["resourceVersion"]
        values = dict((k, v if isinstance(v, str) else v.decode("latin-1")) for k, v in decoded(secret).items())
        for key in ("tls.key", "ca.key"):
            if values.get(key):
                self.module.no_log_values.add(values[key])
        return values

    def write(self, name, values, kind, exists):
        """Create the Secret, or replace its values if nobody changed it since it was read (resourceVersion)."""
        try:
            if exists:
                body = {"metadata": {"resourceVersion": self.versions[name]}, "stringData": values}
                self.kube.request("PATCH", secret_path(self.namespace, name), body,
                                  content_type="application/merge-patch+json")
            else:
                body = {"apiVersion": "v1", "kind": "Secret", "type": kind,
                        "metadata": {"name": name, "namespace": self.namespace, "labels": self.params["labels"]},
                        "stringData": values}
                self.kube.request("POST", secret_path(self.namespace), body)
        except ApiException as exc:
            raise TlsSecretError("cannot write Secret %s: %s" % (self.target(name), api_error_text(exc)))

    # -- generated ---------------------------------------------------------
    def ca(self):
        """(key, certificate, created) of the instance's CA, made now if its Secret does not exist."""
        name = self.params["ca_secret"]
        values = self.read(name)
        if values is None:
            key, cert = tls.generate_ca("%s CA" % self.params["common_name"], self.params["ca_days"])
            self.module.no_log_values.add(key)
            if not self.module.check_mode:
                self.write(name, {"ca.key": key, "ca.crt": cert}, "Opaque", exists=False)
            return key, cert, True
        missing = [k for k in CA_KEYS if not values.get(k)]
        if missing:
            raise TlsSecretError("Secret %s has no key %s: it is not this collection's CA (delete it to have a new "
                                 "CA made, and give the clients its ca.crt)" % (self.target(name), ", ".join(missing)))
        expiring = tls.expiry_reason(values["ca.crt"], self.params["renew_before_days"])
        if expiring:
            raise TlsSecretError("the CA in Secret %s: %s. A new CA changes what every client trusts: see "
                                 "docs/security.md, \"Certificates the collection makes and renews\""
                                 % (self.target(name), expiring))
        return values["ca.key"], values["ca.crt"], False

    def ensure_generated(self):
        params = self.params
        ca_key, ca_cert, ca_created = self.ca()
        current = self.read(params["secret"])
        reason = self.issue_reason(current, ca_cert)
        if reason is None:
            return self.result(current, False, None, ca_created)
        key, cert = tls.generate_leaf(ca_key, ca_cert, params["common_name"],
                                      unique(params["dns_names"] + params["extra_dns_names"]),
                                      params["ip_addresses"], params["days"])
        self.module.no_log_values.add(key)
        issued = {"tls.crt": cert, "tls.key": key, "ca.crt": ca_cert}
        if not self.module.check_mode:
            self.write(params["secret"], issued, "kubernetes.io/tls", exists=current is not None)
        return self.result(issued, True, reason, ca_created, before=current)

    def issue_reason(self, current, ca_cert):
        """Why the servers' Secret needs a new certificate from the CA `ca_cert` (None: it may stay)."""
        params = self.params
        if current is None:
            return "the Secret does not exist"
        missing = [k for k in SERVER_KEYS if not current.get(k)]
        if missing:
            return "it has no key %s" % ", ".join(missing)
        if current["ca.crt"] != ca_cert:
            return "the CA changed"
        reason = tls.renewal_reason(current["tls.crt"], current["tls.key"], ca_cert, params["dns_names"],
                                    params["ip_addresses"], params["renew_before_days"])
        if reason:
            return reason
        carried = tls.subject_alternative_names(tls.load_cert(current["tls.crt"], "the certificate"))[0]
        lacking = [name for name in params["extra_dns_names"] if name not in carried]
        return "it does not carry %s" % ", ".join(lacking) if lacking else None

    # -- supplied ----------------------------------------------------------
    def check_supplied(self):
        params = self.params
        values = self.read(params["secret"])
        if values is None:
            raise TlsSecretError("Secret %s (redis_tls_secret) does not exist: create it with keys %s"
                                 % (self.target(params["secret"]), ", ".join(SERVER_KEYS)))
        missing = [k for k in SERVER_KEYS if not values.get(k)]
        if missing:
            raise TlsSecretError("Secret %s has no key %s (it needs %s; cert-manager writes ca.crt when its issuer "
                                 "has a CA)" % (self.target(params["secret"]), ", ".join(missing),
                                                ", ".join(SERVER_KEYS)))
        problem = tls.pair_problem(values["tls.crt"], values["tls.key"], values["ca.crt"], params["dns_names"],
                                   params["ip_addresses"])
        if problem:
            raise TlsSecretError("the certificate in Secret %s cannot serve this instance: %s"
                                 % (self.target(params["secret"]), problem))
        expiring = tls.expiry_reason(values["tls.crt"], params["renew_before_days"])
        if expiring:
            self.module.warn("the certificate in Secret %s: %s; renew it there (this collection never writes a "
                             "supplied Secret), then run deploy.yml again" % (self.target(params["secret"]), expiring))
        return self.result(values, False, None, False)

    def result(self, values, changed, reason, ca_created, before=None):
        cert = tls.load_cert(values["tls.crt"], "the certificate")
        dns, ips = tls.subject_alternative_names(cert)
        summary = {"not_after": tls.not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"), "dns_names": sorted(dns),
                   "ip_addresses": sorted(ips), "fingerprint": tls.fingerprint(values["tls.crt"])}
        result = dict(summary, changed=changed or ca_created, renewed=changed, reason=reason, ca_created=ca_created)
        if self.module._diff:
            result["diff"] = {"before": describe(before) if before else {}, "after": summary}
        return result


def describe(values):
    """What --diff shows of a servers' Secret: the certificate's public facts, never the key."""
    if not values.get("tls.crt"):
        return {"keys": sorted(values)}
    try:
        cert = tls.load_cert(values["tls.crt"], "the certificate")
    except tls.TlsError as exc:
        return {"problem": str(exc)}
    dns, ips = tls.subject_alternative_names(cert)
    return {"not_after": tls.not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"), "dns_names": sorted(dns),
            "ip_addresses": sorted(ips), "fingerprint": tls.fingerprint(values["tls.crt"])}


def unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# -- the servers load it ----------------------------------------------------
class Reload(object):
    """Every server pod of the StatefulSet loads the certificate of the servers' Secret (CONFIG SET)."""

    def __init__(self, secrets):
        self.secrets, self.module, self.kube = secrets, secrets.module, secrets.kube
        self.params, self.namespace = secrets.params, secrets.namespace

    def statefulset(self):
        try:
            found = self.kube.get(statefulset_path(self.namespace, self.params["statefulset"]))
        except ApiException as exc:
            raise TlsSecretError("cannot read StatefulSet %s: %s"
                                 % (self.secrets.target(self.params["statefulset"]), api_error_text(exc)))
        if found is None:
            raise TlsSecretError("StatefulSet %s does not exist" % self.secrets.target(self.params["statefulset"]))
        return found

    def pods(self, statefulset):
        pods = pod_names(self.params["statefulset"], statefulset["spec"].get("replicas", 1))
        for pod in pods:
            found = read_pod(self.kube, self.namespace, pod)
            if found is None or not is_ready(found):
                raise TlsSecretError("pod %s is not Ready; every server must load the new certificate. Run again "
                                     "when it is." % self.secrets.target(pod))
        return pods

    def run(self):
        values = self.secrets.read(self.params["secret"])
        if values is None or not values.get("tls.crt"):
            raise TlsSecretError("Secret %s holds no certificate" % self.secrets.target(self.params["secret"]))
        wanted = tls.fingerprint(values["tls.crt"])
        statefulset = self.statefulset()
        loaded = (statefulset["metadata"].get("annotations") or {}).get(LOADED_ANNOTATION)
        result = {"changed": loaded != wanted, "fingerprint": wanted, "reloaded": [], "waited": 0.0}
        if loaded == wanted or self.module.check_mode:
            return result
        started = time.monotonic()
        pods = self.pods(statefulset)
        self.wait_for_files(pods, values["tls.crt"], started)
        result["waited"] = round(time.monotonic() - started, 1)
        dummy, cli_for = cli_factory(self.module, self.kube)
        for pod in pods:
            self.load(pod, cli_for(pod))
            result["reloaded"].append(pod)
        self.record(wanted)
        return result

    def wait_for_files(self, pods, cert, started):
        """Until every pod's mounted certificate is the Secret's (the kubelet refreshes Secret volumes lazily)."""
        pending = list(pods)
        while pending:
            pending = [pod for pod in pending if self.mounted(pod) != cert.strip()]
            if pending and time.monotonic() - started > self.params["timeout"]:
                raise TlsSecretError("after %d s the certificate mounted in %s still differs from Secret %s (the "
                                     "kubelet refreshes mounted Secrets periodically; run again to go on waiting)"
                                     % (self.params["timeout"], ", ".join(pending), self.params["secret"]))
            if pending:
                time.sleep(POLL_SECONDS)

    def mounted(self, pod):
        path = "%s/tls.crt" % self.params["tls_dir"].rstrip("/")
        rc, out, err = run(self.kube.configuration, self.namespace, pod, self.params["container"], ["cat", path],
                           timeout=30)
        if rc != 0:
            raise TlsSecretError("cannot read %s in pod %s: %s" % (path, pod, err.decode("utf-8", "replace").strip()))
        return out.decode("ascii", "replace").strip()

    def load(self, pod, cli):
        """CONFIG SET of the three file names: the server reads them again (the same names, new contents)."""
        directory = self.params["tls_dir"].rstrip("/")
        try:
            check_reply(cli("CONFIG", "SET", "tls-cert-file", directory + "/tls.crt", "tls-key-file",
                            directory + "/tls.key", "tls-ca-cert-file", directory + "/ca.crt"), "CONFIG SET")
        except RedisAdminError as exc:
            raise TlsSecretError("pod %s did not load the new certificate: %s" % (self.secrets.target(pod), exc))

    def record(self, fingerprint):
        patch = {"metadata": {"annotations": {LOADED_ANNOTATION: fingerprint}}}
        try:
            self.kube.request("PATCH", statefulset_path(self.namespace, self.params["statefulset"]), patch,
                              content_type="application/merge-patch+json")
        except ApiException as exc:
            raise TlsSecretError("cannot annotate StatefulSet %s: %s"
                                 % (self.secrets.target(self.params["statefulset"]), api_error_text(exc)))
