//! Records: small keyed payloads (results, manifests, the tools' memo),
//! each in a file of its own with a header that lets a torn, truncated or
//! planted file be told from a real record.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{Digest, Namespace, Store, StoreError, TOUCH_GRANULARITY, hex, io_err, touch};
use crate::cache::nofollow;

const RECORD_MAGIC: &[u8; 4] = b"ZCRC";
const RECORD_VERSION: u32 = 1;
const RECORD_HEADER_LEN: usize = 48;

/// The most a record's payload may hold. Records are read whole, so one
/// planted in the cache must not make a lookup read gigabytes; no real
/// record (diagnostics, depfile text, a manifest's file lists) comes near.
pub const MAX_RECORD_PAYLOAD: usize = 64 << 20;

impl Store {
    pub(super) fn record_path(&self, ns: Namespace, key: &Digest) -> PathBuf {
        let h = hex(key);
        self.v1
            .join("records")
            .join(ns.dir_name())
            .join(&h[..2])
            .join(&h[2..])
    }

    /// Ok(None) if absent; a damaged record is deleted and reported as Corrupt.
    pub fn get_record(&self, ns: Namespace, key: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.record_path(ns, key);
        // The tools' memo is believed as it stands (nothing else checks the
        // identity an entry names), so its entry is reached through its
        // dir's descriptor, through no symlink below the cache dir, and
        // deleted or touched through it too.
        let held = match (ns, path.parent()) {
            (Namespace::Toolchain, Some(dir)) => match nofollow::dir_beneath(&self.root, dir) {
                Some(Ok(held)) => Some(held),
                Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Some(Err(e)) => {
                    return Err(io_err(format!("cannot open {}", dir.display()))(e));
                }
                None => None,
            },
            _ => None,
        };
        let path = match (&held, path.file_name()) {
            (Some(held), Some(name)) => held.path().join(name),
            _ => path,
        };
        let mut file = match nofollow::open_regular(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if nofollow::is_not_regular(&e) => {
                return Err(self.corrupt(&path, "not a regular file"));
            }
            Err(e) => return Err(io_err(format!("cannot open {}", path.display()))(e)),
        };
        let meta = file.metadata().ok();
        let limit = (RECORD_HEADER_LEN + MAX_RECORD_PAYLOAD) as u64;
        // Sized from the file, so a record takes one read rather than the
        // several of a buffer doubling from empty (a limited reader gives
        // no size hint); one byte more, to see the end.
        let size = meta.as_ref().map_or(0, |m| m.len().min(limit));
        let mut bytes = Vec::with_capacity(size as usize + 1);
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        if bytes.len() as u64 > limit {
            return Err(self.corrupt(&path, "larger than a record may be"));
        }
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(self.corrupt(&path, "truncated header"));
        }
        let (header, payload) = bytes.split_at(RECORD_HEADER_LEN);
        if &header[..4] != RECORD_MAGIC {
            return Err(self.corrupt(&path, "bad magic"));
        }
        let version = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if version != RECORD_VERSION {
            return Err(self.corrupt(&path, format!("unknown record version {version}")));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&header[8..16]);
        let len = u64::from_le_bytes(len);
        if len != payload.len() as u64 {
            return Err(self.corrupt(
                &path,
                format!("payload is {} bytes, header says {len}", payload.len()),
            ));
        }
        if blake3::hash(payload).as_bytes() != &header[16..48] {
            return Err(self.corrupt(&path, "checksum mismatch"));
        }
        let fresh = meta
            .and_then(|m| m.modified().ok())
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age < TOUCH_GRANULARITY);
        if !fresh {
            touch(&path);
        }
        Ok(Some(payload.to_vec()))
    }

    pub fn put_record(
        &self,
        ns: Namespace,
        key: &Digest,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        if payload.len() > MAX_RECORD_PAYLOAD {
            return Err(StoreError::RecordTooLarge {
                size: payload.len(),
            });
        }
        let path = self.record_path(ns, key);
        let mut bytes = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
        bytes.extend_from_slice(RECORD_MAGIC);
        bytes.extend_from_slice(&RECORD_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(blake3::hash(payload).as_bytes());
        bytes.extend_from_slice(payload);
        self.write_atomic(&path, &mut |file| {
            file.write_all(&bytes)
                .map_err(io_err(format!("cannot write record {}", path.display())))
        })?;
        Ok(())
    }
}
