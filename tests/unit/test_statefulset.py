import copy

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.statefulset import (
    immutable_changes,
    storage_growth,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.volume_expansion import Volumes

BASE = {
    "spec": {
        "serviceName": "r-headless",
        "podManagementPolicy": "OrderedReady",
        "selector": {"matchLabels": {"app.kubernetes.io/instance": "r"}},
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "5Gi"}},
                },
            }
        ],
    }
}


def claim(sts):
    return sts["spec"]["volumeClaimTemplates"][0]["spec"]


def test_no_live_statefulset_means_no_conflict():
    assert immutable_changes(None, BASE) == []
    assert immutable_changes({}, BASE) == []


def test_identical_is_fine():
    assert immutable_changes(copy.deepcopy(BASE), BASE) == []


def test_same_size_written_differently_is_fine():
    live = copy.deepcopy(BASE)
    claim(live)["resources"]["requests"]["storage"] = "5120Mi"
    assert immutable_changes(live, BASE) == []


def test_storage_size_change_is_reported():
    wanted = copy.deepcopy(BASE)
    claim(wanted)["resources"]["requests"]["storage"] = "10Gi"
    assert immutable_changes(BASE, wanted) == ["volume claim 'data' storage: 5Gi -> 10Gi"]


def test_growth_is_allowed_when_the_volumes_are_expanded_and_reported_apart():
    wanted = copy.deepcopy(BASE)
    claim(wanted)["resources"]["requests"]["storage"] = "10Gi"
    assert immutable_changes(BASE, wanted, True) == []
    assert storage_growth(BASE, wanted) == {"data": ("5Gi", "10Gi")}
    assert storage_growth(BASE, BASE) == {} and storage_growth(None, wanted) == {}


def test_a_volume_never_shrinks():
    wanted = copy.deepcopy(BASE)
    claim(wanted)["resources"]["requests"]["storage"] = "1Gi"
    assert immutable_changes(BASE, wanted, True) == ["volume claim 'data' storage: 5Gi -> 1Gi (a volume cannot shrink)"]
    assert storage_growth(BASE, wanted) == {}


def test_growth_beside_another_immutable_change_still_names_the_other():
    wanted = copy.deepcopy(BASE)
    claim(wanted)["resources"]["requests"]["storage"] = "10Gi"
    claim(wanted)["storageClassName"] = "fast"
    assert immutable_changes(BASE, wanted, True) == ["volume claim 'data' storageClassName: (default) -> fast"]


def test_server_defaulted_storage_class_is_not_a_change():
    live = copy.deepcopy(BASE)
    claim(live)["storageClassName"] = "standard"
    assert immutable_changes(live, BASE) == []


def test_explicit_storage_class_change_is_reported():
    wanted = copy.deepcopy(BASE)
    claim(wanted)["storageClassName"] = "fast"
    assert immutable_changes(BASE, wanted) == ["volume claim 'data' storageClassName: (default) -> fast"]


def test_selector_and_service_name_changes_are_reported():
    wanted = copy.deepcopy(BASE)
    wanted["spec"]["serviceName"] = "other"
    wanted["spec"]["selector"]["matchLabels"]["extra"] = "x"
    changes = immutable_changes(BASE, wanted)
    assert "serviceName: r-headless -> other" in changes
    assert any(c.startswith("selector:") for c in changes)
    assert len(changes) == 2


def test_claim_template_renamed_is_reported():
    wanted = copy.deepcopy(BASE)
    wanted["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] = "redis-data"
    assert immutable_changes(BASE, wanted) == ["volumeClaimTemplates: ['data'] -> ['redis-data']"]


def test_the_expansion_reads_the_template_size_as_the_comparison_does():
    volumes = Volumes(None, "ns", "r", "data", "10Gi")
    assert volumes.template_size(BASE) == 5 * 1024 ** 3
    assert Volumes(None, "ns", "r", "other", "10Gi").template_size(BASE) == 0
    assert volumes.template_size({"spec": {}}) == 0
