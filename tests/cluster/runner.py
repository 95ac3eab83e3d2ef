"""Running the collection's playbooks from the cluster tests, and reading their recap."""

import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def playbook(name, variables, *extra, expect_success=True, timeout=1800):
    """stdout + stderr of playbooks/<name>.yml with `variables` (JSON extra vars); asserts its exit status."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run([PLAYBOOK, "playbooks/%s.yml" % name, "-e", json.dumps(variables)] + list(extra),
                            cwd=ROOT, capture_output=True, text=True, env=env, check=False, timeout=timeout)
    assert (result.returncode == 0) == expect_success, result.stdout[-5000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def recap_changed(output):
    """The changed= count of the play recap."""
    return int(output.split("PLAY RECAP")[1].split("changed=")[1].split()[0])
