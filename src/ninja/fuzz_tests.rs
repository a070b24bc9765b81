//! Robustness properties: no input, however malformed, may panic, hang or
//! overflow the stack in the manifest or dyndep parsers.

use super::dyndep::parse_dyndep;
use super::parser::load_with;
use proptest::prelude::*;
use std::io;
use std::path::Path;

/// Fragments that exercise every lexer and parser branch when shuffled.
const FRAGMENTS: &[&str] = &[
    "build",
    "rule",
    "pool",
    "default",
    "include",
    "subninja",
    "phony",
    "dyndep",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\r",
    ":",
    "|",
    "||",
    "|@",
    "=",
    "$",
    "$$",
    "$ ",
    "$:",
    "$\n",
    "$\r\n",
    "${",
    "}",
    "$x",
    "${x}",
    "${in}",
    "$in",
    "$out",
    "$in_newline",
    "a",
    "b",
    "cc",
    "command",
    "depth",
    "description",
    "depfile",
    "deps",
    "gcc",
    "msvc",
    "generator",
    "restat",
    "rspfile",
    "rspfile_content",
    "pool",
    "console",
    "x",
    "#",
    "\t",
    "\0",
    "..",
    "/",
    ".",
    "./",
    "é",
    "1",
    "-1",
    "99999999999999999999999",
    "ninja_required_version",
    "ninja_dyndep_version",
    "builddir",
    "\n  ",
    "rule r\n  command = c $in\n",
    "build o: r i\n",
    "x = $x $x\n",
    "include f\n",
    "subninja f\n",
];

fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..80)
        .prop_map(|parts| parts.concat().into_bytes())
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..400)
}

/// Loads `main`; every other file name resolves to `other` (so include and
/// subninja may recurse into themselves).
fn load_soup(main: &[u8], other: &[u8]) {
    let mut read = |path: &Path| -> io::Result<Vec<u8>> {
        if path == Path::new("build.ninja") {
            Ok(main.to_vec())
        } else if path == Path::new("missing") {
            Err(io::Error::from(io::ErrorKind::NotFound))
        } else {
            Ok(other.to_vec())
        }
    };
    // Either outcome is fine; only panics and hangs are failures.
    let _ = load_with(Path::new("build.ninja"), &mut read);
    let _ = parse_dyndep(Path::new("dd"), main, &mut |_: &str| true);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(main in any_bytes(), other in any_bytes()) {
        load_soup(&main, &other);
    }

    #[test]
    fn token_soups_never_panic(main in token_soup(), other in token_soup()) {
        load_soup(&main, &other);
    }

    #[test]
    fn dyndep_soups_never_panic(body in token_soup()) {
        let mut text = b"ninja_dyndep_version = 1\n".to_vec();
        text.extend_from_slice(&body);
        let _ = parse_dyndep(Path::new("dd"), &text, &mut |_: &str| true);
    }
}

#[test]
fn self_including_subninja_is_bounded() {
    let text = b"x = $x$x\nsubninja build.ninja\n".to_vec();
    let mut read = |_: &Path| -> io::Result<Vec<u8>> { Ok(text.clone()) };
    let err = load_with(Path::new("build.ninja"), &mut read).unwrap_err();
    assert!(err.0.contains("includes nested too deeply"), "{}", err.0);
}

#[test]
fn long_rule_variable_chains_do_not_overflow() {
    // Every rule variable refers to the next; the last loops back.
    let names = super::eval::RULE_VARS;
    let mut text = String::from("rule r\n");
    for (i, name) in names.iter().enumerate() {
        let next = names[(i + 1) % names.len()];
        text.push_str(&format!("  {name} = ${next}\n"));
    }
    text.push_str("build o: r\n");
    let mut read = |_: &Path| -> io::Result<Vec<u8>> { Ok(text.clone().into_bytes()) };
    let err = load_with(Path::new("build.ninja"), &mut read).unwrap_err();
    assert!(err.0.starts_with("cycle in rule variables: "), "{}", err.0);
}

/// Performance smoke test: `cargo test --release --lib ninja::fuzz_tests::large -- --ignored --nocapture`.
#[test]
#[ignore]
fn large_manifest_parses_quickly() {
    let mut text = String::from(
        "cflags = -O2 -Wall\nrule cc\n  command = cc $cflags -MD -MF $out.d -c $in -o $out\n  \
         depfile = $out.d\n  deps = gcc\n  description = CC $out\n",
    );
    for i in 0..100_000 {
        text.push_str(&format!(
            "build obj/dir{}/file{i}.o: cc src/dir{}/file{i}.c | gen/config.h || gen/stamp\n",
            i % 100,
            i % 100
        ));
        if i % 10 == 0 {
            text.push_str("  cflags = -O0\n");
        }
    }
    let start = std::time::Instant::now();
    let mut read = |_: &Path| -> io::Result<Vec<u8>> { Ok(text.clone().into_bytes()) };
    let manifest = load_with(Path::new("build.ninja"), &mut read).unwrap();
    let elapsed = start.elapsed();
    println!("{} edges in {elapsed:?}", manifest.builds.len());
    assert_eq!(manifest.builds.len(), 100_000);
}
