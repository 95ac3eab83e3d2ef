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
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(set(defaults) - set(options)) == [], "defaults without an argument spec"
    undocumented = sorted(k for k, v in options.items() if not v.get("required") and k not in defaults)
    assert undocumented == [], "optional arguments without a default in defaults/main.yml"
    for name, spec in options.items():
        if name in defaults:
            assert spec.get("default") == defaults[name], f"{role}: default of {name} differs"
        assert spec.get("description"), f"{role}: {name} has no description"


@pytest.mark.parametrize("role", role_names())
def test_role_variables_carry_the_role_prefix(role):
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    prefix = role + "_"
    shared = {"profile"}
    # Roles other than redis take the instance's shared vocabulary (redis_*).
    assert sorted(k for k in options if k not in shared and not k.startswith(prefix)
                  and not k.startswith("redis_")) == []


def test_role_references_are_generated_from_the_specs():
    import subprocess
    import sys

    tool = ROLES.parent / "tools" / "role_docs.py"
    result = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
