#!/usr/bin/env bash
# Runs the cluster tests in two lanes side by side, each a pytest process with
# its own files, temporary directory and log. Every test file works in
# namespaces of its own (named after its process), so two can share the
# cluster; two lanes keep the pods' CPU requests within a 2-CPU node and the
# timings the drills measure honest. Lane A starts with the longest file (the
# Sentinel set); lane B takes every file not named for lane A (lane A's list
# is chosen so that the two end about together: 29 minutes each in the last
# measured run).
#
# Usage: tests/cluster_lanes.sh <pytest binary> [pytest argument ...]
# Prints each lane's whole log when it ends; exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

pytest=$1
shift
lane_a=(test_sentinel.py test_security.py test_leaks.py test_rbac.py test_load_test.py)
lane_b=()
for path in tests/cluster/test_*.py; do
  file=$(basename "$path")
  case " ${lane_a[*]} " in *" $file "*) continue ;; esac
  lane_b+=("$file")
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_lane() {
  local name=$1 start=${SECONDS} outcome status=0
  shift
  mkdir -p "$logs/$name.tmp"
  if "$pytest" -q --basetemp "$logs/$name.tmp" "${@/#/tests/cluster/}" "${extra[@]}" >"$logs/$name.log" 2>&1; then
    outcome=passed
  else
    outcome=FAILED
    status=1
  fi
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  flock "$logs/stdout.lock" sh -c 'echo "== cluster tests, lane $1: $2 in $3s"; cat "$4"' \
    sh "$name" "$outcome" "$((SECONDS - start))" "$logs/$name.log"
  return "$status"
}

extra=("$@")
started=${SECONDS}
status=0
run_lane A "${lane_a[@]}" &
pid_a=$!
run_lane B "${lane_b[@]}" || status=1
wait "$pid_a" || status=1
echo "== cluster tests: two lanes in $((SECONDS - started))s (A: ${lane_a[*]} | B: ${lane_b[*]})"
exit "$status"
