//! The end-to-end tests, in one binary: zccache run as a process against
//! real gcc, clang, ninja, cmake, meson and make, with the shared helpers of
//! [`harness`]. One binary links once, and its tests share the machine's
//! cores as one pool instead of one binary after another.
//!
//! Tests may run in parallel with any other test here: each makes its own
//! temp dirs, its own cache when it counts or damages one, and its own
//! `XDG_RUNTIME_DIR` when it starts the launcher's helper, which it kills by
//! pid. Run one area with `cargo test --release --test e2e MODULE::`.
//!
//! tests/umask_probe.rs stays a binary of its own: it sets the process's
//! umask, which every test here would inherit.

mod harness;

mod cache;
mod cache_faults;
mod cmake;
mod daemon;
mod differential;
mod edge_cases;
mod launcher;
mod make;
mod manifests;
mod memory;
mod meson;
mod security;
mod siblings;
mod stale;
mod stale_b;
mod tools_ninja_compat;
mod warm;
mod watch;
