#!/usr/bin/env bash
# Checks the image the nightly jobs run (Dockerfile), where no container registry is reachable:
#
#   scripts/check-image.sh --copy-set   only that the files the build stage copies load as a
#                                       workspace (`cargo metadata --no-deps --offline` on a copy)
#   scripts/check-image.sh              that, then the whole image: built with podman as
#                                       localhost/capcache:check, then capcache run inside it
#
# The whole check installs podman and debootstrap (Debian's packages) when missing, makes the base
# images itself: a minimal Debian ($SUITE, debootstrapped from $MIRROR) for the runtime stage, and
# the same with gcc and this machine's Rust toolchain and crate cache for the build stage, passed to
# the Dockerfile as build arguments. It builds with `pm build --isolation chroot` (RUN steps
# run on this machine), then mounts the image's file system (`podman image mount`) and runs, as
# the image's non-root user (chroot --userspec), `capcache get facebook/opt-125m` and
# `refresh-db.sh --help`. It prints the image's size and the build's time.
#
# Everything the check makes stays under WORK: the root file systems, podman's image store (its own,
# not the machine's: `podman --root $WORK/storage images` lists localhost/capcache:check), and
# buildah's temporary files and cache mounts (TMPDIR). On exit, even a failed or interrupted one,
# it unmounts the image and removes a build's leftover working containers. Delete WORK to start
# cold; a rerun reuses the root file systems and the build's cache mounts (cargo's target folder),
# and the store keeps the last run's images alone (about 4.5 GB in all for one profile).
#
# Settings: PROFILE, the cargo profile the image is built with [release; `dev` is several times
# faster on 2 cores], SUITE [trixie], MIRROR [http://deb.debian.org/debian], WORK, where all of it
# is kept between runs [target/check-image]. Needs root (debootstrap, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0

# The build stage's COPY lines (sources relative to the context, destination relative to WORKDIR),
# applied to an empty folder, which must then load as the workspace.
check_copy_set() {
  local tmp line words dest
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the folder is this function's
  trap "rm -rf '$tmp'" RETURN
  while IFS= read -r line; do
    read -ra words <<<"${line#COPY }"
    dest=${words[-1]}
    unset 'words[-1]'
    for src in "${words[@]}"; do
      if [[ $dest == */ ]]; then
        mkdir -p "$tmp/$dest"
        cp -r "$src" "$tmp/$dest"
      else
        mkdir -p "$tmp/$(dirname "$dest")"
        cp -r "$src" "$tmp/$dest"
      fi
    done
  done < <(awk '/^FROM .* AS builder/ {b = 1; next} /^FROM / {b = 0} b && /^COPY / && !/--from/' Dockerfile)
  if ! cargo metadata --no-deps --offline --format-version 1 --manifest-path "$tmp/Cargo.toml" >/dev/null; then
    echo "check-image: the Dockerfile's build stage does not copy everything the workspace needs" >&2
    return 1
  fi
  echo "check-image: the build stage's COPY set loads as the workspace"
}

check_copy_set
[[ ${1:-} == --copy-set ]] && exit 0

PROFILE=${PROFILE:-release}
SUITE=${SUITE:-trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WORK=$(realpath -m "${WORK:-target/check-image}")
IMAGE=localhost/capcache:check
BASE=localhost/capcache-base:check
BUILDER=localhost/capcache-builder:check

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman debootstrap
fi
mkdir -p "$WORK/debs" "$WORK/tmp"
export TMPDIR=$WORK/tmp
pm() { podman --root "$WORK/storage" --runroot "$WORK/run" --tmpdir "$WORK/run/libpod" "$@"; }
cleanup() {
  pm image umount --all >/dev/null 2>&1 || true
  local left
  left=$(pm ps --all --external --quiet 2>/dev/null) || true
  # shellcheck disable=SC2086 # one id a line
  [[ -z $left ]] || pm rm --force $left >/dev/null || true
}
trap cleanup EXIT
cleanup
# Each run imports its base images anew (about 2 GB): the previous run's images go first, so the
# store holds one run's. Cargo's cache mount (under TMPDIR) keeps a rerun's compile incremental.
pm image prune --all --force >/dev/null

# A minimal Debian root file system, once ($1: folder, $2: extra packages).
rootfs() {
  if [[ ! -f $1/.complete ]]; then
    rm -rf "$1"
    debootstrap --variant=minbase --cache-dir="$WORK/debs" --include="$2" "$SUITE" "$1" "$MIRROR" >&2
    touch "$1/.complete"
  fi
}

# What makes Debian's -slim images slim (as debuerreotype makes them), so that the image's size here
# is near the real one's: apt keeps no package caches, dpkg installs no documentation.
slim() {
  cat >"$1/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  {
    printf 'path-exclude /usr/share/%s/*\n' doc groff info linda lintian locale man
    echo 'path-include /usr/share/doc/*/copyright'
  } >"$1/etc/dpkg/dpkg.cfg.d/docker"
  find "$1/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$1"/usr/share/{groff,info,linda,lintian,locale,man}/* "$1"/var/cache/apt/*.bin \
    "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
}

# The runtime stage's base: Debian alone, slim.
rootfs "$WORK/base" ca-certificates
slim "$WORK/base"
tar -C "$WORK/base" --exclude=./.complete -c . | pm import - "$BASE" >/dev/null
# The build stage's base: Debian with a C compiler (bundled SQLite), this machine's Rust toolchain
# (the image's Rust version) and crate cache (so the build needs no network).
rootfs "$WORK/builder" ca-certificates,gcc,libc6-dev
rm -rf "$WORK/builder/opt/rust" "$WORK/builder/opt/cargo"
mkdir -p "$WORK/builder/opt/rust"
tar -C "$(rustc --print sysroot)" --exclude=./share/doc -c . | tar -C "$WORK/builder/opt/rust" -x
mkdir -p "$WORK/builder/opt/cargo"
cp -a "${CARGO_HOME:-$HOME/.cargo}/registry" "$WORK/builder/opt/cargo/"
tar -C "$WORK/builder" --exclude=./.complete -c . | pm import \
  --change 'ENV PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV CARGO_HOME=/opt/cargo' --change 'ENV CARGO_NET_OFFLINE=true' - "$BUILDER" >/dev/null

start=$(date +%s)
pm build --isolation chroot --network host -t "$IMAGE" \
  --build-arg BUILDER_IMAGE="$BUILDER" --build-arg RUNTIME_IMAGE="$BASE" --build-arg PROFILE="$PROFILE" .
seconds=$(($(date +%s) - start))

mnt=$(pm image mount "$IMAGE")
user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
[[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || {
  echo "check-image: the image runs as ${user:-root}, not a non-root user" >&2
  exit 1
}
# The image's environment alone (its ENV lines), not this machine's.
mapfile -t envs < <(pm image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | grep .)
inside() {
  chroot --userspec="$user" "$mnt" /usr/bin/env -i HOME=/var/lib/capcache PATH=/usr/bin:/bin "${envs[@]}" \
    sh -c 'cd /var/lib/capcache && exec "$@"' sh "$@"
}
out=$(inside capcache get facebook/opt-125m)
printf '%s\n' "$out"
grep -q '125,239,296' <<<"$out" || {
  echo "check-image: capcache get facebook/opt-125m did not print its count" >&2
  exit 1
}
help=$(inside refresh-db.sh --help)
grep -q 'refresh-db.sh merge N' <<<"$help" || {
  echo "check-image: refresh-db.sh --help did not print its usage" >&2
  exit 1
}
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
echo "check-image: $IMAGE ($PROFILE build) works as user $user: $((size / 1024 / 1024)) MiB, built in ${seconds} s, whole check ${SECONDS} s"
