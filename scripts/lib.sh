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

# Builds target/release/zccache as a static, non-PIE executable (glibc
# linked in, no start-up relocation): it starts about 0.5 ms faster than
# the dynamically linked one (0.1 ms of it against a static-pie one), which
# a launcher call pays on every compile. Only the zccache binary itself is
# linked statically (`cargo rustc` passes the flags to that crate alone);
# proc-macro dependencies cannot be built with crt-static. Falls back to
# the ordinary build where static linking fails.
build_release_binary() {
  cargo build --release
  cargo rustc --release --bin zccache -- \
    -C target-feature=+crt-static -C relocation-model=static ||
    cargo build --release
}
