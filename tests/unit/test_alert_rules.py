"""The alert rules as the role renders them: valid for Prometheus, and each alert
fires on series that should fire it and stays quiet on ones that should not
(tests/promtool/alerts_test.yml, run by promtool from Debian's prometheus)."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROMTOOL = shutil.which("promtool") or "promtool"  # make host-deps installs it


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    directory = tmp_path_factory.mktemp("rules")
    path = directory / "rules.yml"
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    completed = subprocess.run([playbook, "-i", "localhost,", os.path.join(ROOT, "tests", "promtool", "render.yml"),
                                "-e", "redis_monitoring_rules_file=%s" % path],
                               cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:]
    shutil.copy(os.path.join(ROOT, "tests", "promtool", "alerts_test.yml"), directory)
    return path


def promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL] + list(args), cwd=cwd, capture_output=True, text=True, check=False)


def test_rendered_rules_pass_promtool_check(rules):
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 18 rules found" in result.stdout


def test_every_alert_has_a_runbook_section(rules):
    with open(os.path.join(ROOT, "docs", "monitoring.md")) as handle:
        headings = {line.strip("# \n").lower() for line in handle if line.startswith("### ")}
    alerts = [line.split(":", 1)[1].strip() for line in rules.read_text().splitlines()
              if line.strip().startswith("- alert:")]
    assert len(alerts) == 18
    assert [a for a in alerts if a.lower() not in headings] == []


def test_every_alert_fires_and_stays_quiet_as_specified(rules):
    result = promtool("test", "rules", "alerts_test.yml", cwd=str(rules.parent))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_covered_by_a_promtool_case(rules):
    with open(os.path.join(ROOT, "tests", "promtool", "alerts_test.yml")) as handle:
        tested = {line.split(":", 1)[1].strip() for line in handle if line.strip().startswith("alertname:")}
    alerts = {line.split(":", 1)[1].strip() for line in rules.read_text().splitlines()
              if line.strip().startswith("- alert:")}
    assert alerts - tested == set()
