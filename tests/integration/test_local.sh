#!/usr/bin/env bash
# tsc — `tscctl local up|down|status`: a local cluster of tscd daemons on
# 127.0.0.1, driven only through tscctl as a user would.
#
#   1. `local up 4` starts four agents: four pid files, each a live tscd, and
#      node3's socket lists four alive members;
#   2. a second `local up` in the same dir is refused (exit 1) and leaves the
#      running cluster alone;
#   3. `local down` stops every agent (exit 0) and removes the pid files;
#      a second `down` says nothing runs and exits 0;
#   4. `local up 1` in the same dir works (a lone voter elects itself);
#   5. `local down --purge` removes the dir.
# The dir is a mktemp dir; the ports come from 17946-19946, offset by our
# pid so that two build trees testing at once rarely meet (tscctl skips
# ports in use anyway). The trap stops everything by pid, on failure too.
# Needs TSC_BIN_DIR (set by ctest).
set -euo pipefail
BIN=${TSC_BIN_DIR:?TSC_BIN_DIR is not set}
CTL=$BIN/tscctl
DIR=$(mktemp -d /tmp/tsc-local-test.XXXXXX)
BASE=$((17946 + ($$ % 40) * 50))

# Every pid we saw in a pid file, for the trap.
SEEN=()

cleanup() {
  local pid
  "$CTL" local down --dir "$DIR" --purge >/dev/null 2>&1 || true
  for pid in "${SEEN[@]}"; do
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  local f
  echo "test_local: FAIL: $*" >&2
  for f in "$DIR"/node*/tscd.log; do
    [ -f "$f" ] || continue
    echo "---- $f ----" >&2
    tail -n 15 "$f" >&2 || true
  done
  exit 1
}

now_ms() { date +%s%3N; }

# A pid is a running tscd (not a zombie: the container's init may not reap).
tscd_alive() {
  local pid=$1 stat
  stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = tscd ] || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# Wait (deadline in ms) until none of the given pids is a running tscd.
wait_gone() {
  local deadline=$(($(now_ms) + $1)) pid left
  shift
  while :; do
    left=0
    for pid in "$@"; do tscd_alive "$pid" && left=$((left + 1)); done
    [ $left -eq 0 ] && return 0
    [ "$(now_ms)" -ge $deadline ] && return 1
    sleep 0.05
  done
}

pids_of() {
  local f
  for f in "$DIR"/node*/tscd.pid; do [ -f "$f" ] && cat "$f"; done
}

# --- 1. up 4 -----------------------------------------------------------------
out=$("$CTL" local up 4 --dir "$DIR" --base-port $BASE) || fail "local up 4 exited $?"
echo "$out"
mapfile -t PIDS < <(pids_of)
SEEN+=("${PIDS[@]}")
[ ${#PIDS[@]} -eq 4 ] || fail "want 4 pid files, found ${#PIDS[@]}"
for pid in "${PIDS[@]}"; do tscd_alive "$pid" || fail "pid $pid is not a running tscd"; done
[ "$(grep -c '^node[1-4] .*127\.0\.0\.1:[0-9]*  pid [0-9]*' <<<"$out")" -eq 4 ] ||
  fail "the summary does not list 4 agents"
grep -q '^coordinator: node[1-3]$' <<<"$out" || fail "the summary names no voter as coordinator"
grep -qx "export TSC_SOCKET=$(cd "$DIR" && pwd -P)/node1/tscd.sock" <<<"$out" ||
  fail "the summary lacks the export line"
grep -qx "TSC_LOCAL_N=4" "$DIR/cluster.env" || fail "cluster.env lacks TSC_LOCAL_N=4"
[ -s "$DIR/cluster.key" ] || fail "no cluster.key"
[ "$(stat -c %a "$DIR")" = 700 ] || fail "the dir is not mode 0700"

json=$("$CTL" --socket "$DIR/node3/tscd.sock" members --json) || fail "members on node3 failed"
n_alive=$(grep -o '"status":"alive"' <<<"$json" | wc -l)
n_all=$(grep -o '"status":"[a-z]*"' <<<"$json" | wc -l)
[ "$n_alive/$n_all" = 4/4 ] ||
  fail "node3 lists $n_all members, $n_alive alive; want 4 alive: $json"
for i in 1 2 3 4; do
  grep -q "\"name\":\"node$i\"" <<<"$json" || fail "node3 does not list node$i: $json"
done
"$CTL" local status --dir "$DIR" >/dev/null || fail "local status: not every agent alive"

# --- 2. a second up is refused -------------------------------------------------
rc=0
err=$("$CTL" local up 2 --dir "$DIR" --base-port $BASE 2>&1 >/dev/null) || rc=$?
[ $rc -eq 1 ] || fail "a second local up exited $rc, want 1"
grep -q "already running" <<<"$err" || fail "a second local up said: $err"
for pid in "${PIDS[@]}"; do tscd_alive "$pid" || fail "the refused up disturbed pid $pid"; done
[ "$(pids_of | sort)" = "$(printf '%s\n' "${PIDS[@]}" | sort)" ] || fail "the pid files changed"

# --- 3. down -------------------------------------------------------------------
out=$("$CTL" local down --dir "$DIR") || fail "local down exited $?"
grep -qx "stopped 4 agents" <<<"$out" || fail "local down said: $out"
wait_gone 10000 "${PIDS[@]}" || fail "agents still running after local down"
[ -z "$(pids_of)" ] || fail "pid files left after local down"
rc=0
"$CTL" local status --dir "$DIR" >/dev/null || rc=$?
[ $rc -eq 3 ] || fail "local status with nothing running exited $rc, want 3"
out=$("$CTL" local down --dir "$DIR") || fail "a second local down exited $?"
grep -q "no local cluster running" <<<"$out" || fail "a second local down said: $out"

# --- 4. up 1: a lone voter elects itself --------------------------------------
out=$("$CTL" local up 1 --dir "$DIR" --base-port $BASE) || fail "local up 1 exited $?"
grep -qx "coordinator: node1" <<<"$out" || fail "local up 1 said: $out"
mapfile -t PIDS < <(pids_of)
SEEN+=("${PIDS[@]}")
[ ${#PIDS[@]} -eq 1 ] || fail "want 1 pid file after up 1, found ${#PIDS[@]}"
json=$("$CTL" --socket "$DIR/node1/tscd.sock" members --json) || fail "members on node1 failed"
[ "$(grep -o '"status":"[a-z]*"' <<<"$json" | wc -l)" -eq 1 ] ||
  fail "a fresh up 1 lists other members (stale data kept?): $json"

# --- 5. down --purge -----------------------------------------------------------
"$CTL" local down --dir "$DIR" --purge >/dev/null || fail "local down --purge exited $?"
wait_gone 10000 "${PIDS[@]}" || fail "the agent is still running after local down --purge"
[ ! -e "$DIR" ] || fail "--purge left $DIR"
echo "test_local: OK"
