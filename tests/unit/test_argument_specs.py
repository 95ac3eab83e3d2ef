"""Every role's defaults and argument spec describe the same variables."""

import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"


def role_names():
    return sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", role_names())
def test_defaults_and_argument_specs_agree(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    entry_points = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    options = {}
    for entry_point in entry_points.values():  # a default may serve another entry point than main
        options.update(entry_point.get("options") or {})
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec"
    undocumented = sorted(k for k, v in entry_points["main"]["options"].items()
                          if not v.get("required") and k not in defaults)
    assert undocumented == [], "optional arguments without a default in defaults/main.yml"
    for name, spec in options.items():
        if name in defaults:
            assert spec.get("default") == defaults[name], f"{role}: default of {name} differs"
        assert spec.get("description"), f"{role}: {name} has no description"


# Each store's roles share its instance role's vocabulary: redis_* for Redis/Valkey, postgresql_* for PostgreSQL.
INSTANCE_ROLES = ("redis_instance", "postgresql_instance")


def instance_role(role):
    """The instance role a role depends on: the one of its store (the first word of its name)."""
    return role.split("_")[0] + "_instance"


def vocabulary(instance):
    return set(load(ROLES / instance / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"])


@pytest.mark.parametrize("role", role_names())
def test_role_variables_carry_the_role_prefix(role):
    """A role's own variables carry its prefix; the instance's vocabulary is the one exception."""
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    own = set(options) - {"profile"} - (vocabulary(role) if role in INSTANCE_ROLES else set())
    assert sorted(k for k in own if not k.startswith(role + "_")) == []


@pytest.mark.parametrize("role", [r for r in role_names() if r not in INSTANCE_ROLES])
def test_the_instance_vocabulary_is_defined_once(role):
    """Every other role depends on its store's instance role and declares none of its variables again."""
    instance = instance_role(role)
    meta = load(ROLES / role / "meta" / "main.yml")
    assert {"role": "alertmanagerpp.datastores." + instance} in meta["dependencies"]
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(ROLES / role / "defaults" / "main.yml")
    assert sorted(vocabulary(instance) & (set(options) | set(defaults))) == []


def test_no_line_silences_the_role_prefix_rule_but_profile():
    """The CLI's -e profile=... is the only variable a role shares without the prefix (besides the vocabulary)."""
    for path in ROLES.glob("*/*/*.yml"):
        for line in path.read_text().splitlines():
            if "noqa: var-naming" in line:
                assert line.startswith("profile:"), "%s: %s" % (path, line)


def test_role_references_are_generated_from_the_specs():
    import subprocess
    import sys

    tool = ROLES.parent / "tools" / "role_docs.py"
    result = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
