#!/usr/bin/env bash
# Runs the tests that need the cluster (the pytest files of tests/cluster and
# the molecule scenarios) in lanes side by side. Every test file and scenario
# works in namespaces of its own, so several share the cluster. The lanes take
# their items from one queue, the longest first (times measured in CI runs,
# below), each item a process with its own log: a lane that finishes one takes
# the next, so the lanes end together however the items' times change. A
# scenario that changes what the whole cluster holds (monitoring installs and
# removes the Prometheus Operator's CRDs, which every deploy looks for) runs
# alone, after the lanes.
#
# Two lanes kept the node's two CPUs about 70 % busy (sampled from
# /proc/stat every 30 s: 43-97 %); `make test` runs three, which fill the idle
# part: every item in 58 min (2026-12-07, fresh clone), where two lanes, the
# test files first and the scenarios after them, took 65 min for fewer items.
# A file took 3-50 % longer beside two others than beside one. Every pod's
# CPU request in the tests is small enough for three lanes on one 2-CPU node.
#
# Usage: tests/lanes.sh [--lanes N] [--pytest BIN] [--molecule BIN] [--scenarios "a b"] [-- pytest argument ...]
#   --pytest BIN      the cluster test files join the queue, run by BIN with the pytest arguments
#   --molecule BIN    the molecule scenarios join it (all, or those of --scenarios)
# Prints each item's log when it ends, then every item's time, then what failed;
# exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

lanes=2
pytest=""
molecule=""
scenarios=""
while [ $# -gt 0 ]; do
  case $1 in
    --lanes) lanes=$2; shift 2 ;;
    --pytest) pytest=$2; shift 2 ;;
    --molecule) molecule=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "tests/lanes.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
pytest_args=("$@")
if [ -z "$pytest" ] && [ -z "$molecule" ]; then
  echo "tests/lanes.sh: nothing to run: give --pytest and/or --molecule" >&2
  exit 2
fi

# Seconds each item took in CI (three lanes, 2026-12-07); an item not listed counts 60.
known_seconds() {
  case $1 in
    cluster:test_sentinel.py) echo 1098 ;;
    cluster:test_tls.py) echo 866 ;;
    cluster:test_rbac.py) echo 777 ;;
    molecule:postgresql) echo 694 ;;
    cluster:test_postgresql_backup.py) echo 664 ;;
    molecule:sentinel-valkey) echo 571 ;;
    molecule:sentinel) echo 500 ;;
    molecule:default) echo 481 ;;
    cluster:test_postgresql_restore_interrupts.py) echo 420 ;;
    cluster:test_leaks.py) echo 412 ;;
    molecule:restore) echo 348 ;;
    molecule:lite) echo 292 ;;
    cluster:test_load_test.py) echo 287 ;;
    cluster:test_postgresql.py) echo 281 ;;
    cluster:test_postgresql_restore.py) echo 255 ;;
    molecule:valkey) echo 250 ;;
    cluster:test_rotation.py) echo 243 ;;
    molecule:backup) echo 236 ;;
    cluster:test_restore_interrupts.py) echo 235 ;;
    molecule:monitoring) echo 231 ;;
    cluster:test_restore_faults.py) echo 184 ;;
    cluster:test_module_errors.py) echo 155 ;;
    cluster:test_crash_drill.py) echo 137 ;;
    cluster:test_volume_expansion.py) echo 126 ;;
    cluster:test_security.py) echo 81 ;;
    *) echo 60 ;;
  esac
}

# Scenarios that change cluster-wide objects: never beside anything else.
is_solo() { case $1 in molecule:monitoring) return 0 ;; esac; return 1; }

all_items() {
  local path name
  if [ -n "$pytest" ]; then
    for path in tests/cluster/test_*.py; do echo "cluster:$(basename "$path")"; done
  fi
  if [ -n "$molecule" ]; then
    if [ -n "$scenarios" ]; then
      for name in $scenarios; do echo "molecule:$name"; done
    else
      for path in molecule/*/molecule.yml; do echo "molecule:$(basename "$(dirname "$path")")"; done
    fi
  fi
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

while read -r item; do
  if is_solo "$item"; then
    echo "$item" >>"$logs/alone"
  else
    echo "$(known_seconds "$item") $item"
  fi
done < <(all_items) | sort -rn -k1,1 | cut -d' ' -f2 >"$logs/queue"
touch "$logs/alone" "$logs/times"

# Prints the next item of the queue and removes it (nothing once it is empty).
take_next() {
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  flock "$logs/queue.lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' sh "$logs/queue"
}

# A few lines that say what failed in an item's log: CI shows only the end of
# the output, where the whole log of a failed item is far above.
failure_digest() {
  local item=$1 log=$2
  echo "== $item FAILED:"
  case $item in
    cluster:*) grep -E '^(FAILED|ERROR) ' "$log" | head -n 8 ;;
    molecule:*) grep -E 'fatal: |FAILED! |failed=[1-9]|CRITICAL' "$log" | head -n 8 ;;
  esac | cut -c 1-400
}

run_item() {
  local lane=$1 item=$2 start=${SECONDS} outcome status=0 name=${2#*:} log="$logs/${2/:/-}.log"
  case $item in
    cluster:*)
      mkdir -p "$logs/$name.tmp"
      # Wide: pytest cuts its summary's FAILED lines (the digest's) to the terminal's width.
      COLUMNS=400 "$pytest" -q --basetemp "$logs/$name.tmp" "tests/cluster/$name" "${pytest_args[@]}" >"$log" 2>&1 ;;
    molecule:*)
      "$molecule" test -s "$name" >"$log" 2>&1 ;;
  esac
  case $? in
    0) outcome=passed ;;
    5) outcome="no test selected" ;;  # pytest's code when -k or -m leave none of the file's tests
    *) outcome=FAILED status=1 ;;
  esac
  # One item's log at a time on stdout, never interleaved with another lane's.
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  flock "$logs/stdout.lock" sh -c 'echo "== lane $1, $2: $3 in $4s"; cat "$5"' \
    sh "$lane" "$item" "$outcome" "$((SECONDS - start))" "$log"
  echo "$((SECONDS - start)) $item $outcome (lane $lane)" >>"$logs/times"
  [ "$status" = 0 ] || failure_digest "$item" "$log" >"$logs/${item/:/-}.failed"
  return "$status"
}

run_lane() {
  local lane=$1 item status=0
  while item=$(take_next) && [ -n "$item" ]; do
    run_item "$lane" "$item" || status=1
  done
  return "$status"
}

started=${SECONDS}
status=0
pids=()
for lane in $(seq 1 "$lanes"); do
  run_lane "$lane" &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
while read -r item; do
  run_item alone "$item" || status=1
done <"$logs/alone"
echo "== $lanes lanes and the items alone after them in $((SECONDS - started))s; each item's seconds, the longest first:"
sort -rn "$logs/times"
cat "$logs"/*.failed 2>/dev/null
exit "$status"
