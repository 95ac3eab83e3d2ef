#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_basebackup
short_description: Take a verified base backup of a PostgreSQL pod onto the controller
version_added: 0.4.0
description:
  - Runs C(pg_basebackup -Ft -D - -X fetch --manifest-checksums=SHA256) in the server's container over its socket
    (peer authentication, so no password crosses the exec) and streams the tar out of the pod; nothing is copied
    inside the pod first.
  - The stream is compressed (zstd) into a private temporary file and, at the same time, read as a tar. Every
    file's size and SHA-256 are compared with the server's C(backup_manifest) (whose own checksum is checked),
    every WAL segment the backup needs must be there, of the same system, with valid page headers up to the
    backup's end. Only then does the file get its name, and a JSON manifest beside it (start and end LSN,
    timeline, sizes, sha256). No manifest, no backup.
  - Holds the instance directory's lock (the one the Redis backups use for theirs) for the whole backup, and
    refuses to start while a restore of the instance is recorded on its StatefulSet (running, or interrupted and
    not rolled back).
  - Then records the backup (id, end time, end LSN, size) in the server's table C(alertmanagerpp_ops.backups),
    which C(postgresql_setup) creates and the exporter reads for the backup age alert.
author:
  - Alertmanager++ data tier team (@alertmanagerpp)
options:
  dest:
    description: Base directory of the backups; the instance's are in C(<dest>/<cluster>/<namespace>/<name>).
    type: path
    required: true
  cluster:
    description:
      - Identity of the Kubernetes cluster, a directory level and a manifest field so that backups of two clusters
        never mix. Empty means the UID of the cluster's C(kube-system) namespace.
    type: str
    default: ''
  name:
    description: The instance's name in the backup directory and the backups' ids; empty means I(statefulset).
    type: str
    default: ''
  compression:
    description: C(zstd) (level 3, needs the Python library zstandard on the controller) or C(none).
    type: str
    choices: [zstd, none]
    default: zstd
  checkpoint:
    description: C(fast) starts the backup with an immediate checkpoint; C(spread) waits for a spread one.
    type: str
    choices: [fast, spread]
    default: fast
  max_rate:
    description:
      - Most the server sends per second (C(pg_basebackup --max-rate)), in kB/s or with C(k) or C(M); empty for no
        limit. A limit spares a busy instance's disk and network, and makes the backup take longer.
    type: str
    default: ''
  transfer_timeout:
    description: Seconds without a byte from the pod after which the backup is abandoned.
    type: int
    default: 600
extends_documentation_fragment:
  - alertmanagerpp.datastores.postgresql_pod
  - alertmanagerpp.datastores.kubernetes_auth
  - alertmanagerpp.datastores.backup_instance.MODES
attributes:
  check_mode:
    support: full
    description: Says what it would back up and where; reads the server's version, writes nothing.
  diff_mode:
    support: none
    description: A backup is a new file, not a change of state.
"""

EXAMPLES = r"""
- name: Base backup of the PostgreSQL instance
  alertmanagerpp.datastores.postgresql_basebackup:
    namespace: alertmanagerpp
    statefulset: alertmanagerpp-postgresql
    dest: /var/backups/alertmanagerpp
  register: base_backup
"""

RETURN = r"""
id:
  description: The backup's id (C(<name>-<UTC time>)).
  returned: changed
  type: str
path:
  description: The backup's file (C(.tar.zst), or C(.tar) without compression).
  returned: changed
  type: str
manifest_path:
  description: Its manifest, the JSON document returned here as the other keys.
  returned: changed
  type: str
start_lsn:
  description: Where the backup's WAL begins; with end_lsn, timeline and system_identifier.
  returned: changed
  type: str
end_lsn:
  description: The first LSN at which a restore of this backup alone is consistent.
  returned: changed
  type: str
bytes:
  description: Size of the file; tar_bytes is the uncompressed tar's.
  returned: changed
  type: int
sha256:
  description: SHA-256 of the file.
  returned: changed
  type: str
transfer_mb_per_s:
  description: Uncompressed MB per second out of the pod.
  returned: changed
  type: float
recorded:
  description:
    - True when the backup is also recorded in the server (table C(alertmanagerpp_ops.backups) of the database
      C(postgres), which the exporter reads for the backup age alert); else why not (the backup stands).
  returned: changed
  type: raw
"""

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.backup_index import (
    CLUSTER_RE,
    MODES_ARG_SPEC,
    BackupIndexError,
    report_housekeeping,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect as connect_api
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql import connect_pod, run_pod_module
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_backup import BaseBackup
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_restore import (
    refuse_beside_a_recorded_restore)


def cluster_identity(kube, given):
    """The cluster's identity: the one given, else the UID of kube-system."""
    if given:
        identity = given
    else:
        namespace = kube.get("/api/v1/namespaces/kube-system")
        if not namespace:
            raise BackupIndexError("cannot tell which cluster this is: namespace kube-system is not readable. Name "
                                   "the cluster (cluster, the role's postgresql_cluster) so that backups of different "
                                   "clusters never mix")
        identity = namespace["metadata"]["uid"]
    if not CLUSTER_RE.match(identity):
        raise BackupIndexError("cluster %r: letters, digits, '.', '_' and '-' only" % identity)
    return identity


def take(module):
    params = module.params
    kube = connect_api(params)
    refuse_beside_a_recorded_restore(kube, params["namespace"], params["statefulset"], doing="a base backup")
    pod, psql = connect_pod(params, kube)
    backup = BaseBackup(kube.configuration, psql, (params["namespace"], pod, params["container"]), params["dest"],
                        params["name"] or params["statefulset"], cluster_identity(kube, params["cluster"]),
                        compression=params["compression"], checkpoint=params["checkpoint"],
                        max_rate=params["max_rate"],
                        transfer_timeout=params["transfer_timeout"], check_mode=module.check_mode,
                        file_mode=params["file_mode"], dir_mode=params["dir_mode"])
    result = backup.run()
    if result.get("recorded") not in (None, True):
        module.warn(result["recorded"])
    return report_housekeeping(module, backup, result)


def main():
    spec = dict(
        dest=dict(type="path", required=True),
        cluster=dict(type="str", default=""),
        name=dict(type="str", default=""),
        compression=dict(type="str", choices=["zstd", "none"], default="zstd"),
        checkpoint=dict(type="str", choices=["fast", "spread"], default="fast"),
        max_rate=dict(type="str", default=""),
        transfer_timeout=dict(type="int", default=600),
        **MODES_ARG_SPEC
    )
    run_pod_module(spec, take)


if __name__ == "__main__":
    main()
