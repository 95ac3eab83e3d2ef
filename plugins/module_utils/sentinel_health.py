# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a Sentinel set is whole: one primary, replicas linked, Sentinels in quorum and in agreement.

The facts come from SentinelSet (each server's role and link, each
Sentinel's view); set_problems judges them and is unit-tested on its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import is_ready


def sentinel_views(members):
    """{Sentinel pod: its view (primary, replicas, sentinels addresses), or {'error': why}}."""
    views = {}
    for pod in members.sentinels():
        if not is_ready(members.read_pod(pod) or {}):
            views[pod] = {"error": "not Ready"}
            continue
        try:
            views[pod] = members.sentinel_view(pod)
        except DatastoresError as exc:
            views[pod] = {"error": str(exc)}
    return views


def server_problems(servers):
    """What is wrong among the servers: not one primary, replicas not answering or not linked."""
    problems = []
    primaries = sorted(pod for pod, server in servers.items() if server["role"] == "master")
    if len(primaries) > 1:
        problems.append("several servers act as primary: %s (a split set: writes go to both)" % ", ".join(primaries))
    elif not primaries:
        problems.append("no server is the primary")
    for pod, server in sorted(servers.items()):
        if server["role"] == "unreachable":
            problems.append("%s is not Ready or does not answer" % pod)
        elif server["role"] == "slave" and server["link"] != "up":
            problems.append("replica %s: its link to the primary is %s" % (pod, server["link"]))
    return problems


def sentinel_problems(servers, views, sentinel_addresses, quorum=None):
    """What is wrong among the Sentinels: below quorum (by default the one they report), disagreeing, naming a
    non-primary, missing members."""
    problems = []
    answering = dict((pod, view) for pod, view in views.items() if "error" not in view)
    quorum = quorum or max([view.get("quorum", 0) for view in answering.values()] + [len(views) // 2 + 1])
    if len(answering) < quorum:
        problems.append("%d of %d Sentinels answer, below the quorum of %d: no failover is possible"
                        % (len(answering), len(views), quorum))
    named = sorted(set(view["primary"] for view in answering.values()))
    by_address = dict((server["address"], pod) for pod, server in servers.items())
    if len(named) > 1:
        problems.append("the Sentinels name different primaries: %s" % ", ".join(
            "%s (%s)" % (address, by_address.get(address, "no server of the set")) for address in named))
    elif named and servers.get(by_address.get(named[0]), {}).get("role") != "master":
        problems.append("the Sentinels name %s (%s) as the primary, which is not one"
                        % (named[0], by_address.get(named[0], "no server of the set")))
    for pod, view in sorted(answering.items()):
        replicas = sorted(set(by_address) - {view["primary"]})
        others = sorted(set(sentinel_addresses.values()) - {sentinel_addresses.get(pod)})
        if view["replicas"] != replicas or view["sentinels"] != others:
            strangers = sorted(set(view["replicas"]) - set(replicas) | set(view["sentinels"]) - set(others))
            problems.append("%s sees %d of %d replicas and %d of %d other Sentinels%s"
                            % (pod, len(set(view["replicas"]) & set(replicas)), len(replicas),
                               len(set(view["sentinels"]) & set(others)), len(others),
                               ", and remembers %s, not in the set" % ", ".join(strangers) if strangers else ""))
    for pod, view in sorted(views.items()):
        if "error" in view:
            problems.append("Sentinel %s: %s" % (pod, view["error"]))
    return problems
