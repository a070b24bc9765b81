//! The end-to-end tests, in one binary: zccache run as a process against
//! real gcc, clang, ninja, cmake, meson and make, with the shared helpers of
//! [`harness`]. One binary links once, and its tests share the machine's
//! cores as one pool instead of one binary after another.
//!
//! Tests may run in parallel with any other test here: each makes its own
//! temp dirs, its own cache when it counts or damages one, and its own
//! `XDG_RUNTIME_DIR` when it starts the launcher's helper, which it kills by
//! pid; memory's two tests, which each hold a 256 MiB output, take turns
//! (a mutex), as they did in a binary of their own. Run one area with
//! `cargo test --release --test e2e MODULE::`.
//!
//! tests/umask_probe.rs stays a binary of its own: it sets the process's
//! umask, which every test here would inherit.

/// Running zccache, ninja and cmake; `Env` (a private cache), `Stats`,
/// `Example`, `Twin`, `Workspace`.
mod harness;

/// What the cache restores, and only that (hits, misses, their reasons).
mod cache;
/// A failing cache never breaks a build.
mod cache_faults;
/// examples/cmake-project built by zccache and by ninja, compared.
mod cmake;
/// The launcher's helper.
mod daemon;
/// Seeded random edits, cached builds compared with plain ones.
mod differential;
/// `zccache build` against ninja on damaged state, failures, signals, ...
mod edge_cases;
/// Launcher mode and masquerade symlinks.
mod launcher;
/// Make projects built through `zccache build`.
mod make;
/// Small build.ninja files run by zccache and by ninja.
mod manifests;
/// Memory bounds of storing and restoring a big output.
mod memory;
/// A Meson project with zccache as its ninja.
mod meson;
/// Whoever else can write the cache can at worst cause misses.
mod security;
/// Static and shared compiles of one source served by one compile.
mod siblings;
/// Ways a hit could be stale: headers, sysroots, library paths.
mod stale;
/// Ways a result could depend on what its key did not hold.
mod stale_b;
/// `-t TOOL` output compared with ninja's.
mod tools_ninja_compat;
/// `zccache warm`'s forecast against the build that follows.
mod warm;
/// `zccache watch` on a CMake project.
mod watch;
