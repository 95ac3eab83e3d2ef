# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes as Redis and Kubernetes write them, turned into bytes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError

# redis.conf: "1k" => 1000 bytes, "1kb" => 1024 bytes, case-insensitive.
_REDIS_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1024,
    "m": 1000 ** 2, "mb": 1024 ** 2,
    "g": 1000 ** 3, "gb": 1024 ** 3,
}
_REDIS_RE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)

# Kubernetes resource.Quantity (the byte-sized subset; no exponents or milli).
_K8S_UNITS = {
    "": 1,
    "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4, "P": 1000 ** 5, "E": 1000 ** 6,
    "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "Pi": 1024 ** 5, "Ei": 1024 ** 6,
}
_K8S_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


class SizeError(DatastoresError, ValueError):
    """A size that cannot be parsed."""


def redis_memory_bytes(value):
    """Bytes for a redis.conf memory size such as ``384mb`` or ``1gb``."""
    match = _REDIS_RE.match(str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _REDIS_UNITS:
        raise SizeError(
            "%r is not a Redis memory size: use a number with an optional unit "
            "b, k, kb, m, mb, g or gb (e.g. 384mb)" % (value,)
        )
    return int(match.group(1)) * _REDIS_UNITS[unit]


def k8s_quantity_bytes(value):
    """Bytes for a Kubernetes quantity such as ``5Gi``, ``512Mi`` or ``1G``."""
    match = _K8S_RE.match(str(value))
    if not match or match.group(2) not in _K8S_UNITS:
        raise SizeError(
            "%r is not a Kubernetes storage/memory quantity: use a number with an "
            "optional suffix Ki, Mi, Gi, Ti (or k, M, G, T), e.g. 5Gi" % (value,)
        )
    return int(float(match.group(1)) * _K8S_UNITS[match.group(2)])
