"""Every module that talks to the cluster fails on one readable line, never a traceback.

Each case runs the module through ansible-playbook (as a user would) with a
broken kubeconfig, an unreachable API server, a namespace that does not exist
or a wrong password, and reads the task's result from the json callback.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

import test_smoke
from runner import playbook
from test_sentinel import delete_namespace

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("K8S_AUTH_KUBECONFIG") or os.path.expanduser(
    "~/.cache/alertmanagerpp-datastores/kubeconfig")
PASSWORD = "the-right-password-0123456789"
MODULES = {
    "redis_info": {"statefulset": test_smoke.NAME},
    "redis_health": {"statefulset": test_smoke.NAME},
    "redis_snapshot": {"statefulset": test_smoke.NAME, "dest": "/nonexistent-never-written", "cluster": "test"},
    "redis_restore": {"statefulset": test_smoke.NAME, "rollback": True},
    "redis_secret": {"name": "amp-module-errors"},
    "redis_instance_info": {"name": test_smoke.NAME},
}


def run_module(tmp_path, module, args, kubeconfig=KUBECONFIG, check_mode=False):
    """The module's result as the json callback reports it."""
    task = {"name": "the module", "alertmanagerpp.datastores." + module: args, "check_mode": check_mode}
    play = [{"hosts": "all", "gather_facts": False, "tasks": [task]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               K8S_AUTH_KUBECONFIG=str(kubeconfig))
    completed = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), str(playbook)],
                               cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    output = json.loads(completed.stdout)
    (result,) = output["plays"][0]["tasks"][0]["hosts"].values()  # the default inventory: the local cluster
    return completed, result


def assert_one_readable_line(completed, result, *phrases):
    assert completed.returncode != 0, result
    message = result["msg"]
    assert "\n" not in message and "Traceback" not in message and "MODULE FAILURE" not in message, message
    assert "Traceback" not in result.get("exception", ""), result["exception"]
    for phrase in phrases:
        assert phrase in message, message


@pytest.fixture(scope="module")
def broken_kubeconfig(tmp_path_factory):
    path = tmp_path_factory.mktemp("kube") / "broken"
    path.write_text("apiVersion: v1\nclusters: [this is: not: a kubeconfig\n")
    return path


@pytest.fixture(scope="module")
def unreachable_kubeconfig(tmp_path_factory):
    """The real kubeconfig pointed at a port where nothing listens."""
    document = yaml.safe_load(pathlib.Path(KUBECONFIG).read_text())
    for cluster in document["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path_factory.mktemp("kube") / "unreachable"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_broken_kubeconfig(tmp_path, broken_kubeconfig, module):
    completed, result = run_module(tmp_path, module, dict(MODULES[module], namespace="default"),
                                   kubeconfig=broken_kubeconfig)
    assert_one_readable_line(completed, result, "cannot load kubeconfig %s" % broken_kubeconfig)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_an_unreachable_api_server(tmp_path, unreachable_kubeconfig, module):
    completed, result = run_module(tmp_path, module, dict(MODULES[module], namespace="default"),
                                   kubeconfig=unreachable_kubeconfig)
    assert_one_readable_line(completed, result, "cannot reach the Kubernetes API server", "127.0.0.1")


@pytest.mark.parametrize("module, phrase", [
    ("redis_info", "pod amp-no-such-namespace/smoke-0 not found"),
    ("redis_snapshot", "pod amp-no-such-namespace/smoke-0 not found"),
    ("redis_restore", 'HTTP 404 Not Found: statefulsets.apps "smoke" not found'),
    ("redis_secret", "cannot create Secret amp-no-such-namespace/amp-module-errors: HTTP 404 Not Found: "
                     'namespaces "amp-no-such-namespace" not found'),
])
def test_a_missing_namespace(tmp_path, module, phrase):
    completed, result = run_module(tmp_path, module, dict(MODULES[module], namespace="amp-no-such-namespace"))
    assert_one_readable_line(completed, result, phrase)


def test_a_missing_namespace_is_a_finding_of_the_health_report_and_of_the_facts(tmp_path):
    """The read-only reports do not fail: they say what they found (the redis_monitoring role fails on it)."""
    dummy, health = run_module(tmp_path, "redis_health", dict(MODULES["redis_health"], namespace="amp-no-such-ns"))
    assert health["healthy"] is False and health["problems"] == ["pod not found"]
    dummy, facts = run_module(tmp_path, "redis_instance_info", {"namespace": "amp-no-such-ns", "name": "smoke"})
    assert facts["namespace_exists"] is False and facts["statefulset"] is None


@pytest.fixture(scope="module")
def protected_instance(core, apps, request):
    """A running instance whose server requires PASSWORD (set at run time, never a process argument)."""
    namespace = test_smoke.throwaway_instance(core, apps, request, "amp-module-errors")
    configuration = kube_configuration({"kubeconfig": KUBECONFIG})
    pod_cli(configuration, namespace, test_smoke.NAME + "-0", "redis", None)("CONFIG", "SET", "requirepass", PASSWORD)
    return namespace


@pytest.mark.parametrize("module", ["redis_info", "redis_snapshot"])
def test_a_wrong_password(tmp_path, protected_instance, module):
    args = dict(MODULES[module], namespace=protected_instance, password="a-wrong-password")
    args["dest"] = str(tmp_path) if module == "redis_snapshot" else args.get("dest")
    completed, result = run_module(tmp_path, module, dict((k, v) for k, v in args.items() if v is not None))
    assert_one_readable_line(completed, result, "authentication failed")
    assert "a-wrong-password" not in json.dumps(result)


def test_a_wrong_password_is_a_finding_of_the_health_report(tmp_path, protected_instance):
    args = dict(MODULES["redis_health"], namespace=protected_instance, password="a-wrong-password",
                check_exporter=False)
    dummy, result = run_module(tmp_path, "redis_health", args)
    assert result["healthy"] is False
    assert any("authentication failed" in problem for problem in result["problems"]), result["problems"]


def test_the_right_password_answers(tmp_path, protected_instance):
    """The wrong-password cases fail for the password, not for the instance."""
    completed, result = run_module(tmp_path, "redis_info", dict(MODULES["redis_info"], namespace=protected_instance,
                                                                password=PASSWORD))
    assert completed.returncode == 0 and result["ping"] == "PONG", result


def test_a_deploy_whose_pod_never_gets_ready_says_why(core):
    """The explanation lists the pod's events and its log (it once failed in its own Jinja instead)."""
    namespace = "amp-not-ready-%d" % os.getpid()
    try:
        output = playbook("deploy", {"profile": "standard", "redis_namespace": namespace, "redis_wait_timeout": 20,
                                     "redis_image": "localhost/alertmanagerpp/no-such-image:1"},
                          expect_success=False)
    finally:
        delete_namespace(core, namespace)
    message = " ".join(output.split())
    assert "StatefulSet %s/alertmanagerpp-redis not Ready after 20s" % namespace in message
    assert 'Container image "localhost/alertmanagerpp/no-such-image:1" is not present' in message
