#!/usr/bin/env bash
# Installs every tool the test suite needs (only when missing), then runs the
# whole suite. Release mode, because the end-to-end tests build real C/C++
# projects through the zccache binary and a debug executor slows them down.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_missing_tools ninja:ninja-build cmake:cmake meson:meson clang:clang make:make \
  gcc:gcc g++:g++
# The tests find it through this variable (tests/e2e/harness `ninja_1_13`).
ZCCACHE_NINJA_1_13=$(install_ninja_1_13)
export ZCCACHE_NINJA_1_13

# Tests that cannot run here (the tmpfs ones need root) say so in this file
# (tests/e2e/harness `skipped`); the summary counts them.
skips=$(mktemp)
trap 'rm -f "$skips"' EXIT
# --no-fail-fast: one failing test binary must not hide the others.
status=0
ZCCACHE_TEST_SKIPS="$skips" cargo test --release --no-fail-fast "$@" || status=$?
# ninja's own output tests, on the binary cargo just built (a few seconds).
bash scripts/ninja_output_test.sh target/release/zccache || status=$?
if [ -s "$skips" ]; then
  echo "skipped: $(wc -l <"$skips") test(s), which passed without checking anything:"
  cat "$skips"
else
  echo "skipped: none"
fi
exit "$status"
