"""The pure logic of the Kubernetes layer and the error path (the calls themselves run in tests/cluster)."""

import json
import pathlib

import pytest
import yaml
from kubernetes.client.rest import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import errors
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance_facts import settled
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    TimedOut,
    is_ready,
    is_running,
    is_stopped,
    pod_state,
    wait_for,
)


def pod(ready=True, started=True, running=True, deleting=False, uid="u1"):
    """A pod as the API server writes it, with one container `redis`."""
    state = {"running": {"startedAt": "2026-11-23T00:00:00Z"}} if running else {"terminated": {"exitCode": 0}}
    metadata = {"name": "r-0", "uid": uid}
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-23T00:00:01Z"
    return {"metadata": metadata, "status": {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"},
                       {"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [{"name": "redis", "started": started, "state": state, "restartCount": 0}]}}


def test_readiness_is_the_ready_condition_alone():
    assert is_ready(pod())
    assert not is_ready(pod(ready=False))
    assert not is_ready({"metadata": {}, "status": {}})


@pytest.mark.parametrize("kwargs, expected", [
    ({}, (True, True)),
    ({"ready": False}, (True, False)),
    ({"started": False}, (False, False)),
    ({"running": False}, (False, False)),
    ({"deleting": True}, (False, False)),
])
def test_pod_state(kwargs, expected):
    assert pod_state(pod(**kwargs), "redis") == expected


def test_a_pod_of_the_old_uid_or_another_container_is_not_started():
    assert pod_state(pod(uid="old"), "redis", uid_not="old") == (False, False)
    assert pod_state(pod(), "exporter") == (False, False)
    assert pod_state(None, "redis") == (False, False)


def test_stopped_means_gone_or_deleting_with_nothing_running():
    assert is_stopped(None)
    assert is_stopped(pod(deleting=True, running=False))
    assert not is_stopped(pod(deleting=True, running=True))
    assert not is_stopped(pod(running=False))  # not being deleted: it may restart


def test_running_means_something_can_be_executed_in_it():
    assert is_running(pod())
    assert not is_running(None)
    assert not is_running(pod(deleting=True))
    pending = pod()
    pending["status"]["phase"] = "Pending"
    assert not is_running(pending)
    assert not is_running({"metadata": {}, "status": None})


def test_wait_for_polls_until_true_and_names_what_timed_out():
    answers = iter([False, False, True])
    wait_for("the third try", lambda: next(answers), timeout=5, interval=0, sleep=lambda seconds: None)
    with pytest.raises(TimedOut, match="timed out after 0s waiting for the impossible"):
        wait_for("the impossible", lambda: False, timeout=0, interval=0, sleep=lambda seconds: None)


def statefulset(generation=2, observed=2, replicas=1, ready=1, updated=1, current="a", update="a"):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": replicas, "readyReplicas": ready,
                       "updatedReplicas": updated, "currentRevision": current, "updateRevision": update}}


@pytest.mark.parametrize("changes", [
    {"observed": 1},  # the controller has not seen the last change
    {"ready": 0},
    {"updated": 0},
    {"update": "b"},  # a rollout under way
])
def test_a_statefulset_mid_rollout_is_not_settled(changes):
    assert not settled(statefulset(**changes))


def test_a_settled_statefulset_and_a_missing_one():
    assert settled(statefulset())
    assert not settled(None)


def api_exception(status, reason, message=None):
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "message": message}) if message else "not json"
    return exc


def test_api_errors_read_as_one_line_with_the_servers_reason():
    assert errors.failure_text(api_exception(404, "Not Found", 'pods "x" not found')) == \
        'HTTP 404 Not Found: pods "x" not found'
    assert errors.failure_text(api_exception(503, "Service Unavailable")) == "HTTP 503 Service Unavailable"


def test_an_unreachable_server_says_so():
    cause = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    text = errors.failure_text(MaxRetryError(None, "/api/v1/pods", cause))
    assert text.startswith("cannot reach the Kubernetes API server: ") and "Connection refused" in text


def test_messages_are_folded_onto_one_line():
    assert errors.one_line("while parsing\n  in <file>, line 2\n") == "while parsing in <file>, line 2"


class FakeModule(object):
    """Records what AnsibleModule's exit_json/fail_json would print (and stops, as they do)."""

    def __init__(self):
        self.result = None

    def exit_json(self, **result):
        self.result = dict(result, failed=False)
        raise SystemExit(0)

    def fail_json(self, **result):
        self.result = dict(result, failed=True)
        raise SystemExit(1)


def body_raising(exc):
    def body():
        raise exc
    return body


@pytest.mark.parametrize("exc", [errors.DatastoresError("bad\ninput"), api_exception(403, "Forbidden"),
                                 OSError(28, "No space left on device")])
def test_run_module_turns_every_expected_failure_into_one_line(exc):
    module = FakeModule()
    with pytest.raises(SystemExit):
        errors.run_module(module, body_raising(exc), "snapshot of ns/pod failed")
    assert module.result["failed"] and module.result["msg"].startswith("snapshot of ns/pod failed: ")
    assert "\n" not in module.result["msg"]


def test_run_module_lets_a_bug_through():
    """An unexpected error is a bug: it keeps its traceback instead of a tidy message."""
    with pytest.raises(KeyError):
        errors.run_module(FakeModule(), body_raising(KeyError("x")))


def test_run_module_exits_with_the_result():
    module = FakeModule()
    with pytest.raises(SystemExit):
        errors.run_module(module, lambda: {"changed": False, "answer": 42})
    assert module.result == {"changed": False, "answer": 42, "failed": False}


def test_an_exec_sends_the_token_of_a_kubeconfig_and_of_the_api_key_option(tmp_path):
    """A ServiceAccount's token reached the typed clients but not the exec's upgrade request (HTTP 403 as
    system:anonymous): the exec reads it where the library's loader files it."""
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import ExecSession
    from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "the-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    from_kubeconfig = kube_configuration({"kubeconfig": str(kubeconfig)})
    from_option = kube_configuration({"host": "https://127.0.0.1:6443", "api_key": "the-key"})
    session = ExecSession.__new__(ExecSession)
    session.configuration = from_kubeconfig
    assert session.auth_header() == "Bearer the-token"
    session.configuration = from_option
    assert session.auth_header() == "Bearer the-key"


def test_every_module_that_talks_to_the_api_server_is_in_the_k8s_action_group():
    """Else the roles' module_defaults (redis_kubeconfig, redis_kube_context) silently skip it."""
    root = pathlib.Path(__file__).resolve().parents[2]
    group = yaml.safe_load((root / "meta" / "runtime.yml").read_text())["action_groups"]["k8s"]
    talking = sorted(path.stem for path in (root / "plugins" / "modules").glob("*.py")
                     if "alertmanagerpp.datastores.kubernetes_auth" in path.read_text())
    assert talking and [name for name in talking if name not in group] == []
