#!/usr/bin/env bash
# tsc — tscctl's log commands against a stand-in agent (fake_agent.c): the
# real CLI, the real control codec and socket, canned answers.
#   logs     pages until the end (the agent answers fewer records than asked
#            for), jsonl parsed by python3, filters by node/case/stage/grep,
#            the span from log_index, an older agent without log_index,
#            "last" as the run, bad arguments
#   log      TEXT words joined; stdin in chunks <= 1 MiB that end at a line end
#   send     peer and text reach the agent
#   recv     prints the text; exit 1 when the agent's wait times out
# Usage: test_logs_cli.sh TSCCTL FAKE_AGENT
set -uo pipefail
TSCCTL=${1:?usage: test_logs_cli.sh TSCCTL FAKE_AGENT}
FAKE=${2:?usage: test_logs_cli.sh TSCCTL FAKE_AGENT}
command -v python3 >/dev/null || { echo "skip: python3 not installed"; exit 77; }
DIR=$(mktemp -d /tmp/tsc-logs-cli.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

start_fake() { # [env...]
  [ -n "$PID" ] && { kill "$PID"; wait "$PID" 2>/dev/null; }
  rm -f "$DIR/sock"
  env "$@" "$FAKE" "$DIR/sock" "$DIR/requests" &
  PID=$!
  for _ in $(seq 1 500); do [ -S "$DIR/sock" ] && return 0; sleep 0.01; done
  echo "fake agent did not start"; exit 1
}
ctl() { "$TSCCTL" --socket "$DIR/sock" "$@"; }

start_fake
# Every record, in order, once; the gap error last.
ctl logs 42 --format jsonl >"$DIR/all.jsonl" || fail "logs --format jsonl exits $?"
python3 - "$DIR/all.jsonl" <<'PY' || fail "all.jsonl"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
recs = [o for o in objs if "error" not in o]
assert [r["index"] for r in recs] == list(range(1, 40001)), len(recs)
assert recs[0]["text"] == "line 1" and recs[-1]["text"] == "line 40000"
assert recs[0]["name"] == "00000000000000a1" and recs[0]["clock"] == {"00000000000000a1": 1}
assert objs[-1]["error"]["kind"] == "gap" and objs[-1]["error"]["b"]["seq"] == 9
assert sum("error" in o for o in objs) == 1
PY
# 8 pages of 5000 and the empty one that says "the end".
grep -c '^logs run=42 from=' "$DIR/requests" | grep -qx 9 || fail "logs pages: $(grep -c '^logs' "$DIR/requests")"

# Filters: node b2 (even indices) in case 1's run (1..20000), texts ending
# in 8: 8, 18, ..., 19998. The gap error names b2: on stderr.
: >"$DIR/requests"
out=$(ctl logs last --node b2 --case 1 --stage run --grep '8$' 2>"$DIR/err")
[ "$(wc -l <<<"$out")" = 2000 ] || fail "filtered lines: $(wc -l <<<"$out")"
head -1 <<<"$out" | grep -qxE '8  2024-05-01T12:00:00\.000008Z  00000000000000b2  run/case-1  stdout  line 8' ||
  fail "first filtered line: $(head -1 <<<"$out")"
tail -1 <<<"$out" | grep -qxE '19998  2024-05-01T12:00:00\.019998Z  00000000000000b2  run/case-1  stdout  line 19998' ||
  fail "last filtered line: $(tail -1 <<<"$out")"
grep -qx 'out of sequence: gap: 00000000000000b2 seq 7, 00000000000000b2 seq 9' "$DIR/err" ||
  fail "error on stderr: $(cat "$DIR/err")"
grep -q '^history ' "$DIR/requests" || fail "\"last\" did not ask the history"
grep -q '^log_index run=42' "$DIR/requests" || fail "no log_index for the span"
# The span (2..20000) was fetched, not the suite finalize half.
last_from=$(grep '^logs run=42' "$DIR/requests" | tail -1 | sed 's/.*from=\([0-9]*\).*/\1/')
[ -n "$last_from" ] && [ "$last_from" -le 20000 ] || fail "fetched past the span: from=$last_from"
ctl logs 42 --stage suite-finalize --node a1 --format shiviz >"$DIR/fin.shiviz" || fail "shiviz"
python3 - "$DIR/fin.shiviz" <<'PY' || fail "fin.shiviz"
import json, re, sys
first, blank, body = open(sys.argv[1]).read().split("\n", 2)
assert blank == ""
ev = list(re.finditer(re.sub(r"\(\?<(\w+)>", r"(?P<\1>", first), body))
assert len(ev) == 10000, len(ev)
# ShiViz numbering: the host's own events 1..10000 though its seqs start at 10001.
assert [json.loads(m.group("clock"))["00000000000000a1"] for m in ev] == list(range(1, 10001))
PY
# An older agent: no log_index; the whole log is scanned, same answer.
start_fake FAKE_NO_INDEX=1
out2=$(ctl logs 42 --node b2 --case 1 --stage run --grep '8$' 2>/dev/null)
[ "$out" = "$out2" ] || fail "without log_index the output differs"
# Bad arguments: exit 2.
ctl logs 42 --node zz >/dev/null 2>&1; [ $? = 2 ] || fail "--node zz"
ctl logs 42 --case nope >/dev/null 2>&1; [ $? = 2 ] || fail "--case nope"
ctl logs 42 --stage walk >/dev/null 2>&1; [ $? = 2 ] || fail "--stage walk"
ctl logs 42 --grep '(' >/dev/null 2>&1; [ $? = 2 ] || fail "--grep ("
ctl logs 42 --format table >/dev/null 2>&1; [ $? = 2 ] || fail "--format table"
ctl logs x1 >/dev/null 2>&1; [ $? = 2 ] || fail "run x1"

# log: words joined; stdin in chunks that end at line ends.
: >"$DIR/requests"
ctl log hello "big world" || fail "log exits $?"
grep -qx 'log run=0 from=0 limit=0 peer= timeout_ms=0 len=15 nl=0 last=64' "$DIR/requests" ||
  fail "log request: $(cat "$DIR/requests")"
: >"$DIR/requests"
python3 -c 'import sys
for i in range(40000): sys.stdout.write("%06d %s\n" % (i, "y" * 60))' | ctl log --run 42 ||
  fail "log from stdin exits $?"
python3 - "$DIR/requests" <<'PY' || fail "stdin chunks: $(cat "$DIR/requests")"
import sys
reqs = [dict(kv.split("=", 1) for kv in l.split()[1:]) for l in open(sys.argv[1])]
assert len(reqs) == 3, len(reqs)
assert all(r["run"] == "42" and r["last"] == "0a" for r in reqs), reqs
assert all(int(r["len"]) <= 1 << 20 for r in reqs)
assert sum(int(r["len"]) for r in reqs) == 40000 * 68 and sum(int(r["nl"]) for r in reqs) == 40000
PY
: >"$DIR/requests"
printf 'no newline at the end' | ctl log || fail "log of a last line without newline"
grep -q 'len=21 nl=0 last=64' "$DIR/requests" || fail "last line: $(cat "$DIR/requests")"

# send and recv.
: >"$DIR/requests"
ctl send m2 ping pong || fail "send exits $?"
grep -qx 'send run=0 from=0 limit=0 peer=m2 timeout_ms=0 len=9 nl=0 last=67' "$DIR/requests" ||
  fail "send request: $(cat "$DIR/requests")"
got=$(ctl recv --from m2 --timeout 5) || fail "recv exits $?"
[ "$got" = "hello from b2" ] || fail "recv printed: $got"
grep -q '^recv run=0 .*peer=m2 timeout_ms=5000 ' "$DIR/requests" || fail "recv request"
ctl recv --timeout 0 >"$DIR/recv.out" 2>"$DIR/recv.err"; rc=$?
[ $rc = 1 ] || fail "recv timeout exits $rc"
[ -s "$DIR/recv.out" ] && fail "recv timeout printed: $(cat "$DIR/recv.out")"
ctl send m2 >/dev/null 2>&1; [ $? = 2 ] || fail "send without text"

if [ $FAILS -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
echo "ok: logs, log, send and recv against the stand-in agent"
