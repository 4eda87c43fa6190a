#!/usr/bin/env bash
# Makes a Debian base image from Debian packages, without any container registry, for building gamestream's
# image where no registry can be reached:
#
#   BASE=$(scripts/container/base.sh) && podman build --format docker --build-arg BASE="$BASE" -t gamestream .
#
# mmdebstrap makes the root file system (the minbase variant, with the stable, updates and security suites, and
# ca-certificates), which is cached as a tarball under ${GAMESTREAM_CACHE:-~/.cache/gamestream}/container;
# `podman import` turns it into the image localhost/gamestream-base:<suite>-<hash of the inputs>. The host's own
# CA certificates (/usr/local/share/ca-certificates) go in as well, so that a build behind a TLS-inspecting proxy
# can reach the npm registry. Prints the image name on stdout. Needs root, podman and mmdebstrap
# (apt-get install podman mmdebstrap).
#   SUITE   Debian suite (default bookworm)
#   MIRROR  Debian mirror (default http://deb.debian.org/debian; security updates come from <mirror>-security)
set -euo pipefail
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
CACHE="${GAMESTREAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gamestream}/container"
log() { echo "[container-base] $*" >&2; }

for tool in podman mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || { log "needs $tool: apt-get install -y podman mmdebstrap"; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { log "needs root (mmdebstrap builds the root file system as root; podman stores the image in root's store)"; exit 1; }

CA_DIR=/usr/local/share/ca-certificates
# The image's name changes with anything that changes the tarball: the suite, the mirror, the package list, the
# host's CA certificates, and this script.
ca_sum=$(find "$CA_DIR" -type f -name '*.crt' -print0 2>/dev/null | sort -z | xargs -0r sha256sum | sha256sum | cut -c1-64)
hash=$(printf '%s\n' "$SUITE" "$MIRROR" "$ca_sum" "$(sha256sum "$0" | cut -c1-64)" | sha256sum | cut -c1-12)
image="localhost/gamestream-base:$SUITE-$hash"
tarball="$CACHE/debian-$SUITE-minbase-$hash.tar"

if ! podman image exists "$image"; then
  if [[ ! -f "$tarball" || ! -s "$tarball" ]]; then
    mkdir -p "$CACHE"
    log "making $tarball with mmdebstrap (about a minute)"
    tmp="$tarball.tmp.$$"
    trap 'rm -f "$tmp"' EXIT
    mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates \
      --customize-hook="if [ -d $CA_DIR ]; then cp -r $CA_DIR/. \"\$1$CA_DIR/\"; fi" \
      --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
      "$SUITE" "$tmp" \
      "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $MIRROR-security $SUITE-security main"
    mv -f "$tmp" "$tarball"   # whole or not at all, also when two runs race
    trap - EXIT
  fi
  log "importing $tarball as $image"
  podman import --quiet "$tarball" "$image" >/dev/null
fi
echo "$image"
