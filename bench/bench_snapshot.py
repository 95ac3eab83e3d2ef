"""Benchmark the redis_snapshot module against kubectl, in one run, on the local cluster.

A Redis pod is filled with about 1 GB of incompressible values. Then, on the
same RDB file:
  module       the redis_snapshot module run as Ansible runs it (its own Python
               process), verify on; its transfer rate and its peak RSS;
  kubectl cat  kubectl exec POD -- cat RDB > file
  kubectl cp   kubectl cp POD:RDB file
Ratios: module / kubectl cat (goal >= 0.8), module / kubectl cp (goal >= 0.9);
module peak RSS (goal < 100 MB).

Run: make bench (or .venv/bin/python bench/bench_snapshot.py [--mb 1024])
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from kubernetes import client, config  # noqa: E402

import test_smoke  # noqa: E402  (its StatefulSet is the benchmark's Redis)

KUBECONFIG = os.environ.get("K8S_AUTH_KUBECONFIG") or os.path.expanduser(
    "~/.cache/alertmanagerpp-datastores/kubeconfig")
CACHE = pathlib.Path(os.environ.get("AMP_CACHE", os.path.expanduser("~/.cache/alertmanagerpp-datastores")))
KUBECTL = str(CACHE / "src" / "kubernetes-1.20.2" / "_output" / "bin" / "kubectl")
MODULE = ROOT / "plugins" / "modules" / "redis_snapshot.py"
POD = test_smoke.NAME + "-0"


def kubectl(*args, stdout=None):
    return subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG] + list(args), stdout=stdout,
                          stderr=subprocess.PIPE, check=True)


def fill(namespace, megabytes):
    script = ("for i in $(seq 1 %d); do head -c 1048576 /dev/urandom | redis-cli -x SET big:$i >/dev/null; done; "
              "redis-cli SAVE >/dev/null" % megabytes)
    kubectl("-n", namespace, "exec", POD, "--", "sh", "-c", script)


def timed_copy(path, *args):
    start = time.monotonic()
    with open(path, "wb") as handle:
        kubectl(*args, stdout=handle)
    return time.monotonic() - start


def run_module(namespace, dest):
    """Run the module file as Ansible does (args file), in its own process; return (result, peak RSS MB)."""
    args = {"ANSIBLE_MODULE_ARGS": {"namespace": namespace, "pod": POD, "dest": dest, "cluster": "bench",
                                    "kubeconfig": KUBECONFIG,
                                    "skip_unchanged": False}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    completed = subprocess.run([sys.executable, str(MODULE), handle.name], capture_output=True, text=True,
                               env=env, check=False)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    os.unlink(handle.name)
    result = json.loads(completed.stdout)
    if result.get("failed"):
        sys.exit("module failed: %s" % result.get("msg"))
    return result, (peak_kb if peak_kb > before else before) / 1024.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024, help="dataset size in MB (default 1024)")
    options = parser.parse_args()
    api = config.new_client_from_config(config_file=KUBECONFIG)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    namespace = "amp-bench-snapshot-%d" % os.getpid()
    work = tempfile.mkdtemp(prefix="amp-bench-")
    try:
        core.create_namespace({"metadata": {"name": namespace}})
        manifest = test_smoke.statefulset_manifest()
        manifest["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "4Gi"
        apps.create_namespaced_stateful_set(namespace, manifest)
        test_smoke.wait_ready_pod(core, namespace)
        start = time.monotonic()
        fill(namespace, options.mb)
        print("dataset: %d MB of random values loaded in %.0f s" % (options.mb, time.monotonic() - start))

        result, rss = run_module(namespace, os.path.join(work, "module"))
        size = result["bytes"]
        module_rate = size / 1e6 / result["transfer_seconds"]
        whole_rate = size / 1e6 / result["duration_seconds"]
        cat_seconds = timed_copy(os.path.join(work, "cat.rdb"), "-n", namespace, "exec", POD, "--",
                                 "cat", result["source"]["path"])
        cp_start = time.monotonic()
        kubectl("-n", namespace, "cp", "%s:%s" % (POD, result["source"]["path"]), os.path.join(work, "cp.rdb"))
        cp_seconds = time.monotonic() - cp_start
        cat_rate, cp_rate = size / 1e6 / cat_seconds, size / 1e6 / cp_seconds

        print("bench_snapshot: RDB of %.0f MB (%d keys)" % (size / 1e6, result["keys_total"]))
        print("  module transfer      : %7.1f MB/s  (%.1f s; whole run incl. BGSAVE and checks %.1f s = %.1f MB/s)"
              % (module_rate, result["transfer_seconds"], result["duration_seconds"], whole_rate))
        print("  kubectl exec cat     : %7.1f MB/s  -> module/cat = %.2f (goal >= 0.8)" % (cat_rate, module_rate / cat_rate))
        print("  kubectl cp           : %7.1f MB/s  -> module/cp  = %.2f (goal >= 0.9)" % (cp_rate, module_rate / cp_rate))
        print("  module peak RSS      : %7.1f MB    (goal < 100 MB)" % rss)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            core.delete_namespace(namespace)
        except client.exceptions.ApiException:
            pass


if __name__ == "__main__":
    main()
