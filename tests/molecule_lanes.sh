#!/usr/bin/env bash
# Runs every molecule scenario, two at a time: two lanes side by side, each
# running its scenarios one after another. Each scenario has a namespace and a
# molecule state of its own, so two can share the cluster; two lanes keep the
# pods' CPU requests within a 2-CPU node and the timings the drills measure
# honest. The two Sentinel scenarios, the longest, start the two lanes.
#
# Usage: tests/molecule_lanes.sh <molecule binary> [scenario ...]
# Prints each scenario's whole log when it ends; exits non-zero when any failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

molecule=$1
shift
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  scenarios=()
  for first in sentinel sentinel-valkey; do
    [ -f "molecule/$first/molecule.yml" ] && scenarios+=("$first")
  done
  for dir in molecule/*/; do
    name=$(basename "$dir")
    [ -f "$dir/molecule.yml" ] || continue
    case " ${scenarios[*]} " in *" $name "*) continue ;; esac
    scenarios+=("$name")
  done
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_lane() {
  local status=0 name start outcome
  for name in "$@"; do
    start=${SECONDS}
    if "$molecule" test -s "$name" >"$logs/$name.log" 2>&1; then outcome=passed; else outcome=FAILED; status=1; fi
    # One scenario's log at a time on stdout, never interleaved with the other lane's.
    # shellcheck disable=SC2016 # the inner shell expands its own arguments
    flock "$logs/stdout.lock" sh -c 'echo "== molecule scenario $1: $2 in $3s"; cat "$4"' \
      sh "$name" "$outcome" "$((SECONDS - start))" "$logs/$name.log"
  done
  return "$status"
}

lane_a=()
lane_b=()
for i in "${!scenarios[@]}"; do
  if [ $((i % 2)) -eq 0 ]; then lane_a+=("${scenarios[$i]}"); else lane_b+=("${scenarios[$i]}"); fi
done

started=${SECONDS}
run_lane "${lane_a[@]}" &
pid_a=$!
status_b=0
if [ ${#lane_b[@]} -gt 0 ]; then
  run_lane "${lane_b[@]}" || status_b=1
fi
status_a=0
wait "$pid_a" || status_a=1
echo "== molecule: ${#scenarios[@]} scenarios in $((SECONDS - started))s" \
     "(lanes: ${lane_a[*]} | ${lane_b[*]})"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ]
