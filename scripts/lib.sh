# Shared by the scripts in this folder; sourced, not run.

# Installs the Debian packages named in "$@" (pairs of COMMAND:PACKAGE) whose
# command is missing. Runs apt-get only when something is missing, and uses
# sudo only when not already root.
install_missing_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "installing missing tools: ${missing[*]}" >&2
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
}

# Builds target/release/zccache as a static, non-PIE executable, the one a
# launcher call starts fastest, with the `dist` profile (link-time
# optimization): linked with musl when Rust's musl target is installed (it
# reaches main 0.25 ms sooner than with glibc, whose start-up probes the CPU
# with `cpuid`, which traps to the hypervisor in a VM), else with glibc
# (still 0.5 ms faster than the dynamically linked build, 0.1 ms of it
# against a static-pie one). Only the zccache binary itself is linked
# statically (`cargo rustc` passes the flags to that crate alone);
# proc-macro dependencies cannot be. Falls back to the ordinary build where
# static linking fails.
build_release_binary() {
  cargo build --release
  local musl=x86_64-unknown-linux-musl built=""
  if [ "$(uname -m)" = x86_64 ] &&
    rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
    # musl-gcc compiles the C parts (zstd, blake3) for musl.
    install_missing_tools musl-gcc:musl-tools || true
    if command -v musl-gcc >/dev/null &&
      cargo rustc --profile dist --bin zccache --target "$musl" -- -C relocation-model=static; then
      built="target/$musl/dist/zccache"
    fi
  fi
  if [ -z "$built" ] && cargo rustc --profile dist --bin zccache -- \
    -C target-feature=+crt-static -C relocation-model=static; then
    built=target/dist/zccache
  fi
  if [ -n "$built" ]; then
    # A new file, renamed into place: a helper may still run the old one.
    cp "$built" target/release/zccache.new
    mv -f target/release/zccache.new target/release/zccache
  fi
}

# Real ninja 1.13, which the tests compare zccache's 1.13 behaviour with (the
# exit codes of failed steps), beside Debian's ninja 1.11.1 that the rest of
# the suite compares with: PyPI's `ninja` wheel, installed into a dir of its
# own (not on PATH) under target/tools. Prints the binary's path.
NINJA_1_13_VERSION=1.13.2
install_ninja_1_13() {
  local dir="$PWD/target/tools/ninja-$NINJA_1_13_VERSION"
  local bin="$dir/bin/ninja"
  if ! "$bin" --version 2>/dev/null | grep -q "^$NINJA_1_13_VERSION"; then
    install_missing_tools python3:python3 pip3:python3-pip >&2
    echo "installing ninja $NINJA_1_13_VERSION from PyPI into $dir" >&2
    rm -rf "$dir"
    # --target installs outside any environment, so Debian's
    # externally-managed Python allows it.
    python3 -m pip install --quiet --disable-pip-version-check --target "$dir" \
      "ninja==$NINJA_1_13_VERSION" >&2
    "$bin" --version >/dev/null
  fi
  echo "$bin"
}

# ninja's misc/output_test.py from Debian 12's ninja-build source package:
# its upstream tarball, fetched from Debian's pool once into target/tools and
# verified against the SHA-256 in the package's .dsc (apt-get source
# ninja-build). Prints the script's path.
NINJA_SOURCE_TARBALL=ninja-build_1.11.1.orig.tar.gz
NINJA_SOURCE_SHA256=31747ae633213f1eda3842686f83c2aa1412e0f5691d1c14dbbcc67fe7400cea
fetch_ninja_output_test() {
  local dir="$PWD/target/tools/ninja-1.11.1-source"
  local script="$dir/ninja-1.11.1/misc/output_test.py"
  if [ ! -f "$script" ]; then
    install_missing_tools python3:python3 >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "downloading $NINJA_SOURCE_TARBALL from deb.debian.org" >&2
    # Python, not curl: a clean Debian has no curl.
    python3 - "$dir" "$NINJA_SOURCE_TARBALL" "$NINJA_SOURCE_SHA256" <<'PY'
import hashlib, io, sys, tarfile, urllib.request
dest, name, sha256 = sys.argv[1:]
url = "https://deb.debian.org/debian/pool/main/n/ninja-build/" + name
data = urllib.request.urlopen(url, timeout=60).read()
got = hashlib.sha256(data).hexdigest()
if got != sha256:
    sys.exit(f"{url}: SHA-256 {got}, expected {sha256}")
with tarfile.open(fileobj=io.BytesIO(data)) as tar:
    member = tar.getmember("ninja-1.11.1/misc/output_test.py")
    # The "data" filter (Python 3.11.4+) refuses links and absolute paths.
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    tar.extractall(dest, members=[member], **safe)
PY
  fi
  echo "$script"
}
