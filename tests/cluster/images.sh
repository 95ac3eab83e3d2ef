# shellcheck shell=bash
# Container images built from Debian packages, without a registry: a root
# filesystem (debootstrap, or files from the host's packages), committed with
# buildah into an OCI archive under ${AMP_CACHE}/images, imported into
# containerd by ensure_images_imported. An archive is rebuilt only when its
# recipe changes. Sourced by lib.sh.

IMAGES_DIR="${AMP_CACHE}/images"
BUILDAH=(buildah --storage-driver vfs --root "${AMP_CACHE}/buildah/storage" --runroot "${AMP_RUN}/buildah")

# name|suite|packages|entrypoint (JSON)|user
IMAGE_RECIPES=(
  "${IMAGE_PREFIX}/redis:7-bookworm|bookworm|redis-server,redis-tools|[\"redis-server\"]|"
  "${IMAGE_PREFIX}/valkey:8-trixie|trixie|valkey-server,valkey-tools|[\"valkey-server\"]|"
  "${IMAGE_PREFIX}/redis-exporter:1.45-bookworm|bookworm|prometheus-redis-exporter|[\"/usr/bin/prometheus-redis-exporter\"]|65534"
  "${IMAGE_PREFIX}/busybox:1.35|busybox|-|[\"/bin/sh\"]|"
  "${IMAGE_PREFIX}/python:3.11-bookworm|bookworm|python3|[\"python3\"]|65534"
  "${IMAGE_PREFIX}/postgres:15-bookworm|bookworm|postgresql-15|[\"/usr/lib/postgresql/15/bin/postgres\"]|999"
  "${IMAGE_PREFIX}/postgres-exporter:0.11-bookworm|bookworm|prometheus-postgres-exporter|[\"/usr/bin/prometheus-postgres-exporter\"]|65534"
  "${PAUSE_IMAGE}|pause|-|[\"/pause\"]|65535"
)

recipe_id() {
  # Changes when the recipe or the functions that build every image change.
  { echo "$1"; declare -f make_debian_root make_busybox_root make_pause_root fixup_root commit_root; } \
    | sha256sum | cut -c1-16
}

make_debian_root() {
  local root="$1" suite="$2" packages="$3"
  mkdir -p "$(dirname "${root}")"
  debootstrap --variant=minbase --include="${packages}" "${suite}" "${root}" "$(debian_mirror)" \
    >"${root}.debootstrap.log" 2>&1 || die "debootstrap ${suite} failed; see ${root}.debootstrap.log"
  rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/* \
    "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}.debootstrap.log"
}

make_busybox_root() {
  local root="$1" applet
  mkdir -p "${root}/bin" "${root}/tmp"
  cp /bin/busybox "${root}/bin/busybox"
  for applet in $("${root}/bin/busybox" --list); do
    [[ -e "${root}/bin/${applet}" ]] || ln -s busybox "${root}/bin/${applet}"
  done
}

make_pause_root() {
  local root="$1"
  mkdir -p "${root}"
  gcc -Os -Wall -static -DVERSION=v3.4-alertmanagerpp \
    -o "${root}/pause" "${K8S_TREE}/build/pause/linux/pause.c"
}

fixup_root() {
  local root="$1" name="$2"
  case "${name}" in
    */postgres:*)
      # The pods run as uid/gid 999, the official image's postgres user:
      # initdb needs that uid in /etc/passwd. Debian's package made a cluster
      # and a self-signed key at install time; the pods make their own.
      chroot "${root}" groupmod -g 999 postgres
      chroot "${root}" usermod -u 999 -g 999 postgres
      chown -R 999:999 "${root}/var/lib/postgresql" "${root}/var/run/postgresql"
      rm -rf "${root}/var/lib/postgresql/15/main" "${root}/etc/postgresql/15/main" \
        "${root}/etc/ssl/private/ssl-cert-snakeoil.key" "${root}/etc/ssl/certs/ssl-cert-snakeoil.pem"
      ;;
  esac
}

commit_root() {
  local root="$1" name="$2" entrypoint="$3" user="$4" archive="$5" ctr
  ctr=$("${BUILDAH[@]}" from scratch)
  local mnt
  mnt=$("${BUILDAH[@]}" mount "${ctr}")
  cp -a "${root}/." "${mnt}/"
  "${BUILDAH[@]}" umount "${ctr}" >/dev/null
  "${BUILDAH[@]}" config --entrypoint "${entrypoint}" --cmd '[]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${user:+--user "${user}"} --label org.opencontainers.image.source=alertmanagerpp.datastores \
    "${ctr}"
  "${BUILDAH[@]}" commit --quiet --format oci --rm "${ctr}" "oci-archive:${archive}.tmp:${name}" >/dev/null
  mv "${archive}.tmp" "${archive}"
}

build_image() {
  local recipe="$1" name suite packages entrypoint user id archive root
  IFS='|' read -r name suite packages entrypoint user <<<"${recipe}"
  id=$(recipe_id "${recipe}")
  archive="${IMAGES_DIR}/$(basename "${name}" | tr ':' '_')-${id}.oci.tar"
  [[ -f "${archive}" ]] && return 0
  log "building image ${name}"
  root="${AMP_CACHE}/rootfs/$(basename "${name}" | tr ':' '_')"
  rm -rf "${root}" "${IMAGES_DIR}/$(basename "${name}" | tr ':' '_')"-*
  case "${suite}" in
    busybox) make_busybox_root "${root}" ;;
    pause) make_pause_root "${root}" ;;
    *) make_debian_root "${root}" "${suite}" "${packages}" ;;
  esac
  fixup_root "${root}" "${name}"
  echo "${name}" >"${archive%.oci.tar}.name"
  commit_root "${root}" "${name}" "${entrypoint}" "${user}" "${archive}"
  rm -rf "${root}"
}

build_all_images() {
  mkdir -p "${IMAGES_DIR}" "${AMP_RUN}/buildah"
  local recipe
  for recipe in "${IMAGE_RECIPES[@]}"; do
    build_image "${recipe}"
  done
}
