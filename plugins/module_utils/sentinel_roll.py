# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes to a Sentinel set that lose no acknowledged write: the rolling restart, the switchover, stale Sentinels.

The server StatefulSet uses the OnDelete strategy; this module decides the
order. Replicas restart first, each back in sync before the next; then the
primary hands over to an in-sync replica (writes paused until the replicas
hold every acknowledged write, SENTINEL FAILOVER, the old primary made a
replica of the new one) and only then restarts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import pod_path, pod_state, wait_for
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    BINARIES, TLS_WHEN_MOUNTED, check_reply)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sentinel_set import (
    SERVER_CONTAINER, SentinelSetError)

REVISION_LABEL = "controller-revision-hash"

# The switchover, run in the primary's own container so that no round trip
# through the API server lengthens the pause. It must stay well under the
# Sentinels' down-after: the pause also holds their PUBLISH of hello
# messages, and the PINGs queued behind it, so a paused primary looks down
# to them after down-after-milliseconds. Writes paused; wait until every
# replica, asked itself, has processed the primary's whole stream (the
# primary's own view of its replicas' offsets is refreshed by their
# acknowledgements, once a second); SENTINEL FAILOVER (the first Sentinel
# that accepts it); poll it every 50 ms until it names another primary; make
# this server a replica of that one *before* the pause ends (a write that
# waited gets READONLY and its client asks the Sentinels again, instead of an
# ack on a demoted primary); unpause on any way out, a signal included. If
# the script is killed outright the pause still ends after pause_ms.
# Passwords on stdin (server, then Sentinel), never arguments. Prints the
# new primary's address.
# Arguments: cli port pause_ms "replica addresses" master sentinel_port self user sentinel...
SWITCHOVER_SCRIPT = r"""
IFS= read -r server_pw; IFS= read -r sentinel_pw
cli=$1 port=$2 pause_ms=$3 replicas=$4 master=$5 sentinel_port=$6 self=$7 user=$8
shift 8
server() { REDISCLI_AUTH="$server_pw" timeout 5 "$cli" $tls ${user:+--user "$user"} -p "$port" "$@"; }
sentinel() { h=$1; shift; REDISCLI_AUTH="$sentinel_pw" timeout 2 "$cli" $tls -h "$h" -p "$sentinel_port" "$@"; }
field() { tr -d '\r' | sed -n "s/^$1://p"; }
caught_up() {
  primary=$(server INFO replication | field master_repl_offset)
  [ -n "$primary" ] || return 1
  for replica in $replicas; do
    info=$(REDISCLI_AUTH="$server_pw" timeout 1 "$cli" $tls ${user:+--user "$user"} -h "$replica" -p "$port" \
      INFO replication) || return 1
    [ "$(printf '%s\n' "$info" | field master_link_status)" = up ] || return 1
    offset=$(printf '%s\n' "$info" | field slave_repl_offset)
    [ -n "$offset" ] && [ "$offset" -ge "$primary" ] || return 1
  done
}
r=$(server CLIENT PAUSE "$pause_ms" WRITE) && [ "$r" = OK ] || { echo "CLIENT PAUSE failed: $r"; exit 3; }
trap 'server CLIENT UNPAUSE >/dev/null 2>&1' EXIT
trap 'exit 1' INT TERM HUP
started=$(date +%s)
until caught_up; do
  [ $(($(date +%s) - started)) -lt 3 ] || { echo "the replicas did not reach the primary's offset in 3 s"; exit 4; }
  sleep 0.02
done
for s in "$@"; do
  r=$(sentinel "$s" SENTINEL FAILOVER "$master" 2>&1) && [ "$r" = OK ] && break
done
[ "$r" = OK ] || { echo "no Sentinel accepted SENTINEL FAILOVER: $r"; exit 5; }
i=0
while :; do
  new=$(sentinel "$s" SENTINEL GET-MASTER-ADDR-BY-NAME "$master" 2>/dev/null | head -n 1)
  case "$new" in ''|"$self"|*[!0-9a-fA-F.:]*) ;; *) break ;; esac
  i=$((i + 1)); [ "$i" -lt $((pause_ms / 50)) ] || { echo "the Sentinels named no new primary in time"; exit 6; }
  sleep 0.05
done
r=$(server REPLICAOF "$new" "$port") && [ "$r" = OK ] || { echo "REPLICAOF $new failed: $r"; exit 7; }
echo "$new"
"""


def in_sync(info):
    """A replica whose link to its primary is up and that is not loading a full copy."""
    return (info.get("role") == "slave" and info.get("master_link_status") == "up"
            and info.get("master_sync_in_progress", "0") == "0")


class Rollout(object):
    """Brings the server pods onto their StatefulSet's current revision, and the Sentinels' views up to date."""

    def __init__(self, members, timeout=300, pause_seconds=30):
        self.members, self.timeout, self.pause_ms = members, timeout, int(pause_seconds * 1000)
        self.steps = []

    def step(self, message):
        self.steps.append(message)

    # What is to do

    def current_revision(self):
        """The StatefulSet's updateRevision, once its controller has seen the latest spec."""
        def observed():
            statefulset = self.members.read_statefulset(self.members.statefulset)
            status = statefulset.get("status") or {}
            return status.get("observedGeneration") == statefulset["metadata"]["generation"] and status
        wait_for("the StatefulSet controller to observe the new spec", observed, 60)
        return observed()["updateRevision"]

    def outdated(self):
        """Server pods that exist and run an older template than the StatefulSet's current one."""
        revision = self.current_revision()
        result = []
        for name in self.members.servers():
            pod = self.members.read_pod(name)
            if pod is not None and (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                result.append(name)
        return result

    def plan(self):
        """(outdated pods in the order they restart, the primary's pod or None when no Sentinel names one)."""
        outdated = self.outdated()
        address = self.members.primary_address() if outdated else None
        primary = self.members.pod_at(address) if address else None
        order = [pod for pod in outdated if pod != primary] + ([primary] if primary in outdated else [])
        return order, primary

    # Doing it

    def roll(self):
        """Restart the outdated pods in a safe order; returns the steps taken."""
        order, primary = self.plan()
        for pod in order:
            if pod == primary:
                wait_for("every Sentinel to see every replica up", lambda: self.members.replicas_up_for_every_sentinel(
                    pod), self.timeout, interval=1)
                new = self.switchover(pod)
                # Restarting the old primary must leave the new one a replica to acknowledge writes
                # (min-replicas-to-write): every other server must follow it directly first.
                wait_for("every other server to replicate from the new primary", lambda: self.direct_replicas(
                    new) >= len(self.members.servers()) - 1, self.timeout, interval=0.5)
            self.restart(pod)
        self.wait_replicating()
        return self.steps

    def restart(self, pod):
        """Delete a server pod and wait until its successor is Ready (and, as a replica, in sync)."""
        old = self.members.read_pod(pod)
        self.step("restart %s" % pod)
        self.members.kube.request("DELETE", pod_path(self.members.namespace, pod))
        wait_for("%s to be back and Ready" % pod,
                 lambda: pod_state(self.members.read_pod(pod), SERVER_CONTAINER, uid_not=old["metadata"]["uid"])
                 == (True, True), self.timeout, interval=1)
        if self.members.primary_address():
            wait_for("%s to be in sync with the primary" % pod,
                     lambda: in_sync(self.members.replication(pod)), self.timeout, interval=1)

    def switchover(self, pod):
        """Move the primary role off `pod` without losing an acknowledged write (SWITCHOVER_SCRIPT, in its pod)."""
        members = self.members
        sentinels = [members.address(sentinel) for sentinel in members.ready_pods(members.sentinels())]
        self.step("switch the primary away from %s (SENTINEL FAILOVER)" % pod)
        replicas = " ".join(members.address(server) for server in members.servers() if server != pod)
        args = [BINARIES[members.flavor]["cli"], members.port, self.pause_ms, replicas,
                members.master_name, members.sentinel_port, members.address(pod), members.user or ""] + sentinels
        passwords = "%s\n%s\n" % (members.password or "", members.sentinel_password or "")
        rc, out, err = run(members.kube.configuration, members.namespace, pod, SERVER_CONTAINER,
                           ["sh", "-c", TLS_WHEN_MOUNTED + SWITCHOVER_SCRIPT, "sh"] + [str(arg) for arg in args],
                           stdin_data=passwords.encode("utf-8"), timeout=self.timeout)
        report = (out + err).decode("utf-8", "replace").strip()
        if rc != 0:
            raise SentinelSetError("the switchover away from %s failed (%s): %s; writes were paused at most %d ms"
                                   % (pod, rc, report[-300:], self.pause_ms))
        new = report.split()[-1]
        self.step("primary is now %s (%s)" % (members.pod_at(new), new))
        return members.pod_at(new)

    def direct_replicas(self, primary):
        """How many replicas are online at `primary` itself (not through another replica, not loading a copy)."""
        info = self.members.replication(primary)
        return sum(1 for key, value in info.items()
                   if key.startswith("slave") and key[5:].isdigit() and "state=online" in value.split(","))

    def wait_replicating(self):
        """Every server pod Ready, one primary, every other one an in-sync replica."""
        def healthy():
            states = [self.members.replication(pod) for pod in self.members.servers()]
            roles = [info.get("role") for info in states]
            return roles.count("master") == 1 and all(in_sync(info) for info in states if info.get("role") != "master")
        wait_for("one primary and every replica in sync", healthy, self.timeout, interval=1)

    # The Sentinels' views

    def expected_view(self, sentinel, primary):
        members = self.members
        return {"primary": primary,
                "replicas": sorted(members.address(pod) for pod in members.servers() if members.address(pod) != primary),
                "sentinels": sorted(members.address(pod) for pod in members.sentinels() if pod != sentinel)}

    @staticmethod
    def stale(view, expected):
        """Addresses a Sentinel remembers that are no longer part of the set."""
        return sorted(set(view["replicas"]) - set(expected["replicas"])
                      | set(view["sentinels"]) - set(expected["sentinels"]))

    def reconcile_sentinels(self, check_mode=False):
        """Reset, one at a time, Sentinels that remember pods gone from the set; wait until all agree."""
        members = self.members
        wait_for("every Sentinel Ready", lambda: len(members.ready_pods(members.sentinels())) == len(
            members.sentinels()), self.timeout, interval=1)
        wait_for("a majority of the Sentinels to name the primary", members.primary_address,
                 self.timeout, interval=1)
        primary = members.primary_address()
        for sentinel in members.sentinels():
            expected = self.expected_view(sentinel, primary)
            stale = self.stale(members.sentinel_view(sentinel), expected)
            if stale:
                self.step("reset %s: it remembers %s" % (sentinel, ", ".join(stale)))
                if check_mode:
                    continue
                check_reply(members.sentinel_cli(sentinel)("SENTINEL", "RESET", members.master_name), "SENTINEL RESET")
            if not check_mode:
                self.wait_view(sentinel, expected)
        return primary

    def wait_view(self, sentinel, expected):
        def complete():
            view = self.members.sentinel_view(sentinel)
            return [view[k] for k in ("primary", "replicas", "sentinels")] == [
                expected[k] for k in ("primary", "replicas", "sentinels")]
        wait_for("%s to see the whole set" % sentinel, complete, self.timeout, interval=1)
