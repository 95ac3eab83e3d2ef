"""postgresql.conf from variables: the tuned base, overrides, and which changes restart."""

import pathlib
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.postgresql_settings import (
    RESTART_PARAMETERS,
    SettingsError,
    conf_changes,
    conf_lines,
    parse_conf,
    settings,
)

from postgresql_server import BIN

REQUIRED = {"port": "5432", "data_directory": "/var/lib/postgresql/data/pgdata"}


def test_the_restart_list_is_the_installed_server_s_own():
    described = subprocess.run([str(BIN / "postgres"), "--describe-config"], capture_output=True, text=True,
                               check=True).stdout
    postmaster = set(line.split("\t")[0] for line in described.splitlines() if line.split("\t")[1] == "postmaster")
    assert RESTART_PARAMETERS == postmaster


def test_the_base_is_sized_from_the_memory_limit_and_the_volume():
    tuned = settings("1Gi", 100, "10Gi", REQUIRED, {})
    assert (tuned["shared_buffers"], tuned["effective_cache_size"], tuned["work_mem"]) == ("256MB", "768MB", "3932kB")
    assert (tuned["max_wal_size"], tuned["min_wal_size"], tuned["max_connections"]) == ("1280MB", "320MB", "100")
    small = settings("512Mi", 100, "1Gi", REQUIRED, {})
    assert (small["shared_buffers"], small["work_mem"], small["max_wal_size"]) == ("128MB", "1966kB", "256MB")
    # What a slot may hold back: a quarter of the volume, never less than max_wal_size.
    assert (tuned["max_slot_wal_keep_size"], small["max_slot_wal_keep_size"]) == ("2560MB", "256MB")


def test_overrides_win_over_the_base_and_the_role_s_own_parameters_are_refused():
    tuned = settings("1Gi", 100, "10Gi", REQUIRED, {"work_mem": "8MB", "jit": False, "pg_stat_statements.max": 5000})
    assert (tuned["work_mem"], tuned["jit"], tuned["pg_stat_statements.max"]) == ("8MB", "off", "5000")
    with pytest.raises(SettingsError, match="port is set by the role"):
        settings("1Gi", 100, "10Gi", REQUIRED, {"port": 1})
    with pytest.raises(SettingsError, match="not a parameter name"):
        settings("1Gi", 100, "10Gi", REQUIRED, {"work_mem = '1GB'\nfsync": "off"})
    with pytest.raises(SettingsError, match="spans lines"):
        settings("1Gi", 100, "10Gi", REQUIRED, {"application_name": "a\nfsync = off"})
    with pytest.raises(SettingsError, match="limits.memory"):
        settings("", 100, "10Gi", REQUIRED, {})
    with pytest.raises(SettingsError, match="at least 256Mi"):
        settings("200Mi", 100, "10Gi", REQUIRED, {})


def test_the_rendered_file_parses_back_and_changes_are_split_into_restart_and_reload():
    old = settings("1Gi", 100, "10Gi", REQUIRED, {"log_line_prefix": "it's %m "})
    text = "# comment\n" + "\n".join(conf_lines(old)) + "\n"
    assert parse_conf(text) == old
    new = dict(old, work_mem="8MB", shared_buffers="300MB", max_connections="120")
    assert conf_changes(text, new) == {"restart": ["max_connections", "shared_buffers"], "reload": ["work_mem"]}
    assert conf_changes(None, new) == {"restart": [], "reload": []}


def test_the_rendered_file_is_one_the_server_reads():
    # Read by an unprivileged user (the server refuses to run as root): not under pytest's private tmp_path.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="amp-pgconf-"))
    directory.chmod(0o755)
    paths = {"data_directory": str(directory), "hba_file": str(directory / "pg_hba.conf"),
             "ident_file": str(directory / "pg_ident.conf")}
    tuned = settings("1Gi", 100, "10Gi", paths, {"log_line_prefix": "it's %m "})
    conf = directory / "postgresql.conf"
    conf.write_text("\n".join(conf_lines(tuned)) + "\n")
    conf.chmod(0o644)
    checked = subprocess.run([str(BIN / "postgres"), "--config-file=%s" % conf, "-C", "shared_buffers"],
                             capture_output=True, text=True, check=False, user="nobody")
    assert checked.returncode == 0, checked.stderr
    shutil.rmtree(directory)
    assert checked.stdout.strip() == "32768"
