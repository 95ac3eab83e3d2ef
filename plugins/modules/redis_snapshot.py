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
  - Files go to I(dest)/<namespace>/<name>/<name>-<UTC YYYYmmddTHHMMSSZ>.rdb and .json.
  - With I(skip_unchanged), no new backup is taken when nothing was written since the latest backup's save.
  - Two runs for the same instance cannot overlap (a lock in the instance directory).
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  pod:
    description: Pod to snapshot. Mutually exclusive with I(statefulset).
    type: str
  statefulset:
    description: StatefulSet whose primary (pod 0 in the standalone topology) to snapshot.
    type: str
  container:
    description: Container running the server.
    type: str
    default: redis
  name:
    description: Instance name used in file names; defaults to I(statefulset) or I(pod).
    type: str
  flavor:
    description: Server flavor; chooses C(redis-cli)/C(valkey-cli) and C(redis-check-rdb)/C(valkey-check-rdb).
    type: str
    choices: [redis, valkey]
    default: redis
  port:
    description: Port of the server inside the pod.
    type: int
    default: 6379
  password:
    description: Password of the default user. Mutually exclusive with I(password_secret).
    type: str
  password_secret:
    description: Name of a Secret in I(namespace) holding the password.
    type: str
  password_secret_key:
    description: Key of the password in I(password_secret).
    type: str
    default: password
  dest:
    description: Base directory of the backups on the controller.
    type: path
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
    description: Take no new backup when nothing was written since the save of the latest backup.
    type: bool
    default: true
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
  - alertmanagerpp.datastores.kubernetes_auth
notes:
  - The password reaches C(redis-cli) in the pod on the exec's stdin, never as a process argument.
"""

EXAMPLES = r"""
- name: Back up the instance of the standard profile
  alertmanagerpp.datastores.redis_snapshot:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-redis
    password_secret: alertmanagerpp-redis-auth
    dest: /srv/backups/alertmanagerpp
  register: backup

- name: Snapshot one pod of a Valkey instance with a password from the vault
  alertmanagerpp.datastores.redis_snapshot:
    namespace: cache
    pod: valkey-0
    container: valkey
    flavor: valkey
    password: "{{ vault_valkey_password }}"
    dest: /srv/backups
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
  description: Namespace, pod, container and RDB path the backup came from.
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
unchanged:
  description: True when no snapshot was taken because nothing was written since the latest backup (its id is in I(id)).
  returned: when nothing changed
  type: bool
"""

import base64

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.backup_index import BackupIndexError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import (
    AUTH_ARG_SPEC,
    PodExecError,
    kube_configuration,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import RdbError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import RedisAdminError, pod_cli
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.snapshot import Snapshot, SnapshotError

try:
    from kubernetes.client import ApiClient, CoreV1Api
    from kubernetes.client.rest import ApiException
except ImportError:  # reported through kube_configuration()
    pass


def argument_spec():
    spec = dict(
        namespace=dict(type="str", required=True),
        pod=dict(type="str"),
        statefulset=dict(type="str"),
        container=dict(type="str", default="redis"),
        name=dict(type="str"),
        flavor=dict(type="str", choices=["redis", "valkey"], default="redis"),
        port=dict(type="int", default=6379),
        password=dict(type="str", no_log=True),
        password_secret=dict(type="str", no_log=False),
        password_secret_key=dict(type="str", default="password", no_log=False),
        dest=dict(type="path", required=True),
        save_timeout=dict(type="int", default=600),
        transfer_timeout=dict(type="int", default=60),
        verify=dict(type="bool", default=True),
        skip_unchanged=dict(type="bool", default=True),
    )
    spec.update(AUTH_ARG_SPEC)
    return spec


def resolve_pod(core, params):
    """The pod to snapshot, checked to exist, be Ready and have the container."""
    namespace = params["namespace"]
    name = params["pod"] or "%s-0" % params["statefulset"]
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            hint = " (StatefulSet %s has no pod 0)" % params["statefulset"] if params["statefulset"] else ""
            raise SnapshotError("pod %s/%s not found%s" % (namespace, name, hint))
        raise SnapshotError("cannot read pod %s/%s: %s" % (namespace, name, exc.reason))
    containers = [c.name for c in pod.spec.containers]
    if params["container"] not in containers:
        raise SnapshotError("pod %s/%s has no container %s (it has: %s)"
                            % (namespace, name, params["container"], ", ".join(containers)))
    ready = [c.status for c in (pod.status.conditions or []) if c.type == "Ready"]
    if ready != ["True"]:
        raise SnapshotError("pod %s/%s is not Ready" % (namespace, name))
    return name


def read_password(core, params):
    if params["password"] is not None or not params["password_secret"]:
        return params["password"]
    try:
        secret = core.read_namespaced_secret(params["password_secret"], params["namespace"])
    except ApiException as exc:
        raise SnapshotError("cannot read Secret %s/%s: %s" % (params["namespace"], params["password_secret"],
                                                              exc.reason))
    data = secret.data or {}
    if params["password_secret_key"] not in data:
        raise SnapshotError("Secret %s/%s has no key %s" % (params["namespace"], params["password_secret"],
                                                            params["password_secret_key"]))
    return base64.b64decode(data[params["password_secret_key"]]).decode("utf-8")


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("pod", "statefulset"), ("password", "password_secret")],
        required_one_of=[("pod", "statefulset")],
        supports_check_mode=True,
    )
    params = module.params
    try:
        configuration = kube_configuration(params)
        core = CoreV1Api(ApiClient(configuration))
        pod = resolve_pod(core, params)
        password = read_password(core, params)
        if password:
            module.no_log_values.add(password)
        cli = pod_cli(configuration, params["namespace"], pod, params["container"], password,
                      flavor=params["flavor"], port=params["port"])
        snapshot = Snapshot(
            configuration, cli, (params["namespace"], pod, params["container"]), params["dest"],
            params["name"] or params["statefulset"] or params["pod"], flavor=params["flavor"],
            save_timeout=params["save_timeout"], transfer_timeout=params["transfer_timeout"],
            verify=params["verify"], skip_unchanged=params["skip_unchanged"], check_mode=module.check_mode)
        result = snapshot.run()
    except (SnapshotError, RedisAdminError, PodExecError, RdbError, BackupIndexError) as exc:
        module.fail_json(msg="snapshot of %s/%s failed: %s" % (
            params["namespace"], params["pod"] or params["statefulset"], exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="snapshot of %s/%s failed writing under %s: %s" % (
            params["namespace"], params["pod"] or params["statefulset"], params["dest"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
