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


# Each store's monitoring role: (render playbook, its rules file variable, promtool cases, alert count).
STORES = {
    "redis": ("render.yml", "redis_monitoring_rules_file", "alerts_test.yml", 18),
    "postgresql": ("render_postgresql.yml", "postgresql_monitoring_rules_file", "postgresql_alerts_test.yml", 16),
}


@pytest.fixture(scope="module", params=sorted(STORES))
def store(request):
    return request.param


@pytest.fixture(scope="module")
def rules(tmp_path_factory, store):
    render, variable, cases, dummy = STORES[store]
    directory = tmp_path_factory.mktemp("rules-" + store)
    path = directory / "rules.yml"
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    completed = subprocess.run([playbook, "-i", "localhost,", os.path.join(ROOT, "tests", "promtool", render),
                                "-e", "%s=%s" % (variable, path)],
                               cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:]
    shutil.copy(os.path.join(ROOT, "tests", "promtool", cases), directory / "cases.yml")
    return path


def promtool(*args, cwd=None):
    return subprocess.run([PROMTOOL] + list(args), cwd=cwd, capture_output=True, text=True, check=False)


def test_rendered_rules_pass_promtool_check(rules, store):
    result = promtool("check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: %d rules found" % STORES[store][3] in result.stdout


def test_every_alert_has_a_runbook_section(rules, store):
    with open(os.path.join(ROOT, "docs", "monitoring.md")) as handle:
        headings = {line.strip("# \n").lower() for line in handle if line.startswith("### ")}
    alerts = [line.split(":", 1)[1].strip() for line in rules.read_text().splitlines()
              if line.strip().startswith("- alert:")]
    assert len(alerts) == STORES[store][3]
    assert [a for a in alerts if a.lower() not in headings] == []


def test_every_alert_fires_and_stays_quiet_as_specified(rules):
    result = promtool("test", "rules", "cases.yml", cwd=str(rules.parent))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_covered_by_a_promtool_case(rules):
    with open(str(rules.parent / "cases.yml")) as handle:
        tested = {line.split(":", 1)[1].strip() for line in handle if line.strip().startswith("alertname:")}
    alerts = {line.split(":", 1)[1].strip() for line in rules.read_text().splitlines()
              if line.strip().startswith("- alert:")}
    assert alerts - tested == set()
