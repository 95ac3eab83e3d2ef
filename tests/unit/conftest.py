"""Make the collection importable as ansible_collections.alertmanagerpp.datastores."""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

sys.path.insert(0, os.path.dirname(__file__))

# The redis_server and postgresql_server fixtures (real servers on loopback) for every unit test.
pytest_plugins = ["redis_server", "postgresql_server"]
