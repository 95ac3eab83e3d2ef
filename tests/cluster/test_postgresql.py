"""PostgreSQL deployed by playbooks/deploy.yml (standard_stores [postgresql]) on the real cluster.

The molecule scenario `postgresql` drives the role through its changes (reload, restart, check mode, refusals,
lite and back). This file searches everything such runs leave for the passwords (the playbooks' output at -vvv,
every object of the namespace and its events, the arguments and environments of the pod's processes, the server's
log), and has a real Prometheus (Debian's, run here) scrape the exporter with the rule file the monitoring role
wrote: every alert and dashboard query evaluates, and stopping the server puts PostgreSQLDown in pending.
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
from test_leaks import objects_text, secret_values
from test_security import PROCESS_SCAN

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-postgresql"
SMALL = '{"postgresql_storage_size": "1Gi", ' \
        '"postgresql_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}}'


def playbook(namespace, *args):
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-vvv", "playbooks/deploy.yml",
               "-e", "postgresql_namespace=" + namespace, "-e", SMALL] + list(args)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), AMP_STANDARD_STORES="postgresql")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def pod_texts(core, configuration, namespace):
    """The pod's processes (arguments and environments) in both containers, and the server's log."""
    pod = NAME + "-0"
    texts = {"log of %s/postgresql" % pod: core.read_namespaced_pod_log(pod, namespace, container="postgresql")}
    for container in ("postgresql", "exporter"):
        rc, out, err = run(configuration, namespace, pod, container, ["sh", "-c", PROCESS_SCAN], timeout=30)
        assert rc == 0, err
        texts["processes of %s/%s" % (pod, container)] = out.decode("utf-8", "replace")
    return texts


def test_no_run_at_vvv_nor_any_object_process_or_log_shows_a_password(core, api_client, request):
    namespace = "amp-pg-leaks-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    outputs = {"deploy": playbook(namespace, "-e", "profile=standard")}
    secrets = secret_values(core, namespace)
    assert len(secrets) == 8  # superuser, application, monitoring, replication; each as is and in base64
    reload = ["-e", '{"postgresql_parameters": {"work_mem": "5MB"}}']
    outputs["deploy --check --diff, a reload"] = playbook(namespace, "-e", "profile=standard", "--check",
                                                          "--diff", *reload)
    outputs["deploy, a reload"] = playbook(namespace, "-e", "profile=standard", *reload)
    outputs["deploy lite"] = playbook(namespace, "-e", "profile=lite")
    outputs["deploy again"] = playbook(namespace, "-e", "profile=standard")

    places = dict(("output of " + name, text) for name, text in outputs.items())
    places.update(objects_text(api_client, namespace))
    places.update(pod_texts(core, configuration, namespace))
    found = sorted("%s in %s" % ("a password" if form == value else "a password in base64", where)
                   for form, value in secrets.items() for where, text in places.items() if form in text)
    assert found == [], "\n".join(found)
    assert "Reload the server" in outputs["deploy, a reload"] and "logged in" in outputs["deploy again"]
    assert len(places) >= 15


@pytest.fixture(scope="module")
def monitored(core, request, tmp_path_factory):
    """(prometheus, namespace, rules, dashboard): a real Prometheus (Debian's) scraping a fresh instance's exporter
    with the rule file the monitoring role wrote."""
    namespace = "amp-pg-prometheus-%d" % os.getpid()
    directory = tmp_path_factory.mktemp("prometheus")
    rule_file = directory / "rules.yml"
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    playbook(namespace, "-e", "profile=standard", "-e", "postgresql_monitoring_rules_file=%s" % rule_file)
    pod_ip = core.read_namespaced_pod(NAME + "-0", namespace).status.pod_ip
    # While the server is down the exporter (0.11) answers after ~1 s: a 1 s scrape timeout would take it for down.
    prometheus = Prometheus(directory, [("%s:9187" % pod_ip, {"namespace": namespace, "service": NAME + "-metrics",
                                                              "pod": NAME + "-0"})], rule_file, interval=3)
    request.addfinalizer(prometheus.stop)
    prometheus.wait_for("the first scrape", lambda: prometheus.query("pg_up == 1")["data"]["result"])
    dashboard_map = core.read_namespaced_config_map(NAME + "-dashboard", namespace)
    dashboard = json.loads(dashboard_map.data[NAME + ".json"])
    rules = yaml.safe_load(rule_file.read_text())["groups"][0]["rules"]
    return prometheus, namespace, rules, dashboard


def test_every_alert_expression_evaluates_on_a_real_scrape(monitored):
    prometheus, dummy, rules, dummy = monitored
    assert len(rules) == 16
    assert prometheus.failing_queries([rule["expr"] for rule in rules]) == []
    evaluated = prometheus.evaluated_rules()
    assert [(r["name"], r.get("lastError")) for r in evaluated if r["health"] != "ok"] == []
    assert len(evaluated) == 16


def test_every_dashboard_query_evaluates_and_the_series_the_alerts_read_exist(monitored):
    prometheus, dummy, dummy, dashboard = monitored
    assert len(dashboard["panels"]) == 10
    assert prometheus.failing_queries([target["expr"] for panel in dashboard["panels"]
                                       for target in panel["targets"]]) == []
    # What the alerts divide and compare are real series of this instance (the exporter's and the collection's
    # own queries), so no alert is silently empty.
    for series in ("pg_stat_activity_count", "pg_settings_max_connections", "pg_stat_database_blks_hit",
                   "pg_stat_database_blks_read", "pg_stat_database_xact_commit", "pg_stat_database_deadlocks",
                   "pg_stat_database_temp_bytes", "pg_stat_activity_max_tx_duration", "pg_amp_wal_archive_active == 1",
                   'pg_amp_database_xid_age{datname="alertmanagerpp"}', "pg_amp_postmaster_start_time_seconds",
                   "pg_database_size_bytes", "pg_amp_backup_last_success_timestamp_seconds"):
        assert prometheus.query(series)["data"]["result"], series
    assert prometheus.query('ALERTS{alertstate="firing"}')["data"]["result"] == []


def test_stopping_the_server_sets_pg_up_0_and_postgresql_down_pending(monitored):
    prometheus, namespace, dummy, dummy = monitored
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})

    def keep_it_down():
        try:  # each time the container is back, stop it again (the kubelet's back-off keeps it down longer)
            run(configuration, namespace, NAME + "-0", "postgresql", ["sh", "-c", "kill -TERM 1"], timeout=5)
        except Exception:  # pylint: disable=broad-except  # the container is down right now: fine
            pass
        return prometheus.query('ALERTS{alertname="PostgreSQLDown", alertstate="pending"}')["data"]["result"]

    prometheus.wait_for("PostgreSQLDown pending", keep_it_down, timeout=90)
    assert [s["value"][1] for s in prometheus.query("min_over_time(pg_up[2m])")["data"]["result"]] == ["0"]
    pending = prometheus.query('ALERTS{alertname="PostgreSQLDown"}')["data"]["result"]
    assert pending[0]["metric"]["severity"] == "critical" and pending[0]["metric"]["namespace"] == namespace
    # The exporter itself still answers: the alert names the server, not the exporter.
    assert prometheus.query('ALERTS{alertname="PostgreSQLExporterDown"}')["data"]["result"] == []
