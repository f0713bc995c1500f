#!/usr/bin/env bash
# tsc demo: a local cluster of five agents on 127.0.0.1.
#   build (if needed) -> cluster key -> 5 x tscd through one seed -> wait until
#   every agent sees 5 alive -> tscctl members, tscctl status (the coordinator,
#   elected among agents 0-2, role voter) -> kill -9 one -> wait until it
#   is detected dead everywhere -> tscctl members -> SIGTERM the rest -> clean up.
# Everything lives in .tsc-demo/ (removed at the end; kept with KEEP=1).
# Usage: scripts/demo.sh   (env: BUILD_DIR=build, BASE_PORT=7946, N=5)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${N:-5}
BASE_PORT=${BASE_PORT:-7946}
DEMO=.tsc-demo
BIN=$BUILD_DIR/bin
PIDS=()

if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
now_ms() { date +%s%3N; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$DEMO"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "installing what is missing, building"
bash scripts/deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
ninja -C "$BUILD_DIR" tscd tscctl >/dev/null

# A port where UDP and TCP are both free, starting at $1.
port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

rm -rf "$DEMO"
mkdir -p "$DEMO"
"$BIN/tscctl" keygen "$DEMO/cluster.key"

PORTS=()
p=$BASE_PORT
while [ "${#PORTS[@]}" -lt "$N" ]; do
  if port_free "$p"; then PORTS+=("$p"); fi
  p=$((p + 1))
done
SEED=127.0.0.1:${PORTS[0]}

say "starting $N agents (seed $SEED); logs in $DEMO/agent*.log"
for i in $(seq 0 $((N - 1))); do
  args=(--data-dir "$DEMO/agent$i" --key "$DEMO/cluster.key" --bind "127.0.0.1:${PORTS[$i]}"
        --role "$([ "$i" -lt 3 ] && echo voter || echo worker)" --label "zone=z$((i % 2))"
        --ready "tscd=ok")
  if [ "$i" -gt 0 ]; then args+=(--join "$SEED"); fi
  "$BIN/tscd" "${args[@]}" 2>"$DEMO/agent$i.log" &
  PIDS+=($!)
done

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "demo: timed out waiting for: $what" >&2
      tail -n 20 "$DEMO"/agent*.log >&2
      exit 1
    fi
    sleep 0.2
  done
}

# count_status AGENT STATUS: how many members AGENT sees with STATUS.
count_status() {
  "$BIN/tscctl" members --json --socket "$DEMO/agent$1/tscd.sock" 2>/dev/null |
    python3 -c 'import json,sys; print(sum(m["status"]==sys.argv[1] for m in json.load(sys.stdin)))' "$2" 2>/dev/null ||
    echo 0
}

all_see() { # all_see STATUS COUNT AGENTS...
  local st=$1 want=$2 i
  shift 2
  for i in "$@"; do [ "$(count_status "$i" "$st")" -eq "$want" ] || return 1; done
}

all_agents=$(seq 0 $((N - 1)))
wait_for 30 "every agent sees $N alive" all_see alive "$N" $all_agents

# has_coordinator AGENT: AGENT knows the coordinator and the 3 voters are in.
has_coordinator() {
  "$BIN/tscctl" status --json --socket "$DEMO/agent$1/tscd.sock" 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(not (s["coordinator"] and len(s["voters"])>=3))' 2>/dev/null
}
wait_for 30 "agent0 knows the coordinator and 3 voters" has_coordinator 0

say "tscctl members (asked over TCP with the cluster key; C = coordinator)"
"$BIN/tscctl" members --agent "$SEED" --key "$DEMO/cluster.key"

say "tscctl status (the coordinator, elected among the 3 voters)"
"$BIN/tscctl" status --agent "$SEED" --key "$DEMO/cluster.key"

VICTIM=$((N - 1))
say "kill -9 agent$VICTIM (127.0.0.1:${PORTS[$VICTIM]}) at $(date -u +%T.%3N) UTC"
t0=$(now_ms)
# Reap it quietly (bash would print "Killed" for the job).
{ kill -KILL "${PIDS[$VICTIM]}" && wait "${PIDS[$VICTIM]}"; } 2>/dev/null || true
others=$(seq 0 $((N - 2)))
wait_for 30 "the others mark agent$VICTIM dead" all_see dead 1 $others
t1=$(now_ms)
echo "all $((N - 1)) others mark it dead; seen $(((t1 - t0) / 1000)).$(((t1 - t0) % 1000 / 100)) s after the kill (polling included)"
echo "when each agent decided (from the logs):"
grep -h "alive->suspect\|suspect->dead\|alive->dead" "$DEMO"/agent*.log | sort | sed 's/^/  /' || true

say "tscctl members (agent0's view, over its Unix socket)"
"$BIN/tscctl" members --socket "$DEMO/agent0/tscd.sock"

say "stopping (SIGTERM: graceful leave)"
for i in $others; do kill -TERM "${PIDS[$i]}"; done
for i in $others; do wait "${PIDS[$i]}" 2>/dev/null || true; done
PIDS=()
echo "all agents stopped"
