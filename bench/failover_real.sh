#!/usr/bin/env bash
# tsc bench: coordinator failover with real processes on 127.0.0.1.
#   3 voters + 2 non-voters; repeat N times: kill -9 the coordinator, measure
#   the time from the kill until every live agent's `tscctl status --json`
#   names the same new coordinator in the same term (exactly one acting),
#   then restart the killed agent from its data dir and wait until all five
#   agree again. Prints each run and p50/p99/max in ms.
# Usage: bench/failover_real.sh [N]   (env: BUILD_DIR=build, BASE_PORT=18100)
# Polling the five agents costs a few ms, so figures are upper bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
N=${1:-20}
BASE_PORT=${BASE_PORT:-18100}
if [ ! -x "$BUILD_DIR/bin/tscd" ] || [ ! -x "$BUILD_DIR/bin/tscctl" ]; then
  echo "failover_real: build tscd and tscctl first (ninja -C $BUILD_DIR tscd tscctl)" >&2
  exit 1
fi
exec python3 - "$BUILD_DIR/bin" "$N" "$BASE_PORT" <<'EOF'
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time

bindir, runs, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
root = tempfile.mkdtemp(prefix="tsc-failover-")
procs = {}  # index -> Popen

def free(p):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            return False
        finally:
            s.close()
    return True

ports = []
while len(ports) < 5:
    if free(port):
        ports.append(port)
    port += 1

key = os.path.join(root, "key")
subprocess.run([bindir + "/tscctl", "keygen", key], check=True, stderr=subprocess.DEVNULL)

def start(i, join):
    args = [bindir + "/tscd", "--data-dir", f"{root}/a{i}", "--key", key,
            "--bind", f"127.0.0.1:{ports[i]}", "--role", "voter" if i < 3 else "worker",
            "--probe-interval-ms", "200"]
    if join:
        args += ["--join", f"127.0.0.1:{ports[0]}"]
    log = open(f"{root}/a{i}.log", "a")
    procs[i] = subprocess.Popen(args, stderr=log)

def status(i):
    try:
        out = subprocess.run([bindir + "/tscctl", "status", "--json", "--socket",
                              f"{root}/a{i}/tscd.sock", "--timeout-ms", "1000"],
                             capture_output=True, timeout=3).stdout
        return json.loads(out)
    except Exception:
        return None

def agreed(exclude=None):
    seen = set()
    acting = 0
    for i in procs:
        s = status(i)
        if s is None or s["coordinator"] is None or s["coordinator"] == exclude:
            return None
        seen.add((s["coordinator"], s["term"]))
        acting += s["acting"]
    return next(iter(seen)) if len(seen) == 1 and acting == 1 else None

def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = pred()
        if r:
            return r
        time.sleep(0.005)
    raise SystemExit("failover_real: timed out; logs in " + root)

def cleanup():
    for p in procs.values():
        p.kill()
        p.wait()
    if os.environ.get("KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)

try:
    for i in range(5):
        start(i, i > 0)
    def voters_ready():
        ss = [status(i) for i in range(3)]
        return all(s and s["voter"] for s in ss) and agreed()
    wait(voters_ready, 60)
    figures = []
    for r in range(runs):
        coord, term = wait(agreed, 30)
        s = None
        victim = next(i for i in procs if (s := status(i)) and s["self"] == coord)
        t0 = time.monotonic()
        procs[victim].kill()
        procs[victim].wait()
        del procs[victim]
        new, nterm = wait(lambda: agreed(coord), 30)
        ms = (time.monotonic() - t0) * 1000
        figures.append(ms)
        print(f"run {r + 1:3d}: {ms:7.1f} ms  (term {term} -> {nterm})", flush=True)
        start(victim, False)
        wait(agreed, 30)
        time.sleep(0.5)  # let the restarted voter catch up before the next kill
    figures.sort()
    pick = lambda q: figures[min(len(figures) - 1, int(q * len(figures)))]
    print(f"failover_real: runs={len(figures)} p50_ms={pick(0.50):.1f} "
          f"p99_ms={pick(0.99):.1f} max_ms={figures[-1]:.1f}")
finally:
    cleanup()
EOF
