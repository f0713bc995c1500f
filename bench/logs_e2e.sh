#!/usr/bin/env bash
# tsc bench: log records end to end, from N local agents' stage scripts to
# the coordinator's merged RocksDB store.
#   `tscctl local up N`; a suite whose run stage prints L lines of 100 bytes
#   on every machine (awk, so the script itself costs little); the clock
#   starts when the run is submitted and stops when the coordinator's
#   `log_merged` counter (`tscctl stats`) has every line: records are made
#   by the agents (one per line, written to their own RocksDB first),
#   shipped in batches over the sealed stream, merged in causal order and
#   stored with a synced write before they count. Then it checks that
#   nothing was lost: `tscctl logs RUN --format jsonl` must hold every line
#   of every machine exactly once.
#   Numbers only, plus that check. Target (issue): >= 300k records/s at N=8.
#   N agents share this machine's cores with the merging coordinator.
#
# Usage: bench/logs_e2e.sh
#   env: BUILD_DIR=build  N=8  L=100000 (lines per machine)  BASE_PORT=24500
#        KEEP=1 keeps the cluster dir (agent logs) on exit
#        STALL=30 seconds without a newly merged record before it gives up
#        and prints every agent's log counters
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${N:-8}
L=${L:-100000}
BASE_PORT=${BASE_PORT:-24500}
BIN=$BUILD_DIR/bin
CTL=$BIN/tscctl
WORK=$(mktemp -d /tmp/tsc-logs-e2e.XXXXXX)
CLUSTER=$WORK/cluster
UP=0

STATS_PID=
cleanup() {
  if [ -n "$STATS_PID" ]; then kill "$STATS_PID" 2>/dev/null || true; fi
  if [ "$UP" = 1 ]; then
    if [ "${KEEP:-0}" = 1 ]; then
      "$CTL" local down --dir "$CLUSTER" >/dev/null 2>&1 || true
    else
      "$CTL" local down --dir "$CLUSTER" --purge >/dev/null 2>&1 || true
    fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "logs_e2e: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$BIN/tscd" ] || [ ! -x "$CTL" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
  ninja -C "$BUILD_DIR" tscd tscctl >/dev/null
fi

cat >"$WORK/flood.yaml" <<EOF
suite: logs-e2e
timeout: 600s
cases:
  - name: flood
    run: |
      awk -v n=$L -v me={{ tsc.name }} 'BEGIN {
        pad = sprintf("%80s", ""); gsub(/ /, "x", pad)
        for (i = 1; i <= n; i++) printf "%-8s %09d %s\n", me, i, pad
      }'
EOF

"$CTL" local up "$N" --dir "$CLUSTER" --base-port "$BASE_PORT" >"$WORK/up.txt"
UP=1
export TSC_LOCAL_DIR=$CLUSTER
unset TSC_SOCKET

# Until a coordinator acts.
t0=$SECONDS
until "$CTL" status --json 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin)["acting"] else 1)'; do
  [ $((SECONDS - t0)) -lt 60 ] || { echo "logs_e2e: no coordinator after 60 s" >&2; exit 1; }
  sleep 0.1
done

# The coordinator's socket: only the coordinator merges (a failover during
# the bench would make the figure meaningless; it is not followed).
name=$("$CTL" members --json | python3 -c '
import json, sys
print([m["labels"]["name"] for m in json.load(sys.stdin) if m["coordinator"]][0])')
SOCK=$CLUSTER/$name/tscd.sock
# The coordinator's counters every 50 ms from one `tscctl stats --every`
# (a process per reading cost a quarter of the 2 cores under load), read
# with builtins only; the clock is bash's $EPOCHREALTIME.
exec 3< <(exec "$CTL" --socket "$SOCK" stats --every 50 2>/dev/null)
STATS_PID=$!
now_ns() { local t=${EPOCHREALTIME/./}; echo $((t * 1000)); }
# One block: m (log_merged, -1 if absent) and t (election_term, 0 if absent).
read_block() {
  local line
  m=-1
  t=0
  while IFS= read -r -u 3 line; do
    [ -z "$line" ] && return 0
    case $line in
      "log_merged "*) m=${line##* } ;;
      "election_term "*) t=${line##* } ;;
    esac
  done
  return 1
}
read_block || { echo "logs_e2e: the coordinator does not answer stats" >&2; exit 1; }
base=$m
term0=$t
want=$((N * L))
s0=$(now_ns)
first=0
last_got=-1
last_t=$s0
STALL=${STALL:-30}
run=$("$CTL" run "$WORK/flood.yaml")
while :; do
  if ! read_block; then
    echo "logs_e2e: the coordinator stopped answering stats" >&2
    exit 1
  fi
  now=${EPOCHREALTIME/./}000
  if [ "$m" -ge 0 ]; then
    got=$((m - base))
    [ "$first" = 0 ] && [ "$got" -gt 0 ] && first=$now
    [ -n "${TRACE:-}" ] && echo "logs_e2e_trace $(( (now - s0) / 1000000 )) ms $got" >&2
    [ "$got" -ge "$want" ] && break
    if [ "$got" != "$last_got" ]; then
      last_got=$got
      last_t=$now
    fi
  fi
  if [ $(( (now - last_t) / 1000000000 )) -ge "$STALL" ]; then
    echo "logs_e2e: stalled: $got of $want records merged, none for $STALL s" >&2
    for d in "$CLUSTER"/*/; do
      [ -S "$d/tscd.sock" ] || continue
      echo "== $(basename "$d")" >&2
      "$CTL" --socket "$d/tscd.sock" stats 2>&1 | grep -E '^(log_|election_term|ship)' >&2 || true
    done
    exit 1
  fi
  if [ "$t" != 0 ] && [ "$t" != "$term0" ]; then
    echo "logs_e2e: the coordinator changed during the flood (term $term0 -> $t):" \
      "the figure would be meaningless; see the agents' logs (KEEP=1)" >&2
    exit 1
  fi
  if [ $(( (now - s0) / 1000000000 )) -gt 600 ]; then
    echo "logs_e2e: only $got of $want records merged after 600 s" >&2
    exit 1
  fi
done
s1=$now
kill "$STATS_PID" 2>/dev/null || true
exec 3<&-
# What the coordinator had to drop or redo on the way (log_shed: batches
# refused with a full intake queue, resent later).
"$CTL" --socket "$SOCK" stats 2>/dev/null |
  awk '$1 ~ /^(log_(shed|merged|malformed)|conns_dropped|conns_accepted|frame_errors)$/ { print "logs_e2e_coord_" $1, $2 }'
# Records the agents sent, resends included (log_shipped), against those made.
for d in "$CLUSTER"/*/; do
  "$CTL" --socket "$d/tscd.sock" stats 2>/dev/null || true
done | awk '$1 == "log_shipped" { s += $2 } $1 == "log_records" { r += $2 }
  END { printf "logs_e2e_shipped %d records sent for %d made (%.2fx)\n", s, r, r ? s / r : 0 }'
"$CTL" watch "$run" >/dev/null 2>&1 || true

"$CTL" logs "$run" --format jsonl >"$WORK/logs.jsonl"
python3 - "$WORK/logs.jsonl" "$N" "$L" "$got" "$s0" "$s1" "$(cut -d' ' -f1-3 /proc/loadavg)" "$first" <<'EOF'
import json, sys
path, n, l, got, s0, s1, load, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7], int(sys.argv[8])
seen, dup, total, idx = {}, 0, 0, []
for line in open(path, encoding="utf-8"):
    r = json.loads(line)
    if "error" in r:
        continue
    total += 1
    idx.append(r["index"])
    if r["kind"] != "stdout":
        continue
    key = r["text"][:18]
    if key in seen:
        dup += 1
    seen[key] = 1
lines = len(seen)
secs = (s1 - s0) / 1e9
print(f"logs_e2e_agents {n}")
print(f"logs_e2e_lines {n * l} (stdout lines produced)")
print(f"logs_e2e_merged {got} records when the clock stopped")
print(f"logs_e2e_seconds {secs:.2f} s (submit -> all lines merged and stored)")
print(f"logs_e2e_rate {got / secs:.0f} records/s (from the submit)")
flow = (s1 - first) / 1e9
print(f"logs_e2e_flow_seconds {flow:.2f} s (first record merged -> all merged)")
print(f"logs_e2e_flow_rate {got / flow:.0f} records/s (the log path alone, without the stage's start)")
print(f"logs_e2e_stored {total} records in the merged log, {lines} distinct lines, {dup} twice")
print(f"logs_e2e_indices_ok {int(idx == list(range(1, len(idx) + 1)))}")
print(f"logs_e2e_load {load}")
ok = lines == n * l and dup == 0 and idx == list(range(1, len(idx) + 1))
print("logs_e2e_nothing_lost", int(ok))
sys.exit(0 if ok else 1)
EOF
