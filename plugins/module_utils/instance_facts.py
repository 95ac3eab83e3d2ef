# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the cluster holds of one instance and what its API server offers, read in one pass.

The roles decide from these facts (the PodDisruptionBudget's API version,
whether the Prometheus Operator's kinds are served, which optional objects
exist, the live StatefulSet for the immutable-field check, which keys the
instance's Secrets hold) instead of one module run per question.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import password_problem

OPERATOR_GROUP, OPERATOR_VERSION = "monitoring.coreos.com", "v1"
OPERATOR_KINDS = ("servicemonitors", "prometheusrules")
# Objects of the instance that its settings may switch off (then they are removed).
OPTIONAL = (("PodDisruptionBudget", "policy", "poddisruptionbudgets"),
            ("NetworkPolicy", "networking.k8s.io", "networkpolicies"))


def served_versions(kube):
    """{group: [versions]} the API server serves (the core group as "")."""
    served = {"": ["v1"]}
    for group in kube.get("/apis")["groups"]:
        served[group["name"]] = [version["version"] for version in group["versions"]]
    return served


def operator_served(kube, served):
    if OPERATOR_VERSION not in served.get(OPERATOR_GROUP, []):
        return False
    resources = kube.get("/apis/%s/%s" % (OPERATOR_GROUP, OPERATOR_VERSION)) or {}
    return set(OPERATOR_KINDS) <= set(resource["name"] for resource in resources.get("resources") or [])


def settled(statefulset):
    """The StatefulSet exists and its rollout is complete: every replica updated and Ready."""
    if not statefulset:
        return False
    spec, status = statefulset.get("spec") or {}, statefulset.get("status") or {}
    replicas = spec.get("replicas", 1)
    # OnDelete (the Sentinel topology): currentRevision may never move; updatedReplicas says it all.
    on_delete = (spec.get("updateStrategy") or {}).get("type") == "OnDelete"
    return (status.get("observedGeneration") == (statefulset.get("metadata") or {}).get("generation")
            and status.get("replicas") == replicas == status.get("readyReplicas") == status.get("updatedReplicas")
            and (on_delete or status.get("currentRevision") == status.get("updateRevision")))


def read_secrets(kube, namespace, names):
    """{name: the Secret as the API server returns it, or None when it does not exist}."""
    return dict((name, kube.get("/api/v1/namespaces/%s/secrets/%s" % (namespace, name))) for name in names)


def secret_keys(secret):
    """The key names of a Secret (never its values), or None when it does not exist."""
    return None if secret is None else sorted(secret.get("data") or {})


def password_problems(namespace, secrets, passwords):
    """Why the passwords asked for cannot be used, one message per Secret (none: they can).

    passwords: [{name, keys, create}] as the module option gives them.
    """
    problems = []
    for wanted in passwords:
        problem = password_problem("%s/%s" % (namespace, wanted["name"]), secrets.get(wanted["name"]),
                                   wanted["keys"], wanted["create"])
        if problem:
            problems.append(problem)
    return problems


def config_map_data(kube, namespace, names):
    """{name: the ConfigMap's data, or None when it does not exist}."""
    maps = dict((name, kube.get("/api/v1/namespaces/%s/configmaps/%s" % (namespace, name))) for name in names)
    return dict((name, None if found is None else found.get("data") or {}) for name, found in maps.items())


def pod_addresses(kube, namespace, name):
    """{pod: ClusterIP} of the instance's per-pod Services (Sentinel topology: the pods' stable addresses)."""
    services = kube.get("/api/v1/namespaces/%s/services?labelSelector=%s" % (
        namespace, "alertmanagerpp.io/pod-address%3Dtrue,app.kubernetes.io/instance%3D" + name))
    return dict((service["metadata"]["name"], service["spec"].get("clusterIP"))
                for service in (services or {}).get("items") or [])


def gather(kube, namespace, name, secrets=(), passwords=(), config_maps=()):
    """The facts dict the redis_instance_info module returns (see its documentation for the arguments)."""
    served = served_versions(kube)
    pdb_version = "v1" if "v1" in served.get("policy", []) else "v1beta1"
    versions = {"policy": pdb_version, "networking.k8s.io": "v1"}
    # Plain JSON through Kube.get: no typed client to import (0.3-0.6 s each).
    statefulset = kube.get("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, name))
    namespace_exists = statefulset is not None or kube.get("/api/v1/namespaces/%s" % namespace) is not None
    existing = dict((kind, False) for kind, dummy, dummy_plural in OPTIONAL)
    names = list(secrets) + [wanted["name"] for wanted in passwords if wanted["name"] not in secrets]
    read = dict((secret, None) for secret in names)
    maps = dict((config_map, None) for config_map in config_maps)
    addresses = {}
    if namespace_exists:
        read = read_secrets(kube, namespace, names)
        maps = config_map_data(kube, namespace, config_maps)
        addresses = pod_addresses(kube, namespace, name)
        for kind, group, plural in OPTIONAL:
            existing[kind] = kube.get("/apis/%s/%s/namespaces/%s/%s/%s"
                                      % (group, versions[group], namespace, plural, name)) is not None
    return {"target": "%s/%s" % (namespace, name), "namespace_exists": namespace_exists,
            "statefulset": statefulset, "settled": settled(statefulset), "existing": existing,
            "secret_keys": dict((secret, secret_keys(read[secret])) for secret in secrets),
            "password_problems": password_problems(namespace, read, passwords) if namespace_exists else [],
            "config_maps": maps, "pod_addresses": addresses,
            "pdb_api_version": "policy/" + pdb_version, "prometheus_operator": operator_served(kube, served)}
