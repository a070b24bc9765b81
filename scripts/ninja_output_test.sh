#!/usr/bin/env bash
# Runs ninja's own misc/output_test.py (terminal output: the smart status
# line, NINJA_STATUS, colours, -t inputs, ...) with zccache as `ninja`.
# The script comes from Debian 12's ninja-build source package (upstream
# 1.11.1, which Debian does not patch), downloaded once into target/tools
# and checked against the SHA-256 that package's signed .dsc lists. Exits
# non-zero when any of its tests fails. Usage: ninja_output_test.sh [ZCCACHE]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

zccache=$(realpath "${1:-target/release/zccache}")
test_py=$(fetch_ninja_output_test)
# script(1) gives the test its terminal (util-linux, in every Debian).
install_missing_tools python3:python3 script:bsdutils

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The test runs the `ninja` in its working directory.
ln -s "$zccache" "$work/ninja"
cp "$test_py" "$work/output_test.py"
echo "ninja's misc/output_test.py (1.11.1) with zccache as ninja:"
(cd "$work" && ZCCACHE_DIR="$work/cache" python3 output_test.py)
