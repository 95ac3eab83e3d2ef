"""The Sentinel topology on the real cluster: conversion from standalone, the set's shape, failover, rolling change.

One instance for the module, deployed standalone with data and converted to
Sentinel by deploy.yml, as an operator would. The tests run in file order and
build on each other's state (a kill moves the primary; the rolling change
starts from wherever it is).
"""

import base64
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import Kube, kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_roll import in_sync
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import parse_info, run_pod_cli
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SentinelSet, replica_offsets
from prometheus import Prometheus
from netpol import Pod, Policies, start_idle_pod
from test_leaks import secret_values
from test_security import PROCESS_SCAN

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NAME = "alertmanagerpp-redis"
KUBECONFIG = (os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
              or os.path.expanduser("~/.cache/alertmanagerpp-datastores/kubeconfig"))
KEYS = 2000
# Every byte value in keys and values; WAIT makes the replicas' copies part of the acknowledgement.
WRITE = ("for i=1,%d do redis.call('SET', 'k' .. i .. '\\0\\n\\255', string.rep(string.char(i %% 256), 64) .. i) end"
         % KEYS)


CHECK = ("local bad=0 for i=1,%d do if redis.call('GET', 'k' .. i .. '\\0\\n\\255') "
         "~= string.rep(string.char(i %% 256), 64) .. i then bad=bad+1 end end return bad" % KEYS)


# Small CPU requests: six pods of this set fit beside the other tests' on a 2-CPU node.
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def playbook(name, namespace, *extra, expect_success=True):
    variables = {"redis_namespace": namespace, "profile": "standard", "redis_resources": RESOURCES}
    result = subprocess.run([PLAYBOOK, "playbooks/%s.yml" % name, "-e", json.dumps(variables)] + list(extra),
                            cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                            check=False)
    assert (result.returncode == 0) == expect_success, result.stdout[-5000:] + result.stderr[-2000:]
    return result.stdout + result.stderr  # warnings go to stderr


def deploy(namespace, *extra, expect_success=True):
    return playbook("deploy", namespace, *extra, expect_success=expect_success)


def recap_changed(output):
    return int(output.split("PLAY RECAP")[1].split("changed=")[1].split()[0])


@pytest.fixture(scope="module")
def members(core, request):
    namespace = "amp-sentinel-%s" % os.getpid()
    request.addfinalizer(lambda: delete_namespace(core, namespace))
    deploy(namespace)
    kube = Kube(kube_configuration({"kubeconfig": KUBECONFIG}))
    standalone = SentinelSet(kube, namespace, NAME, NAME + "-sentinel", NAME, (password(core, namespace), None),
                             user="admin")
    cli = standalone.server_cli(NAME + "-0")
    assert cli("EVAL", WRITE, "0").strip() == ""
    assert cli("DBSIZE").strip() == str(KEYS)
    deploy(namespace, "-e", "redis_topology=sentinel")
    return SentinelSet(kube, namespace, NAME, NAME + "-sentinel", NAME,
                       (password(core, namespace), password(core, namespace, NAME + "-sentinel", "password")),
                       user="admin")


def delete_namespace(core, namespace):
    """Delete and wait until it is gone: its pods' CPU requests must be free for the next tests."""
    core.delete_namespace(namespace)
    wait("namespace %s to be gone" % namespace,
         lambda: namespace not in [ns.metadata.name for ns in core.list_namespace().items], timeout=300, interval=2)


def password(core, namespace, secret=NAME + "-users", key="admin"):
    """A password of the instance: the administrator's by default."""
    return base64.b64decode(core.read_namespaced_secret(secret, namespace).data[key]).decode()


def wait(what, condition, timeout=120, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def dbsizes(members):
    return dict((pod, members.server_cli(pod)("DBSIZE").strip()) for pod in members.servers())


def healthy(members):
    """One primary, every replica in sync with it (by the servers' own INFO)."""
    infos = [members.replication(pod) for pod in members.servers()]
    roles = [info.get("role") for info in infos]
    return roles.count("master") == 1 and all(in_sync(info) for info in infos if info.get("role") != "master")


@pytest.mark.parametrize("extra, message", [
    (["redis_replicas=2"], "redis_topology standalone runs one pod: redis_replicas is 2"),
    (["redis_topology=sentinel", "redis_sentinel_replicas=4"], "an odd redis_sentinel_replicas >= 3 (is 4)"),
    (["redis_topology=sentinel", "redis_sentinel_quorum=4"], "redis_sentinel_replicas (is 4)"),
    (["redis_topology=sentinel", "redis_min_replicas_to_write=3"], "below redis_replicas (is 3)"),
])
def test_impossible_counts_are_refused_before_anything_changes(core, extra, message):
    namespace = "amp-sentinel-refused-%s" % os.getpid()
    output = deploy(namespace, *sum((["-e", e] for e in extra), []), expect_success=False)
    assert message in " ".join(output.split())
    assert namespace not in [ns.metadata.name for ns in core.list_namespace().items]


def test_conversion_kept_the_data_on_every_pod(members):
    for pod in members.servers():
        assert members.server_cli(pod)("EVAL", CHECK, "0").strip() == "0", pod


def test_one_primary_two_replicas_and_every_sentinel_sees_the_set(members):
    assert healthy(members)
    servers = sorted(members.address(pod) for pod in members.servers())
    sentinels = sorted(members.address(pod) for pod in members.sentinels())
    primary = members.primary_address()
    assert primary in servers
    for pod in members.sentinels():
        view = members.sentinel_view(pod)
        assert view["primary"] == primary
        # The Services' addresses: not loopback, not pod IPs that change with every restart.
        assert view["replicas"] == sorted(set(servers) - {primary})
        assert view["sentinels"] == sorted(set(sentinels) - {members.address(pod)})


def test_the_topology_users_replicate_and_watch_and_may_do_nothing_else(members, core):
    """Replication and Sentinel users on a server, the exporter's on a Sentinel: refused what is not their job;
    no password in the environment of a server's or a Sentinel's processes."""
    namespace = members.namespace
    passwords = dict((key, password(core, namespace, NAME + "-sentinel", key))
                     for key in ("replication-password", "monitor-password", "password"))
    exporter = password(core, namespace, NAME + "-sentinel-exporter", "password")
    primary = members.pod_at(members.primary_address())

    def reply(pod, container, port, user, secret, *args):
        rc, out, err = run_pod_cli(members.kube.configuration, namespace, pod, container, secret, args,
                                   port=port, user=user, timeout=20)
        return (out + err).decode("utf-8", "replace").strip()

    server = (primary, "redis", 6379)
    assert reply(*server, "replication", passwords["replication-password"], "GET", "k1").startswith("NOPERM")
    assert reply(*server, "replication", passwords["replication-password"], "PING") == "PONG"
    for args in (("GET", "k1"), ("SET", "k", "v"), ("FLUSHALL",), ("CONFIG", "GET", "*"), ("SHUTDOWN",)):
        assert reply(*server, "sentinel", passwords["monitor-password"], *args).startswith("NOPERM"), args
    assert reply(*server, "sentinel", passwords["monitor-password"], "ROLE").startswith("master")
    sentinel = (NAME + "-sentinel-0", "sentinel", 26379)
    assert reply(*sentinel, "exporter", exporter, "SENTINEL", "CKQUORUM", NAME).startswith("OK")
    for args in (("SENTINEL", "FAILOVER", NAME), ("SENTINEL", "SET", NAME, "quorum", "1"), ("SHUTDOWN",)):
        assert reply(*sentinel, "exporter", exporter, *args).startswith("NOPERM"), args
    for pod, container in ((primary, "redis"), (NAME + "-sentinel-0", "sentinel")):
        rc, out, err = run(members.kube.configuration, namespace, pod, container, ["sh", "-c", PROCESS_SCAN],
                           timeout=30)
        leaked = [key for key, value in list(passwords.items()) + [("exporter", exporter)] if value.encode() in out]
        assert rc == 0 and leaked == [], (pod, leaked)


def test_the_network_policies_let_the_set_talk_within_itself_and_clients_reach_both_ports(
        members, core, apps, api_client):
    namespace = members.namespace
    image = apps.read_namespaced_stateful_set(NAME, namespace).spec.template.spec.containers[0].image
    client = start_idle_pod(core, namespace, "client", {"app.kubernetes.io/part-of": "alertmanagerpp"}, image)
    stranger = start_idle_pod(core, namespace, "stranger", {}, image)
    writer = start_idle_pod(core, namespace, "drill-writer", {"alertmanagerpp.io/client-of": NAME}, image)
    policies = Policies(api_client)
    servers = [Pod(namespace, "%s-%d" % (NAME, i)) for i in range(3)]
    sentinels = [Pod(namespace, "%s-sentinel-%d" % (NAME, i)) for i in range(3)]
    assert policies.selected_pods(namespace, NAME) == set(p.name for p in servers)
    assert policies.selected_pods(namespace, NAME + "-sentinel") == set(p.name for p in sentinels)
    ports = (6379, 26379, 9121)

    def admitted(source, target):
        return set(port for port in ports if policies.admits(source, target, port))

    for member in servers + sentinels:
        for peer in servers:
            assert admitted(member, peer) == {6379}, (member, peer)
        for peer in sentinels:
            assert admitted(member, peer) == {26379}, (member, peer)
        assert admitted(member, client) == set() and admitted(member, stranger) == set(), member
    assert admitted(client, servers[1]) == {6379} and admitted(client, sentinels[2]) == {26379}
    assert admitted(writer, servers[2]) == {6379} and admitted(writer, sentinels[1]) == {26379}
    assert admitted(stranger, servers[0]) == set() and admitted(stranger, sentinels[0]) == set()


def test_a_second_deploy_changes_nothing(members):
    assert recap_changed(deploy(members.namespace, "-e", "redis_topology=sentinel")) == 0


def test_a_rotation_reaches_every_server_replication_and_the_sentinels(members, core):
    """Every user but admin (whose password the members fixture holds): the servers accept the new passwords
    only; replicas reconnect with the new masterauth, the Sentinels with the new auth-pass; -vvv shows none."""
    namespace = members.namespace
    keys = {"app": (NAME + "-auth", "password"), "replication": (NAME + "-sentinel", "replication-password"),
            "sentinel": (NAME + "-sentinel", "monitor-password")}
    old = dict((user, password(core, namespace, *where)) for user, where in keys.items())
    secrets = secret_values(core, namespace)
    output = playbook("rotate_credentials", namespace, "-vvv", "-e", "redis_topology=sentinel",
                      "-e", "redis_credentials_rotation=sentinel-test",
                      "-e", '{"redis_credentials_users": ["app", "backup", "probe", "replication", "sentinel"]}')
    secrets.update(secret_values(core, namespace))
    assert [True for form in secrets if form in output] == []
    new = dict((user, password(core, namespace, *where)) for user, where in keys.items())
    for pod in members.servers():
        for user in keys:
            assert new[user] != old[user]
            for secret, expected in ((new[user], "PONG"), (old[user], "WRONGPASS")):
                rc, out, err = run_pod_cli(members.kube.configuration, namespace, pod, "redis", secret, ["PING"],
                                           user=user, timeout=20)
                assert expected in (out + err).decode("utf-8", "replace"), (pod, user, expected)
    # Every link logs in again, with the new passwords.
    primary = members.pod_at(members.primary_address())
    for pod in members.servers():
        members.server_cli(pod)("CLIENT", "KILL", "USER", "sentinel")
        if pod != primary:
            members.server_cli(pod)("CLIENT", "KILL", "TYPE", "master")
    time.sleep(2)  # the replicas notice the lost link within their 1 s replication cron
    wait("replicas in sync again", lambda: healthy(members), timeout=60)

    def logged_in(user):
        return [line for line in members.server_cli(primary)("CLIENT", "LIST").splitlines()
                if " user=%s " % user in line]
    # Each Sentinel holds a command and a publish/subscribe link; an auth-pass refused would leave none.
    wait("every Sentinel logged in again as user sentinel", lambda: len(logged_in("sentinel")) >= 6, timeout=60)
    assert len(logged_in("replication")) == 2
    assert members.pod_at(members.primary_address()) == primary


def test_a_killed_primary_is_replaced_and_comes_back_as_a_replica(members, core):
    old_address = members.primary_address()
    old = members.pod_at(old_address)
    cli = members.server_cli(old)
    cli("EVAL", "for i=1,1000 do redis.call('SET','acked:'..i, i) end", "0")
    # Acknowledged by both replicas too (WAIT cannot run in a script; their offsets say the same).
    written = int(parse_info(cli("INFO", "replication"))["master_repl_offset"])

    def acknowledged():
        offsets = replica_offsets(parse_info(cli("INFO", "replication"))).values()
        return len(offsets) == 2 and min(offsets) >= written
    wait("both replicas to acknowledge", acknowledged, timeout=10, interval=0.1)
    started = time.monotonic()
    core.delete_namespaced_pod(old, members.namespace, grace_period_seconds=0)
    # How fast: bench/bench_failover.py measures it. Here only a failover that never comes fails (a Sentinel whose
    # election failed starts another only after twice the failover-timeout, 2 x 30 s).
    new_address = wait("a new primary", lambda: (members.primary_address() or old_address) != old_address
                       and members.primary_address(), timeout=180, interval=0.2)
    print("new primary %s %.1f s after the kill" % (new_address, time.monotonic() - started))
    new = members.pod_at(new_address)
    assert members.server_cli(new)("EVAL", "local n=0 for i=1,1000 do n=n+redis.call('EXISTS','acked:'..i) end "
                                   "return n", "0").strip() == "1000"
    wait("the old primary back as an in-sync replica", lambda: in_sync(members.replication(old)), timeout=180)
    wait("every pod holding the same keys", lambda: len(set(dbsizes(members).values())) == 1, timeout=60)
    assert set(dbsizes(members).values()) == {str(KEYS + 1000)}


def test_a_changed_configuration_rolls_the_replicas_first_then_switches_over(members, core):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    primary = members.pod_at(members.primary_address())
    before = dict((pod, core.read_namespaced_pod(pod, members.namespace).metadata.uid) for pod in members.servers())
    output = deploy(members.namespace, "-e", "redis_topology=sentinel", "-e", "redis_maxmemory_samples=6", "-v")
    steps = [line.strip()[2:] for line in output.splitlines() if line.strip().startswith(("- restart", "- switch"))]
    replicas = sorted(set(members.servers()) - {primary})
    assert sorted(steps[:2]) == ["restart " + pod for pod in replicas], steps
    assert steps[2:] == ["switch the primary away from %s (SENTINEL FAILOVER)" % primary, "restart " + primary]
    after = dict((pod, core.read_namespaced_pod(pod, members.namespace).metadata.uid) for pod in members.servers())
    assert all(before[pod] != after[pod] for pod in before)
    assert members.pod_at(members.primary_address()) != primary
    assert healthy(members)
    assert set(dbsizes(members).values()) == {str(KEYS + 1000)}


def drill(namespace, *extra):
    variables = {"redis_namespace": namespace, "redis_topology": "sentinel", "redis_resources": RESOURCES}
    return subprocess.run([PLAYBOOK, "playbooks/failover_drill.yml", "-e", json.dumps(variables)] + list(extra),
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                          check=False)


def test_the_drill_without_confirmation_only_says_what_it_would_do(members):
    primary = members.primary_address()
    result = drill(members.namespace)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Would kill then freeze the primary" in " ".join(result.stdout.split())
    assert recap_changed(result.stdout) == 0
    assert members.primary_address() == primary


def test_the_drill_kills_and_freezes_the_primary_and_no_acknowledged_write_is_lost(members, core, tmp_path):
    """Also: the drill's output at -vvv shows no secret of the set."""
    wait("a healthy set", lambda: healthy(members), timeout=120)
    report_file = tmp_path / "drill.json"
    result = drill(members.namespace, "-e", "confirm=yes", "-e", "report=%s" % report_file, "-vvv")
    assert result.returncode == 0, result.stdout[-5000:]
    output = result.stdout + result.stderr
    assert [where for where in secret_values(core, members.namespace) if where in output] == []
    reports = json.loads(report_file.read_text())
    print(json.dumps(reports))
    assert [r["variant"] for r in reports] == ["kill", "freeze"]
    for report in reports:
        assert report["primary_after"] != report["primary_before"]
        assert report["acknowledged_writes"] > 40
        assert report["lost_writes"] == 0, report
        assert report["write_unavailable_seconds"] > 0  # its length: bench/bench_failover.py
    assert healthy(members)


def scrape_targets(members, core):
    """(address, labels) of every exporter of the set, labelled as the ServiceMonitor would."""
    targets = []
    for pods, service in ((members.servers(), NAME + "-metrics"), (members.sentinels(), NAME + "-sentinel-metrics")):
        for pod in pods:
            address = core.read_namespaced_pod(pod, members.namespace).status.pod_ip
            targets.append(("%s:9121" % address, {"namespace": members.namespace, "service": service, "pod": pod}))
    return targets


def firing(prometheus, alert):
    query = 'ALERTS{alertname="%s", alertstate="firing"}' % alert
    return prometheus.query(query)["data"]["result"]


def test_prometheus_sees_the_sentinels_and_alerts_on_a_failover(members, core, tmp_path):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    rule_file = tmp_path / "rules.yml"
    deploy(members.namespace, "-e", "redis_topology=sentinel", "-e", "redis_monitoring_rules_file=%s" % rule_file)
    groups = yaml.safe_load(rule_file.read_text())["groups"]
    assert [len(group["rules"]) for group in groups] == [13, 5]
    prometheus = Prometheus(tmp_path, scrape_targets(members, core), rule_file)
    try:
        prometheus.wait_for("every Sentinel to count 3 Sentinels and 2 replicas", lambda: [
            r["value"][1] for r in prometheus.query("redis_sentinel_master_ok_sentinels * 10 + "
                                                    "on(pod) redis_sentinel_master_ok_slaves")["data"]["result"]
        ] == ["32"] * 3)
        prometheus.wait_for("every rule evaluated", lambda: all(
            r.get("lastEvaluation", "").startswith("20")
            for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]))
        rules = [r for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
        assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
        assert prometheus.query('ALERTS{alertstate="firing"}')["data"]["result"] == []
        old = members.primary_address()
        core.delete_namespaced_pod(members.pod_at(old), members.namespace, grace_period_seconds=0)
        prometheus.wait_for("RedisFailoverHappened", lambda: firing(prometheus, "RedisFailoverHappened"), timeout=90)
        assert members.primary_address() not in (None, old)
        assert firing(prometheus, "RedisSecondPrimary") == []
    finally:
        prometheus.stop()
    wait("the old primary back in sync", lambda: healthy(members), timeout=180)


def test_the_health_report_covers_the_set_and_fails_below_the_quorum(members, tmp_path):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    report = tmp_path / "health.json"
    output = playbook("monitor", members.namespace, "-e", "redis_topology=sentinel",
                      "-e", "redis_monitoring_report_file=%s" % report)
    assert "Sentinel set %s/%s: primary %s, whole" % (members.namespace, NAME, members.pod_at(
        members.primary_address())) in " ".join(output.split())
    document = json.loads(report.read_text())
    assert document["healthy"] and document["problems"] == []
    assert sorted(document["report"]["pods"]) == members.servers()
    assert sorted(document["report"]["sentinels"]) == members.sentinels()
    members.kube.apps.patch_namespaced_stateful_set_scale(NAME + "-sentinel", members.namespace,
                                                          {"spec": {"replicas": 1}})
    # Gone within seconds alone; beside the other lane's tests it took more than 60 s once.
    wait("two Sentinels gone", lambda: len(members.kube.core.list_namespaced_pod(
        members.namespace, label_selector="app.kubernetes.io/component=sentinel").items) == 1, timeout=180)
    output = playbook("monitor", members.namespace, "-e", "redis_topology=sentinel", expect_success=False)
    assert "1 of 1 Sentinels answer, below the quorum of 2: no failover is possible" in " ".join(output.split())
    deploy(members.namespace, "-e", "redis_topology=sentinel")
    assert healthy(members)


def test_a_sentinel_that_remembers_a_stranger_is_reset_by_the_next_deploy(members):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    primary = members.primary_address()
    # A replica that comes and goes (redis-cli --replica from a Sentinel's pod, whose own address is no
    # member's): the Sentinels learn it from the primary's INFO and remember it after it is gone, as they
    # remember an old pod IP.
    rc, out, err = run(members.kube.configuration, members.namespace, members.sentinels()[0], "sentinel",
                       ["sh", "-c", 'IFS= read -r REDISCLI_AUTH; export REDISCLI_AUTH; '
                        'timeout 15 redis-cli --user admin -h "$0" --replica >/dev/null 2>&1; true', primary],
                       stdin_data=(members.password + "\n").encode(), timeout=60)
    stranger = set(members.sentinel_view(members.sentinels()[0])["replicas"]) - set(
        members.address(pod) for pod in members.servers())
    assert len(stranger) == 1, members.sentinel_view(members.sentinels()[0])
    stranger = stranger.pop()
    output = deploy(members.namespace, "-e", "redis_topology=sentinel", "-v")
    # YAML quotes the step (it holds ": ").
    resets = [line.strip()[2:].strip("'") for line in output.splitlines() if line.strip().startswith("- 'reset ")]
    # Each Sentinel that saw it (one INFO of the primary every 10 s) is reset, the first one at least.
    assert resets and resets[0] == "reset %s: it remembers %s" % (members.sentinels()[0], stranger), resets
    assert all(reset.endswith(": it remembers %s" % stranger) for reset in resets), resets
    for pod in members.sentinels():
        assert members.sentinel_view(pod)["replicas"] == sorted(
            members.address(server) for server in members.servers() if members.address(server) != primary)


def backup(members, backup_dir, *extra):
    """backup.yml into `backup_dir`; (its output, the manifest of the newest backup)."""
    output = playbook("backup", members.namespace, "-e", "redis_topology=sentinel", "-e",
                      "redis_backup_dir=%s" % backup_dir, "-e", "redis_backup_skip_unchanged=false", *extra)
    manifests = sorted(backup_dir.glob("*/%s/%s/*.json" % (members.namespace, NAME)))
    return output, json.loads(manifests[-1].read_text())


def test_a_backup_reads_an_in_sync_replica_and_says_which(members, tmp_path):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    primary = members.pod_at(members.primary_address())
    keys = int(members.server_cli(primary)("DBSIZE"))  # the drill's keys included
    output, manifest = backup(members, tmp_path)
    assert manifest["source"]["role"] == "replica"
    assert manifest["source"]["pod"] != primary
    assert manifest["source"]["reason"] == "in sync with the primary %s" % primary
    assert manifest["keys_total"] == keys
    assert "from %s (replica" % manifest["source"]["pod"] in " ".join(output.split())


def signal_server(members, pod, name):
    """kill -<name> of the pod's server process (the pods share their process namespace)."""
    script = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = redis-server ] && kill -"$0" ${p#/proc/}; '
              'done; true')
    rc, out, err = run(members.kube.configuration, members.namespace, pod, "redis", ["sh", "-c", script, name])
    assert rc == 0, err


def test_with_no_replica_in_sync_the_backup_reads_the_primary_and_warns(members, tmp_path):
    primary = members.pod_at(members.primary_address())
    replicas = [pod for pod in members.servers() if pod != primary]
    # Hung replicas: they do not answer (and, where exec probes time out, are no longer Ready).
    for pod in replicas:
        signal_server(members, pod, "STOP")
    try:
        output, manifest = backup(members, tmp_path)
    finally:
        for pod in replicas:
            signal_server(members, pod, "CONT")
    assert manifest["source"]["pod"] == primary
    assert manifest["source"]["role"] == "primary"
    reason = manifest["source"]["reason"]
    assert reason.startswith("no replica in sync (%s: " % replicas[0]), reason
    assert "; %s: " % replicas[1] in reason and "in sync with" not in reason
    assert "snapshot from the primary %s: no replica in sync" % primary in " ".join(output.split())
    wait("the replicas back in sync", lambda: healthy(members), timeout=120)


def test_a_restore_puts_the_backup_on_every_pod_and_heals_the_set(members, tmp_path):
    wait("a healthy set", lambda: healthy(members), timeout=120)
    dummy, manifest = backup(members, tmp_path)
    primary = members.pod_at(members.primary_address())
    members.server_cli(primary)("SET", "written after the backup", "1")
    output = playbook("restore", members.namespace, "-e", "redis_topology=sentinel", "-e",
                      "redis_backup_dir=%s" % tmp_path, "-e", "backup=%s" % manifest["id"], "-e", "confirm=yes")
    assert "every replica holds the same and the Sentinels name pod 0" in " ".join(output.split())
    assert dbsizes(members) == dict((pod, str(manifest["keys_total"])) for pod in members.servers())
    for pod in members.servers():
        assert members.server_cli(pod)("EVAL", CHECK, "0").strip() == "0", pod
    assert healthy(members)
    assert members.pod_at(members.primary_address()) == NAME + "-0"
    for pod in members.sentinels():
        assert members.sentinel_view(pod)["replicas"] == sorted(
            members.address(server) for server in members.servers() if server != NAME + "-0")
    assert recap_changed(deploy(members.namespace, "-e", "redis_topology=sentinel")) == 0
