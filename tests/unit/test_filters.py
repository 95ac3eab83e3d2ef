"""The filter plugin's own logic (the filters that wrap module_utils are tested there)."""

from ansible_collections.alertmanagerpp.datastores.plugins.filter.datastores import (
    pod_failure_report, recovery_window_line)


def test_a_pod_failure_report_lists_the_newest_events_in_order_then_the_log():
    events = {"resources": [{"metadata": {"creationTimestamp": "2026-12-06T10:00:%02dZ" % i}, "message": "m%d" % i}
                            for i in (12, 3, 7)] + [{"metadata": {"creationTimestamp": "2026-12-06T09:00:00Z"},
                                                     "message": "old"}] * 10}
    lines = pod_failure_report(({"pod": "p-0", "container": "c"}, events, {"log_lines": ["l1", "l2"]}))
    assert lines[0] == "Events of p-0:" and lines[1:8] == ["old"] * 7 and len(lines) == 14
    assert lines[-6:] == ["m3", "m7", "m12", "Last log lines of p-0/c:", "l1", "l2"]
    assert pod_failure_report(({"pod": "p-0", "container": "c"}, {"resources": []}, {})) == [
        "Events of p-0:", "(none)", "Last log lines of p-0/c:", "(no log)"]


def test_a_recovery_window_line_says_how_far_or_why_not():
    reach = {"backup": "b", "from_lsn": "0/5000100", "from_time": "2026-12-07T02:30:00Z", "to_lsn": "0/7000110",
             "to_time": "2026-12-07T02:40:00Z", "problem": None}
    assert recovery_window_line(reach) == (
        "b: from its end (0/5000100, 2026-12-07T02:30:00Z) to the newest commit in the archive, at "
        "2026-12-07T02:40:00Z; newest record 0/7000110")
    assert recovery_window_line(dict(reach, to_time=None)).endswith(
        "to the newest record in the archive, 0/7000110; no commit in its newest segments")
    assert recovery_window_line(dict(reach, problem="the archive lacks x")) == (
        "b: cannot be rolled forward: the archive lacks x")
