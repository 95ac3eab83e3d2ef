"""A restore stopped as an operator stops it: Ctrl-C, a dead controller, a killed module, a second run.

The instance is deployed by the roles (deploy.yml), backed up by backup.yml
with set A, then holds set B and a client Deployment of 2 replicas. Each test
starts `restore.yml -e confirm=yes` in a session of its own, as a terminal
would, waits until the restore has set the old data aside (the worst moment)
and then interrupts it. A ResourceQuota of no long-running pods holds the
restore there, waiting for pod 0 to start, for as long as the test needs:
without it, a busy machine let the restore finish (and, verified, shield
itself) before the interruption arrived. Every time, the instance must end up on set B with
the clients at 2 replicas, nothing recorded on the StatefulSet, no helper
pod, and no restore process left running.

The restore helper pod is also checked against the restricted Pod Security
Standard, field by field, while it runs.
"""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import ANNOTATION

from interrupts import (helper_pods, owner_pid, pod_ready, pods_held_back, process_gone, restricted_violations,
                        wait_for)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
CLIENT = "app"
WRITE_A = "for i=1,300 do redis.call('SET','a'..i,'value-a'..i) end"
WRITE_B = "for i=1,100 do redis.call('DEL','a'..i) end for i=1,50 do redis.call('SET','b'..i,'value-b'..i) end"
SET_B = sorted(["a%d" % i for i in range(101, 301)] + ["b%d" % i for i in range(1, 51)])
INTERRUPT_AT = ("swapping", "verifying")


def test_the_checker_refuses_what_the_standard_refuses():
    """The checker can fail: the old helper pod (no seccomp, a token, no limits) is refused."""
    old_helper = {"restartPolicy": "Never", "containers": [{
        "name": "restore", "command": ["sleep", "86400"],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        "securityContext": {"runAsUser": 999, "runAsNonRoot": True},
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "h", "hostPath": {}}]}
    assert restricted_violations(old_helper) == [
        "volume h is hostPath", "service account token mounted", "restore seccompProfile None",
        "restore without cpu and memory limits"]


def playbook(namespace, backup_dir, *args):
    command = [PLAYBOOK, "-e", json.dumps({"redis_namespace": namespace, "redis_backup_dir": backup_dir,
                                           "redis_cluster": "interrupts", "redis_restore_clients": [CLIENT],
                                           "profile": "standard"})] + list(args)
    return command


def run_playbook(namespace, backup_dir, *args, expect_success=True):
    result = subprocess.run(playbook(namespace, backup_dir, *args), cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert (result.returncode == 0) == expect_success, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def client_deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": CLIENT},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": CLIENT}},
                 "template": {"metadata": {"labels": {"app": CLIENT}}, "spec": {
                     "automountServiceAccountToken": False,
                     "containers": [{"name": "app", "image": "localhost/alertmanagerpp/busybox:1.35",
                                     "imagePullPolicy": "Never", "command": ["sleep", "3600"]}]}}},
    }


@pytest.fixture(scope="module")
def site(core, apps, tmp_path_factory):
    """(namespace, backup_dir, cli): a role-deployed instance backed up with set A, now holding set B."""
    namespace = "amp-interrupts-%d" % os.getpid()
    backup_dir = str(tmp_path_factory.mktemp("backups"))
    run_playbook(namespace, backup_dir, "playbooks/deploy.yml")
    secret = core.read_namespaced_secret(NAME + "-auth", namespace)
    password = base64.b64decode(secret.data["password"]).decode()
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    cli = pod_cli(configuration, namespace, POD, "redis", password, user="app")
    cli("EVAL", WRITE_A, "0")
    run_playbook(namespace, backup_dir, "playbooks/backup.yml")
    cli("EVAL", WRITE_B, "0")
    apps.create_namespaced_deployment(namespace, client_deployment())
    yield namespace, backup_dir, cli
    core.delete_namespace(namespace)


def live_keys(cli):
    return sorted(cli("--scan").split())


def recorded(apps, namespace):
    annotations = apps.read_namespaced_stateful_set(NAME, namespace).metadata.annotations or {}
    return json.loads(annotations[ANNOTATION]) if ANNOTATION in annotations else None


def start_restore(namespace, backup_dir):
    """restore.yml in a session of its own (as from a terminal); its output goes to a file."""
    log = open(os.path.join(backup_dir, "restore-%d.log" % time.monotonic_ns()), "w+")
    process = subprocess.Popen(playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "confirm=yes",
                                        "-e", '{"redis_restore_pre_snapshot": false}'),
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    return process, log


def wait_for_phase(apps, namespace, process, log):
    def reached():
        state = recorded(apps, namespace)
        if process.poll() is not None:
            log.seek(0)
            pytest.fail("the restore ended before it was interrupted:\n" + log.read()[-3000:])
        return state if state and state.get("phase") in INTERRUPT_AT else None
    return wait_for("the restore to set the old data aside", reached)


def assert_back_on_set_b(core, apps, site, pid):
    namespace, dummy, cli = site
    wait_for("the restore process to end", lambda: process_gone(pid))
    wait_for("nothing recorded on the StatefulSet", lambda: recorded(apps, namespace) is None)
    wait_for("pod 0 Ready", lambda: pod_ready(core, namespace, POD))
    assert live_keys(cli) == SET_B
    assert apps.read_namespaced_deployment_scale(CLIENT, namespace).spec.replicas == 2
    assert apps.read_namespaced_stateful_set_scale(NAME, namespace).spec.replicas == 1
    wait_for("no helper pod", lambda: not helper_pods(core, namespace, NAME))


def test_ctrl_c_rolls_back_and_a_second_restore_or_retention_is_refused_meanwhile(core, apps, site):
    namespace, backup_dir, dummy = site
    with pods_held_back(core, namespace):
        process, log = start_restore(namespace, backup_dir)
        state = wait_for_phase(apps, namespace, process, log)
        helper = helper_pods(core, namespace, NAME)
        assert helper, "no helper pod while the restore verifies"
        spec = core.api_client.sanitize_for_serialization(helper[0].spec)
        assert restricted_violations(spec) == []
        assert spec["activeDeadlineSeconds"] > 0 and spec["containers"][0]["command"][0] == "sleep"

        second = run_playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "confirm=yes",
                              expect_success=False)
        assert "another restore" in second and "two restores of one instance cannot overlap" in second
        retention = run_playbook(namespace, backup_dir, "playbooks/backup.yml", "--tags", "redis_backup_retention",
                                 "-e", "redis_backup_keep_last=1", expect_success=False)
        assert "another run holds" in retention
        assert recorded(apps, namespace)["phase"] == "verifying", "the hold did not hold"

        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    process.wait(60)
    assert_back_on_set_b(core, apps, site, owner_pid(state))


def test_a_dead_controller_rolls_back(core, apps, site):
    """ansible-playbook's process group killed: the module (in its worker's session) notices and rolls back."""
    namespace, backup_dir, dummy = site
    with pods_held_back(core, namespace):
        process, log = start_restore(namespace, backup_dir)
        state = wait_for_phase(apps, namespace, process, log)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert not process_gone(owner_pid(state)), "the module was in the killed group: nothing left to test"
    assert_back_on_set_b(core, apps, site, owner_pid(state))


def test_a_killed_restore_is_refused_until_rolled_back_then_the_rollback_restores_everything(core, apps, site):
    namespace, backup_dir, dummy = site
    with pods_held_back(core, namespace):
        process, log = start_restore(namespace, backup_dir)
        state = wait_for_phase(apps, namespace, process, log)
        os.kill(owner_pid(state), signal.SIGKILL)  # the module itself: no chance to roll back
        process.wait(60)
    assert recorded(apps, namespace) is not None
    time.sleep(31)  # the heartbeat goes stale
    refused = run_playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "confirm=yes",
                           expect_success=False)
    assert "an interrupted restore" in refused and "-e rollback=yes" in refused
    out = run_playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "rollback=yes")
    assert re.search(r"rolled\s+back:\s+the\s+instance\s+runs\s+on\s+its\s+previous\s+data", out)
    assert_back_on_set_b(core, apps, site, owner_pid(state))
    again = run_playbook(namespace, backup_dir, "playbooks/restore.yml", "-e", "rollback=yes")
    assert re.search(r"nothing\s+to\s+roll\s+back", again) and "changed=0" in again
