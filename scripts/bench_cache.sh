#!/usr/bin/env bash
# Cost of a cache hit in `zccache build`: builds N tiny translation units
# (each including a few system headers and one project header) once to fill
# a cache, then times, with hyperfine, a build of them all restored from the
# cache (-j1) against a no-op build of the same tree, and against merely
# writing the same outputs (objects and depfiles) from a script.
# (restored - no-op - writing) / N is zccache's overhead per restored step.
# Old outputs are moved aside, not deleted: right after deleting thousands
# of files, ext4 takes ten times longer to create new ones, for any tool.
#
# usage: scripts/bench_cache.sh [N]      (default N=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_missing_tools hyperfine:hyperfine gcc:gcc
build_release_binary
zccache="$PWD/target/release/zccache"
count="${1:-1000}"
work="$(mktemp -d -t zccache-bench-cache-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
{
  echo 'rule cc'
  echo '  command = gcc -O2 -Isrc -MD -MF $out.d -c $in -o $out'
  echo '  depfile = $out.d'
  echo '  deps = gcc'
} > "$work/build.ninja"
for i in $(seq 0 $((count - 1))); do
  printf '#include <stdio.h>\n#include <string.h>\n#include "h%d.h"\nint f%d(const char *s) { return (int)strlen(s) + H%d; }\n' \
    $((i % 10)) "$i" $((i % 10)) > "$work/src/f$i.c"
  echo "build obj/f$i.o: cc src/f$i.c" >> "$work/build.ninja"
done
for j in $(seq 0 9); do echo "#define H$j $j" > "$work/src/h$j.h"; done

export ZCCACHE_DIR="$work/cache"
echo "== fill the cache: $count compiles"
(cd "$work" && "$zccache" build --quiet)
cd "$work"
mkdir -p trash
"$zccache" build -d keepdepfile --quiet
cp -r obj outputs
cat > write_outputs.py <<'PY'
import os, sys, uuid
files = {n: open(os.path.join("outputs", n), "rb").read() for n in os.listdir("outputs")}
dst = os.path.join("trash", uuid.uuid4().hex)
os.makedirs(dst)
for name, content in files.items():
    with open(os.path.join(dst, name), "wb") as f:
        f.write(content)
PY
clean='mv obj trash/$(date +%s%N); rm -f .zccache_state .ninja_log .ninja_deps'
# One --prepare per command: clean before each restored build, nothing
# before the others (the last restored build left the tree complete).
hyperfine --warmup 1 --runs 10 --export-json "$work/times.json" \
  --prepare "$clean" --prepare true --prepare true \
  -n restored "$zccache build -j1 --quiet" \
  -n no-op "$zccache build -j1 --quiet" \
  -n writing "python3 write_outputs.py"
python3 - "$work/times.json" "$count" <<'PY'
import json, sys
results = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
per_step = (results["restored"] - results["no-op"]) / n * 1e6
overhead = (results["restored"] - results["no-op"] - results["writing"]) / n * 1e6
print(f"restored {results['restored']*1e3:.1f} ms, no-op {results['no-op']*1e3:.1f} ms, "
      f"writing the outputs {results['writing']*1e3:.1f} ms; {n} steps: "
      f"{per_step:.0f} us per restored step, {overhead:.0f} us of it beyond writing the outputs")
PY
