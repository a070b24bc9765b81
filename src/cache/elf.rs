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
    compressed(&|at, buf| {
        let rest = content.get(usize::try_from(at).ok()?..)?;
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Some(n)
    })
}

/// [`has_compressed_sections`] of an open file, reading only its headers.
/// A file that cannot be read counts as damaged ELF.
pub fn file_has_compressed_sections(file: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt as _;
    let Ok(len) = file.metadata().map(|meta| meta.len()) else {
        return true;
    };
    compressed(&|at, buf| {
        if at > len {
            return None;
        }
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], at + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        Some(filled)
    })
}

/// Copies what stands at an offset into the buffer: `None` past the end,
/// else how many bytes there were (fewer than asked at the end).
type ReadAt<'a> = dyn Fn(u64, &mut [u8]) -> Option<usize> + 'a;

fn compressed(read_at: &ReadAt) -> bool {
    let mut magic = [0u8; 4];
    if read_at(0, &mut magic) != Some(4) || magic != *b"\x7fELF" {
        return false;
    }
    sections_compressed(read_at).unwrap_or(true)
}

fn sections_compressed(read_at: &ReadAt) -> Option<bool> {
    let mut ident = [0u8; 6];
    if read_at(0, &mut ident)? < ident.len() {
        return None;
    }
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match ident[5] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let read = |at: u64, len: usize| -> Option<u64> {
        let mut bytes = [0u8; 8];
        let bytes = &mut bytes[..len];
        if read_at(at, bytes)? < len {
            return None;
        }
        let mut value = 0u64;
        for i in 0..len {
            let byte = if big { bytes[i] } else { bytes[len - 1 - i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let word: u64 = if wide { 8 } else { 4 };
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
    let header = |index: u64| -> Option<u64> { shoff.checked_add(index.checked_mul(shentsize)?) };
    let word_len = usize::try_from(word).ok()?;
    // sh_name, sh_type (4 bytes each), sh_flags, sh_addr, sh_offset (words).
    let strings = read(header(shstrndx)?.checked_add(8 + 2 * word)?, word_len)?;
    for index in 0..shnum {
        let at = header(index)?;
        let flags = read(at.checked_add(8)?, word_len)?;
        let name_at = strings.checked_add(read(at, 4)?)?;
        let mut name = [0u8; 7];
        let n = read_at(name_at, &mut name)?;
        if flags & SHF_COMPRESSED != 0 || name[..n].starts_with(b".zdebug") {
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

    /// Both ways: in memory, and from the file.
    fn check(content: &[u8]) -> bool {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, content).unwrap();
        let in_memory = has_compressed_sections(content);
        assert_eq!(file_has_compressed_sections(&file), in_memory);
        in_memory
    }

    #[test]
    fn finds_compressed_debug_sections() {
        assert!(check(&object(&["-g", "-gz"])));
        assert!(!check(&object(&["-g"])));
        assert!(check(&object(&["-g", "-m32", "-gz"])));
        assert!(!check(b"!<arch>\n"));
        assert!(check(b"\x7fELF\x02\x01"));
    }
}
