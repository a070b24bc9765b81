//! Unit tests of the comment-blind hash, some against real gcc.

use super::*;

fn h(text: &str) -> crate::hash::Digest {
    comment_blind_hash(text.as_bytes()).unwrap_or_else(|| panic!("refused: {text:?}"))
}

fn same(a: &str, b: &str) {
    assert_eq!(h(a), h(b), "should hash equal:\n{a:?}\n{b:?}");
}

fn differ(a: &str, b: &str) {
    assert_ne!(h(a), h(b), "should hash differently:\n{a:?}\n{b:?}");
}

fn refused(text: &str) {
    assert_eq!(
        comment_blind_hash(text.as_bytes()),
        None,
        "should refuse {text:?}"
    );
}

/// The normalized text with the marker shown as `#`.
fn shown(text: &str) -> String {
    let (mut body, tail) = normalize(text.as_bytes()).expect("refused");
    match tail {
        Tail::Kept => {}
        Tail::DroppedLf => body.extend_from_slice(b"\n"),
        Tail::DroppedCrLf => body.extend_from_slice(b"\r\n"),
    }
    let body = body.iter().map(|&b| if b == MARK { b'#' } else { b });
    String::from_utf8(body.collect()).unwrap()
}

const PROGRAM: &str = "int add(int a, int b)\n{\n    return a + b; // the sum\n}\n";

#[test]
fn appending_a_comment_at_the_end_keeps_the_hash() {
    same(PROGRAM, &format!("{PROGRAM}\n/* edited */\n"));
    same(PROGRAM, &format!("{PROGRAM}// edited\n"));
    same(PROGRAM, &format!("{PROGRAM}/* a\nb */\n\n// c\n"));
}

#[test]
fn appending_to_a_crlf_file_keeps_the_hash() {
    let crlf = PROGRAM.replace('\n', "\r\n");
    same(&crlf, &format!("{crlf}\r\n/* edited */\r\n"));
    // The last newline's kind is kept.
    differ(&crlf, &format!("{crlf}\n/* edited */\n"));
}

#[test]
fn crlf_comments_are_blanked() {
    same("int x; // one\r\nint y;\r\n", "int x; // two\r\nint y;\r\n");
    assert_eq!(
        shown("int x; // one\r\nint y;\r\n"),
        "int x; // ###\r\nint y;\r\n"
    );
}

#[test]
fn changing_comment_words_in_place_keeps_hash_and_columns() {
    let a = "int x; /* first note */ int y;\nint z; // old words\nint w;\n";
    let b = "int x; /* other text */ int y;\nint z; // new stuff\nint w;\n";
    same(a, b);
    assert_eq!(shown(a).len(), a.len());
    assert_eq!(
        shown(a),
        "int x; /* ##### #### */ int y;\nint z; // ### #####\nint w;\n"
    );
}

#[test]
fn moving_words_or_whitespace_inside_a_comment_changes_the_hash() {
    // Whitespace stays, so trailing whitespace inside a comment
    // (GCC's -Wtrailing-whitespace) is seen.
    differ("int x; // ab cd\nint y;\n", "int x; // abcd \nint y;\n");
    differ("int x; // ab\nint y;\n", "int x; // abc\nint y;\n");
}

#[test]
fn a_comment_is_not_whitespace() {
    differ("int x; /*a*/\nint y;\n", "int x;      \nint y;\n");
    differ("/*a*/int x;\n", "     int x;\n");
    // Nor a comment of the other kind.
    differ("int x; //abc\nint y;\n", "int x; /*a*/\nint y;\n");
}

#[test]
fn adding_a_comment_line_in_the_middle_changes_the_hash() {
    differ(
        PROGRAM,
        "int add(int a, int b)\n// new line\n{\n    return a + b; // the sum\n}\n",
    );
    differ(
        PROGRAM,
        "int add(int a, int b)\n{\n    return a + b; /* the\n sum */\n}\n",
    );
}

#[test]
fn code_edits_change_the_hash() {
    differ(PROGRAM, &PROGRAM.replace("a + b", "a - b"));
    differ(PROGRAM, &PROGRAM.replace("a + b", "a +b "));
    differ(PROGRAM, &PROGRAM.replace("    return", "\treturn"));
    differ("int x;\n", "int y;\n");
}

#[test]
fn final_newline_matters() {
    differ(PROGRAM, PROGRAM.trim_end_matches('\n'));
    differ("int x;\n", "int x;");
    // A comment at the end of a file without a final newline moves the
    // end of file (clang -Wnewline-eof): kept.
    differ("int x;", "int x; // c");
    same("int x; // a", "int x; // b");
}

#[test]
fn trailing_whitespace_at_the_end_is_kept() {
    // GCC's -Wtrailing-whitespace reports these lines.
    differ("int x;\n", "int x;   \n");
    differ("int x;\n", "int x;\n/* a  \n */\n");
    differ("int x;\n", "int x;\n  // indented\n");
    differ("int x;\n", "int x;\n\x0c\n");
    // Kept, the tail is still blind to comment words.
    same("int x;   \n// one\n", "int x;   \n// two\n");
}

#[test]
fn blank_lines_at_the_end_are_dropped() {
    same("int x;\n", "int x;\n\n\n");
    same("int x; // a\n", "int x;\n");
}

#[test]
fn comment_only_and_empty_files() {
    same("", "");
    same("// one\n", "// two\n");
    same("// one\n", "\n");
    differ("", "\n");
    refused("/* open");
}

#[test]
fn non_ascii_comments_stay_verbatim() {
    differ(
        "int x; // café\nint y;\n",
        "int x; // cafe\u{301}\nint y;\n",
    );
    differ("int x; // é\nint y;\n", "int x; // è\nint y;\n");
    assert_eq!(shown("int x; // é\n"), "int x; // é\n");
    // Non-ASCII code and strings are fine; the other comments are blind.
    same(
        "const char *s = \"é\"; // a\nint y;\n",
        "const char *s = \"é\"; // b\nint y;\n",
    );
}

#[test]
fn fallthrough_comments_stay_verbatim() {
    for comment in [
        "/* FALLTHRU */",
        "// fall through",
        "// falls through",
        "/* FALL-THROUGH */",
        "// Fallthrough",
        "/* else fall thru */",
    ] {
        let a = format!("switch (x) {{ case 1: f(); {comment}\ncase 2: g(); }}\n");
        let b = a.replace(comment, &"x".repeat(comment.len()));
        differ(&a, &b);
        assert_eq!(shown(&a), a, "{comment}");
    }
    // -Wimplicit-fallthrough=1 takes any comment: presence is kept.
    differ(
        "switch (x) { case 1: f(); /* xx */\ncase 2: g(); }\n",
        "switch (x) { case 1: f();         \ncase 2: g(); }\n",
    );
}

#[test]
fn doc_comments_stay_verbatim() {
    for (a, b) in [
        ("/** a */\nint x;\n", "/** b */\nint x;\n"),
        ("/*! a */\nint x;\n", "/*! b */\nint x;\n"),
        ("/// a\nint x;\n", "/// b\nint x;\n"),
        ("//! a\nint x;\n", "//! b\nint x;\n"),
        ("int x; ///< a\n", "int x; ///< b\n"),
    ] {
        differ(a, b);
    }
}

#[test]
fn tool_comments_stay_verbatim() {
    for word in [
        "NOLINT",
        "NOLINTNEXTLINE(foo)",
        "lint",
        "NOTREACHED",
        "ARGSUSED",
        "VARARGS1",
        "PRINTFLIKE1",
        "clang-format off",
        "expected-warning {{unused}}",
        "expected-no-diagnostics",
        "IWYU pragma: keep",
    ] {
        let a = format!("int x; // {word}\nint y;\n");
        let b = format!("int x; // {}\nint y;\n", "z".repeat(word.len()));
        differ(&a, &b);
    }
}

#[test]
fn nested_comment_start_stays_verbatim() {
    differ("/* a /* b */\nint x;\n", "/* a /* c */\nint x;\n");
    differ("// a /* b\nint x;\n", "// a /* c\nint x;\n");
    // `*/` in a line comment is harmless.
    same("// a */ b\nint x;\n", "// c */ d\nint x;\n");
}

#[test]
fn comment_delimiters_in_strings_and_chars_are_code() {
    let a = "const char *s = \"// not a comment\";\nint y;\n";
    assert_eq!(shown(a), a);
    differ(a, &a.replace("not a", "NOT A"));
    let a = "int c = '/*'; int d = 1; /* x */\nint y;\n";
    assert_eq!(shown(a), "int c = '/*'; int d = 1; /* # */\nint y;\n");
    same(a, &a.replace("/* x */", "/* y */"));
    differ(a, &a.replace("d = 1", "d = 2"));
}

#[test]
fn escapes_in_strings() {
    let a = "const char *s = \"a\\\" // b\"; int y;\n";
    assert_eq!(shown(a), a);
    let a = "const char *s = \"\\\\\"; // b\nint y;\n";
    assert_eq!(shown(a), "const char *s = \"\\\\\"; // #\nint y;\n");
    let a = "int q = '\\''; // b\nint c = '\"'; // c\nint y;\n";
    assert_eq!(
        shown(a),
        "int q = '\\''; // #\nint c = '\"'; // #\nint y;\n"
    );
    same("char c = L'x'; // a\n", "char c = L'x'; // b\n");
    same("char c = u8'x'; // a\n", "char c = u8'x'; // b\n");
}

#[test]
fn raw_strings_are_refused() {
    refused("const char *s = R\"(/* x */)\";\n");
    refused("auto s = LR\"x(a)x\";\n");
    refused("auto s = uR\"(a)\";\n");
    refused("auto s = UR\"(a)\";\n");
    refused("auto s = u8R\"(a)\";\n");
    // R" in a string or comment is not a raw string.
    h("const char *s = \"R\\\"\"; // R\"(\n");
}

#[test]
fn digit_separators_are_refused() {
    refused("int x = 1'000; // a\n");
    refused("int x = 0x1'ff;\n");
    refused("double d = 1.5'0;\n");
    refused("int x = 0b1'0;\n");
    // A quote glued to another word.
    refused("switch (c) { case'a': break; }\n");
    h("int x = 1000; char c = 'a';\n");
    h("int x = 1e+5; char c = '1';\n");
}

#[test]
fn trigraphs_are_refused() {
    for t in [
        "??=", "??/", "??'", "??(", "??)", "??!", "??<", "??>", "??-",
    ] {
        refused(&format!("int x; // {t}\n"));
    }
    h("int x; // ?? what\n");
}

#[test]
fn bad_bytes_are_refused() {
    assert_eq!(comment_blind_hash(b"int x; // \xff\n"), None);
    assert_eq!(comment_blind_hash(b"int x;\0\n"), None);
    refused("int x;\rint y;\n");
}

#[test]
fn unterminated_literals_and_comments_are_refused() {
    refused("const char *s = \"abc;\n");
    refused("const char *s = \"abc");
    refused("char c = 'a;\n");
    refused("int x; /* open\n");
    refused("#if 0\nThis doesn't build\n#endif\n");
}

#[test]
fn splices_in_code_keep_comments_blind_and_directives_verbatim() {
    same(
        "#define X 1 \\\n  + 2\nint x = X; /* a */\n",
        "#define X 1 \\\n  + 2\nint x = X; /* b */\n",
    );
    same(
        "int x = 1 \\  \n + 2; // a\n",
        "int x = 1 \\  \n + 2; // b\n",
    );
    // A comment on a directive's continuation line is the directive's.
    differ(
        "#define X 1 \\\n /* a */ + 2\nint x = X;\n",
        "#define X 1 \\\n /* b */ + 2\nint x = X;\n",
    );
    differ("int x = 1 \\\n + 2;\n", "int x = 1 \\\n + 3;\n");
}

#[test]
fn in_c90_only_block_comments_are_blind() {
    let c90 = |text: &str| comment_blind_hash_c90(text.as_bytes());
    assert_eq!(c90("int a; /* one */\n"), c90("int a; /* two */\n"));
    assert!(c90("int a; /* one */\n").is_some());
    // `//` is code: 4 / (comment) 2, so the digits after it count.
    assert_ne!(c90("int a = 4 //**/ 2\n;\n"), c90("int a = 4 //**/ 3\n;\n"));
    assert_ne!(c90("int a = 4 // x\n;\n"), c90("int a = 4 // y\n;\n"));
    // An apostrophe after `//` opens a character literal in C90.
    assert_eq!(c90("int a; // don't\n"), None);
    // Never equal to the same text hashed with line comments.
    assert_ne!(c90("int a;\n"), comment_blind_hash(b"int a;\n"));
}

#[test]
fn splices_that_could_join_comment_delimiters_or_split_strings_are_refused() {
    refused("int x = 4 /\\\n/ 2;\n");
    refused("int x = 4 \\\n/* c */ 2;\n");
    refused("int x = 4 \\\n// c\n;\n");
    refused("const char *s = \"a\\\nb\";\n");
    refused("const char *s = \"a\\\r\nb\";\n");
    refused("int x = 1; /\\\n* c */\n");
}

#[test]
fn splices_in_comments_keep_them_verbatim() {
    // The splice continues the line comment over the next line.
    let a = "// a \\\nint x;\nint y;\n";
    assert_eq!(shown(a), a);
    differ(a, "// b \\\nint x;\nint y;\n");
    let a = "/* a \\\n b */ int x;\n";
    assert_eq!(shown(a), a);
    // `*` splice `/` ends a block comment.
    refused("/* a *\\\n/ int x;\n");
}

#[test]
fn directive_comments_stay_verbatim() {
    differ("#include \"a.h\" // a\n", "#include \"a.h\" // b\n");
    differ("#include <a.h> /* a */\n", "#include <a.h> /* b */\n");
    differ(
        "#define X 1 /* a */\nint x;\n",
        "#define X 1 /* b */\nint x;\n",
    );
    differ("#pragma once // a\n", "#pragma once // b\n");
    differ("#error a // b\n", "#error a // c\n");
    differ("#endif // A\n", "#endif // B\n");
    differ("  # if 1 // a\n#endif\n", "  # if 1 // b\n#endif\n");
    differ("%:define X 1 // a\n", "%:define X 1 // b\n");
    // A comment before the `#` or spanning into its line.
    differ("/* a */ #define X 1\n", "/* b */ #define X 1\n");
    differ("/* a\n */ #define X 1\n", "/* b\n */ #define X 1\n");
    // A directive continued by a comment over two lines.
    differ("#define X 1 /*\n a */ + 2\n", "#define X 1 /*\n b */ + 2\n");
    // Other lines stay blind.
    same("#define X 1\nint x; // a\n", "#define X 1\nint x; // b\n");
    assert_eq!(shown("#define X 1 // a\n"), "#define X 1 // a\n");
}

#[test]
fn comments_in_header_names_are_refused() {
    refused("#include <a//b.h>\n");
    refused("#include <a/*b.h>\nint x; /* c */\n");
    refused("#import <a//b.h>\n");
    refused("#include_next <a//b.h>\n");
    refused("#if __has_include(<a//b.h>)\n#endif\n");
    refused("#include \"a\\\" /* \"\n*/\n");
    // `<` in other directives opens no header name.
    differ("#if A < B // a\n#endif\n", "#if A < B // b\n#endif\n");
}

#[test]
fn reading_files_into_the_output_is_refused() {
    refused("const char s[] = {\n#embed __FILE__\n};\n");
    refused("__asm__(\".incbin \\\"x.c\\\"\");\n");
}

#[test]
fn byte_order_mark() {
    same("\u{feff}int x; // a\n", "\u{feff}int x; // b\n");
    differ("\u{feff}int x;\n", "int x;\n");
    refused("\u{feff}#include <a//b.h>\n");
}

#[test]
fn domain_separated_from_raw_hash() {
    let text = b"int x;\n";
    assert_ne!(
        comment_blind_hash(text),
        Some(*blake3::hash(text).as_bytes())
    );
}

#[test]
fn normalized_text_keeps_every_byte_position() {
    for text in [
        PROGRAM,
        "int x; /* a\n\t b */ int y; // c\r\nint z;\n",
        "#define X 1\n/* a */ int y;   \n",
    ] {
        let (body, tail) = normalize(text.as_bytes()).unwrap();
        if tail == Tail::Kept {
            assert_eq!(body.len(), text.len());
        }
        for (n, o) in body.iter().zip(text.bytes()) {
            assert!(*n == o || (*n == MARK && !is_space(o)));
        }
    }
}

/// Compiles `text` as `dir/t.c` and returns the object and stderr.
fn gcc(dir: &std::path::Path, text: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    std::fs::write(dir.join("t.c"), text).unwrap();
    let out = std::process::Command::new("gcc")
        .args(["-c", "-g", "-O2", "-Wall", "-Wextra", "t.c", "-o", "t.o"])
        .current_dir(dir)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((std::fs::read(dir.join("t.o")).unwrap(), out.stderr))
}

const C_FILE: &str = "\
/* A small file. */
#include <stdio.h> // for printf

static int unused_fn(int x) { return x; } // warned about

int f(int a, int b) /* sum */
{
int r = a + b; /* keep */
switch (a) {
case 1:
    r++;
    /* fall through */
case 2:
    r += printf(\"%d // not a comment\\n\", r); // a note
    break;
}
return r;
}
";

#[test]
fn gcc_output_is_the_same_after_a_comment_only_edit() {
    let dir = tempfile::tempdir().unwrap();
    let edited = C_FILE
        .replace("/* A small file. */", "/* A short file. */")
        .replace("/* sum */", "/* add */")
        .replace("/* keep */", "/* left */")
        .replace("// a note", "// b text")
        + "\n/* edited */\n";
    assert_eq!(h(C_FILE), h(&edited));
    let Some((obj_a, err_a)) = gcc(dir.path(), C_FILE) else {
        eprintln!("gcc not found; skipped");
        return;
    };
    let (obj_b, err_b) = gcc(dir.path(), &edited).unwrap();
    assert!(!err_a.is_empty(), "the file should get a warning");
    assert!(obj_a == obj_b, "objects differ");
    assert_eq!(
        String::from_utf8_lossy(&err_a),
        String::from_utf8_lossy(&err_b)
    );
}

/// The caller's caveat: GCC's caret display quotes the source line of a
/// diagnostic, comment included.
#[test]
fn gcc_quotes_the_comment_on_a_warned_line() {
    let dir = tempfile::tempdir().unwrap();
    let edited = C_FILE.replace("// warned about", "// warned ABOUT");
    assert_eq!(h(C_FILE), h(&edited));
    let Some((obj_a, err_a)) = gcc(dir.path(), C_FILE) else {
        return;
    };
    let (obj_b, err_b) = gcc(dir.path(), &edited).unwrap();
    assert!(obj_a == obj_b);
    assert_ne!(err_a, err_b);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
        let _ = comment_blind_hash(&bytes);
    }

    #[test]
    fn c_like_text_never_panics_and_keeps_positions(
        text in "[ \t\r\n/*\"'\\\\#<>a-zR0-9_.'?=é%:+-]{0,120}"
    ) {
        if let Some((body, tail)) = normalize(text.as_bytes()) {
            if tail == Tail::Kept {
                proptest::prop_assert_eq!(body.len(), text.len());
            }
            for (n, o) in body.iter().zip(text.bytes()) {
                proptest::prop_assert!(*n == o || (*n == MARK && !is_space(o)));
            }
        }
    }
}
