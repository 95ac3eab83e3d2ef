"""Judging a Sentinel set from its servers' roles and its Sentinels' views (module_utils.sentinel_health)."""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_health import (
    sentinel_problems,
    server_problems,
)

ADDRESSES = {"r-0": "10.0.0.10", "r-1": "10.0.0.11", "r-2": "10.0.0.12"}
SENTINELS = {"s-0": "10.0.0.20", "s-1": "10.0.0.21", "s-2": "10.0.0.22"}


def servers(**roles):
    """A whole set (r-0 primary) with the given pods' (role, link) replaced."""
    result = {"r-0": {"address": ADDRESSES["r-0"], "role": "master", "link": None},
              "r-1": {"address": ADDRESSES["r-1"], "role": "slave", "link": "up"},
              "r-2": {"address": ADDRESSES["r-2"], "role": "slave", "link": "up"}}
    for pod, (role, link) in roles.items():
        result[pod.replace("_", "-")].update(role=role, link=link)
    return result


def view(pod, primary="10.0.0.10", replicas=("10.0.0.11", "10.0.0.12"), quorum=2):
    return {"primary": primary, "quorum": quorum, "replicas": sorted(replicas),
            "sentinels": sorted(set(SENTINELS.values()) - {SENTINELS[pod]})}


def views(**changed):
    result = dict((pod, view(pod)) for pod in SENTINELS)
    result.update((pod.replace("_", "-"), value) for pod, value in changed.items())
    return result


def test_a_whole_set_has_no_problem():
    assert server_problems(servers()) == []
    assert sentinel_problems(servers(), views(), SENTINELS) == []


def test_a_second_primary_is_named():
    assert server_problems(servers(r_2=("master", None))) == [
        "several servers act as primary: r-0, r-2 (a split set: writes go to both)"]


def test_no_primary_and_replicas_down_or_unlinked():
    problems = server_problems(servers(r_0=("unreachable", None), r_1=("slave", "down")))
    assert problems == ["no server is the primary", "r-0 is not Ready or does not answer",
                        "replica r-1: its link to the primary is down"]


def test_sentinels_below_their_quorum():
    problems = sentinel_problems(servers(), views(s_1={"error": "not Ready"}, s_2={"error": "not Ready"}), SENTINELS)
    assert problems[0] == "1 of 3 Sentinels answer, below the quorum of 2: no failover is possible"
    assert "Sentinel s-1: not Ready" in problems and "Sentinel s-2: not Ready" in problems


def test_the_quorum_given_wins_over_the_reported_one():
    problems = sentinel_problems(servers(), views(s_2={"error": "not Ready"}), SENTINELS, quorum=3)
    assert problems[0] == "2 of 3 Sentinels answer, below the quorum of 3: no failover is possible"


def test_sentinels_that_disagree_or_name_a_replica():
    disagreeing = views(s_2=view("s-2", primary="10.0.0.11", replicas=("10.0.0.10", "10.0.0.12")))
    assert sentinel_problems(servers(), disagreeing, SENTINELS)[0] == (
        "the Sentinels name different primaries: 10.0.0.10 (r-0), 10.0.0.11 (r-1)")
    stale = dict((pod, view(pod, primary="10.0.0.11", replicas=("10.0.0.10", "10.0.0.12"))) for pod in SENTINELS)
    assert sentinel_problems(servers(), stale, SENTINELS) == [
        "the Sentinels name 10.0.0.11 (r-1) as the primary, which is not one"]


def test_a_sentinel_that_misses_a_replica_or_remembers_a_stranger():
    partial = views(s_0=dict(view("s-0", replicas=("10.0.0.11", "10.0.0.99"))))
    assert sentinel_problems(servers(), partial, SENTINELS) == [
        "s-0 sees 1 of 2 replicas and 2 of 2 other Sentinels, and remembers 10.0.0.99, not in the set"]
