# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a restore does to the files on the data volume, and the backup it brings.

The layout a server loads (dump.rdb and the AOF directory the redis role
configures), the shell scripts that swap a backup in and put the old files
back, and load_backup, which checks a backup on the controller before any of
that. Scripts take their paths as arguments, never spliced in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import backup_index as index
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_file
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import RestoreError

DATA = "/data"
# The names roles/redis configures (appendfilename, appenddirname); Redis 7+
# and Valkey load an AOF base that is an RDB file.
AOF_DIR = "appendonlydir"
AOF_NAME = "appendonly.aof"
AOF_BASE = AOF_NAME + ".1.base.rdb"
AOF_MANIFEST = "appendonly.aof.manifest"
# Arguments: the aside directory, the uploaded RDB. `.complete` marks that
# every old file is aside, so a rollback may clear what the restore placed.
SWAP_SCRIPT = ('set -e; cd %(data)s; mkdir "$1"; for f in dump.rdb %(dir)s; do '
               'if [ -e "$f" ]; then mv "$f" "$1/"; fi; done; : > "$1/.complete"; '
               'mv "$2" dump.rdb; mkdir %(dir)s; ln dump.rdb %(dir)s/%(base)s; '
               'printf "file %(base)s seq 1 type b\\n" > %(dir)s/%(manifest)s; '
               'sync %(dir)s/%(manifest)s %(dir)s .' % {"data": DATA, "dir": AOF_DIR, "base": AOF_BASE,
                                                        "manifest": AOF_MANIFEST})
HELPER_PORT = 6399
# The server the helper starts on the swapped files: AOF on, loads what the instance will load.
HELPER_SERVER_SCRIPT = ('"$1" --port %d --bind 127.0.0.1 --protected-mode yes --dir %s --dbfilename dump.rdb '
                        '--appendonly yes --appenddirname %s --appendfilename %s --save "" --daemonize yes'
                        % (HELPER_PORT, DATA, AOF_DIR, AOF_NAME))
# Arguments: the aside directory, the uploaded RDB, the CLI (to stop the helper's server first).
ROLLBACK_SCRIPT = ('"$3" -p %(port)d SHUTDOWN NOSAVE >/dev/null 2>&1; '
                   'cd %(data)s || exit 1; rm -f "$2"; [ -d "$1" ] || exit 0; set -e; '
                   'if [ -e "$1/.complete" ]; then rm -rf dump.rdb %(dir)s; fi; '
                   'for f in dump.rdb %(dir)s; do if [ -e "$1/$f" ]; then mv "$1/$f" .; fi; done; '
                   'rm -f "$1/.complete"; rmdir "$1"' % {"data": DATA, "dir": AOF_DIR, "port": HELPER_PORT})
MB = 1024 * 1024
HEADROOM_BYTES = 64 * MB


def load_backup(manifest_path):
    """The manifest of a backup, after checking its RDB against it (sha256, size, format)."""
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise RestoreError("cannot read the manifest %s: %s" % (manifest_path, exc))
    if manifest.get("format") != index.MANIFEST_FORMAT:
        raise RestoreError("%s: unknown manifest format %r" % (manifest_path, manifest.get("format")))
    rdb = manifest_path[:-len(".json")] + ".rdb"
    try:
        digest = index.sha256_file(rdb)
    except (IOError, OSError) as exc:
        raise RestoreError("the backup's RDB is missing: %s" % exc)
    if digest != manifest["sha256"]:
        raise RestoreError("%s is corrupted: sha256 %s, the manifest says %s" % (rdb, digest, manifest["sha256"]))
    manifest["rdb_checks"] = check_file(rdb)
    manifest["rdb_path"] = rdb
    return manifest


def require_room(free_kb, rdb_bytes):
    """Refuse a volume without room for the upload (which also becomes the AOF base) and the first writes."""
    needed = rdb_bytes + HEADROOM_BYTES
    if free_kb * 1024 < needed:
        raise RestoreError("the volume has %d MB free; the restore needs %d MB (the RDB, which also becomes the "
                           "AOF base, and %d MB for the first writes)"
                           % (free_kb // 1024, needed // MB, HEADROOM_BYTES // MB))
