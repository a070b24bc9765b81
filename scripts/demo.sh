#!/usr/bin/env bash
# Builds zccache and uses it in place of ninja on examples/cmake-project:
# configure with cmake, build twice (the second run has nothing to do), ask
# `zccache warm` what a second build dir's build will do, build it (every
# step restored from the cache), then run the project's test executable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_missing_tools ninja:ninja-build cmake:cmake gcc:gcc g++:g++

build_release_binary
zccache="$PWD/target/release/zccache"
work="$(mktemp -d -t zccache-demo-XXXXXX)"
build_dir="$work/build"
export ZCCACHE_DIR="$work/cache"

echo "== configure examples/cmake-project into $build_dir"
cmake -G Ninja -S examples/cmake-project -B "$build_dir" -DCMAKE_BUILD_TYPE=Release

echo "== first build"
"$zccache" build -C "$build_dir"

echo "== second build (nothing changed)"
"$zccache" build -C "$build_dir"

echo "== a second build dir of the same source: restored from the cache"
cmake -G Ninja -S examples/cmake-project -B "$work/build2" -DCMAKE_BUILD_TYPE=Release >/dev/null
"$zccache" warm -C "$work/build2"
"$zccache" build -C "$work/build2"
"$zccache" stats

echo "== run the project's tests"
"$work/build2/zcdemo_tests"
"$work/build2/zcdemo"
echo "build dirs and cache kept under $work"
