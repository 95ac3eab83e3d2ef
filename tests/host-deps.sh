#!/usr/bin/env bash
# Debian packages the test suite runs on the host (not the cluster's: see
# tests/cluster/lib.sh): redis-server/redis-tools for unit tests against a real
# server, shellcheck for ansible-test sanity, prometheus (promtool and a real
# Prometheus) for the monitoring tests, openssl to verify the certificates of
# tests/unit/test_tls.py, postgresql-15 for unit tests against a real
# PostgreSQL (the package's own cluster is not created: the tests make theirs).
# Installs only what is missing.
set -euo pipefail
packages=(redis-server redis-tools shellcheck prometheus openssl postgresql-15)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
  mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
fi
echo "installing host packages: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
