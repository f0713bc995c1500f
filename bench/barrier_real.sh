#!/usr/bin/env bash
# tsc bench: stage-barrier overhead with real agents on 127.0.0.1.
#   For each cluster size in N: `tscctl local up N`, wait until the voters
#   are caught up, then run two suites of K cases (3K + 2 stages) R times
#   each with `tscctl run --wait`:
#     empty  every stage has no script: a participant reports success without
#            spawning anything, so a stage transition is pure barrier cost
#            (START out over TCP, the report persisted and sent back, the
#            STAGE record committed through the replicated log, next START);
#     true   every script is `true`: one fork+exec of /bin/sh per machine
#            per stage on top of that.
#   From `tscctl results RUN --format json` it takes the transition of each
#   pair of consecutive stages, decided_us(s) - decided_us(s-1) (the
#   coordinator's wall clock when stage s was decided), pools the R runs and
#   prints p50/p90/p99/max in ms, and the run's time on the coordinator
#   (submitted_us to the last stage's decided_us). For `true` it also splits
#   a transition with the machines' start_us/end_us: decided(s-1) -> first
#   and last script start, one script's start -> end (the agent's spawn
#   included), and last script end -> decided(s).
#   Numbers only: it asserts nothing. Target (issue): p50 <= 5 ms at N=32.
#   N agents share this machine's cores, so the figures are only meaningful on
#   an otherwise idle machine: the load average is printed with them.
#
# Usage: bench/barrier_real.sh
#   env: BUILD_DIR=build  N="32" (a list: N="1 8 32")  K=30  R=3
#        BASE_PORT=22000  KEEP=1 keeps the cluster dirs (agent logs) on exit
# Example: N="1 8 32" bench/barrier_real.sh
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
NS=${N:-32}
K=${K:-30}
R=${R:-3}
BASE_PORT=${BASE_PORT:-22000}
BIN=$BUILD_DIR/bin
CTL=$BIN/tscctl
WORK=$(mktemp -d /tmp/tsc-barrier-real.XXXXXX)
CLUSTER=""

cleanup() {
  if [ -n "$CLUSTER" ]; then
    if [ "${KEEP:-0}" = 1 ]; then
      "$CTL" local down --dir "$CLUSTER" >/dev/null 2>&1 || true
    else
      "$CTL" local down --dir "$CLUSTER" --purge >/dev/null 2>&1 || true
    fi
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "barrier_real: kept $WORK" >&2
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

# The two suites. A case without stages still has its three stages, each
# without a script.
{
  echo "suite: barrier-empty"
  echo "timeout: 60s"
  echo "cases:"
  for c in $(seq 1 "$K"); do echo "  - name: c$c"; done
} >"$WORK/empty.yaml"
{
  echo "suite: barrier-true"
  echo "timeout: 60s"
  echo "init: 'true'"
  echo "cases:"
  for c in $(seq 1 "$K"); do
    echo "  - name: c$c"
    echo "    init: 'true'"
    echo "    run: 'true'"
    echo "    finalize: 'true'"
  done
  echo "finalize: 'true'"
} >"$WORK/true.yaml"

# Until the coordinator acts and min(n, 3) voters have caught up, so that no
# voter change runs beside the measurement.
wait_voters() {
  local n=$1 want=$(($1 < 3 ? 1 : 3)) t0=$SECONDS
  until "$CTL" status --json 2>/dev/null | python3 -c '
import json, sys
s, want = json.load(sys.stdin), int(sys.argv[1])
ok = s["acting"] and len(s["voters"]) == want and all(v.get("caught_up") for v in s["voters"])
sys.exit(0 if ok else 1)' "$want"; do
    if [ $((SECONDS - t0)) -gt 60 ]; then
      echo "barrier_real: $n agents: no caught-up voter set after 60 s" >&2
      "$CTL" status --json >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

for n in $NS; do
  CLUSTER=$WORK/n$n
  t0=$SECONDS
  cut -d' ' -f1-3 /proc/loadavg >"$WORK/load-$n.txt"
  "$CTL" local up "$n" --dir "$CLUSTER" --base-port "$BASE_PORT" >"$WORK/up-$n.txt"
  export TSC_LOCAL_DIR=$CLUSTER
  unset TSC_SOCKET
  wait_voters "$n"
  echo "N=$n: cluster up in $((SECONDS - t0)) s; $R x 2 runs of $K cases ($((3 * K + 2)) stages)"
  for variant in empty true; do
    for r in $(seq 1 "$R"); do
      s0=$(date +%s%N)
      if ! "$CTL" run "$WORK/$variant.yaml" --wait >"$WORK/run-$n-$variant-$r.txt"; then
        echo "barrier_real: N=$n $variant run $r did not pass:" >&2
        cat "$WORK/run-$n-$variant-$r.txt" >&2
        exit 1
      fi
      s1=$(date +%s%N)
      run=$(head -n 1 "$WORK/run-$n-$variant-$r.txt")
      "$CTL" results "$run" --format json >"$WORK/res-$n-$variant-$r.json"
      echo "$(((s1 - s0) / 1000))" >"$WORK/wall-$n-$variant-$r.txt"
    done
  done
  if [ "${KEEP:-0}" = 1 ]; then
    "$CTL" local down --dir "$CLUSTER" >/dev/null
  else
    "$CTL" local down --dir "$CLUSTER" --purge >/dev/null
  fi
  CLUSTER=""
done

python3 - "$WORK" "$K" "$R" "$NS" <<'EOF'
import json, sys

work, k, runs, ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]

def fmt(v):
    return (f"p50 {pct(v, .5):7.2f}  p90 {pct(v, .9):7.2f}  p99 {pct(v, .99):7.2f}  "
            f"max {max(v):7.2f} ms")

print(f"\nbarrier_real: K={k} cases ({3 * k + 2} stages), R={runs} runs per variant; "
      "transition = decided_us(s) - decided_us(s-1)")
for n in ns:
    with open(f"{work}/load-{n}.txt") as f:
        print(f"N={n:>2} load average before its cluster started: {f.read().strip()}")
    for variant in ("empty", "true"):
        trans, first, last, tail, script = [], [], [], [], []
        totals, walls, parts = [], [], set()
        for r in range(1, runs + 1):
            with open(f"{work}/res-{n}-{variant}-{r}.json") as f:
                res = json.load(f)
            with open(f"{work}/wall-{n}-{variant}-{r}.txt") as f:
                walls.append(int(f.read()) / 1000)
            parts.add(len(res["participants"]))
            st = res["stages"]
            if len(st) != 3 * k + 2 or any(s["decided_us"] is None for s in st):
                sys.exit(f"barrier_real: N={n} {variant} run {r}: stages missing")
            dec = [s["decided_us"] for s in st]
            totals.append((dec[-1] - res["submitted_us"]) / 1000)
            for i in range(1, len(st)):
                trans.append((dec[i] - dec[i - 1]) / 1000)
                rs = st[i]["results"]
                if variant == "true" and all(x["start_us"] for x in rs):
                    first.append((min(x["start_us"] for x in rs) - dec[i - 1]) / 1000)
                    last.append((max(x["start_us"] for x in rs) - dec[i - 1]) / 1000)
                    tail.append((dec[i] - max(x["end_us"] for x in rs)) / 1000)
                    script += [(x["end_us"] - x["start_us"]) / 1000 for x in rs]
        p = ",".join(map(str, sorted(parts)))
        print(f"N={n:>2} {variant:<5} participants={p:<3} transitions={len(trans):4d}  {fmt(trans)}")
        print(f"         run on the coordinator: mean {sum(totals) / len(totals):8.1f} ms "
              f"(per stage {sum(totals) / len(totals) / (3 * k + 2):6.2f} ms); "
              f"tscctl run --wait: mean {sum(walls) / len(walls):8.1f} ms")
        if first:
            print(f"         decided(s-1) -> first start   {fmt(first)}")
            print(f"         decided(s-1) -> last start    {fmt(last)}")
            print(f"         one script, start -> end      {fmt(script)}")
            print(f"         last end     -> decided(s)    {fmt(tail)}")
EOF
