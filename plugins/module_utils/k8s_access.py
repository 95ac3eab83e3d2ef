# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the credentials may do, asked of the API server before a procedure that must not stop halfway.

A restore that lacked the right to scale the StatefulSet would fail after
claiming the instance, and its rollback would fail the same way. Asked
first (SelfSubjectAccessReview, allowed to every authenticated user), the
answer is a refusal that names each missing permission, before anything
changes. docs/rbac.md lists what each playbook needs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError

REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


class AccessDenied(DatastoresError):
    """The credentials lack a permission the procedure needs."""


def permission_text(verb, group, resource):
    """`patch statefulsets/scale (apps)`, as docs/rbac.md names the rules."""
    return "%s %s%s" % (verb, resource, " (%s)" % group if group else "")


def allowed(kube, namespace, verb, group, resource):
    """Whether the API server would let these credentials `verb` the (sub)resource in the namespace."""
    name, dummy, subresource = resource.partition("/")
    attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": name}
    if subresource:
        attributes["subresource"] = subresource
    review = kube.request("POST", REVIEWS, {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                            "spec": {"resourceAttributes": attributes}})
    return bool((review.get("status") or {}).get("allowed"))


def require(kube, namespace, needs, action):
    """Raise AccessDenied naming every (verb, group, resource) of `needs` the credentials may not do."""
    missing = [permission_text(*need) for need in needs if not allowed(kube, namespace, *need)]
    if missing:
        raise AccessDenied("%s needs Kubernetes permissions these credentials lack in namespace %s: %s "
                           "(docs/rbac.md; playbooks/rbac.yml grants them); nothing was changed"
                           % (action, namespace, ", ".join(missing)))
