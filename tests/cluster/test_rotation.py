"""playbooks/rotate_credentials.yml on a real instance (docs/security.md, "Rotating passwords").

A client Deployment that reads the application's password once (an
environment variable from the Secret) opens a new connection for every
request during the whole rotation, which restarts it: no request fails, and
afterwards every old password is refused and every new one accepted, also by
a restarted server. A rotation interrupted with Ctrl-C after the new
passwords were made the Secrets' is finished by running it again.
"""

import base64
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import run_pod_cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-redis"
POD = NAME + "-0"
SMALL = ["-e", '{"redis_resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, '
         '"limits": {"memory": "256Mi"}}, "redis_maxmemory": "64mb"}']
# user: (Secret suffix, key)
PASSWORDS = {"app": ("-auth", "password"), "admin": ("-users", "admin"), "backup": ("-users", "backup"),
             "probe": ("-users", "probe")}
# Every request a new connection and login; a request that fails is counted in the pod (FAIL lines); each pod
# files its number of attempts when it is stopped, with the password it started with.
TRAFFIC = r"""
n=0
stop() { redis-cli -h "$HOST" --user app SET "attempts:$HOSTNAME" "$n" >/dev/null; exit 0; }
trap stop TERM
while true; do
  n=$((n + 1))
  reply=$(redis-cli -h "$HOST" --user app INCR "ok:$HOSTNAME" 2>&1)
  case "$reply" in [0-9]*) ;; *) echo "FAIL $n $reply" ;; esac
  sleep 0.05
done
"""


def playbook_command(*args):
    return [str(pathlib.Path(sys.executable).parent / "ansible-playbook")] + list(args)


def playbook_env():
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def playbook(*args):
    result = subprocess.run(playbook_command(*args), cwd=ROOT, env=playbook_env(), capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def changed(output):
    return int(output.split("PLAY RECAP")[1].split("changed=")[1].split()[0])


def passwords(core, namespace):
    return dict((user, base64.b64decode(core.read_namespaced_secret(NAME + suffix, namespace).data[key]).decode())
                for user, (suffix, key) in PASSWORDS.items())


def login(configuration, namespace, user, password):
    """The server's answer to PING from `user` logging in with `password` (or why there was none)."""
    try:
        rc, out, err = run_pod_cli(configuration, namespace, POD, "redis", password, ["PING"], user=user, timeout=30)
    except (DatastoresError, ApiException) as exc:  # the pod is restarting
        return str(exc)
    return (out + err).decode("utf-8", "replace").strip()


def wait(what, condition, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError("timed out waiting for " + what)


def replaced_and_ready(core, namespace, uid):
    try:
        pod = core.read_namespaced_pod(POD, namespace)
    except ApiException:
        return False
    return pod.metadata.uid != uid and pod.metadata.deletion_timestamp is None and any(
        c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


@pytest.fixture(scope="module")
def instance(core, request):
    namespace = "amp-rotation-%d" % os.getpid()
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    playbook("playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + namespace, *SMALL)
    return kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")}), namespace


def traffic_deployment(namespace, image, host):
    labels = {"app.kubernetes.io/name": "traffic", "app.kubernetes.io/part-of": "alertmanagerpp"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "traffic"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels},
        "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {"metadata": {"labels": labels}, "spec": {
            "terminationGracePeriodSeconds": 10, "automountServiceAccountToken": False,
            "containers": [{"name": "traffic", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", TRAFFIC],
                            "env": [{"name": "HOST", "value": host},
                                    {"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {
                                        "name": NAME + "-auth", "key": "password"}}}],
                            "resources": {"requests": {"cpu": "20m", "memory": "16Mi"}}}]}}}}


def counts(configuration, namespace, admin):
    """{pod: (attempts, ok)} of every traffic pod that answered."""
    rc, out, err = run_pod_cli(configuration, namespace, POD, "redis", admin, ["--scan", "--pattern", "ok:*"],
                               user="admin", timeout=30)
    result = {}
    for key in out.decode().split():
        pod = key[len("ok:"):]
        rc, reply, err = run_pod_cli(configuration, namespace, POD, "redis", admin,
                                     ["MGET", "attempts:" + pod, key], user="admin", timeout=30)
        attempts, ok = reply.decode().split("\n")[:2]
        result[pod] = (int(attempts) if attempts else None, int(ok))
    return result


def test_a_rotation_under_traffic_fails_no_request_and_the_old_passwords_are_refused(instance, core, apps):
    configuration, namespace = instance
    old = passwords(core, namespace)
    image = apps.read_namespaced_stateful_set(NAME, namespace).spec.template.spec.containers[0].image
    host = core.read_namespaced_service(NAME, namespace).spec.cluster_ip
    apps.create_namespaced_deployment(namespace, traffic_deployment(namespace, image, host))
    wait("the traffic to start", lambda: len(counts(configuration, namespace, old["admin"])) == 2)

    started = time.monotonic()
    output = playbook("playbooks/rotate_credentials.yml", "-e", "redis_namespace=" + namespace,
                      "-e", "redis_credentials_rotation=under-traffic",
                      "-e", '{"redis_credentials_consumers": [{"name": "traffic"}]}')
    took = time.monotonic() - started
    time.sleep(3)
    apps.patch_namespaced_deployment_scale("traffic", namespace, {"spec": {"replicas": 0}})
    wait("the traffic pods to stop",
         lambda: not core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=traffic").items)

    new = passwords(core, namespace)
    seen = counts(configuration, namespace, new["admin"])
    assert len(seen) == 4, seen  # two pods of the old template, two of the new
    assert all(attempts is not None for attempts, ok in seen.values()), seen
    failed = sum(attempts - ok for attempts, ok in seen.values())
    assert failed == 0, seen
    assert sum(ok for attempts, ok in seen.values()) > 100, seen
    print("rotation under traffic: %d requests by %d pods, %d failed; the rotation took %.0f s"
          % (sum(attempts for attempts, ok in seen.values()), len(seen), failed, took))

    for user in PASSWORDS:
        assert new[user] != old[user]
        assert "WRONGPASS" in login(configuration, namespace, user, old[user]) or \
            "AUTH failed" in login(configuration, namespace, user, old[user]), user
        assert login(configuration, namespace, user, new[user]) == "PONG", user
    secret_keys = set(core.read_namespaced_secret(NAME + "-users", namespace).data)
    assert secret_keys == {"admin", "backup", "probe"}
    assert core.read_namespaced_pod(POD, namespace).status.container_statuses[0].restart_count == 0
    assert "changed=" in output
    again = playbook("playbooks/rotate_credentials.yml", "-e", "redis_namespace=" + namespace,
                     "-e", "redis_credentials_rotation=under-traffic",
                     "-e", '{"redis_credentials_consumers": [{"name": "traffic"}]}')
    assert changed(again) == 0

    # A restarted server builds its users from the rotated password files.
    uid = core.read_namespaced_pod(POD, namespace).metadata.uid
    core.delete_namespaced_pod(POD, namespace)
    wait("a new pod 0 to be Ready", lambda: replaced_and_ready(core, namespace, uid))
    assert "PONG" not in login(configuration, namespace, "app", old["app"])
    assert login(configuration, namespace, "app", new["app"]) == "PONG"


def test_a_rotation_stopped_by_ctrl_c_after_the_promotion_is_finished_by_the_next_run(instance, core):
    configuration, namespace = instance
    old = passwords(core, namespace)
    args = ["playbooks/rotate_credentials.yml", "-e", "redis_namespace=" + namespace,
            "-e", "redis_credentials_rotation=interrupted", "-e", '{"redis_credentials_users": ["app"]}']
    process = subprocess.Popen(playbook_command(*args), cwd=ROOT, env=playbook_env(), stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    for line in process.stdout:
        if "Rotate | Wait until every server pod's password files" in line:
            # Not at the banner itself: the controller forks the task's worker right after it, and a SIGINT
            # that lands during the fork is swallowed by logging's at-fork handler (the run then ends with 0).
            # The step waits for the kubelet to refresh the Secret volumes: tens of seconds.
            time.sleep(0.5)
            os.killpg(process.pid, signal.SIGINT)
            break
    # Ansible ends after the task under way (the wait step: up to redis_credentials_timeout, 300 s).
    rest, dummy = process.communicate(timeout=400)
    assert process.returncode != 0, rest

    middle = passwords(core, namespace)
    assert middle["app"] != old["app"]
    keys = set(core.read_namespaced_secret(NAME + "-auth", namespace).data)
    assert keys == {"password", "password.previous"}
    # Both work until the rotation is finished.
    assert login(configuration, namespace, "app", old["app"]) == "PONG"
    assert login(configuration, namespace, "app", middle["app"]) == "PONG"

    playbook(*args)
    assert passwords(core, namespace)["app"] == middle["app"]
    assert set(core.read_namespaced_secret(NAME + "-auth", namespace).data) == {"password"}
    assert "PONG" not in login(configuration, namespace, "app", old["app"])
    assert login(configuration, namespace, "app", middle["app"]) == "PONG"
    assert passwords(core, namespace)["admin"] == old["admin"]
