#!/usr/bin/env bash
# Runs every molecule scenario, two at a time: two lanes side by side, each
# running its scenarios one after another. Each scenario has a namespace and a
# molecule state of its own, so two can share the cluster; two lanes keep the
# pods' CPU requests within a 2-CPU node and the timings the drills measure
# honest. The longest scenarios start the two lanes (see the order below).
# A scenario that changes what the whole cluster holds (monitoring installs
# and removes the Prometheus Operator's CRDs, which every deploy looks for)
# runs alone, after the lanes.
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
  # Ordered so that the lanes, alternating, end about together (measured: the Sentinel scenarios and
  # postgresql ~7 minutes each, default ~5, restore ~4.5, lite ~3, backup and valkey ~2.5).
  for first in sentinel sentinel-valkey default postgresql; do
    [ -f "molecule/$first/molecule.yml" ] && scenarios+=("$first")
  done
  for dir in molecule/*/; do
    name=$(basename "$dir")
    [ -f "$dir/molecule.yml" ] || continue
    case " ${scenarios[*]} " in *" $name "*) continue ;; esac
    scenarios+=("$name")
  done
fi

# Scenarios that change cluster-wide objects: never beside another one.
solo=(monitoring)
is_solo() { case " ${solo[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
lanes=()
alone=()
for name in "${scenarios[@]}"; do
  if is_solo "$name"; then alone+=("$name"); else lanes+=("$name"); fi
done

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
for i in "${!lanes[@]}"; do
  if [ $((i % 2)) -eq 0 ]; then lane_a+=("${lanes[$i]}"); else lane_b+=("${lanes[$i]}"); fi
done

started=${SECONDS}
status_a=0
status_b=0
status_alone=0
if [ ${#lane_a[@]} -gt 0 ]; then
  run_lane "${lane_a[@]}" &
  pid_a=$!
  if [ ${#lane_b[@]} -gt 0 ]; then
    run_lane "${lane_b[@]}" || status_b=1
  fi
  wait "$pid_a" || status_a=1
fi
if [ ${#alone[@]} -gt 0 ]; then
  run_lane "${alone[@]}" || status_alone=1
fi
echo "== molecule: ${#scenarios[@]} scenarios in $((SECONDS - started))s" \
     "(lanes: ${lane_a[*]} | ${lane_b[*]}; alone after them: ${alone[*]})"
[ "$status_a" -eq 0 ] && [ "$status_b" -eq 0 ] && [ "$status_alone" -eq 0 ]
