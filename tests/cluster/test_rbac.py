"""The Kubernetes permissions of the playbooks, proven with a ServiceAccount that has exactly them (docs/rbac.md).

playbooks/rbac.yml (run with the cluster's admin kubeconfig) grants a
ServiceAccount the collection's Role and ClusterRole; every playbook then runs
(on an instance with TLS) with a kubeconfig holding only that ServiceAccount's
token: deploy, an unchanged second deploy, backup, monitor, restore, removal to
lite; PostgreSQL's deploy, a reload, its health report and removal. Then each
rule of the Role is taken away in turn, and a playbook that needs it fails
with a message naming the permission it lacks.
"""

import base64
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
import yaml
from kubernetes import client

from test_load_test import SHORT_LOAD

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN_KUBECONFIG = (os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG")
                    or os.path.expanduser("~/.cache/alertmanagerpp-datastores/kubeconfig"))
NAME = "alertmanagerpp-redis"
ACCOUNT = "datastores-ops"
ROLE = "alertmanagerpp-datastores"
CLIENT = "app-client"
CLIENTS = '{"redis_restore_clients": ["%s"]}' % CLIENT
CONSUMERS = '{"redis_credentials_consumers": [{"name": "%s"}]}' % CLIENT
# With TLS: the certificate's Secrets and the servers' reload are among what the ServiceAccount does.
SMALL = ('{"redis_resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}, '
         '"redis_maxmemory": "64mb", "redis_tls_enabled": true}')


POSTGRESQL_SMALL = ('{"postgresql_storage_size": "1Gi", "postgresql_resources": {"requests": {"cpu": "50m", '
                    '"memory": "256Mi"}, "limits": {"memory": "512Mi"}}}')


def playbook(name, namespace, kubeconfig, *args, expect_success=True, stores="redis"):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               K8S_AUTH_KUBECONFIG=kubeconfig, KUBECONFIG=kubeconfig, AMP_STANDARD_STORES=stores)
    result = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
                             "playbooks/%s.yml" % name, "-e", "redis_namespace=" + namespace] + list(args),
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if expect_success is not None:
        assert (result.returncode == 0) == expect_success, result.stdout[-4000:]
    return result.stdout


def changed(output):
    return int(output.split("PLAY RECAP")[1].split("changed=")[1].split()[0])


def account_kubeconfig(core, api_client, namespace, path):
    """A kubeconfig that authenticates as the ServiceAccount only (its token, the cluster's address and CA)."""
    deadline = time.monotonic() + 60
    while not (core.read_namespaced_service_account(ACCOUNT, namespace).secrets or []):
        assert time.monotonic() < deadline, "no token for the ServiceAccount"
        time.sleep(0.5)
    secret = core.read_namespaced_service_account(ACCOUNT, namespace).secrets[0].name
    token = base64.b64decode(core.read_namespaced_secret(secret, namespace).data["token"]).decode()
    admin = yaml.safe_load(pathlib.Path(ADMIN_KUBECONFIG).read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ops",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "ops", "context": {"cluster": "local", "user": ACCOUNT, "namespace": namespace}}]}))
    return str(path)


@pytest.fixture(scope="module")
def granted(core, api_client, request, tmp_path_factory):
    """(namespace, the ServiceAccount's kubeconfig, backup dir, rbac): granted by playbooks/rbac.yml."""
    namespace = "amp-rbac-%d" % os.getpid()
    backup_dir = str(tmp_path_factory.mktemp("backups"))

    def revoke():
        playbook("rbac", namespace, ADMIN_KUBECONFIG, "-e", "redis_rbac_subject_name=" + ACCOUNT,
                 "-e", "redis_rbac_state=absent", expect_success=None)
        core.delete_namespace(namespace)
    request.addfinalizer(revoke)
    playbook("rbac", namespace, ADMIN_KUBECONFIG, "-e", "redis_rbac_subject_name=" + ACCOUNT)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": ACCOUNT}})
    kubeconfig = account_kubeconfig(core, api_client, namespace,
                                    tmp_path_factory.mktemp("account") / "kubeconfig")
    client.AppsV1Api(api_client).create_namespaced_deployment(namespace, client_deployment())
    return namespace, kubeconfig, backup_dir


def client_deployment():
    """An application the restore stops and starts again (redis_restore_clients)."""
    labels = {"app": CLIENT}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": CLIENT},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels}, "spec": {
                    "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "app", "image": "localhost/alertmanagerpp/busybox:1.35",
                                    "imagePullPolicy": "Never", "command": ["sleep", "3600"],
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


def run_as_account(granted, name, *args, expect_success=True):
    namespace, kubeconfig, backup_dir = granted
    return playbook(name, namespace, kubeconfig, "-e", "redis_backup_dir=" + backup_dir, "-e", SMALL, *args,
                    expect_success=expect_success)


def run_postgresql_as_account(granted, name, *args):
    namespace, kubeconfig, dummy = granted
    return playbook(name, namespace, kubeconfig, "-e", "postgresql_namespace=" + namespace, "-e", POSTGRESQL_SMALL,
                    *args, stores="postgresql")


def test_the_account_cannot_do_more_than_granted(granted, core):
    """The kubeconfig is really the ServiceAccount's: outside the namespace it may not even read."""
    namespace, kubeconfig, dummy = granted
    result = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-n", "kube-system"],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "forbidden" in result.stderr, result.stderr


def test_every_playbook_runs_with_exactly_the_granted_permissions(granted):
    run_as_account(granted, "deploy", "-e", "profile=standard")
    assert changed(run_as_account(granted, "deploy", "-e", "profile=standard")) == 0
    backup = re.search(r"Backup (\S+) from", run_as_account(granted, "backup")).group(1)
    run_as_account(granted, "monitor")
    run_as_account(granted, "crash_drill", "-e", "confirm=yes", "-e", "variants=delete")
    run_as_account(granted, "load_test", "-e", "confirm=yes", "-e", SHORT_LOAD)
    run_as_account(granted, "restore", "-e", "backup=" + backup, "-e", "confirm=yes", "-e", CLIENTS)
    run_as_account(granted, "rotate_credentials", "-e", CONSUMERS)
    assert changed(run_as_account(granted, "rotate_credentials", "-e", CONSUMERS)) == 0
    run_as_account(granted, "deploy", "-e", "profile=lite")
    run_as_account(granted, "deploy", "-e", "profile=standard")


def test_postgresql_deploys_reloads_and_reports_with_exactly_the_granted_permissions(granted):
    run_postgresql_as_account(granted, "deploy", "-e", "profile=standard")
    assert changed(run_postgresql_as_account(granted, "deploy", "-e", "profile=standard")) == 0
    # A reload: the server's pod annotated (pods patch), the server told over exec.
    reloaded = run_postgresql_as_account(granted, "deploy", "-e", "profile=standard",
                                         "-e", '{"postgresql_parameters": {"work_mem": "5MB"}}')
    assert "reload: work_mem" in reloaded
    run_postgresql_as_account(granted, "monitor")
    run_postgresql_as_account(granted, "deploy", "-e", "profile=lite")


# Each rule of the Role taken away: a playbook that needs it, and what its failure must name. Not taken away:
# pods/log and events (read to explain a pod that does not get Ready, and by the failover drill), the
# monitoring.coreos.com rule (no Prometheus Operator CRDs here).
WITHOUT = [
    ("secrets", "deploy", ["-e", "profile=standard"], 'cannot get resource "secrets"'),
    ("configmaps", "deploy", ["-e", "profile=standard"], 'resource "configmaps"'),
    ("services", "deploy", ["-e", "profile=standard"], 'resource "services"'),
    ("statefulsets", "deploy", ["-e", "profile=standard"], 'resource "statefulsets"'),
    ("poddisruptionbudgets", "deploy", ["-e", "profile=standard"], 'resource "poddisruptionbudgets"'),
    ("networkpolicies", "deploy", ["-e", "profile=standard"], 'resource "networkpolicies"'),
    ("pods", "backup", [], 'cannot get resource "pods"'),
    ("pods/exec", "backup", [], 'resource "pods/exec"'),
    ("pods/proxy", "monitor", [], 'cannot get resource "pods/proxy"'),
    ("persistentvolumeclaims", "restore", ["-e", "confirm=yes"], "get persistentvolumeclaims"),
    ("statefulsets/scale", "restore", ["-e", "confirm=yes"], "patch statefulsets/scale (apps)"),
    ("deployments,daemonsets", "rotate_credentials", ["-e", CONSUMERS], 'cannot get resource "deployments"'),
    ("deployments/scale", "restore", ["-e", "confirm=yes", "-e", CLIENTS],
     "get deployments/scale (apps), patch deployments/scale (apps)"),
]


def test_each_rule_is_needed_and_its_absence_is_named(granted, api_client):
    namespace = granted[0]
    rbac = client.RbacAuthorizationV1Api(api_client)
    whole = rbac.read_namespaced_role(ROLE, namespace)
    assert sorted(",".join(rule.resources) for rule in whole.rules) == sorted(
        [resource for resource, dummy, dummy, dummy in WITHOUT] + ["pods/log", "events",
                                                                   "servicemonitors,prometheusrules"])
    not_named = {}
    try:
        for resource, name, args, needle in WITHOUT:
            rules = [rule for rule in whole.rules if ",".join(rule.resources) != resource]
            assert len(rules) == len(whole.rules) - 1, resource
            rbac.patch_namespaced_role(ROLE, namespace, {"rules": api_client.sanitize_for_serialization(rules)})
            time.sleep(2)  # the authorizer's cache
            output = run_as_account(granted, name, *args, expect_success=False)
            # kubernetes.core.k8s quotes the API server's JSON: \"configmaps\".
            if needle not in " ".join(output.replace('\\"', '"').split()):
                not_named[resource] = output[-1500:]
    finally:
        rbac.patch_namespaced_role(ROLE, namespace, {"rules": api_client.sanitize_for_serialization(whole.rules)})
    assert not_named == {}


def test_without_the_cluster_role_the_namespace_read_is_named(granted, api_client):
    """kube-system's UID names the cluster in backup paths (and a first deploy asks whether the namespace exists)."""
    namespace = granted[0]
    rbac = client.RbacAuthorizationV1Api(api_client)
    binding = rbac.read_cluster_role_binding(ROLE + "-" + namespace)
    rbac.delete_cluster_role_binding(binding.metadata.name)
    try:
        time.sleep(2)
        output = " ".join(run_as_account(granted, "backup", expect_success=False).replace('\\"', '"').split())
        assert 'cannot get resource "namespaces"' in output or "kube-system is not readable" in output, output[-1500:]
    finally:
        binding.metadata.resource_version = None
        rbac.create_cluster_role_binding(binding)
