#!/usr/bin/env bash
# tsc — partition test with network namespaces (tests run as root in CI).
#
# Topology: one namespace per agent (tsc-t<pid>-n1..n5) and one holding a
# bridge (tsc-t<pid>-br); each agent namespace has a veth pair whose other
# end is a port of the bridge. Addresses 198.18.0.1..5/24 only (RFC 2544
# benchmarking range, DESIGN.md: never anything else). n1..n3 are voters,
# n4..n5 non-voters.
#
#   1. the five agents form a cluster; all agree on one coordinator;
#   2. the coordinator's bridge port goes down (it is cut off from everyone);
#      the majority elects a new coordinator and all four agree on it; the
#      old one stops acting within its lease (its own `tscctl status --json`
#      over its Unix socket says acting=false);
#   3. heal: exactly one coordinator, agreed by all five.
# Everything is removed on exit (trap): daemons (killed by their own pid),
# namespaces (which takes the veths and the bridge with them), the temp dir.
# Exit 77 (skipped) only when `ip netns add` is not permitted.
# Usage: partition.sh BIN_DIR
set -uo pipefail
BIN=${1:?usage: partition.sh BIN_DIR}
P=tsc-t$$
ROOT=$(mktemp -d /tmp/tsc-netns.XXXXXX)
PIDS=()
NSS=()
N=5

cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$ROOT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "partition: FAIL: $*" >&2
  for i in $(seq 1 $N); do
    echo "---- n$i ----" >&2
    tail -n 15 "$ROOT/n$i.log" >&2 2>/dev/null || true
  done
  exit 1
}

if ! ip netns add "$P-br" 2>/dev/null; then
  echo "partition: SKIP: 'ip netns add' is not permitted here (needs root / CAP_NET_ADMIN)"
  exit 77
fi
NSS+=("$P-br")
ip -n "$P-br" link add br0 type bridge || fail "bridge"
ip -n "$P-br" link set br0 up || fail "bridge up"
for i in $(seq 1 $N); do
  ns=$P-n$i
  ip netns add "$ns" || fail "netns $ns"
  NSS+=("$ns")
  # Create the pair inside the agent's namespace, move one end to the bridge.
  ip -n "$ns" link add eth0 type veth peer name p$i || fail "veth $i"
  ip -n "$ns" link set p$i netns "$P-br" || fail "move p$i"
  ip -n "$P-br" link set p$i master br0 || fail "attach p$i"
  ip -n "$P-br" link set p$i up || fail "p$i up"
  ip -n "$ns" addr add 198.18.0.$i/24 dev eth0 || fail "addr $i"
  ip -n "$ns" link set eth0 up || fail "eth0 up $i"
  ip -n "$ns" link set lo up || fail "lo up $i"
done

"$BIN/tscctl" keygen "$ROOT/key" 2>/dev/null || fail "keygen"
for i in $(seq 1 $N); do
  role=voter
  [ "$i" -gt 3 ] && role=worker
  args=(--data-dir "$ROOT/n$i" --key "$ROOT/key" --bind 198.18.0.$i:7946 --role $role
        --probe-interval-ms 200)
  [ "$i" -gt 1 ] && args+=(--join 198.18.0.1:7946)
  ip netns exec "$P-n$i" "$BIN/tscd" "${args[@]}" 2>"$ROOT/n$i.log" &
  PIDS+=($!)
done

now_ms() { date +%s%3N; }

# status I -> "coordinator term acting voter" (or "- 0 false false"); bash
# regexes on tscctl's one-line JSON (starting python costs ~0.5 s here).
status() {
  local out c=- t=0 act=false v=false
  out=$("$BIN/tscctl" status --json --socket "$ROOT/n$1/tscd.sock" --timeout-ms 1000 2>/dev/null) || out=""
  [[ $out =~ \"coordinator\":\"([0-9a-f]{16})\" ]] && c=${BASH_REMATCH[1]}
  [[ $out =~ \"term\":([0-9]+) ]] && t=${BASH_REMATCH[1]}
  [[ $out =~ \"acting\":true ]] && act=true
  [[ $out =~ \"voter\":true ]] && v=true
  echo "$c $t $act $v"
}

# agree EXCLUDE AGENTS...: all name the same coordinator (not EXCLUDE) and
# term, and exactly one of them is acting. Prints "coord term".
agree() {
  local exclude=$1 i c t act v first="" acting=0
  shift
  for i in "$@"; do
    read -r c t act v < <(status "$i")
    [ -n "${DEBUG:-}" ] && echo "$(now_ms) n$i: $c $t $act $v" >&2
    [ "$c" = - ] && return 1
    [ "$c" = "$exclude" ] && return 1
    [ -n "$first" ] && [ "$first" != "$c $t" ] && return 1
    first="$c $t"
    [ "$act" = true ] && acting=$((acting + 1))
  done
  [ "$acting" -eq 1 ] || return 1
  echo "$first"
}

# wait_agree SECONDS EXCLUDE AGENTS...
wait_agree() {
  local secs=$1 end out
  shift
  end=$(($(now_ms) + secs * 1000))
  while [ "$(now_ms)" -lt "$end" ]; do
    if out=$(agree "$@"); then echo "$out"; return 0; fi
    sleep 0.05
  done
  return 1
}

all=$(seq 1 $N)
voters_ready() {
  local i c t act v
  for i in 1 2 3; do
    read -r c t act v < <(status "$i")
    [ "$v" = true ] || return 1
  done
}
end=$((SECONDS + 60))
until voters_ready; do
  [ $SECONDS -lt $end ] || fail "the three voters never all joined the voter set"
  sleep 0.2
done
read -r COORD TERM < <(wait_agree 60 none $all) || fail "no agreement on a coordinator"
OLD=0
for i in $all; do
  read -r c t act v < <(status "$i")
  [ "$act" = true ] && OLD=$i
done
[ "$OLD" -gt 0 ] || fail "nobody is acting"
echo "partition: coordinator n$OLD ($COORD), term $TERM"

echo "partition: cutting n$OLD off (its bridge port down)"
t0=$(now_ms)
ip -n "$P-br" link set p$OLD down || fail "link down"
rest=$(for i in $all; do [ "$i" -ne "$OLD" ] && echo "$i"; done)
# shellcheck disable=SC2086
read -r NEW NTERM < <(wait_agree 30 "$COORD" $rest) || fail "the majority elected nobody"
t1=$(now_ms)
echo "partition: majority agrees on $NEW, term $NTERM, $((t1 - t0)) ms after the cut"
# The old coordinator stops acting within its lease (150 ms by default);
# allow for polling and a loaded machine.
end=$(($(now_ms) + 3000))
while :; do
  read -r c t act v < <(status "$OLD")
  [ "$act" = false ] && break
  [ "$(now_ms)" -lt "$end" ] || fail "n$OLD still acting 3 s after the cut"
  sleep 0.02
done
echo "partition: n$OLD no longer acting ($(($(now_ms) - t0)) ms after the cut; its view: coordinator=$c term=$t)"
[ "$NTERM" -gt "$TERM" ] || fail "term did not grow ($TERM -> $NTERM)"

echo "partition: healing"
ip -n "$P-br" link set p$OLD up || fail "link up"
read -r FIN FTERM < <(wait_agree 60 none $all) || fail "no single coordinator after healing"
echo "partition: after healing: one coordinator $FIN, term $FTERM, agreed by all $N"
echo "partition: PASS"
