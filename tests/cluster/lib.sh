# shellcheck shell=bash
# Functions behind cluster.sh. Every step checks before it acts, so a second
# `up` only verifies; every process started is recorded in a PID file under
# ${AMP_RUN} and stopped by that PID (or its process group), never by name.

AMP_CACHE=${AMP_CACHE:-${XDG_CACHE_HOME:-${HOME}/.cache}/alertmanagerpp-datastores}
AMP_STATE=${AMP_STATE:-${AMP_CACHE}/state}
AMP_RUN=${AMP_RUN:-/run/alertmanagerpp-cluster}
AMP_KUBECONFIG=${AMP_KUBECONFIG:-${AMP_CACHE}/kubeconfig}
AMP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

K8S_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
K8S_TREE="${AMP_CACHE}/src/kubernetes-1.20.2"
K8S_BIN="${K8S_TREE}/_output/bin"
K8S_COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

CONTAINERD_SOCK="${AMP_RUN}/containerd.sock"
CNI_CONF_DIR="${AMP_STATE}/cni/net.d"
POD_SUBNET="10.1.0.0/24"
CLUSTER_CIDR="10.1.0.0/16"
IMAGE_PREFIX="localhost/alertmanagerpp"
PAUSE_IMAGE="${IMAGE_PREFIX}/pause:3.4"

HOST_PACKAGES=(
  golang-go rsync make gcc libc6-dev dpkg-dev patch curl openssl
  etcd-server containerd runc containernetworking-plugins
  iptables conntrack socat golang-cfssl iproute2 procps
  debootstrap buildah busybox-static jq
)

log() { printf '[cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (starts containerd, kubelet, kube-proxy)"
}

kubectl_local() {
  "${K8S_BIN}/kubectl" --kubeconfig "${AMP_KUBECONFIG}" "$@"
}

ctr_local() {
  ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io "$@"
}

# ---------------------------------------------------------------- packages --

debian_mirror() {
  # The Debian archive the host's apt already uses, so nothing names a host.
  if [[ -n "${AMP_DEBIAN_MIRROR:-}" ]]; then
    echo "${AMP_DEBIAN_MIRROR}"
    return
  fi
  local uri
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && u && $0 !~ /security/ {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z "${uri}" ]]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [[ -n "${uri}" ]] || die "no Debian mirror found in apt sources; set AMP_DEBIAN_MIRROR"
  echo "${uri}"
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || echo "${pkg}"
  done
}

install_host_packages() {
  local missing
  mapfile -t missing < <(missing_packages "${HOST_PACKAGES[@]}")
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  log "installing host packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# -------------------------------------------------------------- kubernetes --

fetch_kubernetes_source() {
  [[ -f "${K8S_TREE}/hack/local-up-cluster.sh" ]] && return 0
  local src="${AMP_CACHE}/src" list=/etc/apt/sources.list.d/alertmanagerpp-bookworm-src.sources
  mkdir -p "${src}"
  if [[ ! -f "${list}" ]]; then
    log "adding a deb-src entry for bookworm (${list})"
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$(debian_mirror)" >"${list}"
  fi
  apt-get update -qq
  log "downloading Debian's kubernetes ${K8S_DEB_VERSION} source (34 MB)"
  (cd "${src}" && apt-get source --download-only "kubernetes=${K8S_DEB_VERSION}" >/dev/null)
  rm -rf "${K8S_TREE}.tmp"
  dpkg-source -x "${src}/kubernetes_${K8S_DEB_VERSION}.dsc" "${K8S_TREE}.tmp" >/dev/null
  mv "${K8S_TREE}.tmp" "${K8S_TREE}"
}

apply_test_patches() {
  local patch stamp
  for patch in "${AMP_HERE}"/patches/*.patch; do
    stamp="${K8S_TREE}/.applied-$(basename "${patch}")"
    [[ -f "${stamp}" ]] && continue
    if ! patch -d "${K8S_TREE}" -p1 -R --dry-run --quiet <"${patch}" >/dev/null 2>&1; then
      log "patching the test cluster: $(basename "${patch}")"
      patch -d "${K8S_TREE}" -p1 --forward --quiet <"${patch}"
    fi
    cp "${patch}" "${stamp}"
  done
}

kubernetes_built() {
  local c stamp
  for c in ${K8S_COMPONENTS}; do
    [[ -x "${K8S_BIN}/${c}" ]] || return 1
  done
  # A patch applied after the last build (its stamp is newer) needs a rebuild.
  for stamp in "${K8S_TREE}"/.applied-*; do
    [[ -e "${stamp}" && "${stamp}" -nt "${K8S_BIN}/kube-apiserver" ]] && return 1
  done
  return 0
}

build_kubernetes() {
  fetch_kubernetes_source
  apply_test_patches
  kubernetes_built && return 0
  local what="" c
  for c in ${K8S_COMPONENTS}; do what+="cmd/${c} "; done
  log "building Kubernetes 1.20.2 from source (about 7 minutes on 2 cores)"
  # rsync must exist or the build fails with a misleading "Permission denied".
  (cd "${K8S_TREE}" && CGO_ENABLED=0 make WHAT="${what% }" >"${AMP_CACHE}/build.log" 2>&1) ||
    die "kubernetes build failed; see ${AMP_CACHE}/build.log"
  # go leaves unchanged binaries untouched: mark all as newer than the patches.
  for c in ${K8S_COMPONENTS}; do touch "${K8S_BIN}/${c}"; done
}

# -------------------------------------------------------------- processes --

# A PID file may outlive its process (a killed session, no reboot) and the
# number be reused: a PID counts as ours only while its command line names our
# state directory, which every daemon we start has in its arguments.
pid_alive() {
  local file="$1" pid
  [[ -f "${file}" ]] || return 1
  pid=$(<"${file}")
  [[ -n "${pid}" ]] && tr '\0' ' ' 2>/dev/null <"/proc/${pid}/cmdline" | grep -qF "${AMP_STATE}"
}

group_alive() {
  # The group leader (local-up-cluster.sh) exits once the daemons run.
  local file="$1" pgid
  [[ -f "${file}" ]] || return 1
  pgid=$(<"${file}")
  [[ -n "${pgid}" ]] && pgrep -g "${pgid}" -f "${AMP_STATE}" >/dev/null
}

stop_by_pidfile() {
  # $1: PID file; $2: "group" to signal the whole process group it names.
  local file="$1" mode="${2:-}" pid target
  [[ -f "${file}" ]] || return 0
  pid=$(<"${file}")
  target="${pid}"
  [[ "${mode}" == group ]] && target="-${pid}"
  if { [[ "${mode}" == group ]] && group_alive "${file}"; } || pid_alive "${file}"; then
    log "stopping $(basename "${file}" .pid) (${mode:-pid} ${pid})"
    kill -TERM -- "${target}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 -- "${target}" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "${target}" 2>/dev/null || true
  fi
  rm -f "${file}"
}

# -------------------------------------------------------------- containerd --

write_containerd_config() {
  mkdir -p "${AMP_STATE}/containerd" "${AMP_RUN}" "${CNI_CONF_DIR}"
  cat >"${AMP_STATE}/containerd/config.toml" <<EOF
version = 2
root = "${AMP_STATE}/containerd/root"
state = "${AMP_RUN}/containerd"

[grpc]
  address = "${CONTAINERD_SOCK}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Pod network namespaces under our state dir, so that down can release exactly ours.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${CNI_CONF_DIR}"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      # Sandbox-only: see runc-clamp-oom for why.
      BinaryName = "${AMP_HERE}/runc-clamp-oom"
EOF
  cat >"${CNI_CONF_DIR}/10-alertmanagerpp.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "alertmanagerpp",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "amp0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${AMP_STATE}/cni/ipam",
        "ranges": [[{"subnet": "${POD_SUBNET}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

start_containerd() {
  pid_alive "${AMP_RUN}/containerd.pid" && return 0
  write_containerd_config
  # Pod traffic over the bridge must pass iptables for Services to work.
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1 || true
  log "starting containerd"
  setsid containerd --config "${AMP_STATE}/containerd/config.toml" \
    >"${AMP_STATE}/logs/containerd.log" 2>&1 </dev/null &
  echo $! >"${AMP_RUN}/containerd.pid"
  for _ in $(seq 1 100); do
    ctr --address "${CONTAINERD_SOCK}" version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "containerd did not start; see ${AMP_STATE}/logs/containerd.log"
}

remove_all_containers() {
  # Containers outlive containerd (their shims are separate processes).
  local id
  for id in $(ctr_local tasks ls -q 2>/dev/null); do
    ctr_local tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
    ctr_local tasks delete -f "${id}" >/dev/null 2>&1 || true
  done
  for id in $(ctr_local containers ls -q 2>/dev/null); do
    ctr_local containers delete "${id}" >/dev/null 2>&1 || true
  done
}

# ------------------------------------------------------------------ images --

build_images() {
  # shellcheck source=tests/cluster/images.sh
  source "${AMP_HERE}/images.sh"
  build_all_images
}

ensure_images_imported() {
  local archive name have
  have=$(ctr_local images ls -q 2>/dev/null || true)
  for archive in "${AMP_CACHE}"/images/*.oci.tar; do
    [[ -f "${archive}" ]] || continue
    name=$(<"${archive%.oci.tar}.name")
    grep -qxF "${name}" <<<"${have}" && continue
    log "importing ${name}"
    ctr_local images import "${archive}" >/dev/null
  done
}

# ----------------------------------------------------------- control plane --

write_sudo_shim() {
  # local-up-cluster.sh calls sudo; as root we only drop sudo's options.
  mkdir -p "${AMP_RUN}/shim"
  cat >"${AMP_RUN}/shim/sudo" <<'EOF'
#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in -*) shift ;; *) break ;; esac
done
exec "$@"
EOF
  chmod +x "${AMP_RUN}/shim/sudo"
}

start_control_plane() {
  write_sudo_shim
  mkdir -p "${AMP_STATE}/logs" "${AMP_STATE}/certs"
  log "starting etcd and Kubernetes (local-up-cluster.sh)"
  # setsid: every daemon the script starts stays in this process group, so
  # `down` stops exactly them with one signal to the group.
  (
    cd "${K8S_TREE}"
    export PATH="${AMP_RUN}/shim:${K8S_BIN}:${PATH}"
    export ENABLE_DAEMON=true CONTAINER_RUNTIME=remote \
      CONTAINER_RUNTIME_ENDPOINT="unix://${CONTAINERD_SOCK}" \
      KUBE_ENABLE_CLUSTER_DNS=false ENABLE_HOSTPATH_PROVISIONER=true \
      ALLOW_PRIVILEGED=true LOG_DIR="${AMP_STATE}/logs" \
      CERT_DIR="${AMP_STATE}/certs" ETCD_DIR="${AMP_STATE}/etcd" \
      ETCD_LOGFILE="${AMP_STATE}/logs/etcd.log" CLUSTER_CIDR="${CLUSTER_CIDR}" \
      NET_PLUGIN=cni CNI_CONF_DIR="${CNI_CONF_DIR}" CNI_BIN_DIR=/usr/lib/cni \
      KUBECTL="${K8S_BIN}/kubectl"
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ \
      "${AMP_RUN}/control-plane.pid" hack/local-up-cluster.sh -O
  ) >"${AMP_STATE}/logs/local-up-cluster.log" 2>&1 </dev/null ||
    die "local-up-cluster.sh failed; see ${AMP_STATE}/logs/local-up-cluster.log"
  install -m 0600 "${AMP_STATE}/certs/admin.kubeconfig" "${AMP_KUBECONFIG}"
}

wait_for_node_ready() {
  for _ in $(seq 1 120); do
    if kubectl_local get nodes -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True &&
      kubectl_local get serviceaccount default >/dev/null 2>&1 &&
      kubectl_local get storageclass standard >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  die "node not Ready after 120 s; see ${AMP_STATE}/logs/kubelet.log"
}

cluster_healthy() {
  pid_alive "${AMP_RUN}/containerd.pid" || return 1
  group_alive "${AMP_RUN}/control-plane.pid" || return 1
  [[ -x "${K8S_BIN}/kubectl" && -f "${AMP_KUBECONFIG}" ]] || return 1
  kubectl_local get --raw /readyz >/dev/null 2>&1 || return 1
  kubectl_local get nodes -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True
}

stop_cluster() {
  stop_by_pidfile "${AMP_RUN}/control-plane.pid" group
  if pid_alive "${AMP_RUN}/containerd.pid"; then
    remove_all_containers
  fi
  stop_by_pidfile "${AMP_RUN}/containerd.pid"
  release_pod_networks
  unmount_kubelet_volumes
}

release_pod_networks() {
  # Killing containers through ctr bypasses CRI, which would have removed each
  # pod's network namespace: it stays mounted with its veth and IP on the
  # bridge, and the next cluster would hand that IP out again (two pods, one
  # address). Remove our namespaces (kept under our state dir); that deletes
  # their veths.
  local netns
  for netns in "${AMP_RUN}"/containerd/io.containerd.grpc.v1.cri/netns/*; do
    [[ -e "${netns}" ]] || continue
    umount "${netns}" 2>/dev/null || umount -l "${netns}" 2>/dev/null || true
    rm -f "${netns}"
  done
}

# Every mount below a directory, deepest first (pod volumes, sandbox shm).
unmount_below() {
  local prefix="$1" mnt
  for mnt in $(findmnt -rn -o TARGET 2>/dev/null | awk -v p="${prefix}/" 'index($0, p) == 1' | sort -r); do
    umount "${mnt}" 2>/dev/null || umount -l "${mnt}" 2>/dev/null || true
  done
}

unmount_kubelet_volumes() {
  unmount_below /var/lib/kubelet/pods
}

reset_runtime_state() {
  # Each `up` starts a fresh cluster: new etcd, certs, pod IPs and kubelet state.
  rm -rf "${AMP_STATE}/etcd" "${AMP_STATE}/certs" "${AMP_STATE}/cni/ipam" /var/lib/kubelet/pods
  mkdir -p "${AMP_STATE}/logs" "${AMP_RUN}"
  rm -f "${AMP_KUBECONFIG}"
}

wipe_state() {
  log "wiping ${AMP_STATE}, ${AMP_RUN} and host-path volumes"
  unmount_below "${AMP_RUN}"
  rm -rf "${AMP_STATE}" "${AMP_RUN}" /tmp/hostpath_pv /var/lib/kubelet/pods "${AMP_KUBECONFIG}"
}
