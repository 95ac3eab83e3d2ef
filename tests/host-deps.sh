#!/usr/bin/env bash
# Debian packages the test suite runs on the host (not the cluster's: see
# tests/cluster/lib.sh): redis-server/redis-tools for unit tests against a real
# server, shellcheck for ansible-test sanity, prometheus (promtool and a real
# Prometheus) for the monitoring tests, openssl to verify the certificates of
# tests/unit/test_tls.py. Installs only what is missing.
set -euo pipefail
packages=(redis-server redis-tools shellcheck prometheus openssl)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "installing host packages: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
