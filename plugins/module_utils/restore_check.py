# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a restore proves that a server holds exactly the backup.

A server (the helper's own on the swapped files, then the instance) must
report AOF on, must have loaded from its AOF base exactly the keys the check
tool read in the RDB, and must hold the same values for sampled keys as the
first server checked (DUMP digests, read binary-safely; a key that vanished
only counts when its TTL could have run out meanwhile).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rdb import check_rdb_verdict
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES,
    check_reply,
    key_text,
    keyspace,
    parse_info,
    pod_cli,
    run_pod_cli,
    sample_values,
)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.restore_state import RestoreError

SAMPLE_KEYS = 20


def sample_mismatches(samples, now_samples, elapsed_ms):
    """Keys whose value changed, or that vanished without a TTL that could have run out meanwhile.

    A sample is only ever a key that existed when it was taken; reading it as
    missing later is a mismatch, never a match of two missing keys.
    """
    bad = []
    for (db, key), (digest, pttl) in sorted(samples.items()):
        now_digest, now_pttl = now_samples.get((db, key), (None, -2))
        if digest is not None and now_digest == digest:
            continue
        if now_digest is None and 0 <= pttl <= elapsed_ms:
            continue  # it had less time to live than has passed
        bad.append("db%s:%s" % (db, key_text(key)))
    return bad


def uploaded_rdb_keys(shell, flavor, path):
    """Keys in an RDB in a pod as the server's own check tool reads them (every byte, the CRC64 included).

    shell(script, args) runs a shell script in the pod and returns its stdout.
    """
    check = BINARIES[flavor]["check_rdb"]
    output, dummy, rc = shell('%s "$1" 2>&1; echo check-rc $?' % check, args=[path]).rstrip().rpartition("check-rc ")
    verdict = check_rdb_verdict(output, rc)
    if not verdict["ok"] or verdict["keys"] is None:
        raise RestoreError("this server cannot read the backup as uploaded (%s): %s"
                           % (check, " | ".join(output.strip().splitlines()[-7:])))
    return verdict["keys"]


class Server(object):
    """A server the restore checks: the helper's own (no password, loopback) or the instance's."""

    def __init__(self, pod, container, port, password, name, user=None):
        self.pod, self.container, self.port, self.password, self.name = pod, container, port, password, name
        self.user = user


class ServerCheck(object):
    """Checks of the servers of one restore; the first server's samples are what the later ones must hold."""

    def __init__(self, configuration, namespace, flavor, rdb_keys, timeout):
        self.configuration, self.namespace, self.flavor = configuration, namespace, flavor
        self.rdb_keys, self.timeout = rdb_keys, timeout
        self.samples = {}
        self.sampled_at = None

    def cli(self, server):
        return pod_cli(self.configuration, self.namespace, server.pod, server.container, server.password,
                       flavor=self.flavor, port=server.port, timeout=self.timeout, user=server.user)

    def verify(self, server, samples_label, loaded_from="its AOF base"):
        """(summary line, {keys, samples}): the server loaded exactly the RDB's keys (from its AOF, or, for a
        replica, from the primary's full copy), AOF is on."""
        cli = self.cli(server)
        persistence = self.persistence_once_loaded(server, cli)
        if persistence.get("aof_enabled") != "1":
            raise RestoreError("AOF is off in %s" % server.name)
        if "rdb_last_load_keys_loaded" not in persistence:
            raise RestoreError("the server does not report rdb_last_load_keys_loaded (Redis 7 or later needed)")
        # Keys loaded from an AOF base include expired ones (counted apart where the server skips them).
        loaded = int(persistence["rdb_last_load_keys_loaded"]) + int(persistence.get("rdb_last_load_keys_expired", 0))
        if loaded != self.rdb_keys:
            raise RestoreError("%s loaded %d keys from %s, the backup holds %s"
                               % (server.name, loaded, loaded_from, self.rdb_keys))
        live = keyspace(parse_info(check_reply(cli("INFO", "keyspace"), "INFO")))
        if not self.samples:
            self.samples, self.sampled_at = self.read_samples(server, live), time.monotonic()
        else:
            now = self.read_samples(server, live, keys=self.samples)
            bad = sample_mismatches(self.samples, now, (time.monotonic() - self.sampled_at) * 1000 + 1000)
            if bad:
                raise RestoreError("sample values differ in %s: %s" % (server.name, ", ".join(bad[:5])))
        summary = ("%s: %d keys loaded from %s as in the backup, %s, AOF on, %d sample values %s"
                   % (server.name, loaded, loaded_from, live, len(self.samples), samples_label))
        return summary, {"keys": live, "samples": len(self.samples)}

    def persistence_once_loaded(self, server, cli):
        """INFO persistence after the server finished loading (a pod without a startup probe starts earlier)."""
        info = {}

        def loaded():
            try:
                info.update(parse_info(check_reply(cli("INFO", "persistence"), "INFO")))
            except Exception:  # pylint: disable=broad-except  # not listening yet
                return False
            return info.get("loading") == "0"
        wait_for("%s to load its data" % server.name, loaded, self.timeout)
        return info

    def read_samples(self, server, live, keys=None):
        """{(db, key bytes): (sha1 of DUMP or None, PTTL)}: up to SAMPLE_KEYS random keys per database, or `keys`."""
        found = {}
        for db in sorted(live):
            number = db[2:]
            wanted = [key for (key_db, key) in (keys or {}) if key_db == number]
            if keys is not None and not wanted:
                continue
            values = sample_values(self.db_cli(server, number), count=0 if keys is not None else SAMPLE_KEYS,
                                   keys=wanted)
            found.update(((number, key), value) for key, value in values.items())
        return found

    def db_cli(self, server, number):
        """A run_cli(args, stdin) for sample_values: the CLI on one database of the server."""
        def run_cli(args, stdin):
            rc, out, err = run_pod_cli(self.configuration, self.namespace, server.pod, server.container,
                                       server.password, ["-n", number] + args, flavor=self.flavor,
                                       port=server.port, timeout=self.timeout, stdin=stdin, user=server.user)
            if rc != 0:
                raise RestoreError("reading sample keys failed (%d): %s" % (rc, err.decode("utf-8", "replace")[:300]))
            return out
        return run_cli

    def stop(self, server):
        """SHUTDOWN NOSAVE, then wait until the server no longer answers."""
        cli = self.cli(server)
        try:
            cli("SHUTDOWN", "NOSAVE")
        except Exception:  # pylint: disable=broad-except  # the server closes the connection as it exits
            pass
        wait_for("%s to stop" % server.name, lambda: not answers(cli), self.timeout)


def answers(cli):
    try:
        return cli("PING").strip() == "PONG"
    except Exception:  # pylint: disable=broad-except  # not listening, or LOADING
        return False
