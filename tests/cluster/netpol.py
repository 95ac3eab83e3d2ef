"""What the NetworkPolicies of a namespace admit, judged from the objects the API server holds.

The local cluster's CNI does not enforce NetworkPolicy, so the tests judge the
policies the role applied instead of sending packets: the API server evaluates
every label selector (a pod or namespace matches when the API server lists it
for that selector); this module applies the rest of the rules (which policies
select a pod, peers, ports, policy types) as the NetworkPolicy API defines them.
"""

import ipaddress

from kubernetes import client

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.helper_pod import (
    restricted_container, restricted_pod_spec)

OPERATORS = {"In": "%s in (%s)", "NotIn": "%s notin (%s)"}


def selector_text(selector):
    """A V1LabelSelector as the label_selector query string ('' selects everything)."""
    if selector is None:
        return ""
    parts = ["%s=%s" % item for item in sorted((selector.match_labels or {}).items())]
    for expression in selector.match_expressions or []:
        if expression.operator in OPERATORS:
            parts.append(OPERATORS[expression.operator] % (expression.key, ",".join(expression.values)))
        else:
            parts.append(("" if expression.operator == "Exists" else "!") + expression.key)
    return ",".join(parts)


class Pod(object):
    """A pod as a party to a connection: its namespace, name and address."""

    def __init__(self, namespace, name, ip=None):
        self.namespace, self.name, self.ip = namespace, name, ip

    def __repr__(self):
        return "%s/%s" % (self.namespace, self.name)


class Policies(object):
    """The NetworkPolicies of every namespace, and what they admit between two pods."""

    def __init__(self, api_client):
        self.core = client.CoreV1Api(api_client)
        self.policies = client.NetworkingV1Api(api_client).list_network_policy_for_all_namespaces().items

    def pod_matches(self, pod, namespace, selector):
        if pod.namespace != namespace:
            return False
        listed = self.core.list_namespaced_pod(namespace, label_selector=selector_text(selector)).items
        return any(item.metadata.name == pod.name for item in listed)

    def namespace_matches(self, name, selector):
        return any(item.metadata.name == name
                   for item in self.core.list_namespace(label_selector=selector_text(selector)).items)

    def selecting(self, pod, policy_type):
        """The policies of `policy_type` (Ingress or Egress) that apply to `pod`."""
        return [policy for policy in self.policies
                if policy_type in (policy.spec.policy_types or ["Ingress"])
                and self.pod_matches(pod, policy.metadata.namespace, policy.spec.pod_selector)]

    def selected_pods(self, namespace, name):
        policy = next(p for p in self.policies if p.metadata.namespace == namespace and p.metadata.name == name)
        return set(item.metadata.name for item in self.core.list_namespaced_pod(
            namespace, label_selector=selector_text(policy.spec.pod_selector)).items)

    def peer_matches(self, peer, policy_namespace, pod):
        if peer.ip_block is not None:
            address = ipaddress.ip_address(pod.ip) if pod.ip else None
            return (address is not None and address in ipaddress.ip_network(peer.ip_block.cidr)
                    and not any(address in ipaddress.ip_network(block) for block in peer.ip_block._except or []))
        if peer.namespace_selector is None:
            in_namespace = pod.namespace == policy_namespace
        else:
            in_namespace = self.namespace_matches(pod.namespace, peer.namespace_selector)
        if not in_namespace:
            return False
        return peer.pod_selector is None or self.pod_matches(pod, pod.namespace, peer.pod_selector)

    def rule_admits(self, rule, peers, policy_namespace, other, port):
        port_ok = not rule.ports or any(p.port == port and (p.protocol or "TCP") == "TCP" for p in rule.ports)
        return port_ok and (not peers or any(self.peer_matches(peer, policy_namespace, other) for peer in peers))

    def side_admits(self, pod, other, port, policy_type):
        policies = self.selecting(pod, policy_type)
        if not policies:
            return True
        for policy in policies:
            rules = (policy.spec.ingress if policy_type == "Ingress" else policy.spec.egress) or []
            for rule in rules:
                peers = rule._from if policy_type == "Ingress" else rule.to
                if self.rule_admits(rule, peers, policy.metadata.namespace, other, port):
                    return True
        return False

    def admits(self, source, target, port):
        """Whether a TCP connection from pod `source` to pod `target` on `port` is allowed."""
        return self.side_admits(target, source, port, "Ingress") and self.side_admits(source, target, port, "Egress")


def start_idle_pod(core, namespace, name, labels, image):
    """A pod that only exists to be selected (or not): it sleeps and ends by itself."""
    container = restricted_container("idle", {"image": image, "pull_policy": "IfNotPresent", "resources": {}},
                                     ["sleep", "600"])
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": restricted_pod_spec([container], 600)}
    core.create_namespaced_pod(namespace, body)
    return Pod(namespace, name)
