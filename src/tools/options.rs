//! Option parsing for tool arguments, behaving like the GNU `getopt` ninja
//! uses: flags may appear anywhere among the operands, may be bundled
//! (`-gr`), and `--` ends them. Messages name the tool, as getopt does with
//! the tool as `argv[0]`.

/// A tool's command line split into single-letter flags and operands.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ToolArgs {
    pub flags: Vec<char>,
    pub operands: Vec<String>,
}

impl ToolArgs {
    pub fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }
}

/// Which options a tool accepts.
pub struct Spec {
    /// Letters accepted as `-x`.
    pub letters: &'static str,
    /// Whether `--help` means `-h` (only `inputs` has long options).
    pub long_help: bool,
}

/// Splits `args`; on an unknown option prints getopt's message to stderr
/// and returns `None`, after which the caller shows its usage.
pub fn parse(tool: &str, args: &[String], spec: &Spec) -> Option<ToolArgs> {
    let mut parsed = ToolArgs::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            parsed.operands.extend(iter.cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            if spec.long_help && long == "help" {
                parsed.flags.push('h');
                continue;
            }
            eprintln!("{tool}: unrecognized option '{arg}'");
            return None;
        }
        match arg.strip_prefix('-') {
            Some(letters) if !letters.is_empty() => {
                for letter in letters.chars() {
                    if !spec.letters.contains(letter) {
                        eprintln!("{tool}: invalid option -- '{letter}'");
                        return None;
                    }
                    parsed.flags.push(letter);
                }
            }
            _ => parsed.operands.push(arg.clone()),
        }
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    const CLEAN: Spec = Spec {
        letters: "hgr",
        long_help: false,
    };

    #[test]
    fn flags_may_follow_operands_and_be_bundled() {
        let parsed = parse("clean", &strings(&["a", "-gr", "b"]), &CLEAN).unwrap();
        assert_eq!(parsed.flags, vec!['g', 'r']);
        assert_eq!(parsed.operands, strings(&["a", "b"]));
    }

    #[test]
    fn double_dash_ends_flags() {
        let parsed = parse("clean", &strings(&["--", "-g"]), &CLEAN).unwrap();
        assert!(parsed.flags.is_empty());
        assert_eq!(parsed.operands, strings(&["-g"]));
    }

    #[test]
    fn unknown_letters_and_long_options_are_rejected() {
        assert!(parse("clean", &strings(&["-x"]), &CLEAN).is_none());
        assert!(parse("clean", &strings(&["--help"]), &CLEAN).is_none());
        let inputs = Spec {
            letters: "h",
            long_help: true,
        };
        assert!(
            parse("inputs", &strings(&["--help"]), &inputs)
                .unwrap()
                .has('h')
        );
    }

    #[test]
    fn a_lone_dash_is_an_operand() {
        let parsed = parse("clean", &strings(&["-"]), &CLEAN).unwrap();
        assert_eq!(parsed.operands, strings(&["-"]));
    }
}
