#!/usr/bin/env bash
# Install whatever tsc needs from Debian's packages, and nothing when all is there.
# Idempotent: `apt-get update` runs only when a package is missing.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev clang-format
  libuv1-dev libmsgpack-dev libsodium-dev librocksdb-dev libvirt-dev libcmocka-dev libyaml-dev
  libxml2-utils perl redis-server redis-tools
  iproute2 procps python3
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
