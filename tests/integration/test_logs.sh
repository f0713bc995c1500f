#!/usr/bin/env bash
# tsc — logs end to end (issue "Logs"): real tscd agents on 127.0.0.1
# (`tscctl local up`), suites from tests/integration/suites/logs-*, the
# merged log read back with `tscctl logs RUN --format jsonl --follow`.
#
#   test_logs.sh pingpong   4 agents; every stage prints lines on stdout and
#       stderr (the last one without a newline; one of 70 000 bytes, which
#       comes in two records) and logs with `tscctl log`;
#       in the run stage node1 and node2 play 20 rounds of ping-pong with
#       `tscctl send` / `tscctl recv`. Checks: indices 1..n; every line once,
#       with its node, kind and stage; each node's records in seq order
#       without holes; every send before its recv; and every record after
#       its whole causal past (the clock of each record names records that
#       all come earlier): the merged order is a linear extension.
#   test_logs.sh failover   4 agents print 50 000 lines each; the
#       coordinator is killed (-9) while they print. After the failover and
#       the run's end, the new coordinator's merged log has every line of
#       the three survivors exactly once, and no line of the killed one twice.
#   test_logs.sh gap        node4 restarted with TSC_TEST_LOG_DROP=0:3 (its
#       shipper never sends its record 3 of any run): the merged log reports
#       a gap naming node4 (seq 4 after seq 2), and `tscctl results` says so.
#
# Waits are polls with deadlines (--follow ends when the coordinator says
# the run's log is complete). Ports: 20000 + (pid % 40) * 50. Needs
# TSC_BIN_DIR and TSC_SOURCE_DIR (set by ctest) and python3.
set -euo pipefail
MODE=${1:-pingpong}
BIN=${TSC_BIN_DIR:?TSC_BIN_DIR is not set}
SRC=${TSC_SOURCE_DIR:?TSC_SOURCE_DIR is not set}
CTL=$BIN/tscctl
TSCD=$BIN/tscd
unset TSC_SOCKET TSC_LOCAL_DIR TSC_TEST_LOG_DROP
T=$(mktemp -d /tmp/tsc-logs-test.XXXXXX)
T=$(cd "$T" && pwd -P)
BASE=$((20000 + ($$ % 40) * 50))
NAME="test_logs $MODE"
C=$T/c # the cluster
SEEN=()

kill_our_groups() {
  local f pg pid
  for f in "$C"/node*/work/run-*/.tsc/*.pgid; do
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

cleanup() {
  local pid
  kill_our_groups
  "$CTL" local down --dir "$C" --purge >/dev/null 2>&1 || true
  for pid in "${SEEN[@]}"; do
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  local f
  echo "$NAME: FAIL: $*" >&2
  for f in "$C"/node*/tscd.log; do
    [ -f "$f" ] || continue
    echo "---- $f ----" >&2
    tail -n 20 "$f" >&2 || true
  done
  exit 1
}

now_ms() { date +%s%3N; }
wait_for() {
  local deadline=$(($(now_ms) + $1))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt $deadline ] || return 1
    sleep 0.05
  done
}
js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

tscd_alive() {
  local pid=$1 stat
  stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ] || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}
tscd_gone() { ! tscd_alive "$1"; }

sock() { echo "$C/node$1/tscd.sock"; }
ctl() {
  local i=$1
  shift
  "$CTL" --socket "$(sock "$i")" "$@"
}
pid_of() { cat "$C/node$1/tscd.pid"; }
declare -A PORT

up() {
  local out line i
  out=$("$CTL" local up 4 --dir "$C" --base-port "$BASE") || fail "local up exited $?"
  for i in 1 2 3 4; do
    line=$(grep "^node$i " <<<"$out") || fail "local up did not list node$i: $out"
    PORT[$i]=$(sed -E 's/.*127\.0\.0\.1:([0-9]+) .*/\1/' <<<"$line")
    SEEN+=("$(pid_of $i)")
  done
}

n_alive() { [ "$(ctl "$1" members --json 2>/dev/null | grep -o '"status":"alive"' | wc -l)" -eq "$2" ]; }

coordinator_of() {
  local i=$1 id
  id=$(ctl "$i" status --json | js 'd["coordinator"] or ""') || return 1
  [ -n "$id" ] || return 1
  ctl "$i" members --json | js "[m['labels']['name'] for m in d if m['id'] == '$id'][0]" | sed 's/^node//'
}

# Suites with @DIR@ and @CTL@ replaced, in $T/suites.
mkdir -p "$T/suites" "$T/flood"
for f in "$SRC"/tests/integration/suites/logs-*; do
  sed "s|@DIR@|$T|g; s|@CTL@|$CTL|g" "$f" >"$T/suites/$(basename "$f")"
done
S=$T/suites

# fetch I RUN FILE: the merged log through node I, once it is complete.
fetch() {
  timeout 120 "$CTL" --socket "$(sock "$1")" logs "$2" --format jsonl --follow >"$3" ||
    fail "logs $2 --follow through node$1 exited $? (or did not end within 120 s)"
}

# ===========================================================================

test_pingpong() {
  local out rc=0 run
  up
  out=$(ctl 2 run "$S/logs-pingpong.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "pingpong: run --wait exited $rc: $out"
  run=$(head -n 1 <<<"$out")
  fetch 3 "$run" "$T/pp.jsonl"
  python3 - "$T/pp.jsonl" <<'EOF' || fail "pingpong: the merged log is wrong (see above)"
import json, sys
recs, errors = [], []
for line in open(sys.argv[1]):
    d = json.loads(line)
    (errors if "error" in d else recs).append(d)
bad = []
if errors:
    bad.append("out-of-sequence errors: %s" % errors[:5])
idx = [r["index"] for r in recs]
if idx != list(range(1, len(recs) + 1)):
    bad.append("indices are not 1..%d" % len(recs))
nodes = ["node1", "node2", "node3", "node4"]
count = {}
for r in recs:
    count[(r["name"], r["kind"], r["text"])] = count.get((r["name"], r["kind"], r["text"]), []) + [r]
def once(node, kind, text, stage=None):
    got = count.get((node, kind, text), [])
    if len(got) != 1:
        bad.append("%s %s %r: %d times" % (node, kind, text, len(got)))
    elif stage is not None and got[0]["stage"] != stage:
        bad.append("%s %r: stage %s, want %d" % (node, text, got[0]["stage"], stage))
    return got[0]["index"] if got else None
for n in nodes:
    for s in range(5):
        for i in (1, 2, 3):
            once(n, "stdout", "line %d of stage %d on %s" % (i, s, n), s)
            once(n, "stderr", "err %d of stage %d on %s" % (i, s, n), s)
        once(n, "stdout", "last line without a newline of stage %d on %s" % (s, n), s)
        once(n, "user", "user event of stage %d on %s" % (s, n), s)
        # The suite's followed file (follow: app.log), one line per stage.
        f = [r for r in recs if r["name"] == n and r["kind"] == "file"
             and r["text"] == "app.log: app %d on %s" % (s, n)]
        if len(f) != 1:
            bad.append("%s: followed line of stage %d seen %d times" % (n, s, len(f)))
rot = [r for r in recs if r["kind"] == "file" and r["text"] == "app.log: after rotation on node1"]
if len(rot) != 1:
    bad.append("node1's line after the rotation of app.log seen %d times" % len(rot))
for i in range(1, 21):
    for frm, to, w in (("node1", "node2", "ping"), ("node2", "node1", "pong")):
        a = once(frm, "send", "to %s: %s %d" % (to, w, i))
        b = once(to, "recv", "from %s: %s %d" % (frm, w, i))
        if a is not None and b is not None and not a < b:
            bad.append("%s %d: the recv (%d) comes before the send (%d)" % (w, i, b, a))
# Each node: its records in seq order, 1..max without holes.
for n in set(r["name"] for r in recs):
    seqs = [r["seq"] for r in recs if r["name"] == n]
    if seqs != list(range(1, len(seqs) + 1)):
        bad.append("%s: seqs in merged order are not 1..%d" % (n, len(seqs)))
# Linear extension: the clock of a record names its causal past, which
# must lie before it.
at = {(r["name"], r["seq"]): r["index"] for r in recs}
for r in recs:
    for m, c in r["clock"].items():
        if m == r["name"]:
            continue
        i = at.get((m, c))
        if i is None or i > r["index"]:
            bad.append("record %d (%s seq %d) depends on %s seq %d at %s" %
                       (r["index"], r["name"], r["seq"], m, c, i))
            break
long = [len(r["text"]) for r in recs if r["name"] == "node3" and r["kind"] == "stdout"
        and r["text"].startswith("xxx")]
if long != [65536, 70000 - 65536]:
    bad.append("node3's 70000-byte line came as pieces of %s bytes" % long)
kinds = set(r["kind"] for r in recs)
for k in ("event", "stdout", "stderr", "user", "send", "recv", "file"):
    if k not in kinds:
        bad.append("no record of kind %s" % k)
if not any(r["kind"] == "event" and r["text"].startswith("run ended: passed") for r in recs):
    bad.append("no 'run ended' event")
if bad:
    sys.exit("\n".join(bad[:40]))
print("pingpong: %d records merged in causal order" % len(recs))
EOF
}

test_failover() {
  local out rc=0 run k v pidk started t0 el
  up
  k=$(coordinator_of 1) || fail "failover: no coordinator"
  v=1
  [ "$v" -ne "$k" ] || v=2
  run=$(ctl $v run "$S/logs-flood.yaml") || fail "failover: run exited $?"
  started() { [ -f "$T/flood/started.node$k" ]; }
  wait_for 30000 started || fail "failover: node$k did not start printing"
  pidk=$(pid_of "$k")
  kill -KILL "$pidk"
  t0=$(now_ms)
  wait_for 5000 tscd_gone "$pidk" || fail "failover: node$k's tscd survived SIGKILL"
  echo "failover: killed the coordinator node$k while the agents print"
  out=$(timeout 120 "$CTL" --socket "$(sock $v)" watch "$run" 2>&1) || rc=$?
  [ $rc -eq 1 ] || fail "failover: watch exited $rc, want 1 (failed: node$k died): $(tail -n 3 <<<"$out")"
  fetch $v "$run" "$T/flood.jsonl"
  el=$(($(now_ms) - t0))
  echo "failover: the merged log was complete $el ms after the kill"
  python3 - "$T/flood.jsonl" "node$k" <<'EOF' || fail "failover: lines are missing or doubled (see above)"
import json, sys
killed = sys.argv[2]
n_lines = 50000
seen = {}
recs = errors = 0
last = 0
bad = []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "error" in d:
        errors += 1
        continue
    recs += 1
    if d["index"] != last + 1:
        bad.append("index %d after %d" % (d["index"], last))
    last = d["index"]
    t = d["text"]
    if d["kind"] == "stdout" and t.startswith("flood "):
        _, node, k = t.split()
        if node != d["name"]:
            bad.append("line %r from %s" % (t, d["name"]))
        seen[(node, int(k))] = seen.get((node, int(k)), 0) + 1
twice = [k for k, c in seen.items() if c > 1]
if twice:
    bad.append("%d lines twice, e.g. %s" % (len(twice), twice[:3]))
for n in ("node1", "node2", "node3", "node4"):
    if n == killed:
        continue
    missing = [i for i in range(1, n_lines + 1) if (n, i) not in seen]
    if missing:
        bad.append("%s: %d lines missing, e.g. %s" % (n, len(missing), missing[:5]))
if bad:
    sys.exit("\n".join(bad[:20]))
print("failover: %d records, every survivor's %d lines once, %d of the killed node's, "
      "%d out-of-sequence errors" % (recs, n_lines,
      sum(1 for (n, _) in seen if n == killed), errors))
EOF
}

test_gap() {
  local out rc=0 run pid4 d=$C/node4
  up
  pid4=$(pid_of 4)
  kill -TERM "$pid4"
  wait_for 10000 tscd_gone "$pid4" || fail "gap: node4 did not stop"
  TSC_TEST_LOG_DROP=0:3 "$TSCD" --data-dir "$d" --key "$C/cluster.key" --bind "127.0.0.1:${PORT[4]}" \
    --label name=node4 --role worker --join "127.0.0.1:${PORT[1]}" >>"$d/tscd.log" 2>&1 </dev/null &
  SEEN+=($!)
  echo $! >"$d/tscd.pid"
  for i in 1 4; do wait_for 20000 n_alive $i 4 || fail "gap: node$i does not see 4 alive members"; done
  out=$(ctl 1 run "$S/logs-pingpong.yaml" --wait 2>&1) || rc=$?
  [ $rc -eq 0 ] || fail "gap: run --wait exited $rc: $out"
  run=$(head -n 1 <<<"$out")
  fetch 2 "$run" "$T/gap.jsonl"
  python3 - "$T/gap.jsonl" <<'EOF' || fail "gap: no gap reported for node4's record 3 (see above)"
import json, sys
recs, gaps = [], []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "error" in d:
        if d["error"]["kind"] == "gap":
            gaps.append(d["error"])
    else:
        recs.append(d)
want = [g for g in gaps if g["a"]["name"] == "node4" and g["a"]["seq"] == 4 and
        g["b"] is not None and g["b"]["name"] == "node4" and g["b"]["seq"] == 2]
if not want:
    sys.exit("gap errors: %s" % gaps)
seqs = [r["seq"] for r in recs if r["name"] == "node4"]
if 3 in seqs or 2 not in seqs or 4 not in seqs:
    sys.exit("node4's seqs around the gap: %s" % seqs[:6])
print("gap: reported as %s" % want[0])
EOF
  out=$(ctl 3 results "$run" 2>&1) || fail "gap: results $run exited $?: $out"
  grep -q "gap" <<<"$out" && grep -q "node4" <<<"$out" ||
    fail "gap: results $run does not report the gap of node4: $out"
}

case $MODE in
pingpong) test_pingpong ;;
failover) test_failover ;;
gap) test_gap ;;
*)
  echo "usage: $0 pingpong|failover|gap" >&2
  exit 2
  ;;
esac
echo "$NAME: OK"
