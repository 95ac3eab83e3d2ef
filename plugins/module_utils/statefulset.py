# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which changes to a StatefulSet the API server would refuse (422)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.sizes import (
    k8s_quantity_bytes,
)


def claim_templates(sts):
    """{name: spec} of a StatefulSet's (a dict's) volume claim templates."""
    return {
        (t.get("metadata") or {}).get("name"): t.get("spec") or {}
        for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    }


def requested_storage(claim_spec):
    """The storage a PersistentVolumeClaim spec (or a claim template's) requests, None if it names none."""
    return ((claim_spec.get("resources") or {}).get("requests") or {}).get("storage")


def _claim_changes(name, live, wanted, growth_allowed):
    changes = []
    live_size, wanted_size = requested_storage(live), requested_storage(wanted)
    if live_size and wanted_size and k8s_quantity_bytes(live_size) > k8s_quantity_bytes(wanted_size):
        changes.append("volume claim %r storage: %s -> %s (a volume cannot shrink)" % (name, live_size, wanted_size))
    elif live_size and wanted_size and k8s_quantity_bytes(live_size) < k8s_quantity_bytes(wanted_size) \
            and not growth_allowed:
        changes.append("volume claim %r storage: %s -> %s" % (name, live_size, wanted_size))
    # An unset class means "the cluster's default": only an explicit change counts.
    live_class, wanted_class = live.get("storageClassName"), wanted.get("storageClassName")
    if wanted_class and live_class != wanted_class:
        changes.append("volume claim %r storageClassName: %s -> %s" % (name, live_class or "(default)", wanted_class))
    if sorted(live.get("accessModes") or []) != sorted(wanted.get("accessModes") or []):
        changes.append("volume claim %r accessModes: %s -> %s" % (name, live.get("accessModes"), wanted.get("accessModes")))
    return changes


def storage_growth(live, wanted):
    """{claim template: (live size, wanted size)} of the volume claims that grow from live to wanted."""
    if not live:
        return {}
    live_claims, wanted_claims = claim_templates(live), claim_templates(wanted)
    growth = {}
    for name in sorted(set(live_claims) & set(wanted_claims)):
        live_size, wanted_size = requested_storage(live_claims[name]), requested_storage(wanted_claims[name])
        if live_size and wanted_size and k8s_quantity_bytes(live_size) < k8s_quantity_bytes(wanted_size):
            growth[name] = (live_size, wanted_size)
    return growth


def immutable_changes(live, wanted, growth_allowed=False):
    """Human-readable list of changes in immutable fields from live to wanted.

    live: the StatefulSet as read from the API (or None/empty when absent).
    wanted: the StatefulSet the role would apply.
    growth_allowed: a volume claim that grows is not listed (the role expands the volumes and recreates the
    StatefulSet object instead).
    """
    if not live:
        return []
    changes = []
    live_spec, wanted_spec = live.get("spec") or {}, wanted.get("spec") or {}
    for field in ("serviceName", "podManagementPolicy"):
        if live_spec.get(field) != wanted_spec.get(field) and wanted_spec.get(field) is not None:
            changes.append("%s: %s -> %s" % (field, live_spec.get(field), wanted_spec.get(field)))
    live_selector = (live_spec.get("selector") or {}).get("matchLabels")
    wanted_selector = (wanted_spec.get("selector") or {}).get("matchLabels")
    if live_selector != wanted_selector:
        changes.append("selector: %s -> %s" % (live_selector, wanted_selector))
    live_claims, wanted_claims = claim_templates(live), claim_templates(wanted)
    if sorted(live_claims) != sorted(wanted_claims):
        changes.append("volumeClaimTemplates: %s -> %s" % (sorted(live_claims), sorted(wanted_claims)))
    for name in sorted(set(live_claims) & set(wanted_claims)):
        changes.extend(_claim_changes(name, live_claims[name], wanted_claims[name], growth_allowed))
    return changes
