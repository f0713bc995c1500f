#!/usr/bin/env bash
# tsc — runs end to end: real tscd agents on 127.0.0.1 (`tscctl local up`),
# suites from tests/integration/suites/, driven only through tscctl.
#
#   test_runs.sh basic    (one cluster of 4)
#     1. barrier order: no machine starts stage s before every machine ended
#        s-1, and every (stage, machine) ran exactly once;
#     4. invalid suites: exit 2, "FILE:LINE:COLUMN: " on stderr, nothing
#        submitted;
#     5. injection: hostile variable values reach the scripts as bytes, never
#        as commands (HOME is a throw-away dir with a canary file);
#     6. result formats of a run with a failing case: JUnit against
#        docs/junit.xsd, TAP through prove, JSON through python3;
#     7. forwarding (a worker's socket, TCP with the key) and a restart of
#        every agent: history and results survive.
#   test_runs.sh faults   (a fresh cluster of 4 for each)
#     2. kill -9 a participant mid-stage: it is called dead, the run fails
#        without waiting for the stage timeout, finalize runs elsewhere;
#     3. kill -9 the coordinator mid-run: the run is followed from another
#        voter and ends, no script runs twice, the restarted agent rejoins
#        and answers for the run;
#     8. cancel: the run ends cancelled at once, finalize stages run, the
#        cancelled scripts' process groups are gone.
#   test_runs.sh redis    (a cluster of 3) 9. examples/redis.yaml passes;
#                         exit 77 (skipped) without redis-server.
#
# Waits are polls with deadlines. Ports: 18000 + (pid % 40) * 50, 10 per
# cluster (tscctl skips ports in use). The trap stops every agent and kills
# every process group a stage script of ours left behind, by id.
# Needs TSC_BIN_DIR and TSC_SOURCE_DIR (set by ctest); python3; for `basic`
# also xmllint and prove.
set -euo pipefail
MODE=${1:-basic}
BIN=${TSC_BIN_DIR:?TSC_BIN_DIR is not set}
SRC=${TSC_SOURCE_DIR:?TSC_SOURCE_DIR is not set}
CTL=$BIN/tscctl
TSCD=$BIN/tscd
unset TSC_SOCKET TSC_LOCAL_DIR
T=$(mktemp -d /tmp/tsc-runs-test.XXXXXX)
T=$(cd "$T" && pwd -P)
BASE=$((18000 + ($$ % 40) * 50))
NAME="test_runs $MODE"

CLUSTERS=()          # cluster names: dirs under $T
SEEN=()              # every tscd pid we started or saw in a pid file
declare -A PORT      # PORT[cluster,i]: node i's port
SOFT=()              # failed checks that did not stop the test
AGENT_HOME=${HOME:-/} # HOME of the agents we start, and so of their scripts

# ---- cleanup --------------------------------------------------------------

# Process groups left by stage scripts of our clusters: the runner's pgid
# files ("<pgid> <boot id>") under the work dirs, and the pgids that
# cancel.yaml writes. Killed only while one of their processes still has its
# cwd in $T, so that a reused id never hits anything else.
kill_our_groups() {
  local f pg pid
  for f in "$T"/*/node*/work/run-*/.tsc/*.pgid "$T"/cancel/pgid.node*; do
    [ -f "$f" ] || continue
    read -r pg _ <"$f" 2>/dev/null || continue
    [[ $pg =~ ^[0-9]+$ ]] && [ "$pg" -gt 1 ] || continue
    for pid in $(ps -e -o pid=,pgid= | awk -v g="$pg" '$2 == g {print $1}'); do
      if [[ "$(readlink /proc/"$pid"/cwd 2>/dev/null)" == "$T"/* ]]; then
        kill -KILL -- "-$pg" 2>/dev/null || true
        break
      fi
    done
  done
}

# redis-servers of examples/redis.yaml that a failed run left running.
kill_our_redis() {
  local f pid
  for f in "$T"/*/node*/work/run-*/redis.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    [[ "$(readlink /proc/"$pid"/cwd 2>/dev/null)" == "$T"/* ]] && kill -KILL "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local c pid
  kill_our_groups
  kill_our_redis
  for c in "${CLUSTERS[@]}"; do
    "$CTL" local down --dir "$T/$c" --purge >/dev/null 2>&1 || true
  done
  for pid in "${SEEN[@]}"; do
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- reporting ------------------------------------------------------------

show_logs() {
  local c f
  for c in "${CLUSTERS[@]}"; do
    for f in "$T/$c"/node*/tscd.log; do
      [ -f "$f" ] || continue
      echo "---- $f ----" >&2
      tail -n 25 "$f" >&2 || true
    done
  done
}

fail() {
  echo "$NAME: FAIL: $*" >&2
  for s in "${SOFT[@]}"; do echo "$NAME: FAIL (earlier): $s" >&2; done
  show_logs
  exit 1
}

# A failed check after which the test can still go on: reported at the end,
# and the test fails.
soft() {
  echo "$NAME: FAIL: $*" >&2
  SOFT+=("$*")
}

finish() {
  if [ ${#SOFT[@]} -gt 0 ]; then
    echo "$NAME: ${#SOFT[@]} check(s) failed:" >&2
    for s in "${SOFT[@]}"; do echo "  - $s" >&2; done
    exit 1
  fi
  echo "$NAME: OK"
}

now_ms() { date +%s%3N; }

# wait_for MS CMD...: poll CMD every 50 ms until it succeeds or MS passed.
wait_for() {
  local deadline=$(($(now_ms) + $1))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt $deadline ] || return 1
    sleep 0.05
  done
}

# python3 on a JSON value from stdin: prints eval(EXPR) with d the value.
js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---- clusters -------------------------------------------------------------

# A running tscd, not a zombie (the container's init may not reap).
tscd_alive() {
  local pid=$1 stat
  stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ] || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}
tscd_gone() { ! tscd_alive "$1"; }

# A process group with a live (non-zombie) member.
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'; }
group_gone() { ! group_alive "$1"; }

sock() { echo "$T/$1/node$2/tscd.sock"; }
ctl() {
  local c=$1 i=$2
  shift 2
  "$CTL" --socket "$(sock "$c" "$i")" "$@"
}
pid_of() { cat "$T/$1/node$2/tscd.pid"; }

# up CLUSTER N SLOT: `local up N` in $T/CLUSTER; ports from BASE + 10*SLOT.
up() {
  local c=$1 n=$2 out line i port pid
  out=$(HOME=$AGENT_HOME "$CTL" local up "$n" --dir "$T/$c" --base-port $((BASE + 10 * $3))) ||
    fail "local up $n in $c exited $?"
  CLUSTERS+=("$c")
  for ((i = 1; i <= n; i++)); do
    line=$(grep "^node$i " <<<"$out") || fail "local up did not list node$i: $out"
    port=$(sed -E 's/.*127\.0\.0\.1:([0-9]+) .*/\1/' <<<"$line")
    PORT[$c,$i]=$port
    pid=$(pid_of "$c" "$i")
    SEEN+=("$pid")
  done
}

# start_agent CLUSTER I ROLE: restart node I by hand, keeping its data dir
# (`local up` would wipe it), in the background; the pid file is written as
# `local up` does, so that `local down` stops it too.
start_agent() {
  local c=$1 i=$2 d=$T/$1/node$2
  HOME=$AGENT_HOME "$TSCD" --data-dir "$d" --key "$T/$c/cluster.key" --bind "127.0.0.1:${PORT[$c,$i]}" \
    --label "name=node$i" --role "$3" >>"$d/tscd.log" 2>&1 </dev/null &
  SEEN+=($!)
  echo $! >"$d/tscd.pid"
}

# N members alive as node I sees them.
n_alive() { [ "$(ctl "$1" "$2" members --json 2>/dev/null | grep -o '"status":"alive"' | wc -l)" -eq "$3" ]; }

# The node number (label name=nodeK) of the acting coordinator, as node I sees it.
coordinator_of() {
  local c=$1 i=$2 id
  id=$(ctl "$c" "$i" status --json | js 'd["coordinator"] or ""') || return 1
  [ -n "$id" ] || return 1
  ctl "$c" "$i" members --json |
    js "[m['labels']['name'] for m in d if m['id'] == '$id'][0]" | sed 's/^node//'
}

has_coordinator() { coordinator_of "$1" "$2" >/dev/null 2>&1; }

n_runs() { ctl "$1" "$2" history --json | js 'len(d)'; }

# Suites with @DIR@ replaced, and their script files, in $T/suites.
mkdir -p "$T/suites"
for f in "$SRC"/tests/integration/suites/*; do
  sed "s|@DIR@|$T|g" "$f" >"$T/suites/$(basename "$f")"
done
S=$T/suites

# ===========================================================================
# basic
# ===========================================================================

# 1. Barrier order.
test_order() {
  local out rc=0
  out=$(ctl b 2 run "$S/order.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "order: run --wait exited $rc: $out"
  python3 - "$T/order.log" <<'EOF' || fail "order: the barrier was not kept (see above)"
import sys
nodes = ["node1", "node2", "node3", "node4"]
n_stages = 11  # suite init, 3 cases x (init, run, finalize), suite finalize
seen = {}
for line in open(sys.argv[1]):
    stage, node, what, ns = line.split()
    key = (int(stage), node, what)
    if key in seen:
        sys.exit("order: %s %s %s appears twice" % key)
    seen[key] = int(ns)
bad = []
for s in range(n_stages):
    for n in nodes:
        for w in ("start", "end"):
            if (s, n, w) not in seen:
                bad.append("order: no %s of stage %d on %s" % (w, s, n))
        if not bad and seen[(s, n, "start")] > seen[(s, n, "end")]:
            bad.append("order: stage %d on %s ended before it started" % (s, n))
extra = [k for k in seen if k[0] >= n_stages or k[1] not in nodes]
if extra:
    bad.append("order: unexpected lines %s" % extra)
if bad:
    sys.exit("\n".join(bad))
for s in range(1, n_stages):
    first_start = min(seen[(s, n, "start")] for n in nodes)
    last_end = max(seen[(s - 1, n, "end")] for n in nodes)
    if first_start < last_end:
        sys.exit("order: stage %d started %.3f ms before stage %d ended everywhere"
                 % (s, (last_end - first_start) / 1e6, s - 1))
EOF
}

# expect_suite_error FILE POSITION MESSAGE-PART: `run` exits 2 and its
# stderr starts with POSITION (FILE:LINE:COLUMN: ) and contains MESSAGE-PART.
expect_suite_error() {
  local file=$1 pos=$2 what=$3 err rc=0
  err=$(ctl b 1 run "$file" 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] || fail "invalid: run $file exited $rc, want 2 (stderr: $err)"
  [[ $err =~ ^[^[:space:]]+:[0-9]+:[0-9]+:\  ]] || fail "invalid: stderr is not FILE:LINE:COLUMN: message: $err"
  [[ $err == "$pos"* ]] || fail "invalid: stderr of $file starts '${err%%$'\n'*}', want '$pos'"
  [[ $err == *"$what"* ]] || fail "invalid: stderr of $file lacks '$what': $err"
}

# 4. Invalid suites are refused by tscctl before anything is sent.
test_invalid() {
  local d=$T/invalid before after rc err
  mkdir -p "$d"
  printf 'suite: bad\ncases:\n  - name: a\n   run: echo\n' >"$d/syntax.yaml"
  printf 'suite: bad\ncases:\n  - name: a\n    rnu: echo\n' >"$d/key.yaml"
  printf 'suite: bad\nvars:\n  port: 1\ncases:\n  - name: a\n    run: echo {{ prot }}\n' >"$d/var.yaml"
  printf 'suite: bad\ninit: {all: {file: var.sh}}\n' >"$d/script-var.yaml"
  printf '#!/bin/sh\necho {{ nope }}\n' >"$d/var.sh"
  printf 'suite: bad\ntimeout: 30 seconds\n' >"$d/timeout.yaml"
  before=$(n_runs b 1) || fail "invalid: history --json failed"
  expect_suite_error "$d/syntax.yaml" "$d/syntax.yaml:4:4: " "did not find expected"
  expect_suite_error "$d/key.yaml" "$d/key.yaml:4:5: " "unknown key 'rnu'"
  expect_suite_error "$d/var.yaml" "$d/var.yaml:6:15: " "unknown variable 'prot'"
  expect_suite_error "$d/script-var.yaml" "$d/var.sh:2:6: " "unknown variable 'nope'"
  expect_suite_error "$d/timeout.yaml" "$d/timeout.yaml:2:10: " "bad timeout"
  # No position for a file that is not there, but the same exit status.
  rc=0
  err=$(ctl b 1 run "$d/missing.yaml" 2>&1 >/dev/null) || rc=$?
  [ $rc -eq 2 ] && [[ $err == "$d/missing.yaml: "* ]] || fail "invalid: a missing file: exit $rc, stderr: $err"
  after=$(n_runs b 1) || fail "invalid: history --json failed"
  [ "$before" = "$after" ] || fail "invalid: history went from $before to $after runs"
}

# 5. Injection through variable values.
test_inject() {
  local out rc=0 n
  mkdir -p "$T/inject"
  out=$(ctl b 3 run "$S/inject.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "inject: run --wait exited $rc: $out"
  [ "$(cat "$T/home/canary")" = alive ] || fail "inject: the canary in HOME is gone"
  n=$(find "$T" -name 'PWNED*' | wc -l)
  [ "$n" -eq 0 ] || fail "inject: a value ran a command: $(find "$T" -name 'PWNED*')"
  python3 - "$T/inject" <<'EOF' || fail "inject: a value did not arrive as written (see above)"
import sys
want = {
    "evil": "'; rm -rf ~; '",
    "pwn": "$(touch PWNED)",
    "mixed": "a\"b`touch PWNED2`\\c\nline2 $HOME ${HOME} \t'q'",
    "empty": "",
}
bad = []
for var, value in want.items():
    for i in range(1, 5):
        path = "%s/%s.node%d" % (sys.argv[1], var, i)
        try:
            got = open(path, "rb").read()
        except OSError as e:
            bad.append("%s: %s" % (path, e))
            continue
        if got != value.encode():
            bad.append("%s: got %r, want %r" % (path, got, value.encode()))
if bad:
    sys.exit("\n".join(bad))
EOF
}

# 6. Results of a run with one failing case, in every format.
test_formats() {
  local out rc=0 run f=$T/formats
  mkdir -p "$f"
  out=$(ctl b 4 run "$S/formats.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 1 ] || fail "formats: run --wait exited $rc, want 1: $out"
  run=$(head -n 1 <<<"$out")
  [[ $run =~ ^[0-9]+$ ]] || fail "formats: run printed no run id first: $out"
  grep -q "^run $run: failed: .*node2 failed (exit 3)" <<<"$out" ||
    fail "formats: run --wait did not end with a diagnosis naming node2: $out"
  ctl b 1 results "$run" --format junit >"$f/junit.xml" || fail "formats: results --format junit failed"
  ctl b 1 results "$run" --format tap >"$f/tap.txt" || fail "formats: results --format tap failed"
  ctl b 1 results "$run" --format json >"$f/results.json" || fail "formats: results --format json failed"
  ctl b 1 results "$run" >"$f/table.txt" || fail "formats: results (table) failed"

  xmllint --noout --schema "$SRC/docs/junit.xsd" "$f/junit.xml" 2>"$f/xmllint.err" ||
    fail "formats: the JUnit XML does not validate: $(cat "$f/xmllint.err")"
  python3 - "$f/junit.xml" <<'EOF' || fail "formats: the JUnit XML says the wrong thing"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = {c.get("name"): c for c in root.iter("testcase")}
assert set(cases) >= {"passes", "fails-on-node2", "after-the-failure"}, cases
assert cases["fails-on-node2"].find("failure") is not None, "no <failure> for fails-on-node2"
assert cases["passes"].find("failure") is None and cases["passes"].find("error") is None
assert "node2 fails on purpose" in ET.tostring(root, encoding="unicode"), "stderr missing"
assert '<tag attr="v"> & done' in "".join(cases["fails-on-node2"].itertext()), "output mangled"
EOF

  rc=0
  out=$(prove -e cat "$f/tap.txt" 2>&1) || rc=$?
  [ $rc -ne 0 ] || fail "formats: prove passed a run with a failing case: $out"
  if grep -q "Parse errors" <<<"$out"; then fail "formats: prove found parse errors: $out"; fi
  grep -q '^1\.\.3$' "$f/tap.txt" || fail "formats: the TAP plan is not 1..3: $(cat "$f/tap.txt")"
  grep -q '^ok [0-9]* - passes$' "$f/tap.txt" || fail "formats: TAP lacks 'ok - passes'"
  grep -q '^not ok [0-9]* - fails-on-node2$' "$f/tap.txt" || fail "formats: TAP lacks 'not ok - fails-on-node2'"
  grep -q "Failed 1/3 subtests" <<<"$out" || fail "formats: prove did not count 1 failure of 3: $out"

  python3 - "$f/results.json" <<'EOF' || fail "formats: the JSON says the wrong thing"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "failed", d["state"]
cases = {c["name"]: c["state"] for c in d["cases"]}
assert cases == {"passes": "passed", "fails-on-node2": "failed", "after-the-failure": "passed"}, cases
st = [s for s in d["stages"] if s["case"] == "fails-on-node2" and s["kind"] == "run"][0]
assert st["outcome"] == "failed" and "node2" in st["diagnosis"], st
res = {r["name"]: r for r in st["results"]}
assert res["node2"]["status"] == "failed" and res["node2"]["exit_code"] == 3, res["node2"]
assert all(res[n]["status"] == "passed" for n in ("node1", "node3", "node4")), res
assert '<tag attr="v"> & done' in res["node1"]["output"], res["node1"]["output"]
EOF
  grep -Eq '^fails-on-node2 +run +node2 +failed ' "$f/table.txt" ||
    fail "formats: the table lacks node2's failure: $(cat "$f/table.txt")"
}

# 7. Forwarding, and a restart of every agent.
test_forward_restart() {
  local out rc=0 r1 r2 coord worker before after i role
  coord=$(coordinator_of b 1) || fail "forward: no coordinator"
  worker=4 # node4 is never a voter, so never the coordinator
  out=$(ctl b $worker run "$SRC/examples/hello.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "forward: run --wait through node$worker exited $rc: $out"
  r1=$(head -n 1 <<<"$out")
  # Through TCP, to a voter that is not the coordinator.
  i=1
  [ "$coord" != 1 ] || i=2
  out=$("$CTL" --agent "127.0.0.1:${PORT[b,$i]}" --key "$T/b/cluster.key" run "$S/order.yaml" --wait 2>&1) ||
    fail "forward: run --wait over TCP to node$i exited $?: $out"
  r2=$(head -n 1 <<<"$out")
  [[ $r1 =~ ^[0-9]+$ && $r2 =~ ^[0-9]+$ && $r1 != "$r2" ]] || fail "forward: run ids '$r1' '$r2'"
  rc=0
  "$CTL" --agent "127.0.0.1:${PORT[b,$i]}" --key "$T/b/cluster.key" --timeout-ms 2000 history >/dev/null 2>&1 ||
    rc=$?
  [ $rc -eq 0 ] || fail "forward: history over TCP exited $rc"
  before=$(ctl b 3 history --json) || fail "forward: history failed"
  for r in "$r1" "$r2"; do
    js "[h['state'] for h in d if h['run'] == $r]" <<<"$before" | grep -q "passed" ||
      fail "forward: history lacks run $r as passed: $before"
  done
  ctl b 1 results "$r2" --format json >"$T/r2-before.json" || fail "forward: results $r2 failed"

  # Stop every agent, start them again on the same data dirs and ports.
  local pids=()
  for i in 1 2 3 4; do pids+=("$(pid_of b $i)"); done
  "$CTL" local down --dir "$T/b" >/dev/null || fail "restart: local down exited $?"
  for pid in "${pids[@]}"; do wait_for 10000 tscd_gone "$pid" || fail "restart: pid $pid still runs"; done
  for i in 1 2 3 4; do
    role=voter
    [ $i -le 3 ] || role=worker
    start_agent b $i $role
  done
  for i in 1 2 3 4; do
    wait_for 20000 n_alive b $i 4 || fail "restart: node$i does not see 4 alive members"
  done
  wait_for 20000 has_coordinator b 2 || fail "restart: no coordinator after the restart"
  after=$(ctl b 4 history --json) || fail "restart: history failed"
  for r in "$r1" "$r2"; do
    js "[h['state'] for h in d if h['run'] == $r]" <<<"$after" | grep -q "passed" ||
      fail "restart: history lacks run $r as passed: $after"
  done
  ctl b 2 results "$r2" --format json >"$T/r2-after.json" || fail "restart: results $r2 failed"
  cmp -s "$T/r2-before.json" "$T/r2-after.json" || fail "restart: results $r2 changed across the restart"
  ctl b 3 results "$r1" | grep -q "cases: 2 passed, 0 failed" || fail "restart: results $r1 lost its cases"
  # What history says of a run must not change when the agents restart.
  python3 - "$before" "$after" <<'EOF' || soft "restart: history changed across the restart (see above)"
import json, sys
before = {h["run"]: h for h in json.loads(sys.argv[1])}
after = {h["run"]: h for h in json.loads(sys.argv[2])}
bad = ["run %d: %s -> %s" % (r, before[r], after.get(r)) for r in before if before[r] != after.get(r)]
if bad:
    sys.exit("\n".join(bad))
EOF
  # The cluster still runs suites after the restart.
  out=$(ctl b 1 run "$SRC/examples/hello.yaml" --wait 2>&1) ||
    fail "restart: a run after the restart exited $?: $out"
}

run_basic() {
  command -v xmllint >/dev/null || fail "xmllint is missing (libxml2-utils)"
  command -v prove >/dev/null || fail "prove is missing (perl)"
  mkdir -p "$T/home"
  echo alive >"$T/home/canary"
  # HOME of every agent, and so of every script: a throw-away dir.
  AGENT_HOME=$T/home
  up b 4 0
  test_order
  test_invalid
  test_inject
  test_formats
  test_forward_restart
}

# ===========================================================================
# faults
# ===========================================================================

n_files() { [ "$(find "$1" -maxdepth 1 -name "$2" | wc -l)" -eq "$3" ]; }

node_current() { ctl "$1" "$2" status "$3" --json 2>/dev/null | js "[m['current'] for m in d['machines'] if m['name'] == '$4'][0]"; }
node_is_dead() { [ "$(node_current "$@")" = dead ]; }

# 2. A participant killed mid-stage.
test_kill_participant() {
  local d=$T/kill run pid4 t0 pgf pg boot out rc=0 el
  mkdir -p "$d"
  up k 4 1
  run=$(ctl k 1 run "$S/kill-participant.yaml") || fail "kill: run exited $?"
  wait_for 15000 n_files "$d" 'started.node*' 4 || fail "kill: the run stage did not start on 4 machines"
  pid4=$(pid_of k 4)
  t0=$(now_ms)
  kill -KILL "$pid4"
  wait_for 5000 tscd_gone "$pid4" || fail "kill: node4's tscd survived SIGKILL"
  # Its script is orphaned, not gone: the agent died mid-stage.
  pgf=$T/k/node4/work/run-$run/.tsc/$run-2.pgid
  [ -f "$pgf" ] || fail "kill: no pgid file $pgf"
  read -r pg boot <"$pgf"
  [ "$boot" = "$(cat /proc/sys/kernel/random/boot_id)" ] || fail "kill: $pgf names boot '$boot', not this one"
  group_alive "$pg" || fail "kill: node4's stage script (group $pg) is not running"
  wait_for 15000 node_is_dead k 1 "$run" node4 || fail "kill: node4 not called dead within 15 s"
  echo "kill: node4 called dead $(($(now_ms) - t0)) ms after the kill"
  # The stage waits for the machines that are alive.
  for i in 1 2 3; do
    [ "$(node_current k 1 "$run" node$i)" = pending ] || fail "kill: node$i is not pending in the stage"
  done
  # Let the live machines end the stage: the run must end at once, not
  # after node4's stage timeout (60 s).
  touch "$d/release"
  t0=$(now_ms)
  out=$(timeout 60 "$CTL" --socket "$(sock k 2)" watch "$run" 2>&1) || rc=$?
  el=$(($(now_ms) - t0))
  [ $rc -eq 1 ] || fail "kill: watch exited $rc, want 1: $out"
  echo "kill: the run ended $el ms after the live machines were let go"
  [ $el -le 15000 ] || fail "kill: the run ended $el ms after the live machines were let go, want <= 15000"
  grep -q "^run $run: failed: .*node4 dead" <<<"$out" || fail "kill: watch did not name node4 dead: $out"
  ctl k 1 results "$run" --format json >"$d/results.json" || fail "kill: results --format json failed"
  python3 - "$d/results.json" <<'EOF' || fail "kill: the results do not show node4 dead (see above)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "failed", d["state"]
st = [s for s in d["stages"] if s["case"] == "long" and s["kind"] == "run"][0]
res = {r["name"]: r["status"] for r in st["results"]}
assert res == {"node1": "passed", "node2": "passed", "node3": "passed", "node4": "dead"}, res
assert st["outcome"] == "failed" and "node4 dead" in st["diagnosis"], st
assert [c["state"] for c in d["cases"]] == ["failed"], d["cases"]
EOF
  ctl k 3 results "$run" | grep -Eq '^long +run +node4 +dead ' || fail "kill: the table does not show node4 dead"
  for i in 1 2 3; do
    [ -f "$d/final.node$i" ] || fail "kill: case finalize did not run on node$i"
    [ -f "$d/suite-final.node$i" ] || fail "kill: suite finalize did not run on node$i"
  done
  [ ! -e "$d/final.node4" ] || fail "kill: the dead node4 ran a finalize stage"
  kill -KILL -- "-$pg" 2>/dev/null || true
  wait_for 5000 group_gone "$pg" || fail "kill: node4's orphaned script (group $pg) survived"
  "$CTL" local down --dir "$T/k" >/dev/null 2>&1 || true
}

# 3. The coordinator killed mid-run.
test_kill_coordinator() {
  local d=$T/coord run k v i pidk t0 out rc=0 el
  mkdir -p "$d"
  up c 4 2
  k=$(coordinator_of c 1) || fail "coord: no coordinator"
  [ "$k" -ge 1 ] && [ "$k" -le 3 ] || fail "coord: the coordinator is node$k, not a voter"
  v=1
  [ $v -ne "$k" ] || v=2
  run=$(ctl c $v run "$S/kill-coordinator.yaml") || fail "coord: run exited $?"
  stage2() { grep -qs "^$run 2 " "$d/lines.node$k"; }
  wait_for 15000 stage2 || fail "coord: stage 2 did not start on node$k"
  pidk=$(pid_of c "$k")
  t0=$(now_ms)
  kill -KILL "$pidk"
  wait_for 5000 tscd_gone "$pidk" || fail "coord: node$k's tscd survived SIGKILL"
  out=$(timeout 60 "$CTL" --socket "$(sock c $v)" watch "$run" 2>&1) || rc=$?
  el=$(($(now_ms) - t0))
  [ $rc -eq 1 ] || fail "coord: watch from node$v exited $rc, want 1 (failed): $out"
  grep -q "^run $run: failed: .*node$k dead" <<<"$out" ||
    fail "coord: the run did not end with a diagnosis naming node$k dead: $out"
  echo "coord: node$k killed; the run ended $el ms later"
  [ $el -le 30000 ] || fail "coord: the run ended $el ms after the kill, want <= 30000"
  out=$(cat "$d"/lines.node* | sort | uniq -d)
  [ -z "$out" ] || fail "coord: scripts ran twice: $out"
  for i in 1 2 3 4; do
    [ -f "$d/lines.node$i" ] || fail "coord: node$i ran nothing"
    if grep -qv " node$i\$" "$d/lines.node$i"; then fail "coord: lines.node$i has other nodes' lines"; fi
    [ "$i" = "$k" ] && continue
    grep -q "^$run 10 node$i\$" "$d/lines.node$i" || fail "coord: suite finalize did not run on node$i"
  done
  grep -q "^$run 2 node$k\$" "$d/lines.node$k" || fail "coord: node$k was killed before stage 2"

  # Restart it: it rejoins, and answers for the run from the replicated log.
  start_agent c "$k" voter
  wait_for 20000 n_alive c "$k" 4 || fail "coord: the restarted node$k does not see 4 alive members"
  wait_for 20000 n_alive c $v 4 || fail "coord: node$v does not see the restarted node$k alive"
  ctl c "$k" results "$run" >"$d/results.txt" || fail "coord: results from the restarted node$k failed"
  grep -q "^run $run  suite itest-kill-coordinator  failed" "$d/results.txt" ||
    fail "coord: results from node$k: $(head -n 3 "$d/results.txt")"
  # node$k passed every stage before the one it was killed in (the last one
  # it logged, or the next when it had finished that one), and is dead from
  # there on; the others passed everything that ran.
  ctl c "$k" results "$run" --format json >"$d/results.json" || fail "coord: results --format json from node$k failed"
  python3 - "$d/results.json" "node$k" "$(tail -n 1 "$d/lines.node$k" | cut -d' ' -f2)" <<'EOF' ||
import json, sys
d = json.load(open(sys.argv[1]))
killed, last = sys.argv[2], int(sys.argv[3])
assert d["state"] == "failed", d["state"]
seq = {}
for s in d["stages"]:
    for r in s["results"]:
        seq.setdefault(r["name"], []).append((s["index"], r["status"]))
assert sorted(seq) == ["node1", "node2", "node3", "node4"], sorted(seq)
for name, st in seq.items():
    if name != killed:
        assert all(x == "passed" for _, x in st), (name, st)
        continue
    dead = [i for i, x in st if x != "passed"]
    assert dead and dead[0] in (last, last + 1), ("killed after stage %d" % last, st)
    assert all(x == "passed" for i, x in st if i < dead[0]), st
    assert all(x == "dead" for i, x in st if i >= dead[0]), st
EOF
    fail "coord: the results of node$k's stages are wrong (see above): $(cat "$d/results.txt")"
  ctl c "$k" history --json | js "[h['state'] for h in d if h['run'] == $run]" | grep -q failed ||
    fail "coord: history from node$k lacks the run"
  out=$(ctl c "$k" run "$SRC/examples/hello.yaml" --wait 2>&1) ||
    fail "coord: a run after node$k came back exited $?: $out"
  [ "$(cat "$d"/lines.node* | sort | uniq -d)" = "" ] || fail "coord: a script ran twice after the restart"
  "$CTL" local down --dir "$T/c" >/dev/null 2>&1 || true
}

# 8. Cancel.
test_cancel() {
  local d=$T/cancel run i pgs=() t0 out rc=0 el state
  mkdir -p "$d"
  up x 4 3
  run=$(ctl x 1 run "$S/cancel.yaml") || fail "cancel: run exited $?"
  wait_for 15000 n_files "$d" 'pgid.node?' 4 || fail "cancel: the run stage did not start on 4 machines"
  for i in 1 2 3 4; do
    pgs+=("$(cat "$d/pgid.node$i")")
    group_alive "${pgs[-1]}" || fail "cancel: the script of node$i is not running"
  done
  t0=$(now_ms)
  out=$(ctl x 4 cancel "$run" 2>&1) || fail "cancel: tscctl cancel (through node4) exited $?: $out"
  # The engine's own account of the run (history) first: the test goes on
  # when only watch is wrong.
  hist_state() { ctl x 3 history --json | js "[h['state'] for h in d if h['run'] == $run][0]"; }
  is_cancelled() { [ "$(hist_state 2>/dev/null)" = cancelled ]; }
  wait_for 10000 is_cancelled || fail "cancel: history does not say cancelled 10 s after the cancel: $(hist_state)"
  el=$(($(now_ms) - t0))
  echo "cancel: the run ended $el ms after the cancel"
  for pg in "${pgs[@]}"; do wait_for 5000 group_gone "$pg" || fail "cancel: script group $pg survived"; done
  for i in 1 2 3 4; do
    [ -f "$d/final.node$i" ] || fail "cancel: case finalize did not run on node$i"
    [ -f "$d/suite-final.node$i" ] || fail "cancel: suite finalize did not run on node$i"
  done
  if compgen -G "$d/never.*" >/dev/null; then fail "cancel: a case after the cancel ran"; fi
  # Every view of the run must agree that it was cancelled; watch must end.
  out=$(timeout 15 "$CTL" --socket "$(sock x 2)" watch "$run" 2>&1) || rc=$?
  [ $rc -eq 1 ] || soft "cancel: watch exited $rc, want 1 (124: still waiting after 15 s): $(tail -n 1 <<<"$out")"
  grep -q "^run $run: cancelled" <<<"$out" || soft "cancel: watch did not end with 'run $run: cancelled'"
  state=$(ctl x 1 status "$run" --json | js 'd["state"]')
  [ "$state" = cancelled ] || soft "cancel: status --json says state '$state', want 'cancelled'"
  ctl x 1 results "$run" --format json >"$d/results.json" || fail "cancel: results --format json failed"
  state=$(js 'd["state"]' <"$d/results.json")
  [ "$state" = cancelled ] || soft "cancel: results --format json says state '$state', want 'cancelled'"
  [ "$(js 'd["cancel"] is not None' <"$d/results.json")" = True ] ||
    soft "cancel: results --format json has \"cancel\": null"
  "$CTL" local down --dir "$T/x" >/dev/null 2>&1 || true
}

run_faults() {
  test_kill_participant
  test_kill_coordinator
  test_cancel
}

# ===========================================================================
# redis
# ===========================================================================

run_redis() {
  local out rc=0 run
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "$NAME: redis-server or redis-cli is missing: skipped"
    exit 77
  fi
  up r 3 4
  out=$(ctl r 2 run "$SRC/examples/redis.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "redis: run --wait exited $rc: $out$(ctl r 1 results "$(head -n 1 <<<"$out")" 2>&1)"
  run=$(head -n 1 <<<"$out")
  ctl r 1 results "$run" | grep -q "^cases: 2 passed, 0 failed" || fail "redis: results do not show 2 passed cases"
  ctl r 1 results "$run" --format json | js '[r["output"] for s in d["stages"] for r in s["results"]]' |
    grep -q "counter converged to 100" || fail "redis: no replica said its counter converged"
}

# For debugging: `test_runs.sh faults kill_participant` runs one test.
if [ $# -gt 1 ] && [ "$MODE" = faults ]; then
  shift
  for t in "$@"; do "test_$t"; done
  finish
  exit 0
fi
case $MODE in
basic) run_basic ;;
faults) run_faults ;;
redis) run_redis ;;
*)
  echo "usage: $0 basic|faults|redis" >&2
  exit 2
  ;;
esac
finish
