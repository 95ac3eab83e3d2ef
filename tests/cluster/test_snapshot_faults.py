"""The snapshot refuses a corrupted copy and publishes nothing (real cluster, real Redis).

Faults are injected on the controller side of a real transfer: a flipped
byte in the stream, a stream cut short, a file corrupted on disk before the
rename. Each must fail and leave the backup directory without any file.
"""

import os

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import snapshot as snapshot_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import kube_configuration
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import RdbError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import pod_cli

import test_smoke

NAME = test_smoke.NAME


@pytest.fixture(scope="module")
def instance(core, apps, request):
    """A Redis pod (no password) with some data, for the whole module."""
    namespace = test_smoke.throwaway_instance(core, apps, request, "amp-faults")
    test_smoke.redis_cli(core, namespace, "EVAL", "for i=1,200 do redis.call('SET','k'..i,'v'..i) end", "0")
    configuration = kube_configuration({"kubeconfig": os.environ.get("K8S_AUTH_KUBECONFIG")})
    return configuration, namespace


CLUSTER = "test-cluster"


def make_snapshot(instance, dest):
    configuration, namespace = instance
    pod = NAME + "-0"
    cli = pod_cli(configuration, namespace, pod, "redis", None)
    return snapshot_module.Snapshot(configuration, cli, (namespace, pod, "redis"), str(dest), NAME, CLUSTER,
                                    skip_unchanged=False)


def published(dest, instance):
    directory = os.path.join(str(dest), CLUSTER, instance[1], NAME)
    return sorted(f for f in os.listdir(directory) if f != ".lock") if os.path.isdir(directory) else []


def test_a_clean_snapshot_is_published(instance, tmp_path):
    result = make_snapshot(instance, tmp_path).run()
    assert result["keys_total"] == 200
    assert published(tmp_path, instance) == [result["id"] + ".json", result["id"] + ".rdb"]
    assert result["checks"]["crc64_verified"] and result["checks"]["check_rdb_in_pod"]["keys"] == 200


def test_a_flipped_byte_in_the_stream_is_refused(instance, tmp_path, monkeypatch):
    original = snapshot_module.FileSink.__call__

    def corrupting(self, chunk):
        if self.bytes == 0:
            chunk = bytes([chunk[0] ^ 0xFF]) + bytes(chunk[1:])
        original(self, chunk)

    monkeypatch.setattr(snapshot_module.FileSink, "__call__", corrupting)
    with pytest.raises(snapshot_module.SnapshotError, match="transfer corrupted"):
        make_snapshot(instance, tmp_path).run()
    assert published(tmp_path, instance) == []


def test_a_transfer_cut_short_is_refused(instance, tmp_path, monkeypatch):
    original = snapshot_module.FileSink.__call__

    def losing_the_tail(self, chunk):
        original(self, chunk[:len(chunk) // 2] if self.bytes == 0 else chunk[:0])

    monkeypatch.setattr(snapshot_module.FileSink, "__call__", losing_the_tail)
    with pytest.raises(snapshot_module.SnapshotError, match="transfer corrupted"):
        make_snapshot(instance, tmp_path).run()
    assert published(tmp_path, instance) == []


def test_a_file_corrupted_before_the_rename_is_refused(instance, tmp_path, monkeypatch):
    original = snapshot_module.Snapshot.check

    def corrupt_then_check(self, temp, sink, report):
        with open(temp, "r+b") as handle:
            handle.seek(os.path.getsize(temp) // 2)
            byte = handle.read(1)
            handle.seek(-1, 1)
            handle.write(bytes([byte[0] ^ 0xFF]))
        return original(self, temp, sink, report)

    monkeypatch.setattr(snapshot_module.Snapshot, "check", corrupt_then_check)
    with pytest.raises((RdbError, snapshot_module.SnapshotError), match="CRC64 mismatch|rejected"):
        make_snapshot(instance, tmp_path).run()
    assert published(tmp_path, instance) == []
