# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one error path: a common base class and the one `except` every module ends in.

Every expected failure of the module_utils is a DatastoresError (or the
kubernetes client's ApiException, or an OSError on the controller, or the
connection error of an unreachable API server); run_module turns each into a
single readable line for fail_json, never a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.error_base import DatastoresError

try:
    from kubernetes.client.rest import ApiException
except ImportError:  # the kubernetes library is missing: k8s_client.kube_configuration says so
    class ApiException(Exception):
        """Stands in for the kubernetes client's error when the library is missing (never raised then)."""

        status = reason = body = None

try:
    from urllib3.exceptions import HTTPError as ConnectionFailure
except ImportError:  # without urllib3 there is no kubernetes client either
    class ConnectionFailure(Exception):
        """Stands in for urllib3's error when the library is missing (never raised then)."""


def api_error_text(exc):
    """`HTTP 404 Not Found: pods "x" not found` from an ApiException (its str() spans headers and body)."""
    message = None
    try:
        message = json.loads(exc.body).get("message")
    except (TypeError, ValueError, AttributeError):
        pass
    text = "HTTP %s %s" % (exc.status, exc.reason)
    return "%s: %s" % (text, message) if message else text


def one_line(text):
    """Messages of the libraries below may span lines; a failure is reported on one."""
    return " ".join(str(text).split())


def failure_text(exc):
    """What went wrong, for a human, from any error run_module expects."""
    if isinstance(exc, ApiException):
        return api_error_text(exc)
    if isinstance(exc, ConnectionFailure):
        reason = getattr(exc, "reason", None) or exc
        return "cannot reach the Kubernetes API server: %s" % reason
    return "%s" % exc


def run_module(module, body, prefix=None):
    """Call body() and exit with the result dict it returns; an expected failure fails the module on one line.

    The line is `<prefix>: <what went wrong>`, or only the latter without a prefix.
    """
    try:
        result = body()
    except (DatastoresError, ApiException, ConnectionFailure, IOError, OSError) as exc:
        text = failure_text(exc)
        module.fail_json(msg=one_line("%s: %s" % (prefix, text) if prefix else text))
    module.exit_json(**result)
