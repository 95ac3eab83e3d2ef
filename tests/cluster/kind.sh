#!/usr/bin/env bash
# The same interface as cluster.sh, backed by kind where kind and a Docker
# engine exist. Untested on the project's own machines (no Docker engine):
# kept deliberately small. Images come from the registries your nodes reach.
set -euo pipefail
AMP_CACHE=${AMP_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/alertmanagerpp-datastores}
AMP_KUBECONFIG=${AMP_KUBECONFIG:-${AMP_CACHE}/kubeconfig}
NAME=${AMP_KIND_NAME:-alertmanagerpp}

case "${1:-}" in
  up)
    command -v kind >/dev/null || { echo "kind not found" >&2; exit 1; }
    mkdir -p "$(dirname "${AMP_KUBECONFIG}")"
    if ! kind get clusters 2>/dev/null | grep -qx "${NAME}"; then
      kind create cluster --name "${NAME}" --kubeconfig "${AMP_KUBECONFIG}" --wait 120s
    fi
    kind get kubeconfig --name "${NAME}" >"${AMP_KUBECONFIG}"
    ;;
  down) kind delete cluster --name "${NAME}" ;;
  status) kind get clusters 2>/dev/null | grep -qx "${NAME}" ;;
  kubeconfig) echo "${AMP_KUBECONFIG}" ;;
  *) echo "usage: $0 up|down|status|kubeconfig" >&2; exit 2 ;;
esac
