#!/usr/bin/env bash
# Benchmarks zccache against ninja. Not a test: it prints timings and
# zccache/ninja ratios (below 1 means zccache is faster / smaller).
#
# usage: scripts/bench.sh                 synthetic manifests (10k and 100k edges)
#        scripts/bench.sh --real PROJECT  real CMake project via compare.py (e.g. zstd)
#
# Environment:
#   ZCCACHE_BENCH_TOOLS  folder holding synth_ninja.py and compare.py
#                        (default: ../shared/bench next to the repository)
#   BENCH_SIZES          space-separated DIRSxFILES list (default "100x100 100x1000")
#   BENCH_WORK           scratch folder (default: a new temp dir, removed at exit)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
repo="$PWD"

# In a git worktree the repository's main checkout (and shared/ beside it)
# is found through the common git dir.
main_checkout="$(cd "$(git rev-parse --git-common-dir 2>/dev/null || echo .git)/.." && pwd)"
tools_dir="${ZCCACHE_BENCH_TOOLS:-}"
for candidate in "$repo/../shared/bench" "$main_checkout/../shared/bench"; do
  [ -n "$tools_dir" ] || [ ! -d "$candidate" ] || tools_dir="$candidate"
done
tools_dir="${tools_dir:-$repo/../shared/bench}"
real_project=""
if [ "${1:-}" = "--real" ]; then
  real_project="${2:?usage: scripts/bench.sh --real PROJECT}"
fi

install_missing_tools ninja:ninja-build hyperfine:hyperfine python3:python3 \
  cmake:cmake /usr/bin/time:time

build_release_binary
zccache="$repo/target/release/zccache"

if [ -n "$real_project" ]; then
  if [ ! -f "$tools_dir/compare.py" ]; then
    echo "compare.py not found in $tools_dir; set ZCCACHE_BENCH_TOOLS" >&2
    exit 1
  fi
  exec python3 "$tools_dir/compare.py" "$real_project" --modes ninja,zccache \
    --zccache "$zccache"
fi

if [ ! -f "$tools_dir/synth_ninja.py" ]; then
  echo "synth_ninja.py not found in $tools_dir (set ZCCACHE_BENCH_TOOLS);" \
    "no synthetic benchmarks to run" >&2
  exit 0
fi

work="${BENCH_WORK:-$(mktemp -d -t zccache-bench-XXXXXX)}"
[ -n "${BENCH_WORK:-}" ] || trap 'rm -rf "$work"' EXIT

# Prints "zccache/ninja" mean-time ratio from a hyperfine JSON export whose
# two results are ninja first, zccache second.
ratio() {
  python3 - "$1" <<'PY'
import json, sys
ninja, zccache = json.load(open(sys.argv[1]))["results"]
print(f"  ratio zccache/ninja: {zccache['mean'] / ninja['mean']:.3f}")
PY
}

peak_kib() {
  /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n1
}

for size in ${BENCH_SIZES:-100x100 100x1000}; do
  dirs="${size%x*}"
  files="${size#*x}"
  edges=$((dirs * files))
  # Each build spawns one process per edge; keep the big cold build to one run.
  cold_runs=3
  [ "$edges" -le 20000 ] || cold_runs=1
  ninja_dir="$work/ninja-$size"
  zccache_dir="$work/zccache-$size"
  for dir in "$ninja_dir" "$zccache_dir"; do
    [ -f "$dir/build.ninja" ] ||
      python3 "$tools_dir/synth_ninja.py" "$dir" --dirs "$dirs" --files "$files"
  done
  echo
  echo "=== $edges compile edges ($dirs dirs x $files files)"

  echo "--- manifest load (-t targets all)"
  hyperfine -N --warmup 1 --export-json "$work/load.json" \
    -n ninja "ninja -C $ninja_dir -t targets all" \
    -n zccache "$zccache build -C $zccache_dir -t targets all"
  ratio "$work/load.json"

  echo "--- cold build"
  hyperfine -N --runs "$cold_runs" --export-json "$work/cold.json" \
    --prepare "rm -rf $ninja_dir/obj $ninja_dir/lib $ninja_dir/bin $ninja_dir/.ninja $ninja_dir/.ninja_log $ninja_dir/.ninja_deps $ninja_dir/.zccache_state" \
    -n ninja "ninja -C $ninja_dir" \
    --prepare "rm -rf $zccache_dir/obj $zccache_dir/lib $zccache_dir/bin $zccache_dir/.ninja $zccache_dir/.ninja_log $zccache_dir/.ninja_deps $zccache_dir/.zccache_state" \
    -n zccache "$zccache build -C $zccache_dir"
  ratio "$work/cold.json"
  # A stub or broken executor would "win" every benchmark; say so loudly.
  [ -f "$zccache_dir/bin/app" ] || echo "  WARNING: zccache did not produce bin/app" >&2

  echo "--- no-op build"
  hyperfine -N --warmup 1 --export-json "$work/noop.json" \
    -n ninja "ninja -C $ninja_dir" \
    -n zccache "$zccache build -C $zccache_dir"
  ratio "$work/noop.json"

  echo "--- peak memory, KiB (no-op build)"
  ninja_kib="$(peak_kib ninja -C "$ninja_dir")"
  zccache_kib="$(peak_kib "$zccache" build -C "$zccache_dir")"
  echo "  ninja $ninja_kib  zccache $zccache_kib"
  python3 -c "print(f'  ratio zccache/ninja: {$zccache_kib / $ninja_kib:.3f}')"
done
