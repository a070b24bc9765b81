//! The terminal: whether the status line can be rewritten in place and
//! colours kept, its width, and the text helpers (eliding, stripping
//! escapes) that depend on it.

use std::io::{self, IsTerminal};

/// Shortens `text` to at most `width` characters by replacing its middle
/// with "...", keeping equal parts of both ends, as ninja does.
pub fn elide_middle(text: &str, width: usize) -> String {
    const ELLIPSIS: &str = "...";
    let length = text.chars().count();
    if length <= width {
        return text.to_string();
    }
    if width <= ELLIPSIS.len() {
        return ELLIPSIS[..width].to_string();
    }
    let kept = (width - ELLIPSIS.len()) / 2;
    let head: String = text.chars().take(kept).collect();
    let tail: String = text.chars().skip(length - kept).collect();
    format!("{head}{ELLIPSIS}{tail}")
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final` and two-byte
/// `ESC x`), for output that does not go to a colour-capable terminal.
pub fn strip_ansi_escapes(bytes: &[u8]) -> Vec<u8> {
    let mut stripped = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0x1b {
            stripped.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'[') {
            i += 1;
            // Parameter and intermediate bytes, then one final byte.
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
        }
        i += 1;
    }
    stripped
}

/// What kind of terminal stdout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// The status line can be rewritten in place.
    pub smart: bool,
    /// Colour escapes in step output are kept (and FAILED is red).
    pub color: bool,
    /// Columns for eliding the status line; `None` = don't elide.
    pub width: Option<usize>,
}

impl Terminal {
    /// Inspects stdout, `TERM` and the colour variables like ninja.
    pub fn detect() -> Terminal {
        let tty = io::stdout().is_terminal();
        let term = std::env::var("TERM").ok();
        let smart = tty && term.is_some_and(|term| term != "dumb");
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| value != "0");
        Terminal {
            smart,
            color: color_wanted(smart, set),
            width: if smart { stdout_width() } else { None },
        }
    }

    /// A pipe or file: no rewriting, no colours.
    #[cfg(test)]
    pub fn plain() -> Terminal {
        Terminal {
            smart: false,
            color: false,
            width: None,
        }
    }
}

/// Whether colours are on, as ninja decides since `NO_COLOR` and
/// `FORCE_COLOR` (after 1.13.2): on a smart terminal unless `NO_COLOR`;
/// elsewhere with `FORCE_COLOR`, or `CLICOLOR_FORCE` without `NO_COLOR`.
/// `set` says whether a variable is set to something other than `0`.
fn color_wanted(smart: bool, set: impl Fn(&str) -> bool) -> bool {
    let no_color = set("NO_COLOR");
    (smart && !no_color) || set("FORCE_COLOR") || (!no_color && set("CLICOLOR_FORCE"))
}

fn stdout_width() -> Option<usize> {
    // SAFETY: winsize is plain data that TIOCGWINSZ fills in.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) != 0 || size.ws_col == 0 {
            return None;
        }
        Some(usize::from(size.ws_col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_variables_decide_as_in_ninja() {
        let wanted = |smart: bool, vars: &[&str]| color_wanted(smart, |name| vars.contains(&name));
        assert!(wanted(true, &[]));
        assert!(!wanted(false, &[]));
        assert!(!wanted(true, &["NO_COLOR"]));
        assert!(wanted(false, &["CLICOLOR_FORCE"]));
        assert!(wanted(false, &["FORCE_COLOR"]));
        // NO_COLOR wins over CLICOLOR_FORCE, FORCE_COLOR over NO_COLOR.
        assert!(!wanted(false, &["NO_COLOR", "CLICOLOR_FORCE"]));
        assert!(wanted(true, &["NO_COLOR", "FORCE_COLOR"]));
    }

    #[test]
    fn elides_in_the_middle() {
        let text = "[0/2] THIS IS A VERY LONG DESCRIPTION FOR STEP x1 WITH LOTS OF TEXT";
        // What ninja 1.11 printed on a 30-column terminal.
        assert_eq!(elide_middle(text, 30), "[0/2] THIS IS... LOTS OF TEXT");
        assert_eq!(elide_middle("short", 30), "short");
        assert_eq!(elide_middle("abcdef", 2), "..");
    }

    #[test]
    fn strips_escapes() {
        assert_eq!(strip_ansi_escapes(b"\x1b[31mred\x1b[0m\n"), b"red\n");
        assert_eq!(strip_ansi_escapes(b"a\x1b[1;32mb"), b"ab");
    }
}
