#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_snapshot
short_description: Take a verified RDB snapshot of a Redis/Valkey pod and copy it to the controller
version_added: 0.1.0
description:
  - Notes C(LASTSAVE), starts C(BGSAVE) (waiting out a save already in progress, scheduling behind an AOF
    rewrite) and waits for a newer save that ended with status ok.
  - Finds the RDB without C(CONFIG) (which may be disabled for clients), streams it out of the pod byte-exact over
    the exec websocket with bounded memory, and compares the sha256 computed in the pod with the one computed on
    the fly on the controller.
  - Checks the copy (magic, version, end marker, CRC64; C(redis-check-rdb) in the pod on the same file and on the
    controller where available), writes it under a temporary name and renames it only when every check passed,
    then writes a JSON manifest beside it. A backup without its manifest does not exist.
  - Files go to I(dest)/<cluster>/<namespace>/<name>/<name>-<UTC YYYYmmddTHHMMSSZ>.rdb and .json, created with
    I(file_mode) in directories with I(dir_mode). The manifest names the cluster.
  - Under the lock, files that killed runs left (partial downloads, manifest temp files) are removed; entries
    that are not backups (a malformed manifest, an RDB without one) are reported as warnings and left alone.
  - With I(skip_unchanged), no new backup is taken when nothing was written since the latest backup's save.
  - Two runs for the same instance cannot overlap (a lock in the instance directory).
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  name:
    description: Instance name used in file names; defaults to I(statefulset) or I(pod).
    type: str
  dest:
    description: Base directory of the backups on the controller.
    type: path
    required: true
  cluster:
    description:
      - Identity of the Kubernetes cluster the instance runs in; a directory level and a manifest field.
      - Letters, digits, C(.), C(_) and C(-). The roles default it to the UID of the C(kube-system) namespace.
    type: str
    required: true
  save_timeout:
    description: Seconds to wait for the new RDB save.
    type: int
    default: 600
  transfer_timeout:
    description: Seconds without data after which the copy counts as cut.
    type: int
    default: 60
  verify:
    description: Check the RDB (CRC64, C(redis-check-rdb)) besides the sha256 comparison.
    type: bool
    default: true
  skip_unchanged:
    description:
      - Take no new backup when nothing was written since the save of the latest backup (taken from the same pod).
    type: bool
    default: true
  source:
    description:
      - Which pod of a StatefulSet with replicas (the sentinel topology) the snapshot reads.
      - C(replica) takes an in-sync replica (same replication history, link up, no full copy loading, heard from the
        primary within I(replica_max_lag) seconds, holding every write the primary had acknowledged when the
        choice began), so the primary does not fork; when no replica qualifies within I(replica_sync_timeout)
        seconds, the primary, with a warning that says why each replica was passed over.
      - C(primary) always reads the primary.
      - Several pods acting as primary, or none, are refused. With I(pod), or a StatefulSet of one pod, that pod.
    type: str
    choices: [replica, primary]
    default: replica
  replica_max_lag:
    description: Seconds since a replica last heard from its primary above which it is not a source.
    type: int
    default: 10
  replica_sync_timeout:
    description: Seconds to wait for a replica to reach the primary's offset before falling back to the primary.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Reads the server and the backup index, takes no snapshot and writes no file.
  diff_mode:
    support: none
    description: Nothing to diff; the result describes what was done.
requirements:
  - sha256sum and sh in the server's image
extends_documentation_fragment:
  - alertmanagerpp.datastores.redis_instance
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.backup_instance.modes
"""

EXAMPLES = r"""
- name: Back up the instance of the standard profile
  alertmanagerpp.datastores.redis_snapshot:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    user: backup
    password_secret: alertmanagerpp-redis-users
    password_secret_key: backup
    dest: /srv/backups/alertmanagerpp
    cluster: prod-eu-1
  register: backup

- name: Snapshot one pod of a Valkey instance with a password from the vault
  alertmanagerpp.datastores.redis_snapshot:
    namespace: cache
    pod: valkey-0
    container: valkey
    flavor: valkey
    password: "{{ vault_valkey_password }}"
    dest: /srv/backups
    cluster: staging-1
    skip_unchanged: false
"""

RETURN = r"""
id:
  description: Backup id (the file name without extension).
  returned: success
  type: str
  sample: alertmanagerpp-redis-20261122T012233Z
rdb_path:
  description: Path of the published RDB file.
  returned: when a snapshot was taken
  type: str
manifest_path:
  description: Path of its JSON manifest.
  returned: when a snapshot was taken
  type: str
sha256:
  description: sha256 of the RDB, equal in the pod and on the controller.
  returned: when a snapshot was taken
  type: str
bytes:
  description: Size of the RDB.
  returned: when a snapshot was taken
  type: int
flavor:
  description: redis or valkey, as the server reports.
  returned: when a snapshot was taken
  type: str
server_version:
  description: Version of the server.
  returned: when a snapshot was taken
  type: str
rdb_version:
  description: RDB format version from the file header.
  returned: when a snapshot was taken
  type: int
keys:
  description: Keys and expires per database at snapshot time.
  returned: when a snapshot was taken
  type: dict
  sample: {"db0": {"keys": 1000, "expires": 10}}
keys_total:
  description: Sum of the keys over all databases.
  returned: when a snapshot was taken
  type: int
lastsave:
  description: LASTSAVE (unix time) of the save this backup copies.
  returned: when a snapshot was taken
  type: int
source:
  description:
    - Namespace, pod, container and RDB path the backup came from; C(role) (primary or replica) and C(reason), why
      that pod.
  returned: when a snapshot was taken
  type: dict
checks:
  description: Results of the RDB checks (CRC64, redis-check-rdb in the pod and on the controller).
  returned: when a snapshot was taken
  type: dict
started_at:
  description: UTC start time.
  returned: when a snapshot was taken
  type: str
finished_at:
  description: UTC end time.
  returned: when a snapshot was taken
  type: str
duration_seconds:
  description: Whole run, from PING to manifest.
  returned: when a snapshot was taken
  type: float
transfer_seconds:
  description: Time of the copy.
  returned: when a snapshot was taken
  type: float
transfer_mb_per_s:
  description: Copy rate in MB/s (10^6 bytes).
  returned: when a snapshot was taken
  type: float
cluster:
  description: The cluster id, as in the path and the manifest.
  returned: when a snapshot was taken
  type: str
leftovers_removed:
  description: Files of killed runs removed from the instance directory before this snapshot.
  returned: when a snapshot was taken
  type: list
  elements: str
unchanged:
  description: True when no snapshot was taken because nothing was written since the latest backup (its id is in I(id)).
  returned: when nothing changed
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.backup_index import (
    MODES_ARG_SPEC,
    report_housekeeping,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import run_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.instance import (
    INSTANCE_MUTUALLY_EXCLUSIVE,
    INSTANCE_REQUIRED_ONE_OF,
    connect,
    module_argument_spec,
    cli_factory,
    pod_name,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_names
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.snapshot import Snapshot
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.snapshot_source import SourceChoice


def argument_spec():
    return module_argument_spec(
        name=dict(type="str"),
        dest=dict(type="path", required=True),
        cluster=dict(type="str", required=True),
        save_timeout=dict(type="int", default=600),
        transfer_timeout=dict(type="int", default=60),
        verify=dict(type="bool", default=True),
        skip_unchanged=dict(type="bool", default=True),
        source=dict(type="str", choices=["replica", "primary"], default="replica"),
        replica_max_lag=dict(type="int", default=10),
        replica_sync_timeout=dict(type="int", default=10),
        **MODES_ARG_SPEC
    )


def statefulset_pods(kube, params):
    """The pods of the StatefulSet by ordinal, or the one pod the params name.

    Without the StatefulSet, pod 0: connecting to it then says what is missing, as for every module."""
    if params["pod"]:
        return [params["pod"]]
    path = "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (params["namespace"], params["statefulset"])
    statefulset = kube.get(path)
    replicas = statefulset["spec"].get("replicas", 1) if statefulset else 1
    return pod_names(params["statefulset"], replicas)


def choose_source(module, kube):
    """(pod, cli, choice) of the pod to snapshot; warns when a replica was wanted and the primary is used."""
    params = module.params
    dummy, cli_for = cli_factory(module, kube)
    choice = SourceChoice(kube, params["namespace"], statefulset_pods(kube, params), cli_for,
                          max_lag=params["replica_max_lag"], sync_timeout=params["replica_sync_timeout"]
                          ).choose(params["source"] == "replica")
    pod, cli = connect(module, kube, choice["pod"])
    if params["source"] == "replica" and choice["role"] == "primary" and choice["reason"].startswith("no replica"):
        module.warn("snapshot from the primary %s: %s" % (pod, choice["reason"]))
    return pod, cli, choice


def take(module):
    params = module.params
    kube = connect_api(params)
    pod, cli, choice = choose_source(module, kube)
    snapshot = Snapshot(
        kube.configuration, cli, (params["namespace"], pod, params["container"]), params["dest"],
        params["name"] or params["statefulset"] or params["pod"], params["cluster"], flavor=params["flavor"],
        save_timeout=params["save_timeout"], transfer_timeout=params["transfer_timeout"],
        verify=params["verify"], skip_unchanged=params["skip_unchanged"], check_mode=module.check_mode,
        file_mode=params["file_mode"], dir_mode=params["dir_mode"])
    return report_housekeeping(module, snapshot, snapshot.run(choice))


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=INSTANCE_MUTUALLY_EXCLUSIVE,
        required_one_of=INSTANCE_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    run_module(module, lambda: take(module), "snapshot of %s/%s (into %s) failed"
               % (params["namespace"], pod_name(params), params["dest"]))


if __name__ == "__main__":
    main()
