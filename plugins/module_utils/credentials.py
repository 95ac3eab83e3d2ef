# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The redis_credentials module's steps against the cluster: Secrets through the API, ACLs through exec.

The decisions (what to stage, what to promote, which ACL rules) are in
rotation.py; this module reads and writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import (
    ApiException, DatastoresError, api_error_text)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_client import connect
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.k8s_pods import (
    is_ready, pod_names, read_pod)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.redis_admin import (
    RedisAdminError, check_reply, pod_cli, run_pod_cli)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.rotation import (
    acl_changes, acl_password_hashes, password_hash, previous_key, promotion_patch, retirement_patch, rotated,
    stage_values, staged_key)
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.secrets import decoded

POLL_SECONDS = 2


class RotationError(DatastoresError):
    """A step of the rotation cannot be done."""


class Rotation(object):
    """The users to rotate, their Secrets as read when the step began, and the server pods."""

    def __init__(self, module, kube):
        self.module, self.kube, self.params = module, kube, module.params
        self.namespace = self.params["namespace"]
        self.users = self.params["users"]
        self.secrets, self.decoded = {}, {}
        logins = [self.params["password_secret"] or "", self.params["sentinel_secret"] or ""]
        for name in set([u["secret"] for u in self.users] + logins) - {""}:
            self.secrets[name] = self.read_secret(name)
            self.decoded[name] = decoded(self.secrets[name])
            for value in self.decoded[name].values():
                if isinstance(value, str):
                    self.module.no_log_values.add(value)
        for user in self.users:
            if user["key"] not in self.values(user["secret"]):
                raise RotationError("Secret %s/%s has no key %s (user %s)"
                                    % (self.namespace, user["secret"], user["key"], user["user"]))

    def path(self, name):
        return "/api/v1/namespaces/%s/secrets/%s" % (self.namespace, name)

    def read_secret(self, name):
        try:
            secret = self.kube.get(self.path(name))
        except ApiException as exc:
            raise RotationError("cannot read Secret %s/%s: %s" % (self.namespace, name, api_error_text(exc)))
        return secret

    def values(self, name):
        """{key: text} of Secret `name` as read when the step began (decoded once)."""
        return self.decoded[name]

    def keys_of(self, name):
        return [u["key"] for u in self.users if u["secret"] == name]

    def patch_secret(self, name, patch):
        patch = dict(patch, metadata=dict(patch.get("metadata", {}),
                                          resourceVersion=self.secrets[name]["metadata"]["resourceVersion"]))
        try:
            self.kube.request("PATCH", self.path(name), patch, content_type="application/merge-patch+json")
        except ApiException as exc:
            raise RotationError("cannot update Secret %s/%s: %s" % (self.namespace, name, api_error_text(exc)))

    def server_pods(self):
        """The StatefulSet's pods, every one Ready: a pod that is not would keep its old password set."""
        return self.ready_pods(self.params["statefulset"])

    def sentinel_pods(self):
        if not self.params["sentinel_statefulset"]:
            raise RotationError("a user with apply %s needs sentinel_statefulset" % "sentinel-auth-pass")
        return self.ready_pods(self.params["sentinel_statefulset"])

    def ready_pods(self, name):
        try:
            statefulset = self.kube.get("/apis/apps/v1/namespaces/%s/statefulsets/%s" % (self.namespace, name))
        except ApiException as exc:
            raise RotationError("cannot read StatefulSet %s/%s: %s" % (self.namespace, name, api_error_text(exc)))
        pods = pod_names(name, statefulset["spec"].get("replicas", 1))
        for pod in pods:
            found = read_pod(self.kube, self.namespace, pod)
            if found is None or not is_ready(found):
                raise RotationError("pod %s/%s is not Ready; every server must take part in a rotation. Run again "
                                    "when it is." % (self.namespace, pod))
        return pods

    def admin_cli(self, pod):
        """The admin's cli on `pod`."""
        params = self.params
        return pod_cli(self.kube.configuration, self.namespace, pod, params["container"], self.admin_password(pod),
                       flavor=params["flavor"], port=params["port"], user=params["user"], timeout=60)

    def admin_password(self, pod):
        """Whichever of the admin's current, previous or staged passwords the server on `pod` accepts."""
        params = self.params
        values = self.values(params["password_secret"])
        key = params["password_secret_key"]
        for password in [values[k] for k in (key, previous_key(key), staged_key(key)) if k in values]:
            cli = pod_cli(self.kube.configuration, self.namespace, pod, params["container"], password,
                          flavor=params["flavor"], port=params["port"], user=params["user"], timeout=60)
            try:
                if check_reply(cli("PING"), "PING") == "PONG":
                    return password
            except RedisAdminError:
                continue
        raise RotationError("pod %s refuses every password of user %s in Secret %s" % (pod, params["user"],
                                                                                       params["password_secret"]))


def wanted_hashes(values, key, keep_others):
    names = (key, previous_key(key), staged_key(key)) if keep_others else (key,)
    return set(password_hash(values[name]) for name in names if name in values)


def converge_servers(rotation, exact):
    """Each server's ACL users accept their Secret's passwords (only the current one when `exact`)."""
    report, changed = {}, False
    for pod in rotation.server_pods():
        cli = rotation.admin_cli(pod)
        current = acl_password_hashes(check_reply(cli("ACL", "LIST"), "ACL LIST"))
        report[pod] = {}
        for user in rotation.users:
            if user["user"] not in current:
                raise RotationError("pod %s has no ACL user %s" % (pod, user["user"]))
            have = current[user["user"]]
            want = wanted_hashes(rotation.values(user["secret"]), user["key"], keep_others=not exact)
            rules = acl_changes(have, want, exact)
            report[pod][user["user"]] = [len(have), len(want if exact else have | want)]
            if rules:
                changed = True
                if not rotation.module.check_mode:
                    check_reply(cli("ACL", "SETUSER", user["user"], *rules), "ACL SETUSER")
    return report, changed


def keys_diff(rotation, changes):
    """What --diff shows of the Secrets a step changes: their keys before and after, never a value."""
    before, after = {}, {}
    for name, (added, dropped) in changes.items():
        keys = set(rotation.values(name))
        before[name] = sorted(keys)
        after[name] = sorted((keys | set(added)) - set(dropped))
    return {"before": before, "after": after}


def step_stage(rotation):
    written = {}
    for name in sorted(rotation.secrets):
        keys = rotation.keys_of(name)
        added = stage_values(rotation.values(name), keys, rotated(rotation.secrets[name], rotation.params["rotation"]),
                             rotation.params["length"])
        if added:
            for value in added.values():
                rotation.module.no_log_values.add(value)
            written[name] = sorted(added)
            if not rotation.module.check_mode:
                rotation.patch_secret(name, {"stringData": added})
    return {"changed": bool(written), "secrets": written,
            "diff": keys_diff(rotation, dict((name, (keys, [])) for name, keys in written.items()))}


def step_promote(rotation):
    written, changes = {}, {}
    for name in sorted(rotation.secrets):
        patch = promotion_patch(rotation.values(name), rotation.keys_of(name), rotation.params["rotation"])
        if patch:
            written[name] = sorted(set(patch["stringData"]) | set(patch["data"]))
            changes[name] = (list(patch["stringData"]), list(patch["data"]))
            if not rotation.module.check_mode:
                rotation.patch_secret(name, patch)
    return {"changed": bool(written), "secrets": written, "diff": keys_diff(rotation, changes)}


def step_wait(rotation):
    params = rotation.params
    started = time.monotonic()
    if rotation.module.check_mode:
        return {"changed": False, "waited": 0.0}
    pending = [(pod, params["container"], user) for pod in rotation.server_pods() for user in rotation.users
               if user["file"]]
    if any(user["apply"] == "sentinel-auth-pass" for user in rotation.users):
        pending += [(pod, params["sentinel_container"], user) for pod in rotation.sentinel_pods()
                    for user in rotation.users if user["apply"] == "sentinel-auth-pass"]
    while pending:
        pending = [(pod, container, user) for pod, container, user in pending
                   if file_hash(rotation, pod, container, user) != password_hash(
                       rotation.values(user["secret"])[user["key"]])]
        if pending and time.monotonic() - started > params["timeout"]:
            raise RotationError("after %d s these password files still differ from their Secrets: %s (the kubelet "
                                "refreshes mounted Secrets periodically; run again to go on waiting)"
                                % (params["timeout"], ", ".join("%s:%s" % (pod, u["file"]) for pod, c, u in pending)))
        if pending:
            time.sleep(POLL_SECONDS)
    return {"changed": False, "waited": round(time.monotonic() - started, 1)}


def file_hash(rotation, pod, container, user):
    path = "%s/%s" % (rotation.params["auth_dir"].rstrip("/"), user["file"])
    rc, out, err = run(rotation.kube.configuration, rotation.namespace, pod, container, ["sha256sum", path],
                       timeout=30)
    if rc != 0:
        raise RotationError("cannot read %s in pod %s: %s" % (path, pod, err.decode("utf-8", "replace").strip()))
    return out.decode("ascii", "replace").split(" ", 1)[0]


def step_apply(rotation):
    """The servers' masterauth and the Sentinels' auth-pass take the current password of their users, while a
    rotation is under way (its `.previous` key is there: afterwards a rerun changes nothing)."""
    params, applied = rotation.params, []
    for user in rotation.users:
        values = rotation.values(user["secret"])
        if not user["apply"] or previous_key(user["key"]) not in values:
            continue
        current = values[user["key"]].encode("utf-8")
        if user["apply"] == "masterauth":
            targets = [(pod, params["container"], rotation.admin_password(pod), params["user"], params["port"],
                        ["-x", "CONFIG", "SET", "masterauth"]) for pod in rotation.server_pods()]
        else:
            sentinel_password = rotation.values(params["sentinel_secret"])["password"]
            targets = [(pod, params["sentinel_container"], sentinel_password, None, params["sentinel_port"],
                        ["-x", "SENTINEL", "SET", params["master_name"] or params["statefulset"], "auth-pass"])
                       for pod in rotation.sentinel_pods()]
        for pod, container, password, login, port, args in targets:
            applied.append("%s/%s" % (pod, user["user"]))
            if rotation.module.check_mode:
                continue
            rc, out, err = run_pod_cli(rotation.kube.configuration, rotation.namespace, pod, container, password,
                                       args, flavor=params["flavor"], port=port, user=login, stdin=current)
            check_reply((out or err).decode("utf-8", "replace"), " ".join(args[1:]))
    return {"changed": bool(applied), "applied": applied}


def step_servers(rotation, exact):
    report, changed = converge_servers(rotation, exact)
    result = {"changed": changed, "servers": report, "secrets": {},
              "diff": {"before": dict((pod, dict((u, n[0]) for u, n in users.items())) for pod, users in report.items()),
                       "after": dict((pod, dict((u, n[1]) for u, n in users.items())) for pod, users in report.items())}}
    if exact:
        for name in sorted(rotation.secrets):
            patch = retirement_patch(rotation.values(name), rotation.keys_of(name))
            if patch:
                result["changed"] = True
                result["secrets"][name] = sorted(patch["data"])
                if not rotation.module.check_mode:
                    rotation.patch_secret(name, patch)
    return result


def rotate(module):
    rotation = Rotation(module, connect(module.params))
    step = module.params["step"]
    if step in ("admit", "retire"):
        result = step_servers(rotation, exact=step == "retire")
    else:
        result = {"stage": step_stage, "promote": step_promote, "wait": step_wait, "apply": step_apply}[step](rotation)
    result.setdefault("secrets", {})
    result.setdefault("servers", {})
    result.setdefault("waited", 0.0)
    result.setdefault("applied", [])
    return result
