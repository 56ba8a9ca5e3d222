#!/usr/bin/env bash
# Runs the cargo-fuzz targets of iptop one after the other.
#
#   fuzz/run.sh [RUNS] [TARGET...]      RUNS defaults to 1000000; targets to all six
#
# Each target gets its corpus in fuzz/corpus/<target>/ (seeded from fuzz/seeds/ on every
# run; libFuzzer keeps what it finds there), crashes in fuzz/artifacts/<target>/ and its
# full log in fuzz/artifacts/logs/<target>.log. Prints libFuzzer's final stats per target.
#
# Environment:
#   KEEP_GOING=1   fork mode (-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1):
#                  each crash is saved to fuzz/artifacts/<target>/ and fuzzing goes on
#                  until RUNS executions (counted over all child processes).
#   MAX_TIME       also stop after this many seconds (-max_total_time).
#   FUZZ_ARGS      more libFuzzer flags, e.g. FUZZ_ARGS="-dict=$PWD/fuzz/iptables.dict".
#   TOOLCHAIN      e.g. +nightly; by default the stable toolchain with RUSTC_BOOTSTRAP=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

runs=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(parse parse_reusing replay export legacy_text nft_text)
fi

# cargo-fuzz passes nightly-only flags (-Zsanitizer=...); stable accepts them this way.
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
toolchain=${TOOLCHAIN:-}

seed_dirs() {
    case "$1" in
        parse) echo "$here/seeds/listings" ;;
        parse_reusing) echo "$here/seeds/parse_reusing $here/seeds/listings" ;;
        replay) echo "$here/seeds/replay" ;;
        export) echo "$here/seeds/export" ;;
        legacy_text) echo "$here/seeds/legacy_text" ;;
        nft_text) echo "$here/seeds/nft_text" ;;
        *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}

mkdir -p "$here/artifacts/logs"
for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    mkdir -p "$corpus" "$here/artifacts/$t"
    for d in $(seed_dirs "$t"); do
        cp -n "$d"/* "$corpus"/
    done
    log="$here/artifacts/logs/$t.log"
    flags=(-max_len=65536 -timeout=10 -print_final_stats=1)
    if [ "${KEEP_GOING:-0}" = 1 ]; then
        flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    fi
    flags+=(-runs="$runs")
    if [ -n "${MAX_TIME:-}" ]; then
        flags+=(-max_total_time="$MAX_TIME")
    fi
    # shellcheck disable=SC2206
    flags+=(${FUZZ_ARGS:-})
    echo "== $t: ${flags[*]}"
    start=$(date +%s)
    set +e
    # shellcheck disable=SC2086
    cargo $toolchain fuzz run -O "$t" "$corpus" -- "${flags[@]}" </dev/null >"$log" 2>&1
    rc=$?
    set -e
    end=$(date +%s)
    # libFuzzer's last status line and its final stats
    grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)|^#[0-9]+: cov' "$log" | tail -n 1 || true
    grep -E '^(Done [0-9]+ runs|stat::|INFO: (exiting|fuzzed for|log from)|==[0-9]+== ERROR|SUMMARY)' "$log" | tail -n 12 || true
    echo "== $t: exit $rc, $((end - start)) s wall, corpus $(find "$corpus" -type f | wc -l) files, log $log"
    ls "$here/artifacts/$t" 2>/dev/null | sed 's/^/   artifact: /' || true
done
