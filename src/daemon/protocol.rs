//! Messages between a launcher call and the helper: one request and one
//! reply per connection, each a little-endian u32 length and a bincode body.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use super::Fingerprint;

/// Larger frames are refused rather than allocated (outputs are written
/// by the helper; only the tool's text travels).
const MAX_FRAME: u32 = 256 << 20;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Request {
    /// Restore this call's outputs if the cache holds them; else say how
    /// to run the tool, and store what the run made (see [`Reply::Run`]).
    Lookup {
        fingerprint: Fingerprint,
        /// The client's working directory, as bytes.
        cwd: Vec<u8>,
        /// The resolved program, then its arguments.
        argv: Vec<String>,
    },
    /// The tool ran as [`Reply::Run`] asked (sent on the same connection).
    Ran {
        success: bool,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        elapsed_us: u64,
    },
    /// Add a call's statistics (no reply: the client does not wait).
    Count {
        fingerprint: Fingerprint,
        cwd: Vec<u8>,
        counters: std::collections::BTreeMap<String, u64>,
        bytes_stored: u64,
    },
    /// Write every pending statistics update now (before `zccache stats`).
    Flush,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Reply {
    /// Sent as soon as a worker has read a [`Request::Lookup`] it will
    /// serve, before the answer: a client that does not get it at once
    /// knows the helper is stuck (stopped, overloaded) and works alone.
    Accepted,
    /// The outputs are in place; print these as the tool would have and
    /// exit 0. `warnings`: what the cache would have printed, each a line.
    Hit {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        warnings: Vec<String>,
    },
    /// A miss, counted: run the tool with these arguments added to its own,
    /// then send [`Request::Ran`] on this connection; the helper reads the
    /// outputs and depfiles, answers [`Reply::Stored`], then stores the
    /// result. Closing the connection instead stores nothing. The client
    /// accepts only the shapes [`super::client`] checks: a private
    /// depfile in the helper's own dir and the prefix maps of the build.
    Run {
        extra_args: Vec<String>,
        warnings: Vec<String>,
    },
    /// What the run made is read; the result is being stored (or, for a
    /// reason the helper counts, will not be).
    Stored,
    /// Not cacheable, counted: run the tool as it is.
    Uncacheable {
        warnings: Vec<String>,
    },
    /// The helper cannot serve this call (the cache failed): work alone.
    Miss,
    /// Another fingerprint: this helper cannot serve the client.
    Refused,
    Flushed,
}

pub fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let body = bincode::serialize(message).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|len| *len <= MAX_FRAME)
        .ok_or_else(|| io::Error::other("message too large"))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)?;
    out.flush()
}

pub fn read_frame<T: for<'de> Deserialize<'de>>(input: &mut impl Read) -> io::Result<T> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body)?;
    bincode::deserialize(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let request = Request::Lookup {
            fingerprint: [7; 32],
            cwd: b"/tmp/x".to_vec(),
            argv: vec!["/usr/bin/gcc".into(), "-c".into(), "a.c".into()],
        };
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &request).unwrap();
        write_frame(&mut buffer, &Reply::Miss).unwrap();
        let mut input = buffer.as_slice();
        assert_eq!(read_frame::<Request>(&mut input).unwrap(), request);
        assert_eq!(read_frame::<Reply>(&mut input).unwrap(), Reply::Miss);
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let mut huge = &u32::MAX.to_le_bytes()[..];
        assert!(read_frame::<Request>(&mut huge).is_err());
        let mut short = &[5u8, 0, 0, 0, 1][..];
        assert!(read_frame::<Request>(&mut short).is_err());
        let mut nonsense = &[4u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..];
        assert!(read_frame::<Reply>(&mut nonsense).is_err());
    }
}
