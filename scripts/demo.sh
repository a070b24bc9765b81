#!/usr/bin/env bash
# Builds zccache and uses it in place of ninja on examples/cmake-project:
# configure with cmake, build twice (the second run has nothing to do), then
# run the project's test executable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_missing_tools ninja:ninja-build cmake:cmake gcc:gcc g++:g++

cargo build --release
zccache="$PWD/target/release/zccache"
build_dir="$(mktemp -d -t zccache-demo-XXXXXX)"

echo "== configure examples/cmake-project into $build_dir"
cmake -G Ninja -S examples/cmake-project -B "$build_dir" -DCMAKE_BUILD_TYPE=Release

echo "== first build"
"$zccache" build -C "$build_dir"

echo "== second build (nothing changed)"
"$zccache" build -C "$build_dir"

echo "== run the project's tests"
"$build_dir/zcdemo_tests"
"$build_dir/zcdemo"
echo "build dir kept at $build_dir"
