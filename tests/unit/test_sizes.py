import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sizes import (
    SizeError,
    k8s_quantity_bytes,
    redis_memory_bytes,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("384mb", 384 * 1024 * 1024),
        ("384MB", 384 * 1024 * 1024),
        ("1gb", 1024 ** 3),
        ("1g", 1000 ** 3),
        ("100k", 100_000),
        ("100kb", 102_400),
        ("4096", 4096),
        ("4096b", 4096),
        (" 64mb ", 64 * 1024 * 1024),
    ],
)
def test_redis_memory_bytes(value, expected):
    assert redis_memory_bytes(value) == expected


@pytest.mark.parametrize("value", ["lots", "1.5gb", "-1mb", "12tb", "", "mb"])
def test_redis_memory_bytes_rejects(value):
    with pytest.raises(SizeError, match="is not a Redis memory size"):
        redis_memory_bytes(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("5Gi", 5 * 1024 ** 3),
        ("512Mi", 512 * 1024 ** 2),
        ("1G", 1000 ** 3),
        ("1.5Gi", int(1.5 * 1024 ** 3)),
        ("1024", 1024),
        ("10k", 10_000),
    ],
)
def test_k8s_quantity_bytes(value, expected):
    assert k8s_quantity_bytes(value) == expected


@pytest.mark.parametrize("value", ["5GB", "5gi", "huge", "", "500m", "1e3"])
def test_k8s_quantity_bytes_rejects(value):
    with pytest.raises(SizeError, match="is not a Kubernetes"):
        k8s_quantity_bytes(value)
