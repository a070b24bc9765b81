#!/usr/bin/env bash
# Cost of one compile through the launcher, with hyperfine (-N: no shell):
#  - a hit: `zccache gcc -c x.c -o x.o` restored from the cache, served by
#    zccache's helper process (started by the warm-up call, as in any build)
#    and with the helper off (ZCCACHE_DAEMON=0), against a ccache
#    direct-mode hit and an sccache hit of the same compile (each with a
#    private cache in a temp dir, warmed by one compile first), and the
#    bare compile for reference;
#  - a miss: `zccache gcc` whose cache entries are wiped before each run
#    (the compiler's identity and the store's directories stay, as in any
#    cache that has seen that compiler before), and one whose whole cache
#    dir is wiped (the helper still knows the compiler), against the bare
#    compile. The helper stores a miss's result after the call returns:
#    each wipe waits for it first (`zccache stats` does), outside the timed
#    run. Then the same miss, the bare compile and a minimal static C
#    launcher that captures gcc's output (what any launcher costs at
#    least), and the miss and bare compile with the depfile a build system
#    asks for, in rotating order 60 times (timed from python), which a
#    drifting machine cannot skew, and the helpers' CPU time per round.
# Prints each mean and the ratios zccache/ccache, zccache/sccache and
# zccache miss / bare gcc, by mean, median and CPU time (user+sys of the
# measured process; for sccache that leaves out the server's work).
#
# usage: scripts/bench_launcher.sh [RUNS]      (default RUNS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_missing_tools hyperfine:hyperfine gcc:gcc ccache:ccache
build_release_binary
zccache="$PWD/target/release/zccache"
ccache="$(command -v ccache)"
sccache="$(command -v sccache || echo "$HOME/.cargo/bin/sccache")"
# Without sccache (`cargo install sccache --locked --no-default-features`)
# its rows are left out, said once here, and the rest is measured.
sccache_rows=()
if [ -x "$sccache" ]; then
  sccache_rows=(-n "sccache hit" "$sccache gcc -c x.c -o x.o")
else
  echo "sccache not installed: its rows are left out" >&2
  sccache=true
fi
gcc="$(command -v gcc)"
runs="${1:-50}"
work="$(mktemp -d -t zccache-bench-launcher-XXXXXX)"
export SCCACHE_DIR="$work/sccache"
export SCCACHE_SERVER_PORT=$((20000 + RANDOM % 20000))
export SCCACHE_IDLE_TIMEOUT=0
# zccache's helpers get a private socket dir, found and stopped by pid below.
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
cleanup() {
  "$sccache" --stop-server >/dev/null 2>&1 || true
  for lock in "$XDG_RUNTIME_DIR"/zccache-*/*.lock; do
    [ -f "$lock" ] && kill "$(cat "$lock")" 2>/dev/null || true
  done
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
# hyperfine gives every run an environment of another size through this
# variable; named here, it starts no helper per run.
export ZCCACHE_UNSET_ENV=HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET
export CCACHE_DIR="$work/ccache" CCACHE_DIRECT=1 CCACHE_NOCOMPRESS=1
unset CCACHE_DISABLE CCACHE_NODIRECT ZCCACHE_DISABLE || true
"$sccache" --start-server >/dev/null
"$zccache" gcc -c x.c -o x.o
"$ccache" gcc -c x.c -o x.o
"$sccache" gcc -c x.c -o x.o
# Until the helper the first call started listens (bounded).
for _ in $(seq 1 100); do
  ls "$XDG_RUNTIME_DIR"/zccache-*/*.sock >/dev/null 2>&1 && break
  sleep 0.05
done
hyperfine -N --warmup 3 --runs "$runs" --export-json hits.json \
  -n "zccache hit" "$zccache gcc -c x.c -o x.o" \
  -n "ccache hit" "$ccache gcc -c x.c -o x.o" \
  "${sccache_rows[@]}" \
  -n "bare gcc" "$gcc -c x.c -o x.o"
"$sccache" --stop-server >/dev/null 2>&1 || true
# Per-command variables are not hyperfine's: a second run, same warm cache.
ZCCACHE_DAEMON=0 hyperfine -N --warmup 3 --runs "$runs" --export-json hits-alone.json \
  -n "zccache hit, no helper" "$zccache gcc -c x.c -o x.o"

echo "== misses ($runs runs each)"
export ZCCACHE_DIR="$work/zccache-miss"
"$zccache" gcc -c x.c -o x.o   # the compiler's identity, once
# Waits for the helper's pending stores, then deletes every entry.
printf '%s\n' "\"$zccache\" stats >/dev/null" \
  "find \"$ZCCACHE_DIR/v1/records\" \"$ZCCACHE_DIR/v1/blobs\" -type f -delete 2>/dev/null || true" \
  > wipe.sh
hyperfine -N --warmup 2 --runs "$runs" --export-json misses.json \
  --prepare "sh wipe.sh" \
  --prepare "sh -c '$zccache stats >/dev/null; rm -rf $ZCCACHE_DIR.old; mv $ZCCACHE_DIR $ZCCACHE_DIR.old || true'" \
  --prepare "true" \
  -n "zccache miss" "$zccache gcc -c x.c -o x.o" \
  -n "zccache miss, cache dir wiped" "$zccache gcc -c x.c -o x.o" \
  -n "bare gcc" "$gcc -c x.c -o x.o"
# The same with the depfile every CMake, Meson or ninja compile asks for:
# zccache then needs no private one.
hyperfine -N --warmup 2 --runs "$runs" --export-json misses-md.json \
  --prepare "sh wipe.sh" \
  --prepare "rm -rf $CCACHE_DIR" \
  --prepare "true" \
  -n "zccache miss -MD" "$zccache gcc -MD -MT x.o -MF x.d -c x.c -o x.o" \
  -n "ccache miss -MD" "$ccache gcc -MD -MT x.o -MF x.d -c x.c -o x.o" \
  -n "bare gcc -MD" "$gcc -MD -MT x.o -MF x.d -c x.c -o x.o"

# Alternated: a miss, the bare compile and the least any launcher that
# captures the compiler's output costs (a static C program that spawns gcc
# with its stdout and stderr on pipes and waits), in rotating order, each
# after a wipe.
cat > spawner.c <<'C'
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  int out[2], err[2];
  if (argc < 2 || pipe(out) || pipe(err)) return 2;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, err[0]);
  pid_t pid;
  if (posix_spawnp(&pid, argv[1], &actions, 0, argv + 1, environ)) return 127;
  close(out[1]);
  close(err[1]);
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  char buffer[4096];
  for (int open_fds = 2; open_fds > 0;) {
    poll(fds, 2, -1);
    for (int i = 0; i < 2; i++)
      if (fds[i].fd >= 0 && fds[i].revents && read(fds[i].fd, buffer, sizeof buffer) <= 0) {
        fds[i].fd = -1;
        open_fds--;
      }
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
C
"$gcc" -O2 -static -o spawner spawner.c
# CPU time (clock ticks) of every helper of this run, busy or idle.
helpers_cpu() {
  cat "$XDG_RUNTIME_DIR"/zccache-*/*.lock 2>/dev/null |
    while read -r pid; do awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null; done |
    awk '{ticks += $1} END {print ticks + 0}'
}
"$zccache" gcc -c x.c -o x.o
before="$(helpers_cpu)"
python3 - "$zccache" "$gcc" 60 > interleaved.txt <<'PY'
import statistics, subprocess, sys, time
zccache, gcc, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
compile = ["-c", "x.c", "-o", "x.o"]
with_depfile = ["-MD", "-MT", "x.o", "-MF", "x.d", *compile]
arms = [[zccache, "gcc", *compile], ["./spawner", gcc, *compile], [gcc, *compile],
        [zccache, "gcc", *with_depfile], [gcc, *with_depfile]]
times = [[] for _ in arms]
for i in range(rounds):
    for k in range(len(arms)):
        arm = (i + k) % len(arms)
        subprocess.run(["sh", "wipe.sh"], check=True)
        start = time.perf_counter()
        subprocess.run(arms[arm], check=True)
        times[arm].append(time.perf_counter() - start)
print(" ".join(f"{statistics.mean(t)} {statistics.median(t)}" for t in times))
PY
"$zccache" stats >/dev/null
after="$(helpers_cpu)"
helper_ms_per_miss="$(python3 -c 'import os, sys; print((int(sys.argv[2]) - int(sys.argv[1])) * 1000 / os.sysconf("SC_CLK_TCK") / 60)' "$before" "$after")"

python3 - hits.json misses.json hits-alone.json misses-md.json interleaved.txt "$helper_ms_per_miss" <<'PY'
import json, sys
def load(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}
hits, misses = load(sys.argv[1]), load(sys.argv[2])
hits.update(load(sys.argv[3]))
misses.update(load(sys.argv[4]))
ms = lambda s: f"{s * 1e3:7.2f} ms"
print()
print(f"{'':28} {'mean':>10} {'median':>10} {'user+sys':>10}")
for name, r in list(hits.items()) + list(misses.items()):
    print(f"{name:28} {ms(r['mean'])} {ms(r['median'])} {ms(r['user'] + r['system'])}")
print()
def ratio(label, a, b):
    print(f"{label:38} mean {a['mean'] / b['mean']:.3f}   median {a['median'] / b['median']:.3f}"
          f"   cpu {(a['user'] + a['system']) / (b['user'] + b['system']):.3f}")
ratio("hit:  zccache/ccache", hits["zccache hit"], hits["ccache hit"])
if "sccache hit" in hits:
    ratio("hit:  zccache/sccache", hits["zccache hit"], hits["sccache hit"])
ratio("hit, no helper: zccache/ccache", hits["zccache hit, no helper"], hits["ccache hit"])
ratio("miss: zccache/bare gcc", misses["zccache miss"], misses["bare gcc"])
ratio("miss -MD: zccache/bare gcc -MD", misses["zccache miss -MD"], misses["bare gcc -MD"])
ratio("miss -MD: ccache/bare gcc -MD", misses["ccache miss -MD"], misses["bare gcc -MD"])
ratio("miss, cache dir wiped: zccache/bare", misses["zccache miss, cache dir wiped"], misses["bare gcc"])
(miss_mean, miss_median, floor_mean, floor_median, bare_mean, bare_median,
 md_mean, md_median, bare_md_mean, bare_md_median) = map(float, open(sys.argv[5]).read().split())
print(f"{'miss, rotated 60x: zccache/bare gcc':38} mean {miss_mean / bare_mean:.3f}   median {miss_median / bare_median:.3f}"
      f"   ({(miss_mean - bare_mean) * 1e3:.2f} ms added)")
print(f"{'  the helpers CPU per round':38} {float(sys.argv[6]):.2f} ms (two misses, five stats flushes)")
print(f"{'  any capturing launcher: spawner/bare':38} mean {floor_mean / bare_mean:.3f}   median {floor_median / bare_median:.3f}")
print(f"{'miss -MD, rotated: zccache/bare -MD':38} mean {md_mean / bare_md_mean:.3f}   median {md_median / bare_md_median:.3f}"
      f"   ({(md_mean - bare_md_mean) * 1e3:.2f} ms added)")
PY
