# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the collection's errors, apart from errors.py so that the filter plugins can raise it without
importing the kubernetes library (half a second in every task that uses a filter)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class DatastoresError(Exception):
    """The base of every error the collection's module_utils raise on purpose."""
