#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_restore
short_description: Restore an RDB backup into a Redis/Valkey StatefulSet, AOF-safe, with rollback
version_added: 0.1.0
description:
  - Checks the backup (sha256 against its manifest, RDB format). A helper pod on the instance's node mounts the
    instance's volume while the instance still serves, receives the RDB beside the live data and checks every
    byte of it with the server's own C(redis-check-rdb) (the RDB's CRC64; sha256 per range when the RDB has no
    checksum). A failure so far leaves the instance untouched.
  - Then stops the instance (StatefulSet and the named client Deployments to 0), sets the old data files aside
    on the volume and makes the RDB the base of a new AOF. The helper starts the server on these files with AOF
    on, checks that it loaded exactly the RDB's keys and takes sample values, restarts it and checks again (the
    restart that catches the AOF trap), then the instance starts and is checked the same way.
    Only then are the old files removed and the clients started.
  - Any failure after the stop rolls back to exactly the previous files and restarts the instance and clients
    as they were. So do SIGINT (Ctrl-C), SIGTERM (a cancelled job), SIGHUP and the death of the ansible-playbook
    that started the module (watched through its process ancestors); a second signal does not stop the rollback.
  - Before it changes anything, the restore records its state in the annotation C(alertmanagerpp.io/restore) on
    the StatefulSet (phase, replica counts of the StatefulSet and the clients, where the old data is, the helper)
    and keeps a heartbeat in it. A second restore of the instance refuses while it is there. When the process
    itself was killed, the next run refuses and names I(rollback=true), which undoes the restore from that state
    (or, when it had been verified, finishes it).
  - Holds the lock of the backup's directory while it runs, so retention cannot delete the backup it restores.
  - Sample values are read binary-safely (any byte in key names and values) and a key read as missing never
    counts as a match.
  - For instances deployed by the C(alertmanagerpp.datastores.redis) role (the backup goes onto pod 0's volume,
    PVC C(data-<statefulset>-0), data in C(/data)).
  - With I(topology=sentinel) the Sentinels stop before the servers (none may fail over, none may outlive the
    restore naming an old primary) and the servers stop highest ordinal first, so pod 0 holds the set's latest
    data for a rollback. Pod 0 starts as the primary, the other pods as its replicas each take a full copy and
    are checked like pod 0 (key count, sample values), then the Sentinels start and the restore waits until each
    names pod 0 and sees every replica and Sentinel. A rollback puts pod 0's old data back and heals the set the
    same way.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  manifest:
    description:
      - Path of the backup's JSON manifest; its RDB is the file with the same name ending in C(.rdb).
      - Required unless I(rollback).
    type: path
  rollback:
    description:
      - Instead of restoring, undo an interrupted restore of the instance from the state it recorded on the
        StatefulSet; refuses while that restore's heartbeat is fresh (it is still running). Nothing recorded,
        nothing done.
    type: bool
    default: false
  clients:
    description: Deployments in I(namespace) to scale to 0 during the restore and back afterwards.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to wait for each step (pod stop/start, upload, load).
    type: int
    default: 300
  topology:
    description:
      - The instance's topology, as deployed (C(redis_topology)). Refused when the Sentinels' StatefulSet exists
        with C(standalone) or is missing with C(sentinel).
    type: str
    choices: [standalone, sentinel]
    default: standalone
  pod_restart:
    description:
      - Also delete the instance's pod once it was verified and verify again after it restarted. The restart
        check already ran in the helper on the same files; this adds one pod cycle (10-20 s on the test cluster).
    type: bool
    default: false
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.sentinel_set
  - alertmanagerpp.datastores.kubernetes_auth
attributes:
  check_mode:
    support: full
    description: Checks the backup and the StatefulSet, stops nothing and restores nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
"""

EXAMPLES = r"""
- name: Restore a backup
  alertmanagerpp.datastores.redis_restore:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: admin
    password_secret: alertmanagerpp-redis-users
    password_secret_key: admin
    manifest: /var/backups/alertmanagerpp/alertmanagerpp/alertmanagerpp-redis/alertmanagerpp-redis-20261122T012233Z.json
    clients: [alertmanagerpp]

- name: Undo a restore that was killed halfway
  alertmanagerpp.datastores.redis_restore:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    rollback: true
"""

RETURN = r"""
backup:
  description: Id of the restored backup.
  returned: unless rollback
  type: str
msg:
  description: What a rollback of an interrupted restore did, or what check mode would do.
  returned: when rollback or in check mode
  type: str
keys:
  description: Keys per database in the restored instance.
  returned: success
  type: dict
keys_total:
  description: Sum of the keys.
  returned: success
  type: int
backup_keys:
  description: >-
    Keys per database as the manifest recorded them right after the backup's save (INFO keyspace, so
    approximate on a busy instance; keys with a TTL may have expired since). Shown beside I(keys) for comparison;
    the exact check is I(rdb_keys).
  returned: success
  type: dict
rdb_keys:
  description: >-
    Keys in the backup's RDB as the server's check tool read them; the restored server reported loading
    exactly as many from its AOF base, after the first start and after the restart.
  returned: success
  type: int
aof_enabled:
  description: AOF is on in the restored instance.
  returned: success
  type: bool
samples_checked:
  description: Number of sample values compared (DUMP digests) before and after.
  returned: success
  type: int
rto_seconds:
  description: >-
    Seconds from the start of the procedure (after the preflight and the pre-restore backup) to the restored
    instance verified across a restart and Ready.
  returned: success
  type: float
downtime_seconds:
  description: Seconds from the stop of the instance to the end; the upload ran before the stop, beside the live data.
  returned: success
  type: float
upload_mb_per_s:
  description: Rate of the RDB upload into the volume.
  returned: success
  type: float
steps:
  description: What was done, with elapsed seconds.
  returned: success
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    module_argument_spec,
    read_password,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_access import require
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore import Restore, rollback_interrupted
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_files import load_backup
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import SENTINEL_ARG_SPEC, from_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_set import SentinelGuard
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import (
    CLIENT_NEEDS,
    RESTORE_NEEDS,
    RestoreBusy,
    RestoreError,
    busy_message,
    read_state,
)


def argument_spec():
    return module_argument_spec(
        manifest=dict(type="path"),
        rollback=dict(type="bool", default=False),
        clients=dict(type="list", elements="str", default=[]),
        timeout=dict(type="int", default=300),
        pod_restart=dict(type="bool", default=False),
        topology=dict(type="str", choices=["standalone", "sentinel"], default="standalone"),
        **SENTINEL_ARG_SPEC
    )


def recorded_state(kube, params):
    return read_state(kube.apps.read_namespaced_stateful_set(params["statefulset"], params["namespace"]))


def sentinel_guard(module, kube):
    """A SentinelGuard when the topology is sentinel, else None; refuses a topology the cluster contradicts."""
    params = module.params
    name = params["sentinel_statefulset"] or params["statefulset"] + "-sentinel"
    exists = kube.get("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (params["namespace"], name)) is not None
    if exists != (params["topology"] == "sentinel"):
        raise RestoreError("topology %s, but the Sentinels' StatefulSet %s/%s %s: set the instance's topology "
                           "(redis_topology) as deployed; nothing was changed"
                           % (params["topology"], params["namespace"], name, "exists" if exists else "does not exist"))
    return SentinelGuard(from_module(module, kube), params["timeout"]) if exists else None


def restore(module):
    params = module.params
    kube = connect(params)
    require(kube, params["namespace"], RESTORE_NEEDS + (CLIENT_NEEDS if params["clients"] else []),
            "the rollback" if params["rollback"] else "the restore")
    if params["rollback"]:
        return roll_back(module, kube)
    manifest = load_backup(params["manifest"])
    recorded = recorded_state(kube, params)
    if recorded is not None:
        raise RestoreBusy(busy_message(recorded, "%s/%s" % (params["namespace"], params["statefulset"])))
    password = read_password(kube, params)
    if password:
        module.no_log_values.add(password)
    guard = sentinel_guard(module, kube)
    if module.check_mode:
        return {"changed": True, "backup": manifest["id"], "msg": "would restore %s (%d keys) into %s/%s%s"
                % (manifest["id"], manifest["keys_total"], params["namespace"], params["statefulset"],
                   " and every replica of the set" if guard else "")}
    result = Restore(kube, params["namespace"], params["statefulset"], manifest, password,
                     container=params["container"], flavor=params["flavor"], port=params["port"],
                     clients=params["clients"], timeout=params["timeout"], pod_restart=params["pod_restart"],
                     sentinels=guard, user=params["user"]).run(backup_dir=os.path.dirname(manifest["rdb_path"]))
    return dict(result, changed=True, backup=manifest["id"], backup_keys=manifest.get("keys", {}))


def roll_back(module, kube):
    """The rollback of an interrupted restore (check mode: what it would do)."""
    params = module.params
    if module.check_mode:
        recorded = recorded_state(kube, params)
        if recorded is None:
            return {"changed": False, "msg": "no restore is recorded: nothing to roll back"}
        return {"changed": True, "msg": "would roll back the recorded restore: %s" % recorded}
    return rollback_interrupted(kube, params["namespace"], params["statefulset"], container=params["container"],
                                flavor=params["flavor"], timeout=params["timeout"],
                                sentinels=sentinel_guard(module, kube))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE,
                           required_if=[("rollback", False, ("manifest",))], supports_check_mode=True)
    params = module.params
    if not params["statefulset"] or params["pod"]:
        module.fail_json(msg="redis_restore restores into a StatefulSet: set statefulset (not pod)")
    target = "%s/%s" % (params["namespace"], params["statefulset"])
    run_module(module, lambda: restore(module), "restore into %s failed" % target)


if __name__ == "__main__":
    main()
