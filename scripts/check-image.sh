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
# the Dockerfile as build arguments. It builds with `podman build --isolation chroot` (RUN steps
# run on this machine), then mounts the image's file system (`podman image mount`) and runs, as
# the image's non-root user (chroot --userspec), `capcache get facebook/opt-125m` and
# `refresh-db.sh --help`. It prints the image's size and the build's time.
#
# Settings: PROFILE, the cargo profile the image is built with [release; `dev` is several times
# faster on 2 cores], SUITE [trixie], MIRROR [http://deb.debian.org/debian], WORK, where the root
# file systems are kept between runs [target/check-image]. Needs root (debootstrap, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

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
mkdir -p "$WORK/debs"

# A minimal Debian root file system, once ($1: folder, $2: extra packages).
rootfs() {
  if [[ ! -f $1/.complete ]]; then
    rm -rf "$1"
    debootstrap --variant=minbase --cache-dir="$WORK/debs" --include="$2" "$SUITE" "$1" "$MIRROR" >&2
    touch "$1/.complete"
  fi
}

# The runtime stage's base: Debian alone.
rootfs "$WORK/base" ca-certificates
tar -C "$WORK/base" --exclude=./.complete -c . | podman import - "$BASE" >/dev/null
# The build stage's base: Debian with a C compiler (bundled SQLite), this machine's Rust toolchain
# (the image's Rust version) and crate cache (so the build needs no network).
rootfs "$WORK/builder" ca-certificates,gcc,libc6-dev
rm -rf "$WORK/builder/opt/rust" "$WORK/builder/opt/cargo"
cp -a "$(rustc --print sysroot)" "$WORK/builder/opt/rust"
mkdir -p "$WORK/builder/opt/cargo"
cp -a "${CARGO_HOME:-$HOME/.cargo}/registry" "$WORK/builder/opt/cargo/"
tar -C "$WORK/builder" --exclude=./.complete -c . | podman import \
  --change 'ENV PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV CARGO_HOME=/opt/cargo' --change 'ENV CARGO_NET_OFFLINE=true' - "$BUILDER" >/dev/null

start=$(date +%s)
podman build --isolation chroot --network host -t "$IMAGE" \
  --build-arg BUILDER_IMAGE="$BUILDER" --build-arg RUNTIME_IMAGE="$BASE" --build-arg PROFILE="$PROFILE" .
seconds=$(($(date +%s) - start))

mnt=$(podman image mount "$IMAGE")
trap 'podman image umount "$IMAGE" >/dev/null' EXIT
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || {
  echo "check-image: the image runs as ${user:-root}, not a non-root user" >&2
  exit 1
}
inside() {
  env -i HOME=/var/lib/capcache PATH=/usr/local/bin:/usr/bin:/bin \
    chroot --userspec="$user" "$mnt" sh -c 'cd /var/lib/capcache && exec "$@"' sh "$@"
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
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "check-image: $IMAGE ($PROFILE build) works as user $user: $((size / 1024 / 1024)) MiB, built in ${seconds} s (root $root)"
