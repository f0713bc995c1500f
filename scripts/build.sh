#!/usr/bin/env bash
# Configure and build one tsc build tree: scripts/build.sh [DIR [cmake args...]]
# Installs missing Debian packages first (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
# Quiet when it works; the compiler's words when it does not.
log=$(mktemp)
if ! ninja -C "$dir" >"$log" 2>&1; then
  grep -vE '^\[[0-9]+/[0-9]+\] ' "$log" | tail -n 60
  rm -f "$log"
  echo "build of $dir failed" >&2
  exit 1
fi
rm -f "$log"
