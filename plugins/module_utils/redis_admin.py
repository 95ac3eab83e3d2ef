# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Alertmanager++ data tier team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to a Redis/Valkey server through its CLI: INFO, BGSAVE, the RDB path.

The functions take a `cli(*args) -> str` callable that runs one command and
returns its raw reply, so the same logic runs against a pod (pod_cli, through
pod_exec) and, in the unit tests, against a real local redis-server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import re
import shlex
import time

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.errors import DatastoresError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import PodExecError
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_exec import run

BINARIES = {
    "redis": {"cli": "redis-cli", "check_rdb": "redis-check-rdb", "server": "redis-server",
              "benchmark": "redis-benchmark"},
    "valkey": {"cli": "valkey-cli", "check_rdb": "valkey-check-rdb", "server": "valkey-server",
               "benchmark": "valkey-benchmark"},
}


# Shell prelude: the first stdin line, when not empty, becomes REDISCLI_AUTH
# (read by redis-cli and valkey-cli), so no password is ever an argument.
AUTH_FROM_STDIN = 'IFS= read -r p; if [ -n "$p" ]; then REDISCLI_AUTH=$p; export REDISCLI_AUTH; fi; unset p; '
# Shell prelude: $tls holds the CLI's TLS options when the container mounts
# the instance's CA (redis_tls_enabled: the servers and Sentinels speak TLS
# only), else nothing. The pod, not the caller, says how to reach it.
TLS_CA_FILE = "/etc/redis-tls/ca.crt"
TLS_WHEN_MOUNTED = 'tls=""; if [ -r %s ]; then tls="--tls --cacert %s"; fi; ' % (TLS_CA_FILE, TLS_CA_FILE)


# Commands that only read: sent again when the exec carrying them broke off
# (a kubelet or API server dropping one stream must not fail a backup's polls).
READ_ONLY_COMMANDS = frozenset(("TIME", "LASTSAVE", "INFO", "PING", "DBSIZE", "ROLE"))
READ_ONLY_SUBCOMMANDS = frozenset((("CONFIG", "GET"), ("ACL", "LIST"), ("ACL", "WHOAMI")))
EXEC_ATTEMPTS = 3


class RedisAdminError(DatastoresError):
    """The server refused, failed, or could not be reached."""


def only_reads(args):
    """Whether the command `args` only reads, so that sending it twice changes nothing."""
    words = tuple(str(a).upper() for a in args[:2])
    return bool(words) and (words[0] in READ_ONLY_COMMANDS or words in READ_ONLY_SUBCOMMANDS)


def resend_reads(send, args, attempts=EXEC_ATTEMPTS, sleep=time.sleep):
    """send(), again (up to `attempts` calls) when its exec broke off and `args` only read."""
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except PodExecError:
            if attempt == attempts or not only_reads(args):
                raise
            sleep(0.5 * attempt)


def parse_info(text):
    """INFO output as a flat dict of strings (sections merged)."""
    info = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        info[key] = value
    return info


def keyspace(info):
    """{'db0': {'keys': 3, 'expires': 1}, ...} from a parsed INFO (keyspace section)."""
    result = {}
    for key, value in info.items():
        if key.startswith("db") and key[2:].isdigit():
            fields = dict(part.split("=", 1) for part in value.split(","))
            result[key] = {"keys": int(fields.get("keys", 0)), "expires": int(fields.get("expires", 0))}
    return result


def check_reply(reply, command):
    """Raise RedisAdminError for an error reply, with a hint for the common ones."""
    text = reply.strip()
    if text.startswith(("NOAUTH", "WRONGPASS")) or "AUTH failed" in text:
        raise RedisAdminError("authentication failed (wrong or missing password): %s" % text.splitlines()[0])
    if text.startswith(("ERR", "NOPERM", "LOADING", "MISCONF", "BUSY")):
        raise RedisAdminError("%s failed: %s" % (command, text.splitlines()[0]))
    return text


def cli_login(user):
    """The CLI's arguments naming the ACL user (none: the default user)."""
    return ["--user", user] if user else []


def run_pod_cli(configuration, namespace, pod, container, password, args, flavor="redis", port=6379, timeout=60,
                stdin=b"", user=None):
    """(rc, stdout bytes, stderr bytes) of redis-cli/valkey-cli with `args` in a pod, logged in as `user`.

    The password travels on the exec's stdin, first line, and reaches the CLI
    through its REDISCLI_AUTH environment variable: never a process argument.
    The rest of stdin (`-x` reads it) follows it.
    """
    command = (["sh", "-c", AUTH_FROM_STDIN + TLS_WHEN_MOUNTED + 'cli=$1; shift; exec "$cli" $tls "$@"', "sh",
                BINARIES[flavor]["cli"], "-p", str(port)] + cli_login(user))
    return run(configuration, namespace, pod, container, command + [str(a) for a in args],
               stdin_data=(password or "").encode("utf-8") + b"\n" + stdin, timeout=timeout)


def pod_cli(configuration, namespace, pod, container, password, flavor="redis", port=6379, timeout=60, user=None):
    """A cli(*args) callable running redis-cli/valkey-cli in a pod as `user`, returning the reply as text."""
    binary = BINARIES[flavor]["cli"]

    def send(args):
        return run_pod_cli(configuration, namespace, pod, container, password, args, flavor=flavor, port=port,
                           timeout=timeout, user=user)

    def cli(*args):
        rc, out, err = resend_reads(lambda: send(args), args)
        reply = out.decode("utf-8", "replace")
        errors = err.decode("utf-8", "replace")
        if "AUTH failed" in errors:
            raise RedisAdminError("authentication failed (wrong password): %s" % errors.strip().splitlines()[0])
        if rc != 0:
            raise RedisAdminError("%s %s exited %d: %s" % (binary, " ".join(shlex.quote(str(a)) for a in args),
                                                           rc, (errors or reply).strip()[:500]))
        return reply

    return cli


def wait_until_after(cli, moment, sleep=time.sleep, timeout=5.0):
    """Wait until the server clock is past `moment` (LASTSAVE has 1 s resolution)."""
    deadline = time.monotonic() + timeout
    while int(check_reply(cli("TIME"), "TIME").split()[0]) <= moment:
        if time.monotonic() > deadline:
            raise RedisAdminError("server clock did not move past %d" % moment)
        sleep(0.1)


def start_bgsave(cli):
    """Issue BGSAVE; return 'started' or 'scheduled'. A save already running cannot count as ours."""
    reply = cli("BGSAVE").strip()
    if "Background saving started" in reply:
        return "started"
    if "already in progress" in reply:
        return "busy"
    if "Another child process is active" in reply or "BGSAVE SCHEDULE" in reply:
        reply = cli("BGSAVE", "SCHEDULE").strip()
        if "scheduled" in reply or "started" in reply:
            return "scheduled"
    check_reply(reply, "BGSAVE")
    raise RedisAdminError("unexpected BGSAVE reply: %s" % reply[:200])


def bgsave_and_wait(cli, timeout=600, poll=0.2, sleep=time.sleep):
    """Take a new RDB snapshot and wait for it; return the parsed INFO persistence after it.

    Notes LASTSAVE, starts BGSAVE (waiting out a save already in progress, since
    it may predate our call; scheduling behind an AOF rewrite), then waits for a
    save newer than the noted one that ended with status ok.
    """
    before = int(check_reply(cli("LASTSAVE"), "LASTSAVE"))
    wait_until_after(cli, before, sleep=sleep)
    deadline = time.monotonic() + timeout
    state = start_bgsave(cli)
    seen_running = state == "started"
    while True:
        if time.monotonic() > deadline:
            raise RedisAdminError("no new RDB snapshot within %ds (BGSAVE %s)" % (timeout, state))
        info = parse_info(check_reply(cli("INFO", "persistence"), "INFO"))
        running = info.get("rdb_bgsave_in_progress") == "1"
        seen_running = seen_running or running
        if not running:
            if state == "busy":
                state = start_bgsave(cli)
                seen_running = state == "started"
                continue
            if int(info.get("rdb_last_save_time", 0)) > before and info.get("rdb_last_bgsave_status") == "ok":
                return info
            rewriting = info.get("aof_rewrite_in_progress") == "1"
            if seen_running and not rewriting and info.get("rdb_last_bgsave_status") == "err":
                raise RedisAdminError(
                    "BGSAVE failed (rdb_last_bgsave_status:err): the server could not write its RDB file; "
                    "check its log, free space and permissions of its data directory")
        sleep(poll)


def rdb_location(cli, shell):
    """(directory, file name) of the server's RDB, without relying on CONFIG.

    CONFIG may be disabled for the client. The server chdir()s to its `dir` at
    start, so /proc/<pid>/cwd is that directory; dbfilename comes from the
    config file (last occurrence) or the default dump.rdb.
    shell(script) runs a shell script in the server's container, returns stdout.
    """
    try:
        directory = check_reply(cli("CONFIG", "GET", "dir"), "CONFIG").splitlines()
        filename = check_reply(cli("CONFIG", "GET", "dbfilename"), "CONFIG").splitlines()
        if len(directory) == 2 and len(filename) == 2:
            return directory[1], filename[1]
    except RedisAdminError:
        pass
    info = parse_info(check_reply(cli("INFO", "server"), "INFO"))
    pid, config_file = info.get("process_id"), info.get("config_file", "")
    script = "readlink /proc/%s/cwd; " % shlex.quote(pid or "1")
    if config_file:
        script += "awk '$1 == \"dbfilename\" {f = $2} END {print f}' %s" % shlex.quote(config_file)
    lines = shell(script).splitlines()
    if not lines or not lines[0].startswith("/"):
        raise RedisAdminError("cannot find the server's data directory (process %s)" % pid)
    name = lines[1].strip('"') if len(lines) > 1 and lines[1] else "dump.rdb"
    return lines[0], name


# Sample values, binary-safe: key names never pass through a shell, an argument
# or a text decoder. The server reads them hex-encoded from the CLI's last
# argument (`-x`: stdin) and answers one ASCII line per key: the key in hex,
# the sha1 of its DUMP ("-" when the key does not exist) and its PTTL.
SAMPLE_LUA = """#!lua flags=no-writes
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end
local function unhex(h) return (h:gsub('..', function(x) return string.char(tonumber(x, 16)) end)) end
local function one(key)
  local dump = redis.call('DUMP', key)
  if not dump then return hex(key) .. ' - -2' end
  return hex(key) .. ' ' .. redis.sha1hex(dump) .. ' ' .. redis.call('PTTL', key)
end
local out, count = {}, tonumber(ARGV[1])
if count > 0 then
  for i = 1, count do
    local key = redis.call('RANDOMKEY')
    if key then out[#out + 1] = one(key) end
  end
else
  for word in string.gmatch(ARGV[2] or '', '%x+') do out[#out + 1] = one(unhex(word)) end
end
return out
"""
_SAMPLE_LINE = re.compile(r"^((?:[0-9a-f]{2})*) ([0-9a-f]{40}|-) (-?\d+)$")


def sample_values(run_cli, count=0, keys=()):
    """{key bytes: (sha1 of DUMP or None when missing, PTTL)}: `count` random keys, or exactly `keys`.

    run_cli(args, stdin_bytes) runs the CLI in the database to sample and
    returns its stdout (bytes). Random keys that vanish before they are read
    are not samples.
    """
    stdin = b" ".join(binascii.hexlify(key) for key in keys)
    out = run_cli(["-x", "EVAL", SAMPLE_LUA, "0", str(count)], stdin)
    samples = {}
    for line in out.decode("ascii", "replace").splitlines():
        if not line.strip():
            continue  # an empty reply prints one empty line
        match = _SAMPLE_LINE.match(line.strip())
        if not match:
            raise RedisAdminError("unexpected reply while sampling values: %s" % out[:300].decode("utf-8", "replace"))
        digest = None if match.group(2) == "-" else match.group(2)
        if count and digest is None:
            continue
        samples[binascii.unhexlify(match.group(1))] = (digest, int(match.group(3)))
    return samples


def key_text(key):
    """A key name for messages: printable ASCII as is, every other byte escaped."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\x%02x" % b for b in bytearray(key))
