#!/usr/bin/env bash
# Cost of one compile through the launcher, with hyperfine (-N: no shell):
#  - a hit: `zccache gcc -c x.c -o x.o` restored from the cache, against a
#    ccache direct-mode hit and an sccache hit of the same compile (each
#    with a private cache in a temp dir, warmed by one compile first), and
#    the bare compile for reference;
#  - a miss: `zccache gcc` whose cache entries are wiped before each run
#    (the compiler's identity stays known, as in any cache that has seen
#    that compiler before), and one whose whole cache is wiped (the very
#    first compile ever), against the bare compile.
# Prints each mean and the ratios zccache/ccache, zccache/sccache and
# zccache miss / bare gcc.
#
# usage: scripts/bench_launcher.sh [RUNS]      (default RUNS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_missing_tools hyperfine:hyperfine gcc:gcc ccache:ccache
cargo build --release
zccache="$PWD/target/release/zccache"
ccache="$(command -v ccache)"
sccache="$(command -v sccache || echo "$HOME/.cargo/bin/sccache")"
gcc="$(command -v gcc)"
runs="${1:-50}"
work="$(mktemp -d -t zccache-bench-launcher-XXXXXX)"
export SCCACHE_DIR="$work/sccache"
export SCCACHE_SERVER_PORT=$((20000 + RANDOM % 20000))
export SCCACHE_IDLE_TIMEOUT=0
cleanup() {
  "$sccache" --stop-server >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A 200-line C file including the usual headers.
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  echo '#include <string.h>'
  for i in $(seq 1 49); do
    echo "int f$i(const char *s, int n) {"
    echo "  char *b = malloc((size_t)n + 1); if (!b) return -1;"
    echo "  strncpy(b, s, (size_t)n); b[n] = 0; int r = (int)strlen(b) * $i;"
    echo "  free(b); printf(\"%d\\n\", r); return r; }"
  done
} > "$work/x.c"
cd "$work"

mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"])' "$@"; }

echo "== hits ($runs runs each)"
export ZCCACHE_DIR="$work/zccache"
export CCACHE_DIR="$work/ccache" CCACHE_DIRECT=1 CCACHE_NOCOMPRESS=1
unset CCACHE_DISABLE CCACHE_NODIRECT ZCCACHE_DISABLE || true
"$sccache" --start-server >/dev/null
"$zccache" gcc -c x.c -o x.o
"$ccache" gcc -c x.c -o x.o
"$sccache" gcc -c x.c -o x.o
hyperfine -N --warmup 3 --runs "$runs" --export-json hits.json \
  -n "zccache hit" "$zccache gcc -c x.c -o x.o" \
  -n "ccache hit" "$ccache gcc -c x.c -o x.o" \
  -n "sccache hit" "$sccache gcc -c x.c -o x.o" \
  -n "bare gcc" "$gcc -c x.c -o x.o"
"$sccache" --stop-server >/dev/null 2>&1 || true

echo "== misses ($runs runs each)"
export ZCCACHE_DIR="$work/zccache-miss"
"$zccache" gcc -c x.c -o x.o   # the compiler's identity, once
hyperfine -N --warmup 2 --runs "$runs" --export-json misses.json \
  --prepare "rm -rf $ZCCACHE_DIR/v1/records $ZCCACHE_DIR/v1/blobs" \
  --prepare "rm -rf $ZCCACHE_DIR" \
  --prepare "true" \
  -n "zccache miss" "$zccache gcc -c x.c -o x.o" \
  -n "zccache first compile ever" "$zccache gcc -c x.c -o x.o" \
  -n "bare gcc" "$gcc -c x.c -o x.o"

python3 - hits.json misses.json <<'PY'
import json, sys
hits = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
misses = {r["command"]: r["mean"] for r in json.load(open(sys.argv[2]))["results"]}
ms = lambda s: f"{s * 1e3:.2f} ms"
print()
for name, t in hits.items():
    print(f"{name:28} {ms(t)}")
for name, t in misses.items():
    print(f"{name:28} {ms(t)}")
print()
z = hits["zccache hit"]
print(f"hit:  zccache/ccache  = {z / hits['ccache hit']:.2f}")
print(f"hit:  zccache/sccache = {z / hits['sccache hit']:.2f}")
print(f"miss: zccache/bare gcc = {misses['zccache miss'] / misses['bare gcc']:.3f}")
print(f"first compile ever: zccache/bare gcc = "
      f"{misses['zccache first compile ever'] / misses['bare gcc']:.3f}")
PY
