"""PostgreSQL deployed by playbooks/deploy.yml (standard_stores [postgresql]) on the real cluster.

The molecule scenario `postgresql` drives the role through its changes (reload, restart, check mode, refusals,
lite and back); this file searches everything those runs leave for the passwords: the playbooks' output at -vvv,
every object of the namespace and its events, the arguments and environments of the pod's processes, and the
server's log.
"""

import os
import pathlib
import subprocess
import sys

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run

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
