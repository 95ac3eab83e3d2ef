"""The load test (playbooks/load_test.yml) on a standalone instance deployed by deploy.yml.

An instance not marked as a test target is refused without confirmation and
nothing is changed. A test target is loaded (a short, small load: the shape
of the report, not the numbers, is under test here; bench/bench_load.py
measures): saturation and open-loop runs through the Service and at the pod,
with AOF off and on again; a target missed fails the play and is named; the
temporary user and the generator pods are gone afterwards, AOF is on again,
and the application's keys are untouched.
"""

import base64
import json
import os
import signal
import subprocess
import time

from runner import PLAYBOOK, ROOT, playbook

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
SMALL_LOAD = {"redis_drill_load_connections": 40, "redis_drill_load_rate": 800, "redis_drill_load_seconds": 4,
              "redis_drill_load_requests": 20000, "redis_drill_load_keys": 2000}

LOOSE_TARGETS = {"get_p95_ms": 1000, "set_p95_ms": 1000, "connect_p95_ms": 1000, "ops_per_second": 1,
                 "service_ratio": 1000}
# For the tests that run every playbook (test_leaks, test_rbac): a short load whose targets always hold.
SHORT_LOAD = json.dumps({"redis_drill_load_connections": 20, "redis_drill_load_rate": 200,
                         "redis_drill_load_seconds": 3, "redis_drill_load_requests": 5000, "redis_drill_load_keys": 500,
                         "redis_drill_load_targets": LOOSE_TARGETS})


def variables(namespace, **extra):
    return dict({"profile": "standard", "redis_namespace": namespace, "redis_resources": RESOURCES,
                 "redis_maxmemory": "64mb"}, **extra)


def admin_cli(core, namespace):
    secret = core.read_namespaced_secret(NAME + "-users", namespace)
    password = base64.b64decode(secret.data["admin"]).decode()
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return pod_cli(configuration, namespace, POD, "redis", password, user="admin")


def generator_pods(core, namespace):
    return core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/component=load-test").items


def claims(core, namespace):
    return core.list_namespaced_config_map(namespace, label_selector="app.kubernetes.io/component=load-test").items


def load_users(cli):
    return [user for user in cli("ACL", "USERS").split() if user.startswith("loadtest-")]


def test_an_instance_not_marked_as_a_test_target_is_refused_without_confirmation(core, namespace):
    playbook("deploy", variables(namespace))
    out = playbook("load_test", variables(namespace, **SMALL_LOAD), expect_success=False)
    assert "is not marked as a test target" in out and "confirm" in out
    assert generator_pods(core, namespace) == [] and load_users(admin_cli(core, namespace)) == []


# Error replies the load's own commands could get: its ACL refusing them, memory, types, a server not serving.
LOAD_ERRORS = {"NOPERM", "NOAUTH", "WRONGPASS", "OOM", "WRONGTYPE", "READONLY", "LOADING", "MISCONF", "BUSY"}


def test_a_test_target_is_loaded_and_left_as_it_was(core, namespace, tmp_path):
    playbook("deploy", variables(namespace, redis_test_target=True))
    cli = admin_cli(core, namespace)
    cli("SET", "app:precious", "kept")
    load_users_before = load_users(cli)
    report_file = tmp_path / "load.json"
    # An impossible target: the play must fail and name it, after writing the whole report.
    out = playbook("load_test", variables(namespace, redis_drill_load_targets={"get_p95_ms": 0.0001}, **SMALL_LOAD),
                   "-e", "compare_aof=yes", "-e", "report=%s" % report_file, expect_success=False)
    assert "Targets missed: GET p95" in out and "(target < 0.0001 ms)" in out
    report = json.loads(report_file.read_text())

    assert sorted(report["saturation"]["commands"]) == ["GET", "SET"]
    assert all(r["ops_per_second"] > 100 for r in report["saturation"]["commands"].values()), report["saturation"]
    for name in ("through_service", "at_pod", "without_aof"):
        run = report[name]
        answered = run["commands"]["GET"]["count"] + run["commands"]["SET"]["count"]
        assert answered == 800 * 4 and run["missing_replies"] == 0, (name, run)
        assert run["commands"]["GET"]["errors"] == run["commands"]["SET"]["errors"] == 0, (name, run)
        assert run["connect"]["count"] == 40 and run["connect"]["p95_ms"] > 0, (name, run)
        # The server's error replies count every client's: a scrape of the instance's exporter adds one ERR
        # (its CLUSTER INFO on a server without cluster mode). None may be of a kind the load could cause.
        assert run["server"]["cpu_percent"] > 0, (name, run)
        assert set(run["server"]["error_replies_by_type"]) & LOAD_ERRORS == set(), (name, run)
    assert report["service_direct_p95_ratio"] > 0 and "aof_cpu_points" in report
    assert report["missed"][0].startswith("GET p95") and report["summary"][-1].startswith("Targets: MISSED")

    assert generator_pods(core, namespace) == [] and load_users(cli) == load_users_before == []
    assert claims(core, namespace) == []
    assert cli("CONFIG", "GET", "appendonly").split()[-1] == "yes"
    assert cli("GET", "app:precious").strip() == "kept"
    keys = cli("--scan", "--pattern", report["key_prefix"] + "*").split()
    assert 0 < len(keys) <= 2000 and 0 < int(cli("TTL", keys[0])) <= 600


def test_what_a_killed_run_left_behind_is_taken_over_by_the_next_run_once_its_time_is_up(core, namespace):
    """A killed run leaves its user and its claim: the claim refuses runs until the time it named, then the next run
    takes it over and removes the user."""
    playbook("deploy", variables(namespace, redis_test_target=True))
    cli = admin_cli(core, namespace)
    cli("ACL", "SETUSER", "loadtest-1", "on", "nopass", "~loadtest:1:*", "+get")
    claim = {"metadata": {"name": NAME + "-load-test", "labels": {"app.kubernetes.io/component": "load-test"}},
             "data": {"run": "1", "until": str(int(time.time()) + 600)}}
    core.create_namespaced_config_map(namespace, claim)
    refused = playbook("load_test", variables(namespace, **SMALL_LOAD), expect_success=False)
    assert "another load test (run 1) is running on this instance until" in refused
    assert load_users(cli) == ["loadtest-1"]

    claim["data"]["until"] = str(int(time.time()) - 1)
    core.replace_namespaced_config_map(NAME + "-load-test", namespace, claim)
    playbook("load_test", variables(namespace, redis_drill_load_targets=LOOSE_TARGETS, **SMALL_LOAD))
    assert load_users(cli) == [] and claims(core, namespace) == []


def test_ctrl_c_in_the_run_without_aof_leaves_no_user_no_pod_and_aof_on(core, namespace, tmp_path):
    playbook("deploy", variables(namespace, redis_test_target=True))
    cli = admin_cli(core, namespace)
    extra = variables(namespace)
    extra.update(SMALL_LOAD)
    extra.update({"redis_drill_load_seconds": 20, "redis_drill_load_targets": LOOSE_TARGETS})
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    with open(tmp_path / "load.log", "w+") as log:
        process = subprocess.Popen([PLAYBOOK, "playbooks/load_test.yml", "-e", json.dumps(extra),
                                    "-e", "compare_aof=yes"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env)
        try:
            deadline = time.monotonic() + 300
            while not [p for p in generator_pods(core, namespace) if p.metadata.name.endswith("-no-aof")]:
                assert process.poll() is None and time.monotonic() < deadline, "no run without AOF began"
                time.sleep(0.5)
            assert cli("CONFIG", "GET", "appendonly").split()[-1] == "no"
            second = playbook("load_test", extra, expect_success=False)  # a second run at the same time
            assert "another load test (run " in second and "one at a time" in second
            os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            process.wait(120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

    def restored():
        return (generator_pods(core, namespace) == [] and load_users(cli) == [] and claims(core, namespace) == []
                and cli("CONFIG", "GET", "appendonly").split()[-1] == "yes")
    deadline = time.monotonic() + 180
    while not restored():
        assert time.monotonic() < deadline, (generator_pods(core, namespace), load_users(cli),
                                             cli("CONFIG", "GET", "appendonly"))
        time.sleep(1)
    assert "aof_rewrite_in_progress:0" in cli("INFO", "persistence")
