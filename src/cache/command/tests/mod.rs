//! Tests of recognizing tools in commands, by area; the helpers here
//! classify a command run in a fixed build dir.

mod build_systems;
mod compile;
mod shell;

use super::*;
use std::path::PathBuf;

fn build_dir() -> PathBuf {
    PathBuf::from("/abs/build")
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn cacheable_in(command: &str, cwd: &Path) -> Invocation {
    match classify(command, cwd) {
        Classification::Cacheable(inv) => inv,
        other => panic!("`{command}` should be cacheable, got {other:?}"),
    }
}

fn cacheable(command: &str) -> Invocation {
    cacheable_in(command, &build_dir())
}

fn compile(command: &str) -> (Invocation, CompileArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind(), ToolKind::Compile, "{command}");
    match inv.detail.clone() {
        Detail::Compile(c) => (inv, c),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn archive(command: &str) -> (Invocation, ArchiveArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind(), ToolKind::Archive, "{command}");
    match inv.detail.clone() {
        Detail::Archive(a) => (inv, a),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn link(command: &str) -> (Invocation, LinkArgs) {
    let inv = cacheable(command);
    assert_eq!(inv.kind(), ToolKind::Link, "{command}");
    match inv.detail.clone() {
        Detail::Link(l) => (inv, l),
        other => panic!("`{command}`: {other:?}"),
    }
}

fn refused_in(command: &str, cwd: &Path) -> (Option<ToolKind>, &'static str) {
    match classify(command, cwd) {
        Classification::Uncacheable {
            kind,
            reason,
            detail,
        } => {
            assert!(!detail.is_empty(), "`{command}`: empty detail");
            (kind, reason)
        }
        other => panic!("`{command}` should be uncacheable, got {other:?}"),
    }
}

fn refused(command: &str) -> (Option<ToolKind>, &'static str) {
    refused_in(command, &build_dir())
}
