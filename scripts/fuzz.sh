#!/usr/bin/env bash
# tsc — build the libFuzzer targets with clang and run each for a bounded time.
#
#   scripts/fuzz.sh                  # 30 s per target
#   FUZZ_SECONDS=300 scripts/fuzz.sh # longer
#   scripts/fuzz.sh fuzz_gossip      # only the targets named
#
# Targets: fuzz_unseal (unseal + decoders), fuzz_gossip and fuzz_election
# (the engines fed scripts of network events, fuzz/script.h). Set
# TSC_FUZZ_OOM=1 to let the engine targets inject allocation failures too.
# FUZZ_KEEP_GOING=1 runs libFuzzer in fork mode and keeps fuzzing after a
# crash (every crash is still saved and still fails the script).
#
# The build goes to build-fuzz/ (FUZZ_BUILD_DIR overrides), the seed corpus is
# generated into build-fuzz/corpus/<target>/ (kept out of git, grown by the
# fuzzer between runs), crash reproducers land in build-fuzz/artifacts/.
# Exits non-zero when a target finds a crash, leak or broken invariant.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=(fuzz_unseal fuzz_gossip fuzz_election fuzz_suite fuzz_runlog fuzz_logmerge fuzz_logship)
if [ $# -gt 0 ]; then
    targets=("$@")
fi

cmake -S . -B "$build" -DTSC_FUZZ=ON -DCMAKE_C_COMPILER=clang -G Ninja >/dev/null
ninja -C "$build" gen_corpus "${targets[@]}"

mkdir -p "$build/artifacts"
status=0
for t in "${targets[@]}"; do
    corpus="$build/corpus/$t"
    mkdir -p "$corpus"
    case $t in
    fuzz_suite) cp tests/suite/data/*.yaml "$corpus/" ;;
    fuzz_runlog | fuzz_logmerge | fuzz_logship) ;; # start from nothing; the smoke tests cover valid input
    *) "$build/bin/gen_corpus" "$corpus" "$t" ;;
    esac
    # Every reproducer of a fixed bug runs first: a regression input.
    for r in fuzz/repro/"${t#fuzz_}"-*.bin; do
        [ -f "$r" ] && cp "$r" "$corpus/"
    done
    echo "== $t: ${seconds}s"
    extra=()
    if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
        extra=(-fork=1 -ignore_crashes=1)
    fi
    before=$(find "$build/artifacts" -name "$t-*" | wc -l)
    if ! "$build/bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "${extra[@]}" "$corpus" ||
        [ "$(find "$build/artifacts" -name "$t-*" | wc -l)" != "$before" ]; then
        echo "FAIL: $t found a crash; reproducers in $build/artifacts/" >&2
        status=1
    fi
done
exit $status
