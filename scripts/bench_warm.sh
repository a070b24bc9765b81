#!/usr/bin/env bash
# `zccache warm` against the build it forecasts, on a real project: a CMake
# project is built once to fill a cache, then, with hyperfine, each run gets
# a fresh copy of a configured (never built) build dir and times either
# `zccache warm` or the warm-cache build (`zccache build`, everything
# restored). Prints both means and warm / build.
#
# usage: scripts/bench_warm.sh [SOURCE_DIR [CMAKE_ARGS...]]
#   default: zstd from ../shared/bench (compare.py unpacks it), else
#   examples/cmake-project.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_missing_tools hyperfine:hyperfine cmake:cmake ninja:ninja-build gcc:gcc
build_release_binary
zccache="$PWD/target/release/zccache"
if [ $# -gt 0 ]; then
  source_dir="$(realpath "$1")"
  shift
  cmake_args=("$@")
elif zstd="$(python3 ../shared/bench/compare.py zstd --source 2>/dev/null | tail -1)" &&
  [ -d "$zstd" ]; then
  source_dir="$zstd"
  cmake_args=(-DZSTD_BUILD_PROGRAMS=ON -DZSTD_BUILD_TESTS=OFF)
else
  source_dir="$PWD/examples/cmake-project"
  cmake_args=()
fi
work="$(mktemp -d -t zccache-bench-warm-XXXXXX)"
trap 'rm -rf "$work"' EXIT
export ZCCACHE_DIR="$work/cache"

echo "== $source_dir: fill the cache from one build"
cmake -S "$source_dir" -B "$work/filled" -G Ninja "${cmake_args[@]}" >/dev/null
"$zccache" build -C "$work/filled" --quiet >/dev/null
cmake -S "$source_dir" -B "$work/template" -G Ninja "${cmake_args[@]}" >/dev/null
fresh="rm -rf $work/fresh && cp -a $work/template $work/fresh"

hyperfine --warmup 2 --runs "${RUNS:-20}" --export-json "$work/warm.json" \
  --prepare "$fresh" \
  -n "zccache warm (fresh dir)" "$zccache warm -C $work/fresh" \
  -n "zccache build (fresh dir, warm cache)" "$zccache build -C $work/fresh --quiet"

python3 - "$work/warm.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
warm, build = results[0]["mean"], results[1]["mean"]
print(f"warm {warm * 1e3:.1f} ms, warm-cache build {build * 1e3:.1f} ms, "
      f"warm / build = {warm / build:.2f}")
PY
