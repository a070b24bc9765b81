#!/usr/bin/env bash
# Edit-to-rebuilt latency on a CMake project, one .c file edited per round:
#   watch  a running `zccache watch`: from writing the edit to the round's
#          "[watch] waiting for changes" line (outputs written, state saved)
#   build  a fresh `zccache build` invocation started right after the edit
#   ninja  plain ninja, the same way
# and zccache's own overhead: latency minus the span of the steps that ran
# (first start to last end in .ninja_log), i.e. the time before the first
# step starts and after the last one ends.
#
# usage: scripts/bench_watch.sh [ROUNDS]   (default 5)
# Project: zstd from ../shared/bench/compare.py when it can be unpacked,
# else examples/cmake-project. ZCCACHE_BIN picks the binary (default
# target/release/zccache). Not a test: timings on a shared machine are noisy.
set -euo pipefail
ROUNDS=${1:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${ZCCACHE_BIN:-$HERE/target/release/zccache}
COMPARE=${COMPARE_PY:-$HERE/../shared/bench/compare.py}
[ -f "$COMPARE" ] || COMPARE=/work/shared/bench/compare.py
WORK=$(mktemp -d /tmp/bench_watch.XXXXXX)
trap 'kill "${WATCH_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export ZCCACHE_DIR=$WORK/cache

if SRC=$(python3 "$COMPARE" zstd --source 2>/dev/null) && [ -d "$SRC" ]; then
    CMAKE_ARGS=(-DZSTD_BUILD_PROGRAMS=ON -DZSTD_BUILD_TESTS=OFF)
    EDIT_REL=lib/common/entropy_common.c
    cp -r "$(dirname "$(dirname "$SRC")")" "$WORK/project"
    SRC=$WORK/project/build/cmake
    EDIT=$WORK/project/$EDIT_REL
else
    cp -r "$HERE/examples/cmake-project" "$WORK/project"
    SRC=$WORK/project
    CMAKE_ARGS=()
    EDIT=$SRC/src/geom/vec.c
fi
echo "project: $SRC, editing $EDIT, $ROUNDS rounds"

configure() { # DIR
    cmake -G Ninja -S "$SRC" -B "$1" -DCMAKE_BUILD_TYPE=Release "${CMAKE_ARGS[@]}" >/dev/null
}
now() { date +%s.%N; }
# First start to last end (s) of the .ninja_log entries after line $2.
step_time() {
    tail -n +"$(($2 + 1))" "$1/.ninja_log" | awk '
        !/^#/ { if (n++ == 0 || $1 < lo) lo = $1; if ($2 > hi) hi = $2 }
        END { printf "%.3f", n ? (hi - lo) / 1000 : 0 }'
}
log_lines() { wc -l < "$1/.ninja_log"; }
edit() { printf '\nint zccache_bench_%s = 1;\n' "$1" >> "$EDIT"; }
report() { # MODE LATENCY STEPS
    awk -v m="$1" -v l="$2" -v s="$3" 'BEGIN {printf "%-6s latency %7.3f s  steps span %7.3f s  overhead %6.1f ms\n", m, l, s, (l - s) * 1000}'
}

for mode in ninja build watch; do
    dir=$WORK/build-$mode
    configure "$dir"
    if [ "$mode" = ninja ]; then ninja -C "$dir" >/dev/null; else "$BIN" build -C "$dir" >/dev/null; fi
    if [ "$mode" = watch ]; then
        "$BIN" watch -C "$dir" > "$WORK/watch.out" 2>&1 &
        WATCH_PID=$!
        until grep -q "waiting for changes" "$WORK/watch.out"; do sleep 0.05; done
    fi
    for round in $(seq "$ROUNDS"); do
        lines=$(log_lines "$dir")
        sleep 0.3
        if [ "$mode" = watch ]; then
            rounds=$(grep -c "waiting for changes" "$WORK/watch.out")
            start=$(now); edit "${mode}_${round}_$$"
            deadline=$((SECONDS + 60))
            while [ "$(grep -c "waiting for changes" "$WORK/watch.out")" -le "$rounds" ]; do
                [ $SECONDS -lt $deadline ] || { echo "watch round timed out"; cat "$WORK/watch.out"; exit 1; }
                sleep 0.002
            done
        else
            start=$(now); edit "${mode}_${round}_$$"
            if [ "$mode" = ninja ]; then ninja -C "$dir" >/dev/null; else "$BIN" build -C "$dir" >/dev/null; fi
        fi
        end=$(now)
        report "$mode" "$(echo "$end - $start" | bc)" "$(step_time "$dir" "$lines")"
    done
    if [ "$mode" = watch ]; then
        kill -INT "$WATCH_PID"; wait "$WATCH_PID" || true; WATCH_PID=
        grep "^\[watch\]" "$WORK/watch.out" | tail -n "$((2 * ROUNDS))" | grep -v waiting
    fi
done
