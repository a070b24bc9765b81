#!/usr/bin/env bash
# The differential harness (tests/e2e/differential.rs) for as long as you
# like: seeded random edits of tests/fixtures/diff-project, each followed by
# a plain ninja build, a `zccache build` and a ninja build with zccache as
# the compiler launcher of the same source at the same path, every product
# compared byte for byte. CI runs it for 40 steps of a fixed seed.
#
#   bash scripts/differential.sh [--steps N] [--seed S] [--uncached]
#
# --uncached runs zccache with the cache off, which checks the harness's own
# expectations. A failure prints the seed and every step up to it, so the
# same run can be repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

steps=300
seed=$(date +%s)
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --uncached) export ZCCACHE_DIFF_UNCACHED=1; shift ;;
    *) echo "usage: $0 [--steps N] [--seed S] [--uncached]" >&2; exit 2 ;;
  esac
done

install_missing_tools ninja:ninja-build cmake:cmake clang:clang gcc:gcc
echo "differential harness: $steps steps, seed $seed" >&2
ZCCACHE_DIFF_STEPS="$steps" ZCCACHE_DIFF_SEED="$seed" \
  cargo test --release --test e2e differential:: -- --nocapture
