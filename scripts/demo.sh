#!/usr/bin/env bash
# tsc demo: the embedded default, a local cluster on 127.0.0.1.
#   install what is missing, build -> tscctl local up 4 -> the members and the
#   coordinator -> run examples/hello.yaml and examples/redis.yaml (real
#   redis-server instances, one per machine, a primary and its replicas) with
#   every stage a barrier across the 4 machines -> the results (table and
#   JUnit) -> the run's merged log (every machine's output and redis' own log
#   in causal order) -> the history -> tscctl local down.
# Everything lives in .tsc-demo/ (removed at the end; kept with KEEP=1).
# Usage: scripts/demo.sh   (env: BUILD_DIR=build, N=4, BASE_PORT=17946)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${N:-4}
BASE_PORT=${BASE_PORT:-17946}
export TSC_LOCAL_DIR=$PWD/.tsc-demo
CTL=$BUILD_DIR/bin/tscctl

if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

cleanup() {
  "$CTL" local down >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$TSC_LOCAL_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "installing what is missing, building"
bash scripts/deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
ninja -C "$BUILD_DIR" tscd tscctl >/dev/null

say "tscctl local up $N (agents on 127.0.0.1; logs in $TSC_LOCAL_DIR/node*/tscd.log)"
"$CTL" local up "$N" --base-port "$BASE_PORT"

say "tscctl members"
"$CTL" members

say "tscctl run examples/hello.yaml --wait (2 cases; init, run, finalize barriers on $N machines)"
"$CTL" run examples/hello.yaml --wait

status=0
if command -v redis-server >/dev/null; then
  say "tscctl run examples/redis.yaml --wait (one redis-server per machine: a primary, $((N - 1)) replicas)"
  RUN=$("$CTL" run examples/redis.yaml)
  echo "run $RUN submitted; following it"
  "$CTL" watch "$RUN" || status=$?

  say "tscctl results $RUN"
  "$CTL" results "$RUN"

  say "tscctl results $RUN --format junit (first lines)"
  "$CTL" results "$RUN" --format junit >"$TSC_LOCAL_DIR/junit.xml"
  head -n 12 "$TSC_LOCAL_DIR/junit.xml"

  say "tscctl logs $RUN --node node2 (the merged log, causal order: the scripts, redis.log, the agents' events)"
  "$CTL" logs "$RUN" --node node2 >"$TSC_LOCAL_DIR/logs-node2.txt"
  head -n 25 "$TSC_LOCAL_DIR/logs-node2.txt"

  say "tscctl logs $RUN --grep 'sync|MASTER' (replication in redis' own logs, every machine)"
  "$CTL" logs "$RUN" --grep 'sync|MASTER' >"$TSC_LOCAL_DIR/logs-sync.txt"
  head -n 12 "$TSC_LOCAL_DIR/logs-sync.txt"
else
  echo "redis-server is not installed (scripts/deps.sh installs it); skipping examples/redis.yaml"
fi

say "tscctl history"
"$CTL" history

say "tscctl local down"
"$CTL" local down
exit "$status"
