"""Fixtures for tests that need the real local cluster (make cluster)."""

import os
import sys
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

DEFAULT_KUBECONFIG = os.path.expanduser("~/.cache/alertmanagerpp-datastores/kubeconfig")
# The local inventory deploys both stores; these tests deploy Redis alone unless a test says otherwise.
os.environ.setdefault("AMP_STANDARD_STORES", "redis")


@pytest.fixture(scope="session")
def api_client():
    path = os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    if not os.path.exists(path):
        pytest.fail(f"no kubeconfig at {path}: run `make cluster` first")
    return config.new_client_from_config(config_file=path)


@pytest.fixture(scope="session")
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client):
    return client.AppsV1Api(api_client)


@pytest.fixture
def namespace(core):
    """A throwaway namespace, deleted with everything in it afterwards."""
    name = f"amp-smoke-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:  # pragma: no cover - cleanup only
        if exc.status != 404:
            raise


# The collection's plugins, importable as ansible_collections.alertmanagerpp.datastores.
_COLLECTIONS = os.path.join(os.path.dirname(__file__), "..", "..", "collections")
if os.path.abspath(_COLLECTIONS) not in sys.path:
    sys.path.insert(0, os.path.abspath(_COLLECTIONS))
