"""No secret value anywhere an operator or a log collector looks (docs/security.md).

Every playbook runs at -vvv against one instance: deploy, an unchanged deploy
with --check --diff, backup, backup_list, monitor, crash_drill, load_test, restore, rotate_credentials,
rbac, lite and back. Their output, every object of the namespace (ConfigMaps,
StatefulSets, pods, Services, events, ...), the arguments and environments of
the pods' processes and the backup's files on the controller are searched for
every value the Secrets ever held (before and after the rotation), as text and
in base64. The instance speaks TLS, so the certificate's and the CA's keys are
among them. (The Sentinel topology's playbooks: tests/cluster/test_sentinel.py.)
"""

import base64
import json
import os
import pathlib
import re
import subprocess
import sys

from kubernetes import client

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run

from test_load_test import SHORT_LOAD
from test_security import PROCESS_SCAN

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "alertmanagerpp-redis"
# With TLS: the certificate's key joins the secrets searched for, and every playbook runs over TLS.
SMALL = '{"redis_resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}, ' \
        '"redis_maxmemory": "64mb", "redis_tls_enabled": true}'


def playbook(namespace, backup_dir, name, *args):
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-vvv", "playbooks/%s.yml" % name,
               "-e", "redis_namespace=" + namespace, "-e", "redis_backup_dir=" + backup_dir, "-e", SMALL] + list(args)
    result = subprocess.run(command, cwd=ROOT, env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def secret_values(core, namespace):
    """Every value of every Secret of the namespace but the ServiceAccounts' tokens (whose `namespace` key would be
    found everywhere), with its forms: as is and in base64."""
    values = set()
    for secret in core.list_namespaced_secret(namespace).items:
        if secret.type == "kubernetes.io/service-account-token":
            continue
        for encoded in (secret.data or {}).values():
            values.add(base64.b64decode(encoded).decode("utf-8", "replace"))
    return dict((form, value) for value in values if len(value) >= 8
                for form in (value, base64.b64encode(value.encode()).decode()))


def objects_text(api_client, namespace):
    """{where: text} of every object of the namespace an operator reads with kubectl get -o yaml, and its events."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    listings = {"configmaps": core.list_namespaced_config_map, "pods": core.list_namespaced_pod,
                "services": core.list_namespaced_service, "events": core.list_namespaced_event,
                "statefulsets": apps.list_namespaced_stateful_set, "deployments": apps.list_namespaced_deployment,
                "networkpolicies": client.NetworkingV1Api(api_client).list_namespaced_network_policy}
    return dict((kind, json.dumps(api_client.sanitize_for_serialization(listing(namespace).items)))
                for kind, listing in listings.items())


def processes_text(configuration, namespace, pod):
    texts = {}
    for container in ("redis", "exporter"):
        rc, out, err = run(configuration, namespace, pod, container, ["sh", "-c", PROCESS_SCAN], timeout=30)
        assert rc == 0, err
        texts["processes of %s/%s" % (pod, container)] = out.decode("utf-8", "replace")
    return texts


def files_text(directory):
    return dict((str(path), path.read_bytes().decode("latin-1")) for path in pathlib.Path(directory).rglob("*")
                if path.is_file())


def test_no_playbook_at_vvv_nor_any_object_process_or_backup_file_shows_a_secret(
        core, api_client, tmp_path, request):
    namespace = "amp-leaks-%d" % os.getpid()
    backup_dir = str(tmp_path / "backups")
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    outputs = {"deploy": playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")}
    secrets = secret_values(core, namespace)
    assert len(secrets) >= 10  # app, admin, backup, probe, exporter and its password file, each in two forms
    outputs["deploy --check --diff"] = playbook(namespace, backup_dir, "deploy", "-e", "profile=standard",
                                                "--check", "--diff")
    outputs["backup"] = playbook(namespace, backup_dir, "backup")
    backup = re.search(r"Backup (\S+) from", outputs["backup"]).group(1)
    outputs["backup_list"] = playbook(namespace, backup_dir, "backup_list")
    outputs["monitor"] = playbook(namespace, backup_dir, "monitor")
    outputs["crash_drill"] = playbook(namespace, backup_dir, "crash_drill", "-e", "confirm=yes", "-e", "variants=kill")
    outputs["load_test"] = playbook(namespace, backup_dir, "load_test", "-e", "confirm=yes", "-e", SHORT_LOAD)
    outputs["restore"] = playbook(namespace, backup_dir, "restore", "-e", "backup=" + backup, "-e", "confirm=yes")
    outputs["rotate_credentials --diff"] = playbook(namespace, backup_dir, "rotate_credentials", "--diff",
                                                    "-e", "redis_credentials_rotation=leak-scan")
    secrets.update(secret_values(core, namespace))
    subject = ["-e", "redis_rbac_subject_name=leak-scan"]
    outputs["rbac"] = playbook(namespace, backup_dir, "rbac", *subject)
    playbook(namespace, backup_dir, "rbac", *subject, "-e", "redis_rbac_state=absent")
    outputs["deploy lite"] = playbook(namespace, backup_dir, "deploy", "-e", "profile=lite")
    outputs["deploy again"] = playbook(namespace, backup_dir, "deploy", "-e", "profile=standard")

    places = dict(("output of " + name, text) for name, text in outputs.items())
    places.update(objects_text(api_client, namespace))
    places.update(processes_text(configuration, namespace, NAME + "-0"))
    places.update(files_text(backup_dir))
    found = sorted("%s in %s" % ("a password" if form == value else "a password in base64", where)
                   for form, value in secrets.items() for where, text in places.items() if form in text)
    assert found == [], "\n".join(found)
    assert "changed=" in outputs["deploy again"] and len(places) > 20
