#!/usr/bin/env bash
# Runs the cluster tests in two lanes side by side. Every test file works in
# namespaces of its own (named after its process), so two can share the
# cluster; two lanes keep the pods' CPU requests within a 2-CPU node and the
# timings the drills measure honest. The lanes take the files from one queue,
# the longest first, each file a pytest process with its own temporary
# directory and log: a lane that finishes a file takes the next one, so the two
# end together however the files' times change (a fixed split of the files
# once ended 3 minutes apart, and drifted as files grew).
#
# Usage: tests/cluster_lanes.sh <pytest binary> [pytest argument ...]
# Prints each file's log when it ends, then every file's time; exits non-zero
# when any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

pytest=$1
shift
extra=("$@")

# The longest files first (as measured in CI runs), then any other file.
longest=(test_sentinel.py test_tls.py test_rbac.py test_postgresql_backup.py test_postgresql_restore_interrupts.py
         test_leaks.py test_postgresql_restore.py test_rotation.py test_postgresql.py test_load_test.py
         test_restore_interrupts.py test_module_errors.py test_restore_faults.py test_crash_drill.py)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

queue_files() {
  local path file
  for file in "${longest[@]}"; do
    [ -f "tests/cluster/$file" ] && echo "$file"
  done
  for path in tests/cluster/test_*.py; do
    file=$(basename "$path")
    case " ${longest[*]} " in *" $file "*) continue ;; esac
    echo "$file"
  done
}

# Prints the next file of the queue and removes it (nothing once it is empty).
take_next() {
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  flock "$logs/queue.lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' sh "$logs/queue"
}

run_file() {
  local lane=$1 file=$2 start=${SECONDS} outcome status=0
  mkdir -p "$logs/$file.tmp"
  "$pytest" -q --basetemp "$logs/$file.tmp" "tests/cluster/$file" "${extra[@]}" >"$logs/$file.log" 2>&1
  case $? in
    0) outcome=passed ;;
    5) outcome="no test selected" ;;  # pytest's code when -k or -m leave none of the file's tests
    *) outcome=FAILED status=1 ;;
  esac
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  flock "$logs/stdout.lock" sh -c 'echo "== cluster tests, lane $1, $2: $3 in $4s"; cat "$5"' \
    sh "$lane" "$file" "$outcome" "$((SECONDS - start))" "$logs/$file.log"
  echo "$((SECONDS - start)) $file $outcome (lane $lane)" >>"$logs/times"
  return "$status"
}

run_lane() {
  local lane=$1 file status=0
  while file=$(take_next) && [ -n "$file" ]; do
    run_file "$lane" "$file" || status=1
  done
  return "$status"
}

queue_files >"$logs/queue"
started=${SECONDS}
status=0
run_lane A &
pid_a=$!
run_lane B || status=1
wait "$pid_a" || status=1
echo "== cluster tests: two lanes in $((SECONDS - started))s; each file's seconds, the longest first:"
sort -rn "$logs/times"
exit "$status"
