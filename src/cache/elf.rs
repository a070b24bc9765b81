//! Whether an ELF file has compressed sections (`-gz`,
//! `--compress-debug-sections`, or a toolchain that compresses by
//! default): a plain search of such a file cannot tell which paths its
//! debug info holds.

/// `SHF_COMPRESSED`: the section's content is a compression header and a
/// zlib or zstd stream.
const SHF_COMPRESSED: u64 = 0x800;

/// Whether `content` is an ELF file with a compressed section (or old
/// style `.zdebug*` one), or an ELF file too damaged to tell; false for
/// anything that is not ELF.
pub fn has_compressed_sections(content: &[u8]) -> bool {
    if !content.starts_with(b"\x7fELF") {
        return false;
    }
    sections_compressed(content).unwrap_or(true)
}

fn sections_compressed(content: &[u8]) -> Option<bool> {
    let wide = match content.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match content.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let read = |at: usize, len: usize| -> Option<u64> {
        let bytes = content.get(at..at.checked_add(len)?)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if big { bytes[i] } else { bytes[len - 1 - i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let word = if wide { 8 } else { 4 };
    let (shoff, shentsize, shnum, shstrndx) = if wide {
        (
            read(0x28, 8)?,
            read(0x3A, 2)?,
            read(0x3C, 2)?,
            read(0x3E, 2)?,
        )
    } else {
        (
            read(0x20, 4)?,
            read(0x2E, 2)?,
            read(0x30, 2)?,
            read(0x32, 2)?,
        )
    };
    if shoff == 0 {
        return Some(false);
    }
    // Section counts past 0xff00 live elsewhere: not worth reading.
    if shnum == 0 || shstrndx >= shnum {
        return None;
    }
    let header = |index: u64| -> Option<usize> {
        usize::try_from(shoff.checked_add(index.checked_mul(shentsize)?)?).ok()
    };
    // sh_name, sh_type (4 bytes each), sh_flags, sh_addr, sh_offset (words).
    let strings = read(header(shstrndx)?.checked_add(8 + 2 * word)?, word)?;
    for index in 0..shnum {
        let at = header(index)?;
        let flags = read(at + 8, word)?;
        let name_at = usize::try_from(strings.checked_add(read(at, 4)?)?).ok()?;
        let name = content.get(name_at..)?;
        if flags & SHF_COMPRESSED != 0 || name.starts_with(b".zdebug") {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(flags: &[&str]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.c");
        // Enough debug strings that compressing them pays.
        let text: String = (0..200)
            .map(|i| format!("struct s{i} {{ int field_{i}_a; long field_{i}_b; }} v{i};\n"))
            .collect();
        std::fs::write(&source, text).unwrap();
        let object = dir.path().join("a.o");
        let status = std::process::Command::new("gcc")
            .args(flags)
            .arg("-c")
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(object).unwrap()
    }

    #[test]
    fn finds_compressed_debug_sections() {
        assert!(has_compressed_sections(&object(&["-g", "-gz"])));
        assert!(!has_compressed_sections(&object(&["-g"])));
        assert!(has_compressed_sections(&object(&["-g", "-m32", "-gz"])));
        assert!(!has_compressed_sections(b"!<arch>\n"));
        assert!(has_compressed_sections(b"\x7fELF\x02\x01"));
    }
}
