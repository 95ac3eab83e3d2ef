"""A restore that fails puts back exactly what was there (real cluster, real Redis).

Also the upload under it: byte-exact in one or several streams, a changed
byte or a full device refused with a clear message.

One instance holds set A, is backed up, then gets set B (and loses part of A).
Each test makes the restore of that backup fail at a chosen point, on the
real volume: after the old data was set aside and the AOF seeded from the
backup (the worst moment), after the instance was started on the restored
data, and before anything moved (a volume too small). Every time the
instance must run again on set B, with nothing left over on the volume.
"""

import hashlib
import os
import time

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import pod_exec
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import pod_files
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import restore as restore_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_files import load_backup
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import snapshot as snapshot_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import Kube, kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run_shell
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

import test_smoke

NAME = test_smoke.NAME
POD = NAME + "-0"
# Set A: a1..a300, and t1..t20 that expire 5 s after they were written:
# present in the backup (its save and copy, 1-2 s, once took more than the
# 1.5 s they lived before), gone before the restore (which must count them
# as the server does). Set B: A without a1..a100, plus b1..b50.
WRITE_A = ("for i=1,300 do redis.call('SET','a'..i,'value-a'..i) end "
           "for i=1,20 do redis.call('SET','t'..i,'short-lived','PX',5000) end")
WRITE_B = "for i=1,100 do redis.call('DEL','a'..i) end for i=1,50 do redis.call('SET','b'..i,'value-b'..i) end"
SET_B = sorted(["a%d" % i for i in range(101, 301)] + ["b%d" % i for i in range(1, 51)])


IMAGES = {"redis": test_smoke.REDIS_IMAGE, "valkey": "localhost/alertmanagerpp/valkey:8-trixie"}


def statefulset_manifest(flavor):
    manifest = test_smoke.statefulset_manifest()
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["image"] = IMAGES[flavor]
    container["command"][0] = "%s-server" % flavor
    container["readinessProbe"]["exec"]["command"][0] = "%s-cli" % flavor
    return manifest


def backed_up_instance(core, apps, request, tmp_path_factory, flavor):
    """(configuration, namespace, manifest of the backup of set A, flavor); the live data is set B."""
    namespace = "amp-restore-%s-%s" % (flavor, os.getpid())
    core.create_namespace({"metadata": {"name": namespace}})
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    apps.create_namespaced_stateful_set(namespace, statefulset_manifest(flavor))
    test_smoke.wait_ready_pod(core, namespace)
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    cli = pod_cli(configuration, namespace, POD, "redis", None, flavor=flavor)
    cli("EVAL", WRITE_A, "0")
    written = time.monotonic()
    manifest = snapshot_module.Snapshot(configuration, cli, (namespace, POD, "redis"),
                                        str(tmp_path_factory.mktemp("backups")), NAME, "test-cluster", flavor=flavor,
                                        skip_unchanged=False).run()
    assert manifest["keys_total"] == 320
    manifest = load_backup(manifest["manifest_path"])  # as the module reads it
    cli("EVAL", WRITE_B, "0")
    time.sleep(max(0, 5.1 - (time.monotonic() - written)))
    instance = (configuration, namespace, manifest, flavor)
    assert live_keys(instance) == SET_B
    return instance


@pytest.fixture(scope="module")
def instance(core, apps, request, tmp_path_factory):
    return backed_up_instance(core, apps, request, tmp_path_factory, "redis")


@pytest.fixture(scope="module")
def valkey_instance(core, apps, request, tmp_path_factory):
    return backed_up_instance(core, apps, request, tmp_path_factory, "valkey")


def live_keys(instance):
    configuration, namespace, dummy, flavor = instance
    return sorted(pod_cli(configuration, namespace, POD, "redis", None, flavor=flavor)("--scan").split())


def volume_listing(instance):
    return sorted(run_shell(instance[0], instance[1], POD, "redis", "ls -A /data").split())


def restore(core, apps, instance, pod_restart=False, **manifest_changes):
    configuration, namespace, manifest, flavor = instance
    return restore_module.Restore(Kube(configuration), namespace, NAME, dict(manifest, **manifest_changes),
                                  None, flavor=flavor, timeout=120, pod_restart=pod_restart)


def assert_rolled_back(core, instance, listing_before):
    test_smoke.wait_ready_pod(core, instance[1])
    assert live_keys(instance) == SET_B
    assert volume_listing(instance) == listing_before
    assert "-restore" not in " ".join(p.metadata.name for p in core.list_namespaced_pod(instance[1]).items)


def test_a_failure_after_the_aof_was_seeded_rolls_back(core, apps, instance, monkeypatch):
    listing = volume_listing(instance)
    swap = restore_module.Restore.swap_in_backup

    def swap_then_fail(self):
        swap(self)
        raise restore_module.RestoreError("injected failure after seeding the AOF")
    monkeypatch.setattr(restore_module.Restore, "swap_in_backup", swap_then_fail)
    with pytest.raises(restore_module.RestoreError, match="injected failure.*rolled back: the instance runs on its "
                                                          "previous data"):
        restore(core, apps, instance).run()
    assert_rolled_back(core, instance, listing)


def test_a_failure_after_the_restored_instance_started_rolls_back(core, apps, instance, monkeypatch):
    """The restored data was live once (AOF incr file written): the rollback must still bring back set B."""
    listing = volume_listing(instance)
    verify = restore_module.Restore.verify_server
    calls = []

    def verify_then_fail_in_the_instance(self, server, label):
        calls.append((server.name, verify(self, server, label)))
        if server.name == "the instance":
            raise restore_module.RestoreError("injected failure after the instance was verified")
    monkeypatch.setattr(restore_module.Restore, "verify_server", verify_then_fail_in_the_instance)
    with pytest.raises(restore_module.RestoreError, match="injected failure.*rolled back"):
        restore(core, apps, instance).run()
    assert [name for name, dummy in calls] == ["the helper's server"] * 2 + ["the instance"]
    assert calls[-1][1]["samples"] > 0, "the restored instance was never live"
    assert_rolled_back(core, instance, listing)


def test_the_aof_trap_is_caught_and_rolled_back(core, apps, instance, monkeypatch):
    """The naive procedure (dump.rdb in place, no AOF seeded): the server starts empty with AOF on; it must be caught."""
    listing = volume_listing(instance)
    naive = restore_module.SWAP_SCRIPT.partition("mkdir %s;" % restore_module.AOF_DIR)[0] + "sync ."
    assert "ln dump.rdb" not in naive and 'mv "$2" dump.rdb' in naive
    monkeypatch.setattr(restore_module, "SWAP_SCRIPT", naive)
    with pytest.raises(restore_module.RestoreError, match="the helper's server loaded 0 keys from its AOF base, "
                                                          "the backup holds 320.*rolled back"):
        restore(core, apps, instance).run()
    assert_rolled_back(core, instance, listing)


def test_a_volume_without_room_is_refused_before_anything_moves(core, apps, instance):
    listing = volume_listing(instance)
    with pytest.raises(restore_module.RestoreError, match=r"the volume has \d+ MB free; the restore needs \d+ MB"):
        restore(core, apps, instance, bytes=50 * 1024 ** 4).run()
    assert_rolled_back(core, instance, listing)


def flip_first_bulk_send(monkeypatch):
    """Change one byte in the middle of the first large write to a pod, whichever transport carries it."""
    flipped = []
    for session in (pod_exec.SpdyExec, pod_exec.WebsocketExec):
        def flip_one_byte(self, data, send=session.send):
            if not flipped and len(data) > 1024:
                flipped.append(True)
                middle = len(data) // 2
                data = bytes(data[:middle]) + bytes([data[middle] ^ 0x01]) + bytes(data[middle + 1:])
            send(self, data)
        monkeypatch.setattr(session, "send", flip_one_byte)
    return flipped


def test_a_byte_changed_in_the_restore_upload_is_refused_while_the_instance_runs(core, apps, instance, monkeypatch):
    """The upload goes beside the live data; the check tool's CRC64 catches the byte; nothing stopped, nothing left."""
    listing = volume_listing(instance)
    uid = core.read_namespaced_pod(POD, instance[1]).metadata.uid
    flipped = flip_first_bulk_send(monkeypatch)
    with pytest.raises(restore_module.RestoreError, match="cannot read the backup as uploaded.*nothing was changed: "
                                                          "the instance kept running"):
        restore(core, apps, instance).run()
    assert flipped
    assert core.read_namespaced_pod(POD, instance[1]).metadata.uid == uid
    assert_rolled_back(core, instance, listing)


def assert_restored_set_a(core, apps, instance, pod_restart=False):
    result = restore(core, apps, instance, pod_restart=pod_restart).run()
    assert result["rdb_keys"] == 320 and result["aof_enabled"]
    assert live_keys(instance) == sorted("a%d" % i for i in range(1, 301))
    cli = pod_cli(instance[0], instance[1], POD, "redis", None, flavor=instance[3])
    assert cli("GET", "a1").strip() == "value-a1"
    assert not [name for name in volume_listing(instance) if name.startswith(".pre-restore")]


def test_the_same_backup_then_restores_set_a(core, apps, instance):
    """After the failed attempts, the backup still restores (and is exactly set A)."""
    assert_restored_set_a(core, apps, instance)


def test_a_valkey_backup_restores_into_valkey_and_survives_a_pod_restart(core, apps, valkey_instance):
    assert_restored_set_a(core, apps, valkey_instance, pod_restart=True)


def test_an_upload_into_a_full_device_fails_and_says_so(instance, tmp_path, monkeypatch):
    """64 MB is more than the connections buffer: the writers must drain stdin after failing, not hang to the timeout."""
    monkeypatch.setattr(pod_exec, "TRANSPORT", "spdy")
    send, cut_off = pod_exec.SpdyExec.send, []

    def recording_send(self, data):
        try:
            send(self, data)
        except OSError as exc:
            cut_off.append(exc)
            raise
    monkeypatch.setattr(pod_exec.SpdyExec, "send", recording_send)
    configuration, namespace = instance[:2]
    source = tmp_path / "payload"
    source.write_bytes(os.urandom(64 * 1024 * 1024))
    with pytest.raises(pod_exec.PodExecError, match="No space left on device"):
        pod_files.upload(configuration, namespace, POD, "redis", str(source), "/dev/full", timeout=20)
    assert not cut_off, "a sender was cut off: %s" % cut_off


def test_a_byte_changed_in_transit_is_caught(instance, tmp_path, monkeypatch):
    configuration, namespace = instance[:2]
    source = tmp_path / "payload"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    flip_first_bulk_send(monkeypatch)
    with pytest.raises(pod_exec.PodExecError, match="upload corrupted: sha256 of the ranges"):
        pod_files.upload(configuration, namespace, POD, "redis", str(source), "/tmp/upload-test")


@pytest.mark.parametrize("transport,streams,verify", [
    ("spdy", 1, True), ("spdy", 4, False), ("websocket", 4, True), ("websocket", 1, False)])
def test_an_upload_is_byte_exact(instance, tmp_path, monkeypatch, transport, streams, verify):
    monkeypatch.setattr(pod_exec, "TRANSPORT", transport)
    configuration, namespace = instance[:2]
    source = tmp_path / "payload"
    source.write_bytes(os.urandom(5 * 1024 * 1024 + 3))
    result = pod_files.upload(configuration, namespace, POD, "redis", str(source), "/tmp/upload-test",
                              streams=streams, verify=verify)
    assert result["bytes"] == source.stat().st_size and result["streams"] == streams
    remote = run_shell(configuration, namespace, POD, "redis", "sha256sum /tmp/upload-test; rm -f /tmp/upload-test")
    assert remote.split()[0] == hashlib.sha256(source.read_bytes()).hexdigest()


@pytest.mark.parametrize("transport", ["spdy", "websocket"])
def test_both_transports_report_exit_code_stdout_and_stderr(instance, monkeypatch, transport):
    monkeypatch.setattr(pod_exec, "TRANSPORT", transport)
    rc, out, err = pod_exec.run(instance[0], instance[1], POD, "redis", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (rc, out, err) == (7, b"out\n", b"err\n")


def test_a_missing_pod_is_an_error_not_a_fallback(instance):
    with pytest.raises(pod_exec.PodExecError, match=r'HTTP 404: pods "no-such-pod" not found'):
        pod_exec.run(instance[0], instance[1], "no-such-pod", "redis", ["true"])


# Key names as the acceptance run had them (bin:\xff\xfe<n>: invalid UTF-8), names holding NUL, newline, tab,
# CR and every other byte value, values of every byte value.
WRITE_BINARY = r"""
local all = ""
for b = 0, 255 do all = all .. string.char(b) end
for n = 1, 200 do redis.call("SET", "bin:\255\254" .. n, all .. n) end
for b = 0, 255 do redis.call("SET", string.char(b) .. "\0\n\t\r" .. string.char(b), string.char(b) .. all) end
return "ok"
"""
DAMAGE_BINARY = r"""
for n = 1, 200, 2 do redis.call("SET", "bin:\255\254" .. n, "changed") end
for b = 0, 255, 5 do redis.call("DEL", string.char(b) .. "\0\n\t\r" .. string.char(b)) end
return "ok"
"""
DIGEST_BINARY = r"""
local parts = {}
for n = 1, 200 do parts[#parts + 1] = redis.sha1hex(redis.call("DUMP", "bin:\255\254" .. n) or "-") end
for b = 0, 255 do
  parts[#parts + 1] = redis.sha1hex(redis.call("DUMP", string.char(b) .. "\0\n\t\r" .. string.char(b)) or "-")
end
return redis.call("DBSIZE") .. " " .. redis.sha1hex(table.concat(parts))
"""


@pytest.fixture(scope="module")
def binary_instance(core, apps, request, tmp_path_factory):
    """(configuration, namespace, manifest, flavor) with only binary keys; the backup holds them intact."""
    namespace = "amp-restore-binary-%s" % os.getpid()
    core.create_namespace({"metadata": {"name": namespace}})
    request.addfinalizer(lambda: core.delete_namespace(namespace))
    apps.create_namespaced_stateful_set(namespace, statefulset_manifest("redis"))
    test_smoke.wait_ready_pod(core, namespace)
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    cli = pod_cli(configuration, namespace, POD, "redis", None)
    cli("EVAL", WRITE_BINARY, "0")
    manifest = snapshot_module.Snapshot(configuration, cli, (namespace, POD, "redis"),
                                        str(tmp_path_factory.mktemp("backups")), NAME, "test-cluster",
                                        skip_unchanged=False).run()
    return configuration, namespace, load_backup(manifest["manifest_path"]), "redis"


def test_binary_key_names_and_values_restore_exactly(core, apps, binary_instance):
    """The shell sampler of 0.1 refused this backup ("sample values differ") and read NUL names as missing."""
    configuration, namespace = binary_instance[:2]
    cli = pod_cli(configuration, namespace, POD, "redis", None)
    before = cli("EVAL", DIGEST_BINARY, "0").strip()
    assert before.startswith("456 ")
    cli("EVAL", DAMAGE_BINARY, "0")
    assert cli("EVAL", DIGEST_BINARY, "0").strip() != before
    result = restore(core, apps, binary_instance).run()
    assert result["samples_checked"] > 0 and result["rdb_keys"] == 456
    assert cli("EVAL", DIGEST_BINARY, "0").strip() == before
