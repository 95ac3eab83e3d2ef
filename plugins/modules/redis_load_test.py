#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_load_test
short_description: Load a standalone instance from inside the cluster and report against the profile's targets
version_added: 0.5.0
description:
  - Runs short-lived generator pods in the instance's namespace (on another node than the server when there is
    one) against the client Service, as the application's connections go.
  - Saturation with C(redis-benchmark) (C(valkey-benchmark)) from the instance's image, all I(connections) busy,
    SET then GET; then an open-loop load at I(rate) requests per second spread over I(connections) (GET with
    I(get_ratio), else SET), through the Service and again directly at the pod, optionally again with AOF off.
  - Reports ops/s, GET and SET latency percentiles, connection set-up time, errors, and what the server spent
    (CPU from its own counters, the ones the exporter reports; CFS throttling of its container) and lists in
    C(missed) every target missed.
  - The generators log in as a temporary ACL user C(loadtest-<run>) allowed only GET, SET and PING on keys
    C(loadtest:<run>:*), which expire after ten minutes; the user is removed at the end.
  - One load test at a time per instance (a ConfigMap C(<statefulset>-load-test) claims it until the run is over at
    the latest; a killed run's claim is taken over after that time).
  - Refuses an instance whose StatefulSet is not annotated C(alertmanagerpp.io/test-target=true)
    (C(redis_test_target) of the redis role) unless I(confirmed).
  - Check mode runs nothing.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  service:
    description: The client Service to load; default the StatefulSet's name.
    type: str
  generator_image:
    description: Image with C(python3) for the open-loop generator (standard library only).
    type: str
    required: true
  generator_image_pull_policy:
    description: Pull policy of I(generator_image).
    type: str
    default: IfNotPresent
  connections:
    description: Client connections, each run.
    type: int
    default: 500
  rate:
    description: Requests per second of the open-loop runs, over all connections.
    type: int
    default: 10000
  seconds:
    description: Length of each open-loop run.
    type: int
    default: 30
  requests:
    description: Requests of each saturation run (SET, then GET).
    type: int
    default: 200000
  get_ratio:
    description: Share of GET in the open-loop mix (the rest SET).
    type: float
    default: 0.8
  value_size:
    description: Bytes of each value written.
    type: int
    default: 256
  keys:
    description: Distinct keys the load spreads over.
    type: int
    default: 100000
  compare_aof:
    description:
      - Also run the open-loop load through the Service with C(appendonly no), to measure what the AOF costs; AOF is
        switched on again afterwards, waiting for its rewrite. Meanwhile a crash loses every write since the last
        snapshot.
    type: bool
    default: false
  confirmed:
    description: Run against an instance not marked as a test target.
    type: bool
    default: false
  targets:
    description:
      - The targets, any of C(get_p95_ms) (1), C(set_p95_ms) (2), C(connect_p95_ms) (10), C(ops_per_second)
        (10000, saturation), C(service_ratio) (1.2, GET p95 through the Service over directly at the pod),
        C(aof_cpu_points) (5, percent of a core).
    type: dict
    default: {}
  timeout:
    description: Seconds each wait may take (a generator pod to start, the AOF to be rewritten).
    type: int
    default: 180
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
notes:
  - For the standalone topology. I(statefulset) and I(password_secret) are required; I(user) logs in to read the
    server's counters and to add and remove the temporary user (an administrator).
  - The temporary user has no password (redis-benchmark takes one only as a process argument, where it would be
    seen); the NetworkPolicy still admits only the clients, and the user can touch only its own keys.
"""

EXAMPLES = r"""
- name: Load test
  alertmanagerpp.datastores.redis_load_test:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    generator_image: python:3.12-slim-bookworm
    compare_aof: true
  register: load
"""

RETURN = r"""
report:
  description: What the load test measured (latencies in milliseconds).
  returned: unless in check mode
  type: dict
  contains:
    saturation: {description: "Per command (SET, GET): ops_per_second, avg/p50/p95/p99/max_ms; and server",
        type: dict, returned: always}
    through_service: {description: "The open-loop run through the Service: ops_per_second, commands (GET, SET:
        count, p50/p95/p99/max_ms, errors), connect (set-up time), send_lag (the generator's own delay),
        missing_replies; and server (cpu_percent, error_replies, throttled_periods, throttled_seconds)",
        type: dict, returned: always}
    at_pod: {description: The same run directly at the pod, type: dict, returned: always}
    without_aof: {description: The same run through the Service with AOF off, type: dict,
        returned: when compare_aof}
    service_direct_p95_ratio: {description: GET p95 through the Service over directly at the pod, type: float,
        returned: always}
    aof_cpu_points: {description: Server CPU with AOF minus without (percent of a core), type: float,
        returned: when compare_aof}
    missed: {description: "The targets missed, one line each", type: list, elements: str, returned: always}
    warnings: {description: Where the generator itself limited the measurement, type: list, elements: str,
        returned: always}
    summary: {description: The report in a few lines, type: list, elements: str, returned: always}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.drill import server_image
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE, module_argument_spec, read_password)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.load_test import (
    TARGETS, TEST_TARGET_ANNOTATION, LoadTest, LoadTestError)

LOAD_OPTIONS = ("connections", "rate", "seconds", "requests", "get_ratio", "value_size", "keys")


def input_problem(params):
    """Why the params cannot make a load test (None when they can)."""
    if not (params["statefulset"] and params["password_secret"]):
        return "statefulset and password_secret are required"
    unknown = sorted(set(params["targets"]) - set(TARGETS))
    if unknown:
        return "unknown targets %s: the targets are %s" % (", ".join(unknown), ", ".join(sorted(TARGETS)))
    for name, value in params["targets"].items():
        try:
            float(value)
        except (TypeError, ValueError):
            return "target %s must be a number, not %r" % (name, value)
    for name in ("connections", "rate", "seconds", "requests", "value_size", "keys"):
        if params[name] < 1:
            return "%s must be at least 1, not %s" % (name, params[name])
    if not 0 <= params["get_ratio"] <= 1:
        return "get_ratio is a share between 0 and 1, not %s" % params["get_ratio"]
    return None


def is_test_target(statefulset):
    return (statefulset["metadata"].get("annotations") or {}).get(TEST_TARGET_ANNOTATION) == "true"


def load_test(module):
    params = module.params
    kube = connect_api(params)
    namespace, name = params["namespace"], params["statefulset"]
    statefulset = kube.request("GET", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (namespace, name))
    if not (is_test_target(statefulset) or params["confirmed"]):
        raise LoadTestError("%s/%s is not marked as a test target (annotation %s=true, redis_test_target of the "
                            "redis role): a load test slows its clients down; confirm to run it anyway (playbooks/load_test.yml "
                            "-e confirm=yes)"
                            % (namespace, name, TEST_TARGET_ANNOTATION))
    if module.check_mode:
        return {"changed": False, "msg": "check mode: no load run"}
    password = read_password(kube, params)
    if password:
        module.no_log_values.add(password)
    server = (namespace, name, params["container"], params["flavor"], params["port"], params["user"], password)
    images = {"server": server_image(statefulset, params["container"]),
              "python": {"image": params["generator_image"], "pull_policy": params["generator_image_pull_policy"]}}
    load = dict((option, params[option]) for option in LOAD_OPTIONS)
    targets = dict((target, float(value)) for target, value in params["targets"].items())
    report = LoadTest(kube, server, params["service"] or name, images, load, "%d" % time.time(),
                      timeout=params["timeout"]).run(params["compare_aof"], targets)
    return {"changed": True, "report": report}


def main():
    module = AnsibleModule(
        argument_spec=module_argument_spec(
            service=dict(type="str"), generator_image=dict(type="str", required=True),
            generator_image_pull_policy=dict(type="str", default="IfNotPresent"),
            connections=dict(type="int", default=500), rate=dict(type="int", default=10000),
            seconds=dict(type="int", default=30), requests=dict(type="int", default=200000),
            get_ratio=dict(type="float", default=0.8), value_size=dict(type="int", default=256),
            keys=dict(type="int", default=100000, no_log=False), compare_aof=dict(type="bool", default=False),
            confirmed=dict(type="bool", default=False), targets=dict(type="dict", default={}),
            timeout=dict(type="int", default=180)),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    if input_problem(module.params):
        module.fail_json(msg=input_problem(module.params))
    run_module(module, lambda: load_test(module), "%s/%s" % (module.params["namespace"], module.params["statefulset"]))


if __name__ == "__main__":
    main()
