#!/usr/bin/env bash
# Installs every tool the test suite needs (only when missing), then runs the
# whole suite. Release mode, because the end-to-end tests build real C/C++
# projects through the zccache binary and a debug executor slows them down.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

install_missing_tools ninja:ninja-build cmake:cmake clang:clang make:make \
  gcc:gcc g++:g++

# --no-fail-fast: one failing test binary must not hide the others.
cargo test --release --no-fail-fast "$@"
