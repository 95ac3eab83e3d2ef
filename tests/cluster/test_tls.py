"""TLS on a real instance deployed by playbooks/deploy.yml with redis_tls_enabled (docs/security.md, "TLS").

A client on this machine connects to the client Service's address as an
application does: TLS, the instance's CA, the Service's DNS name checked
against the certificate. The plaintext port is gone; the exporter, backup and
restore work over TLS; a certificate close to expiry is renewed by the next
deploy and the server loads it without a restart; a certificate of your own
is checked before anything changes; in the Sentinel topology replication and
the Sentinels speak TLS, the failover drill loses no acknowledged write, and a
renewal restarts the Sentinels, not the servers.
"""

import base64
import json
import os
import random
import socket
import ssl
import time
import urllib.request

import pytest
from cryptography import x509

from runner import playbook, recap_changed
from test_sentinel import delete_namespace, wait

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import tls
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import Kube, kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SentinelSet

NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
KUBECONFIG = (os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
              or os.path.expanduser("~/.cache/alertmanagerpp-datastores/kubeconfig"))
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
KEYS = 3000


def variables(namespace, backups, **more):
    return dict({"profile": "standard", "redis_namespace": namespace, "redis_tls_enabled": True,
                 "redis_resources": RESOURCES, "redis_maxmemory": "64mb", "redis_backup_dir": str(backups)}, **more)


def secret_data(core, namespace, name):
    return dict((k, base64.b64decode(v).decode()) for k, v in core.read_namespaced_secret(name, namespace).data.items())


class Resp(object):
    """A minimal RESP client over any socket: what an application's driver sends, nothing more."""

    def __init__(self, sock):
        self.sock, self.buffer = sock, b""

    def send(self, *commands):
        out = b""
        for command in commands:
            parts = [a if isinstance(a, bytes) else str(a).encode() for a in command]
            out += b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(out)

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exactly(self, count):
        while len(self.buffer) < count + 2:
            chunk = self.sock.recv(max(65536, count))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Exception(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.exactly(int(rest))
        if kind == b"*":
            return [self.reply() for dummy in range(int(rest))]
        raise ValueError("not RESP: %r" % line[:50])

    def call(self, *args):
        self.send(args)
        return self.reply()

    def pipeline(self, commands):
        self.send(*commands)
        return [self.reply() for dummy in commands]


def tls_client(address, ca_text, hostname, port=6379, routing_seconds=30):
    """A verified TLS connection through a Service's address. Right after a restore or a restart the new pod is
    Ready before the Service routes to it (endpoints, then the node's proxy rules): a refused connection is tried
    again for `routing_seconds`, as an application's client does."""
    context = ssl.create_default_context(cadata=ca_text)
    deadline = time.monotonic() + routing_seconds
    while True:
        try:
            raw = socket.create_connection((address, port), timeout=20)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return context.wrap_socket(raw, server_hostname=hostname)


class Instance(object):
    def __init__(self, core, namespace, backups):
        self.core, self.namespace, self.backups = core, namespace, backups
        self.address = core.read_namespaced_service(NAME, namespace).spec.cluster_ip
        self.hostname = "%s.%s.svc.cluster.local" % (NAME, namespace)

    def vars(self, **more):
        return variables(self.namespace, self.backups, **more)

    def secret(self, suffix):
        return secret_data(self.core, self.namespace, NAME + suffix)

    def connect(self, user="app"):
        ca = self.secret("-tls")["ca.crt"]
        client = Resp(tls_client(self.address, ca, self.hostname))
        password = self.secret("-auth")["password"] if user == "app" else self.secret("-users")[user]
        assert client.call("AUTH", user, password) == "OK"
        return client

    def served_certificate(self):
        ca = self.secret("-tls")["ca.crt"]
        with tls_client(self.address, ca, self.hostname) as sock:
            return sock.getpeercert(binary_form=True)

    def pod(self, name=POD):
        return self.core.read_namespaced_pod(name, self.namespace)


@pytest.fixture(scope="module")
def instance(core, request, tmp_path_factory):
    namespace = "amp-tls-%d" % os.getpid()
    request.addfinalizer(lambda: delete_namespace(core, namespace))
    backups = tmp_path_factory.mktemp("backups")
    playbook("deploy", variables(namespace, backups))
    return Instance(core, namespace, backups)


def der(pem):
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(tls.serialization.Encoding.DER)


def test_the_client_port_speaks_tls_only_and_the_certificate_names_the_service(instance):
    assert instance.connect().call("PING") == "PONG"
    ca = instance.secret("-tls")["ca.crt"]
    for short in ("%s.%s.svc" % (NAME, instance.namespace), "localhost"):
        with tls_client(instance.address, ca, short) as sock:
            assert Resp(sock).call("PING").args[0].startswith("NOAUTH")
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        tls_client(instance.address, ca, "redis.elsewhere.example")
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(instance.address, tls.generate_ca("a stranger", 30)[1], instance.hostname)
    plain = socket.create_connection((instance.address, 6379), timeout=20)
    plain.sendall(b"PING\r\n")
    try:
        answer = plain.recv(100)
    except ConnectionResetError:
        answer = b""
    assert b"PONG" not in answer and b"NOAUTH" not in answer


def test_the_ca_key_is_mounted_nowhere_and_the_exporter_gets_the_ca_alone(instance, apps):
    assert sorted(instance.secret("-tls-ca")) == ["ca.crt", "ca.key"]
    template = apps.read_namespaced_stateful_set(NAME, instance.namespace).spec.template.spec
    secrets = dict((v.name, (v.secret.secret_name, sorted(i.key for i in v.secret.items)))
                   for v in template.volumes if v.secret)
    assert secrets["tls"] == (NAME + "-tls", ["ca.crt", "tls.crt", "tls.key"])
    assert secrets["tls-ca"] == (NAME + "-tls", ["ca.crt"])
    assert NAME + "-tls-ca" not in [name for name, keys in secrets.values()]
    mounts = dict((c.name, sorted(m.name for m in c.volume_mounts)) for c in template.containers)
    assert "tls" not in mounts["exporter"] and "tls-ca" in mounts["exporter"]
    with urllib.request.urlopen("http://%s:9121/metrics" % instance.pod().status.pod_ip, timeout=20) as page:
        metrics = page.read().decode()
    assert "\nredis_up 1\n" in metrics
    assert "redis_connected_clients" in metrics


def hostile_dataset(seed=14):
    """{key: value} with every byte value in keys and values, empty and 2 MiB values."""
    rng = random.Random(seed)
    data = dict((b"tls:%d:" % i + bytes([i % 256]) + b"\x00\n\xff\r", rng.randbytes(rng.randrange(0, 1500)))
                for i in range(KEYS))
    data[b"tls:big"] = rng.randbytes(2 * 1024 * 1024)
    data[b"tls:empty"] = b""
    return data


def read_all(client, keys):
    return dict(zip(keys, client.pipeline([("GET", key) for key in keys])))


def test_backup_and_restore_round_trip_every_byte_over_tls(instance):
    client = instance.connect()
    data = hostile_dataset()
    keys = sorted(data)
    assert set(client.pipeline([("SET", key, value) for key, value in data.items()])) == {"OK"}
    assert client.call("PEXPIRE", b"tls:empty", 3600 * 1000) == 1
    playbook("backup", instance.vars())
    assert client.pipeline([("DEL", key) for key in keys[:100]]) == [1] * 100
    assert client.call("SET", b"tls:after-the-backup", b"x") == "OK"
    before = instance.pod().metadata.uid
    playbook("restore", instance.vars(), "-e", "backup=latest", "-e", "confirm=yes")
    assert instance.pod().metadata.uid != before  # restored: a new server pod
    client = instance.connect()
    assert read_all(client, keys) == data
    assert client.call("EXISTS", b"tls:after-the-backup") == 0
    assert 0 < client.call("PTTL", b"tls:empty") <= 3600 * 1000


def short_lived_certificate(core, namespace, days):
    """The instance's certificate issued again by its CA with the same names, valid for `days` only."""
    current = tls.load_cert(secret_data(core, namespace, NAME + "-tls")["tls.crt"], "current")
    dns, ips = tls.subject_alternative_names(current)
    ca = secret_data(core, namespace, NAME + "-tls-ca")
    return tls.generate_leaf(ca["ca.key"], ca["ca.crt"], NAME, sorted(dns), sorted(ips), days)


def test_a_certificate_close_to_expiry_is_renewed_and_loaded_without_a_restart(instance):
    key, cert = short_lived_certificate(instance.core, instance.namespace, days=10)
    instance.core.patch_namespaced_secret(NAME + "-tls", instance.namespace,
                                          {"stringData": {"tls.crt": cert, "tls.key": key}})
    pod = instance.pod()
    restarts = pod.status.container_statuses[0].restart_count
    output = playbook("deploy", instance.vars())
    assert "(within 30 days)" in output
    renewed = instance.secret("-tls")
    assert renewed["tls.crt"] != cert
    assert tls.not_after(tls.load_cert(renewed["tls.crt"], "renewed")).year >= time.gmtime().tm_year + 1
    assert instance.served_certificate() == der(renewed["tls.crt"])
    after = instance.pod()
    assert (after.metadata.uid, after.status.container_statuses[0].restart_count) == (pod.metadata.uid, restarts)
    extra = instance.vars(redis_tls_extra_dns_names=["redis.example.org"])
    assert "it does not carry redis.example.org" in playbook("deploy", extra)
    assert "redis.example.org" in tls.subject_alternative_names(
        x509.load_der_x509_certificate(instance.served_certificate()))[0]
    again = playbook("deploy", extra, "-vvv")
    assert recap_changed(again) == 0
    secrets = [instance.secret(suffix) for suffix in ("-tls", "-tls-ca", "-auth", "-users")]
    assert [k for s in secrets for k, v in s.items() if k != "ca.crt" and v.strip() and v.strip() in again] == []


def own_certificate(dns_names):
    """(CA, Secret values) of a certificate from a CA of the user's, through an intermediate it carries."""
    now, root_key, middle_key = tls.utc_now(), tls.new_key(), tls.new_key()
    root = (tls.builder(tls.name("the user's root"), tls.name("the user's root"), root_key.public_key(), 365, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(root_key, tls.hashes.SHA256()))
    middle = tls.cert_pem(tls.builder(tls.name("the user's intermediate"), root.subject, middle_key.public_key(),
                                      365, now)
                          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                          .sign(root_key, tls.hashes.SHA256()))
    middle_key, root = tls.key_pem(middle_key), tls.cert_pem(root)
    key, cert = tls.generate_leaf(middle_key, middle, NAME, dns_names, ["127.0.0.1"], 90)
    return root, {"tls.crt": cert + middle, "tls.key": key, "ca.crt": root}


def test_a_certificate_of_your_own_is_checked_before_anything_changes_then_served(instance, apps):
    service = "%s.%s" % (NAME, instance.namespace)
    names = [NAME, service, service + ".svc", service + ".svc.cluster.local", "localhost"]
    root, values = own_certificate(names[:-2])
    instance.core.create_namespaced_secret(instance.namespace, {
        "metadata": {"name": "my-tls"}, "type": "kubernetes.io/tls", "stringData": values})
    generation = apps.read_namespaced_stateful_set(NAME, instance.namespace).metadata.generation
    refused = playbook("deploy", instance.vars(redis_tls_secret="my-tls"), expect_success=False)
    assert "does not name %s.svc.cluster.local, localhost" % service in refused
    assert apps.read_namespaced_stateful_set(NAME, instance.namespace).metadata.generation == generation
    root, values = own_certificate(names)
    instance.core.patch_namespaced_secret("my-tls", instance.namespace, {"stringData": values})
    playbook("deploy", instance.vars(redis_tls_secret="my-tls"))
    with tls_client(instance.address, root, instance.hostname) as sock:
        assert sock.getpeercert(binary_form=True) == der(values["tls.crt"])
    assert recap_changed(playbook("deploy", instance.vars(redis_tls_secret="my-tls"))) == 0


# The Sentinel topology

@pytest.fixture(scope="module")
def sentinel_set(core, request, tmp_path_factory):
    namespace = "amp-tls-sentinel-%d" % os.getpid()
    request.addfinalizer(lambda: delete_namespace(core, namespace))
    backups = tmp_path_factory.mktemp("sentinel-backups")
    settings = variables(namespace, backups, redis_topology="sentinel",
                         redis_resources={"requests": {"cpu": "50m", "memory": "64Mi"},
                                          "limits": {"cpu": "500m", "memory": "256Mi"}})
    playbook("deploy", settings)
    users = secret_data(core, namespace, NAME + "-users")
    sentinel = secret_data(core, namespace, NAME + "-sentinel")
    members = SentinelSet(Kube(kube_configuration({"kubeconfig": KUBECONFIG})), namespace, NAME, NAME + "-sentinel",
                          NAME, (users["admin"], sentinel["password"]), user="admin")
    return members, settings


def replicating(members):
    infos = [members.replication(pod) for pod in members.servers()]
    replicas = [info for info in infos if info.get("role") == "slave"]
    return len(replicas) == len(infos) - 1 and all(info.get("master_link_status") == "up" for info in replicas)


def test_replication_and_the_sentinels_speak_tls_and_a_failover_loses_nothing(sentinel_set, tmp_path):
    members, settings = sentinel_set
    wait("every replica linked to the primary", lambda: replicating(members), timeout=120)
    for pod in members.sentinels():
        assert members.sentinel_cli(pod)("PING").strip() == "PONG"
    for pod in members.servers():
        server = members.server_cli(pod)
        assert server("CONFIG", "GET", "port").split()[1] == "0"  # no plaintext port
        assert server("CONFIG", "GET", "tls-replication").split()[1] == "yes"
    report = tmp_path / "drill.json"
    playbook("failover_drill", settings, "-e", "confirm=yes", "-e", "variants=kill", "-e", "report=%s" % report)
    [kill] = json.loads(report.read_text())
    assert kill["acknowledged_writes"] > 40 and kill["lost_writes"] == 0, kill
    assert kill["primary_after"] != kill["primary_before"]
    wait("every replica linked to the new primary", lambda: replicating(members), timeout=120)


def test_a_renewal_restarts_the_sentinels_one_at_a_time_and_no_server(sentinel_set, core):
    members, settings = sentinel_set
    key, cert = short_lived_certificate(core, members.namespace, days=10)
    core.patch_namespaced_secret(NAME + "-tls", members.namespace, {"stringData": {"tls.crt": cert, "tls.key": key}})
    servers = dict((pod, core.read_namespaced_pod(pod, members.namespace).metadata.uid) for pod in members.servers())
    sentinels = dict((pod, core.read_namespaced_pod(pod, members.namespace).metadata.uid)
                     for pod in members.sentinels())
    playbook("deploy", settings)
    assert dict((pod, core.read_namespaced_pod(pod, members.namespace).metadata.uid) for pod in servers) == servers
    assert all(core.read_namespaced_pod(pod, members.namespace).metadata.uid != uid for pod, uid in sentinels.items())
    wait("every replica linked to the primary", lambda: replicating(members), timeout=120)
    for pod in members.sentinels():
        assert members.sentinel_cli(pod)("SENTINEL", "CKQUORUM", NAME).startswith("OK")
    assert recap_changed(playbook("deploy", settings)) == 0
