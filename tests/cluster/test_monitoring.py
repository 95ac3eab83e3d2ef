"""A real Prometheus (Debian's, run here by the test) scrapes the exporter of an
instance deployed by playbooks/deploy.yml, with the rule file the role wrote.

Every alert expression and every dashboard query must evaluate without error
and the rules must be healthy; stopping Redis must turn redis_up to 0 and put
RedisDown in pending.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from prometheus import Prometheus

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-redis"
POD = NAME + "-0"


def playbook(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook")] + list(args),
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def monitored(core, request, tmp_path_factory):
    """(prometheus, namespace, rules, dashboard) for a fresh instance."""
    namespace = "amp-prometheus-%d" % os.getpid()
    directory = tmp_path_factory.mktemp("prometheus")
    rule_file = directory / "rules.yml"
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace,
             "-e", "redis_monitoring_rules_file=%s" % rule_file)
    pod_ip = core.read_namespaced_pod(POD, namespace).status.pod_ip
    prometheus = Prometheus(directory, [("%s:9121" % pod_ip, {"namespace": namespace, "service": NAME + "-metrics",
                                                              "pod": POD})], rule_file)
    request.addfinalizer(prometheus.stop)
    prometheus.wait_for("the first scrape", lambda: prometheus.query("redis_up == 1")["data"]["result"])
    dashboard_map = core.read_namespaced_config_map(NAME + "-dashboard", namespace)
    dashboard = json.loads(dashboard_map.data[NAME + ".json"])
    rules = yaml.safe_load(rule_file.read_text())["groups"][0]["rules"]
    return prometheus, namespace, rules, dashboard


def test_every_alert_expression_evaluates(monitored):
    prometheus, dummy, rules, dummy = monitored
    assert len(rules) == 13
    for rule in rules:
        answer = prometheus.query(rule["expr"])
        assert answer["status"] == "success", (rule["alert"], answer)
    prometheus.wait_for("one rule evaluation", lambda: all(
        r.get("lastEvaluation", "").startswith("20") for g in prometheus.get("/api/v1/rules")["data"]["groups"]
        for r in g["rules"]))
    evaluated = [r for g in prometheus.get("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert [(r["name"], r.get("lastError")) for r in evaluated if r["health"] != "ok"] == []
    assert len(evaluated) == 13


def test_every_dashboard_query_evaluates_and_the_instance_series_exist(monitored):
    prometheus, dummy, dummy, dashboard = monitored
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(dashboard["panels"]) == 12
    for expr in exprs:
        answer = prometheus.query(expr)
        assert answer["status"] == "success", (expr, answer)
    # The thresholds' inputs are real series of this instance, not constants.
    for series in ("redis_connected_clients", "redis_memory_max_bytes", "redis_memory_used_bytes",
                   "redis_rdb_last_save_timestamp_seconds", "redis_aof_last_write_status"):
        assert prometheus.query(series)["data"]["result"], series
    assert prometheus.query('ALERTS{alertstate="firing"}')["data"]["result"] == []


def test_stopping_redis_sets_redis_up_0_and_redis_down_pending(monitored):
    prometheus, namespace, dummy, dummy = monitored
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})

    def keep_redis_down():
        try:  # each time the container is back, stop it again (kubelet's back-off keeps it down longer)
            run(configuration, namespace, POD, "redis", ["sh", "/etc/redis-config/cli.sh", "SHUTDOWN", "NOSAVE"],
                timeout=5)
        except Exception:  # pylint: disable=broad-except  # the container is down right now: fine
            pass
        return prometheus.query('ALERTS{alertname="RedisDown", alertstate="pending"}')["data"]["result"]

    prometheus.wait_for("RedisDown pending", keep_redis_down, timeout=90)
    down = prometheus.query("min_over_time(redis_up[2m])")["data"]["result"]
    assert [sample["value"][1] for sample in down] == ["0"]
    pending = prometheus.query('ALERTS{alertname="RedisDown"}')["data"]["result"]
    assert pending[0]["metric"]["severity"] == "critical" and pending[0]["metric"]["namespace"] == namespace
