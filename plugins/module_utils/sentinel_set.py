# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Sentinel topology as its pods and servers see it: addresses, roles, replication, each Sentinel's view.

Every pod of the set (servers and Sentinels) has a Service of its own name
whose ClusterIP is its stable address; the Sentinels and replicas know each
other by those addresses only, so this module maps addresses to pods
through the same Services.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import read_password
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import is_ready, pod_names, pod_path
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    check_reply, parse_info, pod_cli)

SERVER_CONTAINER, SENTINEL_CONTAINER = "redis", "sentinel"
# The options of doc fragment sentinel_set.
SENTINEL_ARG_SPEC = dict(sentinel_statefulset=dict(type="str"), master_name=dict(type="str"),
                         sentinel_port=dict(type="int", default=26379),
                         sentinel_secret=dict(type="str", no_log=False))


class SentinelSetError(DatastoresError):
    """The set is not in a state the operation can start from, or did not reach the one it waits for."""


def fields(reply):
    """The flat name/value lines of one SENTINEL MASTER-style reply as a dict."""
    lines = reply.splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


def addresses_in(reply):
    """The `ip` values of a SENTINEL REPLICAS/SENTINELS reply (one flat name/value list per entry)."""
    lines = reply.splitlines()
    return sorted(lines[i + 1] for i in range(0, len(lines) - 1, 2) if lines[i] == "ip")


def sentinel_line(pod, master, replicas):
    """One Sentinel's view for a report: the primary it names, its flags and failover state, each replica's flags.

    master: the SENTINEL MASTER reply's fields; replicas: the SENTINEL REPLICAS reply."""
    state = master.get("failover-state")
    return "%s names %s (%s%s), replicas %s" % (
        pod, master.get("ip", "no primary"), master.get("flags", "no flags"),
        ("; failover %s" % state) if state and state != "none" else "",
        ", ".join("%s %s" % item for item in sorted(flags_by_address(replicas).items())) or "none")


def flags_by_address(reply):
    """{ip: flags} of a SENTINEL REPLICAS reply (each entry's `ip` comes before its `flags`)."""
    lines, result, address = reply.splitlines(), {}, None
    for i in range(0, len(lines) - 1, 2):
        if lines[i] == "ip":
            address = lines[i + 1]
        elif lines[i] == "flags" and address:
            result[address] = lines[i + 1]
    return result


def replica_offsets(info):
    """{address: offset} of the replicas a primary's INFO replication lists."""
    offsets = {}
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit():
            entry = dict(part.split("=", 1) for part in value.split(","))
            offsets[entry["ip"]] = int(entry.get("offset", 0))
    return offsets


class SentinelSet(object):
    """The server StatefulSet, the Sentinels' StatefulSet and how to talk to each pod of them."""

    def __init__(self, kube, namespace, statefulset, sentinel_statefulset, master_name, passwords,
                 flavor="redis", port=6379, sentinel_port=26379, user=None):
        self.kube, self.namespace = kube, namespace
        self.statefulset, self.sentinel_statefulset = statefulset, sentinel_statefulset
        self.master_name, self.flavor = master_name, flavor
        self.port, self.sentinel_port = port, sentinel_port
        self.password, self.sentinel_password = passwords
        self.user = user
        self._addresses = {}

    # Kubernetes side

    def find_statefulset(self, name):
        """The StatefulSet as a dict, or None when it does not exist."""
        return self.kube.get("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (self.namespace, name))

    def read_statefulset(self, name):
        statefulset = self.find_statefulset(name)
        if statefulset is None:
            raise SentinelSetError("StatefulSet %s/%s not found" % (self.namespace, name))
        return statefulset

    @staticmethod
    def pods(statefulset):
        """Pod names of a StatefulSet by ordinal, as many as its spec asks for."""
        name = statefulset["metadata"]["name"]
        return pod_names(name, statefulset["spec"].get("replicas", 1))

    def servers(self):
        return self.pods(self.read_statefulset(self.statefulset))

    def sentinels(self):
        """The Sentinels' pod names; none while their StatefulSet does not exist (first start, conversion)."""
        statefulset = self.find_statefulset(self.sentinel_statefulset)
        return self.pods(statefulset) if statefulset else []

    def read_pod(self, name):
        return self.kube.get(pod_path(self.namespace, name))

    def ready_pods(self, names):
        return [name for name in names if is_ready(self.read_pod(name) or {})]

    def address(self, pod):
        """The pod's stable address: the ClusterIP of the Service named as the pod."""
        if pod not in self._addresses:
            service = self.kube.get("/api/v1/namespaces/%s/services/%s" % (self.namespace, pod))
            if service is None:
                raise SentinelSetError("Service %s/%s (the pod's address) not found" % (self.namespace, pod))
            self._addresses[pod] = service["spec"]["clusterIP"]
        return self._addresses[pod]

    def pod_at(self, address):
        """The server pod whose Service has that address, or None."""
        return next((pod for pod in self.servers() if self.address(pod) == address), None)

    # Server side

    def server_cli(self, pod, timeout=30):
        return pod_cli(self.kube.configuration, self.namespace, pod, SERVER_CONTAINER, self.password,
                       flavor=self.flavor, port=self.port, timeout=timeout, user=self.user)

    def sentinel_cli(self, pod, timeout=30):
        return pod_cli(self.kube.configuration, self.namespace, pod, SENTINEL_CONTAINER, self.sentinel_password,
                       flavor=self.flavor, port=self.sentinel_port, timeout=timeout)

    def replication(self, pod):
        """A server's INFO replication, parsed; {} when its pod is not Ready or it does not answer."""
        if not is_ready(self.read_pod(pod) or {}):
            return {}
        try:
            return parse_info(check_reply(self.server_cli(pod)("INFO", "replication"), "INFO"))
        except DatastoresError:
            return {}

    def ask_sentinel(self, pod):
        """The primary's address as one Sentinel names it, or None."""
        try:
            reply = self.sentinel_cli(pod)("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name)
        except DatastoresError:
            return None
        lines = reply.split()
        return lines[0] if len(lines) == 2 else None

    def primary_address(self):
        """The address a majority of the Ready Sentinels name as the primary, or None."""
        names = [self.ask_sentinel(pod) for pod in self.ready_pods(self.sentinels())]
        votes = dict((name, names.count(name)) for name in names if name)
        if not votes:
            return None
        best = max(votes, key=votes.get)
        return best if votes[best] * 2 > len(self.sentinels()) else None

    def sentinel_view(self, pod):
        """What one Sentinel knows: the primary, its replicas and the other Sentinels (addresses)."""
        cli = self.sentinel_cli(pod)
        master = fields(check_reply(cli("SENTINEL", "MASTER", self.master_name), "SENTINEL MASTER"))
        return {"primary": master.get("ip"), "quorum": int(master.get("quorum", 0)),
                "replicas": addresses_in(check_reply(cli("SENTINEL", "REPLICAS", self.master_name), "SENTINEL")),
                "sentinels": addresses_in(check_reply(cli("SENTINEL", "SENTINELS", self.master_name), "SENTINEL"))}

    def sentinels_report(self):
        """Every Sentinel's view, one clause each, for a message when a failover does not come (never raises)."""
        lines = []
        for pod in self.sentinels():
            try:
                if not is_ready(self.read_pod(pod) or {}):
                    lines.append("%s is not Ready" % pod)
                    continue
                cli = self.sentinel_cli(pod, timeout=10)
                lines.append(sentinel_line(pod, fields(check_reply(cli("SENTINEL", "MASTER", self.master_name),
                                                                   "SENTINEL MASTER")),
                                           check_reply(cli("SENTINEL", "REPLICAS", self.master_name), "SENTINEL")))
            except DatastoresError as exc:
                lines.append("%s does not answer (%s)" % (pod, exc))
        return "; ".join(lines) or "no Sentinel"

    def replicas_up_for_every_sentinel(self, primary_pod):
        """Every Ready Sentinel knows each other server as a replica with no down or disconnected flag.

        A Sentinel that still flags a replica down (it restarted a moment ago)
        leaves it out of a failover's reconfiguration: it would stay attached
        to the demoted primary."""
        expected = set(self.address(pod) for pod in self.servers() if pod != primary_pod)
        for sentinel in self.ready_pods(self.sentinels()):
            flags = flags_by_address(check_reply(self.sentinel_cli(sentinel)("SENTINEL", "REPLICAS", self.master_name),
                                                 "SENTINEL REPLICAS"))
            if any(flags.get(address) != "slave" for address in expected):
                return False
        return True

    def state(self):
        """Each server's role, link and offset, for reports and the roll's decisions."""
        result = {}
        for pod in self.servers():
            info = self.replication(pod)
            result[pod] = {"address": self.address(pod), "role": info.get("role", "unreachable"),
                           "link": info.get("master_link_status"),
                           "offset": int(info.get("master_repl_offset", info.get("slave_repl_offset", -1)) or -1)}
        return result


def sentinel_secret(params):
    """The Secret with the Sentinels' password, as the options name it or by default."""
    return params["sentinel_secret"] or params["statefulset"] + "-sentinel"


def from_module(module, kube):
    """The SentinelSet a module's params name; both passwords read from their Secrets and registered with no_log."""
    params = module.params
    name = params["statefulset"]
    passwords = (read_password(kube, params),
                 read_password(kube, dict(params, password=None, password_secret=sentinel_secret(params),
                                          password_secret_key="password")))
    for password in passwords:
        if password:
            module.no_log_values.add(password)
    return SentinelSet(kube, params["namespace"], name, params["sentinel_statefulset"] or name + "-sentinel",
                       params["master_name"] or name, passwords, flavor=params["flavor"], port=params["port"],
                       sentinel_port=params["sentinel_port"], user=params["user"])
