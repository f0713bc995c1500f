#!/usr/bin/env bash
# Idle footprint of tscd in a local cluster: start N agents (default 32) on
# 127.0.0.1, wait until every one of them sees N alive, let them idle, then
# sample each agent's memory (/proc/PID/status VmRSS; also RssAnon and the
# proportional set size Pss from /proc/PID/smaps_rollup, which splits the
# shared binary pages among the agents) and CPU (utime+stime from
# /proc/PID/stat over SAMPLE seconds). Prints median and max; stops them all.
# Target (issue 2): idle tscd <= 10 MB RSS.
#
# Usage: bench/idle_rss.sh   (env: BUILD_DIR=build N=32 SAMPLE=15 SETTLE=5 BASE_PORT=21000)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${N:-32}
SAMPLE=${SAMPLE:-15}
SETTLE=${SETTLE:-5}
BASE_PORT=${BASE_PORT:-21000}
BIN=$BUILD_DIR/bin
WORK=$(mktemp -d /tmp/tsc-idle-rss.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$BIN/tscd" ] || [ ! -x "$BIN/tscctl" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
  ninja -C "$BUILD_DIR" tscd tscctl >/dev/null
fi

# N ports where UDP and TCP are both free.
mapfile -t PORTS < <(python3 - "$BASE_PORT" "$N" <<'EOF'
import socket, sys
p, n, out = int(sys.argv[1]), int(sys.argv[2]), []
while len(out) < n and p < 65000:
    ok = True
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        s.close()
    if ok:
        out.append(p)
    p += 1
print("\n".join(map(str, out)))
EOF
)

"$BIN/tscctl" keygen "$WORK/key" 2>/dev/null
SEED=127.0.0.1:${PORTS[0]}
for i in $(seq 0 $((N - 1))); do
  args=(--data-dir "$WORK/a$i" --key "$WORK/key" --bind "127.0.0.1:${PORTS[$i]}" --log-level warn)
  if [ "$i" -gt 0 ]; then args+=(--join "$SEED"); fi
  "$BIN/tscd" "${args[@]}" 2>>"$WORK/a$i.log" &
  PIDS+=($!)
done

alive_count() {
  "$BIN/tscctl" members --json --socket "$WORK/a$1/tscd.sock" 2>/dev/null |
    python3 -c 'import json,sys; print(sum(m["status"]=="alive" for m in json.load(sys.stdin)))' ||
    echo 0
}

t0=$SECONDS
for i in $(seq 0 $((N - 1))); do
  until [ "$(alive_count "$i")" -eq "$N" ]; do
    if [ $((SECONDS - t0)) -gt 60 ]; then
      echo "idle_rss: agent $i does not see $N alive after 60 s" >&2
      tail -n 5 "$WORK/a$i.log" >&2
      exit 1
    fi
    sleep 0.2
  done
done
echo "converged: $N agents see $N alive after $((SECONDS - t0)) s; idling ${SETTLE} s, sampling ${SAMPLE} s"
sleep "$SETTLE"

python3 - "$SAMPLE" "${PIDS[@]}" <<'EOF'
import os, statistics, sys, time
sample, pids = float(sys.argv[1]), [int(p) for p in sys.argv[2:]]
hz = os.sysconf("SC_CLK_TCK")

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime

def kb(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

t0, c0 = time.monotonic(), {p: cpu_ticks(p) for p in pids}
time.sleep(sample)
t1, c1 = time.monotonic(), {p: cpu_ticks(p) for p in pids}
rss = [kb(f"/proc/{p}/status", "VmRSS") / 1024 for p in pids]
anon = [kb(f"/proc/{p}/status", "RssAnon") / 1024 for p in pids]
pss = [kb(f"/proc/{p}/smaps_rollup", "Pss") / 1024 for p in pids]
cpu = [100.0 * (c1[p] - c0[p]) / hz / (t1 - t0) for p in pids]

def line(name, v, unit, fmt):
    print(f"{name:<22} median {fmt.format(statistics.median(v))} {unit}   max {fmt.format(max(v))} {unit}")

print(f"idle tscd x {len(pids)} (CPU over {t1 - t0:.1f} s)")
line("RSS (VmRSS)", rss, "MB", "{:6.2f}")
line("  of which anonymous", anon, "MB", "{:6.2f}")
line("PSS (shared split)", pss, "MB", "{:6.2f}")
line("CPU", cpu, "%", "{:6.2f}")
print("target: RSS <= 10 MB:", "met" if max(rss) <= 10.0 else "NOT met", f"(max {max(rss):.2f} MB)")
EOF

for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()
