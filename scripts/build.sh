#!/usr/bin/env bash
# Configure and build one tsc build tree: scripts/build.sh [DIR [cmake args...]]
# Installs missing Debian packages first (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir" >/dev/null
