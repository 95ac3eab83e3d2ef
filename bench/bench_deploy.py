"""Benchmark playbooks/deploy.yml on the warm local cluster.

Measures, in one run:
  deploy   ansible-playbook playbooks/deploy.yml -e profile=standard into a new
           namespace, until it returns (StatefulSet Ready and verified);
  rerun    the same command again (must report changed=0);
and two baselines measured beside them, so the ratios survive a noisy machine:
  raw      a bare one-pod Redis StatefulSet with a PVC created with the Python
           client, until Ready (what Kubernetes itself needs);
  noop     ansible-playbook of a one-task play on the same inventory (what
           Ansible itself needs to start).

Goals: deploy < 60 s; rerun < 8 s (it was 16-19 s with 19 module runs before the
one-step apply and the instance facts).
Run: make bench  (or: .venv/bin/python bench/bench_deploy.py)
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from kubernetes import client, config  # noqa: E402

import test_smoke  # noqa: E402  (its manifest is the raw baseline)
from benchlib import delete_namespace, timed  # noqa: E402

KUBECONFIG = os.environ.get("K8S_AUTH_KUBECONFIG") or os.path.expanduser(
    "~/.cache/alertmanagerpp-datastores/kubeconfig"
)
PLAYBOOK = [str(pathlib.Path(sys.executable).parent / "ansible-playbook")]
ENV = dict(os.environ, AMP_STANDARD_STORES=os.environ.get("AMP_STANDARD_STORES", "redis"), K8S_AUTH_KUBECONFIG=KUBECONFIG,
           ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")


def run_playbook(*args):
    result = subprocess.run(PLAYBOOK + list(args), cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit("ansible-playbook %s failed:\n%s" % (" ".join(args), result.stdout[-3000:]))
    return int(re.search(r"changed=(\d+)", result.stdout).group(1))


def raw_statefulset(core, apps, namespace):
    core.create_namespace({"metadata": {"name": namespace}})
    apps.create_namespaced_stateful_set(namespace, test_smoke.statefulset_manifest())
    test_smoke.wait_ready_pod(core, namespace)


def main():
    api = config.new_client_from_config(config_file=KUBECONFIG)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    suffix = uuid.uuid4().hex[:6]
    raw_ns, role_ns = "amp-bench-raw-" + suffix, "amp-bench-deploy-" + suffix
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as noop:
        noop.write("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: noop}\n")
    try:
        t_raw, dummy = timed(lambda: raw_statefulset(core, apps, raw_ns))
        t_deploy, changed_first = timed(lambda: run_playbook(
            "playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + role_ns))
        t_rerun, changed_rerun = timed(lambda: run_playbook(
            "playbooks/deploy.yml", "-e", "profile=standard", "-e", "redis_namespace=" + role_ns))
        t_noop, dummy = timed(lambda: run_playbook(noop.name))
    finally:
        os.unlink(noop.name)
        for namespace in (raw_ns, role_ns):
            delete_namespace(core, namespace)
    print("bench_deploy (warm cluster)")
    print("  deploy to Ready+verified : %6.1f s  (goal < 60 s; %d changed)" % (t_deploy, changed_first))
    print("  raw StatefulSet to Ready : %6.1f s  -> deploy/raw = %.2f" % (t_raw, t_deploy / t_raw))
    print("  idempotent re-run        : %6.1f s  (goal < 8 s; changed=%d)" % (t_rerun, changed_rerun))
    print("  one-task playbook        : %6.1f s  -> rerun/noop = %.2f" % (t_noop, t_rerun / t_noop))
    if changed_rerun != 0:
        sys.exit("re-run was not idempotent: changed=%d" % changed_rerun)


if __name__ == "__main__":
    main()
