#!/usr/bin/env bash
# A real single-node Kubernetes 1.20 for the collection's tests, built only
# from Debian packages (no Docker engine, no container registry needed).
#
#   cluster.sh up            bring the cluster up (idempotent; fast when it runs)
#   cluster.sh down [--wipe] stop exactly what `up` started; --wipe also
#                            deletes cluster state (etcd, volumes, containers)
#   cluster.sh status        exit 0 when the API answers and the node is Ready
#   cluster.sh kubeconfig    print the kubeconfig path
#
# Cached outside the work tree in $AMP_CACHE (default
# ~/.cache/alertmanagerpp-datastores): the Kubernetes source and binaries, the
# image archives, and under run/ the live state (PID files, logs, etcd, certs).
# Must run as root (it starts containerd, kubelet and kube-proxy).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
source "${HERE}/lib.sh"

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

cmd_up() {
  require_root
  if cluster_healthy; then
    build_images  # a recipe that changed since the cluster came up
    ensure_images_imported
    log "cluster already up; kubeconfig: ${AMP_KUBECONFIG}"
    return 0
  fi
  install_host_packages
  build_kubernetes
  stop_cluster
  reset_runtime_state
  start_containerd
  # A fresh cluster starts with no container: also none a crash left behind.
  remove_all_containers
  release_pod_networks
  build_images
  ensure_images_imported
  start_control_plane
  wait_for_node_ready
  log "cluster up in ${SECONDS}s; kubeconfig: ${AMP_KUBECONFIG}"
}

cmd_down() {
  local wipe=false
  [[ "${1:-}" == "--wipe" ]] && wipe=true
  require_root
  stop_cluster
  if [[ "${wipe}" == true ]]; then
    wipe_state
  fi
  log "cluster down (wipe=${wipe})"
}

cmd_status() {
  if cluster_healthy; then
    log "cluster up; kubeconfig: ${AMP_KUBECONFIG}"
  else
    log "cluster not running (run: make cluster)"
    return 1
  fi
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) shift; cmd_down "$@" ;;
    status) cmd_status ;;
    kubeconfig) echo "${AMP_KUBECONFIG}" ;;
    *) usage ;;
  esac
}

main "$@"
