//! Blobs: file contents stored under the blake3 of their uncompressed
//! bytes, in whichever form (`.zst` or as-is) the `compression` setting
//! asks; both forms are read whatever it says. Big outputs are staged in
//! one pass (hash, compress, write) and committed under their name later.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::codec::{CopyFail, Scanning, ZSTD_LEVEL, compress, copy_hashing};
use super::write::TempBeneath;
use super::{Digest, Store, StoreError, hex, io_err};
use crate::cache::nofollow;

const ZSTD_SUFFIX: &str = ".zst";

/// A blob written to a temp file in the cache in the form the store
/// keeps, not yet under its name: [`Store::commit_staged`] puts it there,
/// dropping it deletes it.
pub struct StagedBlob {
    temp: TempBeneath,
    digest: Digest,
    size: u64,
}

impl StagedBlob {
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The uncompressed size.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Store {
    /// (uncompressed path, compressed path)
    pub(super) fn blob_paths(&self, digest: &Digest) -> (PathBuf, PathBuf) {
        let h = hex(digest);
        let dir = self.v1.join("blobs").join(&h[..2]);
        (
            dir.join(&h[2..]),
            dir.join(format!("{}{ZSTD_SUFFIX}", &h[2..])),
        )
    }

    /// The stored form of a blob, if any: (path, compressed). The form this
    /// store writes is tried first.
    pub(super) fn find_blob(&self, digest: &Digest) -> Option<(PathBuf, bool)> {
        let (raw, zst) = self.blob_paths(digest);
        let order = if self.compression {
            [(zst, true), (raw, false)]
        } else {
            [(raw, false), (zst, true)]
        };
        order
            .into_iter()
            .find(|(path, _)| nofollow::is_regular(path))
    }

    /// If the blob is already stored, refreshes its last use and says so.
    /// A blob that a concurrent gc removes between the check and the touch
    /// counts as absent, so the caller stores it again instead of recording
    /// a reference to nothing.
    fn reuse_existing(&self, digest: &Digest) -> bool {
        match self.find_blob(digest) {
            Some((path, _)) => match nofollow::touch(&path) {
                Ok(()) => true,
                Err(e) => e.kind() != io::ErrorKind::NotFound,
            },
            None => false,
        }
    }

    fn blob_dest(&self, digest: &Digest) -> PathBuf {
        let (raw, zst) = self.blob_paths(digest);
        if self.compression { zst } else { raw }
    }

    pub fn put_blob(&self, content: &[u8]) -> Result<Digest, StoreError> {
        let digest = *blake3::hash(content).as_bytes();
        if self.reuse_existing(&digest) {
            return Ok(digest);
        }
        let dest = self.blob_dest(&digest);
        let compressed;
        let bytes = if self.compression {
            compressed = compress(content).map_err(io_err("cannot compress a blob"))?;
            &compressed[..]
        } else {
            content
        };
        self.write_atomic(&dest, &mut |file| {
            file.write_all(bytes)
                .map_err(io_err(format!("cannot write blob {}", dest.display())))
        })?;
        Ok(digest)
    }

    /// Reads `source` (from where it stands) once, hashing it, showing
    /// each piece to `scan`, and writing it in the stored form to a temp
    /// file in the cache; memory stays bounded whatever its size. Err
    /// `Changed` if the file's size changed meanwhile.
    pub fn stage_blob(
        &self,
        source: &File,
        path: &Path,
        scan: &mut dyn FnMut(&[u8]),
    ) -> Result<StagedBlob, StoreError> {
        let read_err = |e| io_err(format!("cannot read {}", path.display()))(e);
        let expected = source.metadata().map_err(read_err)?.len();
        let mut temp = self.temp_beneath(&self.v1.join("blobs"))?;
        let write_err = io_err("cannot write a blob to a temp file in the cache");
        let mut reader = source;
        let copied = if self.compression {
            let mut encoder = zstd::Encoder::new(temp.file.as_file_mut(), ZSTD_LEVEL)
                .map_err(io_err("cannot start zstd"))?;
            // The frame then says its size, which tells a restore whether
            // to decompress in memory.
            encoder
                .set_pledged_src_size(Some(expected))
                .map_err(io_err("cannot start zstd"))?;
            let mut scanning = Scanning {
                inner: &mut encoder,
                scan,
            };
            let copied = copy_hashing(&mut reader, Some(&mut scanning));
            if matches!(copied, Ok((_, size)) if size == expected) {
                encoder.finish().map_err(write_err)?;
            }
            copied
        } else {
            let mut scanning = Scanning {
                inner: temp.file.as_file_mut(),
                scan,
            };
            copy_hashing(&mut reader, Some(&mut scanning))
        };
        // A file that grew past the size zstd was promised fails the
        // write: that is a change too, not a cache failure.
        let changed = || source.metadata().map(|meta| meta.len()).ok() != Some(expected);
        match copied {
            Ok((digest, size)) if size == expected => Ok(StagedBlob { temp, digest, size }),
            Err(CopyFail::Write(_)) if changed() => Err(StoreError::Changed {
                path: path.to_path_buf(),
            }),
            Ok(_) => Err(StoreError::Changed {
                path: path.to_path_buf(),
            }),
            Err(CopyFail::Read(e)) => Err(read_err(e)),
            Err(CopyFail::Write(e)) => {
                Err(io_err("cannot write a blob to a temp file in the cache")(e))
            }
        }
    }

    /// Puts a staged blob under its name (or drops it, when that blob is
    /// stored already).
    pub fn commit_staged(&self, staged: StagedBlob) -> Result<(), StoreError> {
        if self.reuse_existing(&staged.digest) {
            return Ok(());
        }
        let dest = self.blob_dest(&staged.digest);
        let real_dir = dest.parent().unwrap_or(&self.v1);
        let StagedBlob {
            temp: TempBeneath { mut file, dir },
            ..
        } = staged;
        let len = self.finish_temp(file.as_file())?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let opened = match nofollow::dir_beneath(&self.root, real_dir) {
                Some(Ok(opened)) => Some(opened),
                Some(Err(e)) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => {
                    self.make_dirs(real_dir)
                        .map_err(io_err(format!("cannot create {}", real_dir.display())))?;
                    continue;
                }
                Some(Err(e)) => {
                    return Err(io_err(format!("cannot open {}", real_dir.display()))(e));
                }
                None => None,
            };
            let target = match (&opened, dest.file_name()) {
                (Some(opened), Some(name)) => opened.path().join(name),
                _ => dest.clone(),
            };
            match file.persist(&target) {
                Ok(_) => {
                    drop(dir);
                    self.note_written(len);
                    return Ok(());
                }
                Err(e) if e.error.kind() == io::ErrorKind::NotFound && attempt < 3 => {
                    file = e.file;
                }
                Err(e) => {
                    return Err(io_err(format!("cannot rename into {}", dest.display()))(
                        e.error,
                    ));
                }
            }
        }
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.find_blob(digest).is_some()
    }

    /// The content, verified against the digest (a mismatch deletes the blob).
    #[cfg(test)]
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        use super::touch;
        use std::io::Read as _;

        let (path, compressed) = self.find_blob(digest).ok_or_else(|| StoreError::NotFound {
            digest: hex(digest),
        })?;
        let read = nofollow::open_regular(&path).and_then(|mut file| {
            let mut stored = Vec::new();
            file.read_to_end(&mut stored).map(|_| stored)
        });
        let stored = match read {
            Ok(stored) => stored,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    digest: hex(digest),
                });
            }
            Err(e) if nofollow::is_not_regular(&e) => {
                return Err(self.corrupt(&path, "not a regular file"));
            }
            Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
        };
        let content = if compressed {
            zstd::decode_all(&stored[..])
                .map_err(|e| self.corrupt(&path, format!("bad zstd data: {e}")))?
        } else {
            stored
        };
        if blake3::hash(&content).as_bytes() != digest {
            return Err(self.corrupt(&path, "content does not match its digest"));
        }
        touch(&path);
        Ok(content)
    }
}
