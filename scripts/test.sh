#!/usr/bin/env bash
# Every test of tsc: installs what is missing, builds, and runs
#   1. unit, sim and integration tests (ctest) in a normal build;
#   2. unit and sim tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the libFuzzer targets for a bounded time (FUZZ_SECONDS, default 30).
# Exits non-zero when anything fails. Stays well under 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
failed=0
npass=0
nfail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() { printf '\n=== %s\n' "$*"; }

# Run ctest, echo its output, and add its counts to the totals.
run_ctest() {
  local rc=0
  "$@" 2>&1 | tee "$log" || rc=1
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    npass=$((npass + total - bad))
    nfail=$((nfail + bad))
  else
    nfail=$((nfail + 1))
  fi
  [ "$rc" = 0 ] && ! grep -qE '[1-9][0-9]* tests? failed' "$log" || failed=1
}

step "dependencies and build (build/)"
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo

step "format check"
if command -v clang-format >/dev/null; then
  bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run 2>&1 | grep -c warning || true)
  if [ "$bad" != 0 ]; then
    echo "clang-format: $bad findings (run: git ls-files '*.c' '*.h' | xargs clang-format -i)"
    failed=1
    nfail=$((nfail + 1))
  else
    npass=$((npass + 1))
  fi
fi

step "unit, sim and integration tests"
run_ctest ctest --test-dir build --output-on-failure -j "$jobs"

step "ASan + UBSan build (build-asan/) and its unit and sim tests"
bash scripts/build.sh build-asan -DTSC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|sim'
unset ASAN_OPTIONS UBSAN_OPTIONS

if [ -x scripts/fuzz.sh ]; then
  step "fuzzing (${FUZZ_SECONDS:-30} s per target)"
  if bash scripts/fuzz.sh; then npass=$((npass + 1)); else nfail=$((nfail + 1)); failed=1; fi
fi

end=$(date +%s)
step "done in $((end - start)) s"
echo "$npass passed, $nfail failed"
[ "$failed" = 0 ] || exit 1
