"""Least privilege on a real instance deployed by playbooks/deploy.yml (docs/security.md).

Each ACL user logs in with its own password, can do its job and is refused
the rest; the default user is off; no password is in the environment or the
arguments of any process of the pod, nor in its ConfigMap or StatefulSet; a
Secret whose password ends with a newline is refused before anything changes;
what scripts and transactions wrote survives a restart with the default user
off; the default NetworkPolicy admits the clients and Prometheus, each to its
own port, and lets the server connect nowhere.
"""

import base64
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
from kubernetes.client.rest import ApiException

from netpol import Pod, Policies, start_idle_pod

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    RedisAdminError, pod_cli, run_pod_cli)

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
SMALL = ["-e", '{"redis_resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, '
         '"limits": {"memory": "256Mi"}}, "redis_maxmemory": "64mb"}']

# user: (commands it must be able to run, commands it must be refused)
RIGHTS = {
    "app": ([("SET", "k", "v"), ("GET", "k"), ("EXPIRE", "k", "600"), ("SCAN", "0"), ("PUBLISH", "c", "m"),
             ("EVAL", "return redis.call('GET', KEYS[1])", "1", "k"), ("CLIENT", "SETNAME", "app")],
            [("REPLICAOF", "NO", "ONE"), ("SHUTDOWN", "NOSAVE"), ("FLUSHALL",), ("FLUSHDB",), ("MONITOR",),
             ("CLIENT", "KILL", "ID", "1"), ("CLIENT", "LIST"), ("DEBUG", "SLEEP", "0"), ("CONFIG", "GET", "*"),
             ("CONFIG", "SET", "maxmemory", "1"), ("ACL", "LIST"), ("KEYS", "*"), ("INFO",), ("BGSAVE",),
             ("SAVE",), ("RESTORE", "x", "0", "y"), ("MIGRATE", "h", "1", "k", "0", "1"), ("SWAPDB", "0", "1")]),
    "backup": ([("PING",), ("INFO", "persistence"), ("LASTSAVE",), ("TIME",)],
               [("GET", "k"), ("SET", "k", "v"), ("CONFIG", "GET", "masterauth"), ("FLUSHALL",),
                ("SHUTDOWN", "NOSAVE"), ("KEYS", "*"), ("SCAN", "0"), ("REPLICAOF", "NO", "ONE")]),
    "probe": ([("PING",)], [("INFO",), ("GET", "k"), ("CONFIG", "GET", "*"), ("DBSIZE",)]),
    "exporter": ([("INFO",), ("DBSIZE",), ("SLOWLOG", "LEN")],
                 [("CONFIG", "GET", "masterauth"), ("GET", "k"), ("SET", "k", "v"), ("FLUSHALL",), ("KEYS", "*"),
                  ("SCAN", "0"), ("CONFIG", "SET", "maxmemory", "1"), ("SHUTDOWN", "NOSAVE")]),
    "admin": ([("CONFIG", "GET", "maxmemory"), ("ACL", "WHOAMI"), ("CLIENT", "LIST"), ("INFO",), ("DBSIZE",)], []),
}
# Every process of a container: its environment and arguments (the exec's own shell included), and `env` as an
# operator would run it.
PROCESS_SCAN = 'for p in /proc/[0-9]*; do cat "$p/environ" "$p/cmdline" 2>/dev/null; echo; done; env'
# Where each user's password is: (Secret suffix, key)
PASSWORDS = {"app": ("-auth", "password"), "admin": ("-users", "admin"), "backup": ("-users", "backup"),
             "probe": ("-users", "probe"), "exporter": ("-exporter", "password")}


def playbook(*args, check=True):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook")] + list(args),
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-3000:]
    return result


def secret_value(core, namespace, name, key):
    return base64.b64decode(core.read_namespaced_secret(name, namespace).data[key]).decode()


@pytest.fixture(scope="module")
def instance(core, request):
    """(configuration, namespace, {user: password}) of a freshly deployed instance."""
    namespace = "amp-security-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace, *SMALL)
    passwords = dict((user, secret_value(core, namespace, NAME + suffix, key))
                     for user, (suffix, key) in PASSWORDS.items())
    return kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")}), namespace, passwords


def outcome(cli, args):
    """The server's reply, or the error the CLI reported, as text."""
    try:
        return cli(*args).strip()
    except RedisAdminError as exc:
        return str(exc)


def test_each_user_can_do_its_job_and_is_refused_the_rest(instance):
    configuration, namespace, passwords = instance
    admin = pod_cli(configuration, namespace, POD, "redis", passwords["admin"], user="admin", timeout=20)
    wrong = {}
    for user, (allowed, refused) in RIGHTS.items():
        cli = pod_cli(configuration, namespace, POD, "redis", passwords[user], user=user, timeout=20)
        for args in allowed:
            reply = outcome(cli, args)
            if reply.startswith(("NOPERM", "NOAUTH", "WRONGPASS")) or "failed" in reply:
                wrong["%s may %s" % (user, " ".join(args))] = reply
        for args in refused:
            reply = outcome(cli, args)
            if args[0] == "DEBUG":
                # The server refuses DEBUG to every network client before the ACL is asked: ask the ACL.
                reply = outcome(admin, ("ACL", "DRYRUN", user) + args)
            if not reply.upper().startswith(("NOPERM", "THIS USER HAS NO PERMISSIONS")):
                wrong["%s may not %s" % (user, " ".join(args))] = reply
    assert wrong == {}
    assert outcome(pod_cli(configuration, namespace, POD, "redis", None), ("GET", "k")).startswith("NOAUTH")


def test_each_password_opens_its_own_user_only_and_the_default_user_is_off(instance):
    configuration, namespace, passwords = instance
    for user in passwords:
        for other in passwords:
            if other != user:
                cli = pod_cli(configuration, namespace, POD, "redis", passwords[other], user=user, timeout=20)
                assert "authentication failed" in outcome(cli, ("PING",)), (user, other)
        default = pod_cli(configuration, namespace, POD, "redis", passwords[user], timeout=20)
        assert "authentication failed" in outcome(default, ("PING",)), user


def test_no_password_is_in_an_environment_an_argument_or_an_object(instance, core, apps):
    configuration, namespace, passwords = instance
    seen = {}
    for container in ("redis", "exporter"):
        rc, out, err = run(configuration, namespace, POD, container, ["sh", "-c", PROCESS_SCAN], timeout=30)
        assert rc == 0, err
        seen[container] = out
        assert b"redis-server" in out or container == "exporter"
    statefulset = apps.read_namespaced_stateful_set(NAME, namespace)
    config_map = core.read_namespaced_config_map(NAME + "-config", namespace)
    events = core.list_namespaced_event(namespace)
    texts = {"StatefulSet": str(statefulset.to_dict()), "ConfigMap": str(config_map.to_dict()),
             "events": str([event.message for event in events.items])}
    leaks = [(user, where) for user, password in passwords.items()
             for where, text in list(seen.items()) + list(texts.items())
             if password.encode() in (text if isinstance(text, bytes) else text.encode())]
    assert leaks == []
    assert b"REDIS_PASSWORD" not in seen["redis"] and b"REDISCLI_AUTH" not in seen["redis"]


# From the exporter's container: the server's process, then one of the server's password files through
# /proc/<pid>/root (the pods share their process namespace), then the exporter's own password file.
REACH_SCRIPT = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = redis-server ] && pid=${p#/proc/}; done; '
                'echo "pid=$pid"; cat "/proc/$pid/root/etc/redis-auth/admin"; echo "server-file-rc=$?"; '
                'cat /etc/redis-exporter/password-file.json >/dev/null; echo "own-file-rc=$?"')


def test_the_exporter_reads_its_own_password_file_and_none_of_the_servers(instance):
    configuration, namespace, passwords = instance
    rc, out, err = run(configuration, namespace, POD, "exporter", ["sh", "-c", REACH_SCRIPT], timeout=30)
    text = out.decode() + err.decode()
    assert re.search(r"pid=\d+", text), text  # the server's process is visible: the test means something
    assert passwords["admin"] not in text and "server-file-rc=1" in text, text
    assert "own-file-rc=0" in text, text


def test_a_password_with_a_trailing_newline_is_refused_before_anything_changes(core, apps, request):
    namespace = "amp-security-bad-%d" % os.getpid()
    core.create_namespace({"metadata": {"name": namespace}})
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    core.create_namespaced_secret(namespace, {"metadata": {"name": NAME + "-users"},
                                              "stringData": {"admin": "a-password-from-a-file\n"}})
    result = playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace,
                      *SMALL, check=False)
    assert result.returncode != 0
    assert "Secret %s/%s-users: key admin ends with a newline" % (namespace, NAME) in result.stdout
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_stateful_set(NAME, namespace)
    assert missing.value.status == 404
    assert [s.metadata.name for s in core.list_namespaced_secret(namespace).items
            if s.metadata.name.startswith(NAME)] == [NAME + "-users"]


def test_what_scripts_and_transactions_wrote_survives_a_restart(instance, core):
    """The AOF replays MULTI/EXEC under the default user's rights: an off default user that had none made a restart
    drop every key a script or a transaction wrote, silently (the Sentinel conversion test found it)."""
    configuration, namespace, passwords = instance
    app = pod_cli(configuration, namespace, POD, "redis", passwords["app"], user="app", timeout=30)
    app("EVAL", "for i=1,500 do redis.call('SET', 'script:' .. i .. '\\0\\255', i) end", "0")
    rc, out, err = run_pod_cli(configuration, namespace, POD, "redis", passwords["app"], [], user="app",
                               stdin=b"MULTI\nSET tx:1 one\nSET tx:2 two\nEXEC\n")
    assert rc == 0 and b"OK" in out, (out, err)
    before = int(app("DBSIZE"))
    assert before >= 502
    uid = core.read_namespaced_pod(POD, namespace).metadata.uid
    core.delete_namespaced_pod(POD, namespace)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(POD, namespace) if POD in [
            p.metadata.name for p in core.list_namespaced_pod(namespace).items] else None
        if pod is not None and pod.metadata.uid != uid and any(
                c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])):
            break
        time.sleep(1)
    else:
        raise AssertionError("pod 0 not Ready again within 180 s")
    assert int(app("DBSIZE")) == before
    assert app("MGET", "tx:1", "tx:2").split() == ["one", "two"]
    assert app("EVAL", "local n=0 for i=1,500 do n=n+redis.call('EXISTS', 'script:' .. i .. '\\0\\255') end "
                       "return n", "0").strip() == "500"


PORTS = (6379, 9121, 26379)
CLIENT = {"app.kubernetes.io/part-of": "alertmanagerpp"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
TOOL = {"alertmanagerpp.io/client-of": NAME}


def admitted_ports(api_client, source, target):
    policies = Policies(api_client)
    return set(port for port in PORTS if policies.admits(source, target, port))


def test_the_default_network_policy_admits_clients_and_prometheus_each_to_its_port_and_lets_nothing_out(
        instance, core, apps, api_client, request):
    dummy, namespace, dummy = instance
    other = namespace + "-apps"
    core.create_namespace({"metadata": {"name": other, "labels": {"amp-test-team": "alerting"}}})
    request.addfinalizer(lambda: core.delete_namespace(other))
    image = apps.read_namespaced_stateful_set(NAME, namespace).spec.template.spec.containers[0].image
    pods = dict(((where, role), start_idle_pod(core, where, role, labels, image))
                for where in (namespace, other)
                for role, labels in (("client", CLIENT), ("prometheus", PROMETHEUS), ("stranger", {"x": "y"}),
                                     ("tool", TOOL)))
    server = Pod(namespace, POD)
    assert Policies(api_client).selected_pods(namespace, NAME) == {POD}
    expected = {"client": {6379}, "prometheus": {9121}, "stranger": set(), "tool": {6379}}
    for (where, role), pod in pods.items():
        # The collection's own clients (drill writers, load generators) live in the instance's namespace.
        wanted = set() if (role == "tool" and where == other) else expected[role]
        assert admitted_ports(api_client, pod, server) == wanted, pod
        assert admitted_ports(api_client, server, pod) == set(), pod

    # Clients chosen by namespace too: the instance's own namespace is not labelled.
    playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace, *SMALL,
             "-e", '{"redis_network_policy_client_namespace_selector": {"amp-test-team": "alerting"}}')
    assert admitted_ports(api_client, pods[(other, "client")], server) == {6379}
    assert admitted_ports(api_client, pods[(namespace, "client")], server) == set()


def test_an_address_block_that_is_no_cidr_is_refused_before_anything_changes(core):
    namespace = "amp-security-cidr-%d" % os.getpid()
    result = playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace, *SMALL,
                      "-e", '{"redis_network_policy_exporter_ip_blocks": ["10.0.0.0/8", "10.0.0.1"]}', check=False)
    assert result.returncode != 0
    assert "must be address blocks in CIDR notation (e.g. 10.0.0.0/24 or fd00::/64); not: 10.0.0.1. Nothing was " \
           "changed." in " ".join(result.stdout.split())
    assert namespace not in [n.metadata.name for n in core.list_namespace().items]
