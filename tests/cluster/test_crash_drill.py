"""The crash drill (playbooks/crash_drill.yml) on a standalone instance deployed by deploy.yml.

Without confirmation it changes nothing. Confirmed, it SIGKILLs the server
and then deletes its pod under a stream of writes through the client Service:
the reports must show real recoveries (a restarted container, then a new
pod), every acknowledged write still there, the targets judged, no writer pod
left, and the drill's keys expiring by themselves. A Sentinel set is refused
with a pointer to its own drill.
"""

import base64
import json
import os

from runner import playbook

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
RECOVERY_BOUND = 300
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def variables(namespace):
    return {"profile": "standard", "redis_namespace": namespace, "redis_resources": RESOURCES,
            "redis_maxmemory": "64mb"}


def server_state(core, namespace):
    pod = core.read_namespaced_pod(POD, namespace)
    return pod.metadata.uid, sum(s.restart_count for s in pod.status.container_statuses if s.name == "redis")


def writer_pods(core, namespace):
    selector = "app.kubernetes.io/component=crash-drill"
    return core.list_namespaced_pod(namespace, label_selector=selector).items


def admin_cli(core, namespace):
    secret = core.read_namespaced_secret(NAME + "-users", namespace)
    password = base64.b64decode(secret.data["admin"]).decode()
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return pod_cli(configuration, namespace, POD, "redis", password, user="admin")


def test_without_confirmation_nothing_happens_and_with_it_nothing_acknowledged_is_lost(core, namespace, tmp_path):
    playbook("deploy", variables(namespace))
    before = server_state(core, namespace)

    plan = playbook("crash_drill", variables(namespace))
    assert "Would kill then delete the server of %s/%s" % (namespace, NAME) in plan
    assert server_state(core, namespace) == before and writer_pods(core, namespace) == []

    report_file = tmp_path / "crash.json"
    # The 30 s default recovery target is an operator's judgement of a real node; in the suite the node is shared
    # with a parallel lane, and a deletion once took 67 s to recover there. The targets' judgement
    # has its own test below; here a bound only catches a recovery that never ends.
    bounds = {"redis_drill_recovery_target_seconds": RECOVERY_BOUND}
    playbook("crash_drill", variables(namespace), "-e", "confirm=yes", "-e", "report=%s" % report_file,
             "-e", json.dumps(bounds))
    kill, delete = json.loads(report_file.read_text())
    assert (kill["variant"], delete["variant"]) == ("kill", "delete")
    for report in (kill, delete):
        assert report["acknowledged_writes"] > 100, report
        assert report["failed_writes"] > 0, report  # the crash was seen by the writer
        assert report["lost_writes"] == 0 and report["lost_write_seconds"] == 0, report
        assert 0 < report["write_unavailable_seconds"] < RECOVERY_BOUND, report
        assert 0 < report["renewed_seconds"] <= report["ready_seconds"] < RECOVERY_BOUND, report
        assert report["missed"] == [], report
    uid, restarts = server_state(core, namespace)
    assert uid != before[0], "the delete variant made no new pod"
    assert restarts == 0, "the new pod's server restarted"  # the kill's restart was counted on the old pod
    assert writer_pods(core, namespace) == []

    cli = admin_cli(core, namespace)
    keys = cli("--scan", "--pattern", "drill:*").split()
    assert len(keys) >= kill["acknowledged_writes"] + delete["acknowledged_writes"]
    assert 0 < int(cli("TTL", keys[0])) <= 3600


def test_a_missed_target_fails_the_playbook_and_says_which(core, namespace):
    playbook("deploy", variables(namespace))
    out = playbook("crash_drill", variables(namespace), "-e", "confirm=yes", "-e", "variants=kill",
                   "-e", '{"redis_drill_recovery_target_seconds": 0.01}', expect_success=False)
    assert "Targets missed: kill: answering again took" in out and "(target 0.01 s)" in out
    assert writer_pods(core, namespace) == []


def test_a_sentinel_set_is_sent_to_the_failover_drill(namespace):
    out = playbook("crash_drill", dict(variables(namespace), redis_topology="sentinel"), "-e", "confirm=yes",
                   expect_success=False)
    assert "run playbooks/failover_drill.yml" in out
