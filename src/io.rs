//! `Read` adapters that every byte of an artifact passes through.
//!
//! * [`SourceReader`] wraps the raw input: it caps the artifact size and marks errors that came
//!   from the input itself, so a failing disk (exit 3) is never mistaken for a bad artifact (exit 1).
//! * [`ExactReader`] holds a tar member to its declared size: a member that ends early is an error
//!   of its own ([`Truncated`]) instead of a silently short read.
//! * [`HashingReader`] computes the SHA-256 of what flows through it.
//!
//! The adapters report through typed errors wrapped in `io::Error`, which decoders and the tar
//! reader pass through unchanged; [`classify`] recovers them at the top of the pipeline.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// The input failed (not the artifact's fault): a read error from the file, pipe or socket.
#[derive(Debug)]
pub struct SourceFault(pub io::Error);

impl fmt::Display for SourceFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reading the input failed: {}", self.0)
    }
}

impl std::error::Error for SourceFault {}

/// The input grew past the configured maximum artifact size.
#[derive(Debug)]
pub struct SourceTooLarge {
    /// The cap that was passed.
    pub limit: u64,
}

impl fmt::Display for SourceTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "artifact is larger than the limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for SourceTooLarge {}

/// A tar member ended before its declared size.
#[derive(Debug)]
pub struct Truncated {
    /// Bytes the member header declared.
    pub expected: u64,
    /// Bytes that actually arrived.
    pub found: u64,
}

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "member ends after {} of its {} bytes",
            self.found, self.expected
        )
    }
}

impl std::error::Error for Truncated {}

/// What an `io::Error` surfacing from the pipeline means.
#[derive(Debug)]
pub enum IoClass {
    /// The input itself failed to read.
    Source(io::Error),
    /// The input exceeded the size cap.
    TooLarge(u64),
    /// A member ended early.
    Truncated {
        /// Declared size.
        expected: u64,
        /// Bytes found.
        found: u64,
    },
    /// Anything else: malformed compressed data or tar structure.
    Malformed(String),
}

/// Recovers the adapter errors wrapped inside `err`.
pub fn classify(err: io::Error) -> IoClass {
    if err.get_ref().is_some_and(|e| e.is::<SourceFault>()) {
        // The `is` check above guarantees the downcast succeeds; fall through defensively.
        if let Some(Ok(fault)) = err.into_inner().map(|b| b.downcast::<SourceFault>()) {
            return IoClass::Source(fault.0);
        }
        return IoClass::Malformed("input fault".to_owned());
    }
    if let Some(big) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<SourceTooLarge>())
    {
        return IoClass::TooLarge(big.limit);
    }
    if let Some(t) = err.get_ref().and_then(|e| e.downcast_ref::<Truncated>()) {
        return IoClass::Truncated {
            expected: t.expected,
            found: t.found,
        };
    }
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return IoClass::Truncated {
            expected: 0,
            found: 0,
        };
    }
    IoClass::Malformed(err.to_string())
}

/// Wraps the raw artifact input: counts bytes, enforces the size cap and tags input errors.
#[derive(Debug)]
pub struct SourceReader<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> SourceReader<R> {
    /// Wraps `inner`, refusing to read more than `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            read: 0,
            limit,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::other(SourceFault(e))),
            }
        };
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            return Err(io::Error::other(SourceTooLarge { limit: self.limit }));
        }
        Ok(n)
    }
}

/// Holds a tar member to exactly its declared size.
#[derive(Debug)]
pub struct ExactReader<R> {
    inner: R,
    expected: u64,
    read: u64,
}

impl<R: Read> ExactReader<R> {
    /// Wraps a member that declares `expected` bytes.
    pub fn new(inner: R, expected: u64) -> Self {
        Self {
            inner,
            expected,
            read: 0,
        }
    }

    /// Bytes delivered so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Gives back the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.read >= self.expected {
            return Ok(0);
        }
        let remaining = usize::try_from(self.expected - self.read).unwrap_or(usize::MAX);
        let window = buf.len().min(remaining);
        let n = self.inner.read(buf.get_mut(..window).unwrap_or_default())?;
        if n == 0 {
            return Err(io::Error::other(Truncated {
                expected: self.expected,
                found: self.read,
            }));
        }
        self.read = self.read.saturating_add(n as u64);
        Ok(n)
    }
}

/// Computes the SHA-256 and length of everything read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// The digest and byte count of what was read; the caller must compare it.
    #[must_use]
    pub fn finish(self) -> (Sha256Digest, u64) {
        (self.hasher.finalize().into(), self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(data) = buf.get(..n) {
            self.hasher.update(data);
        }
        self.read = self.read.saturating_add(n as u64);
        Ok(n)
    }
}

/// SHA-256 of a byte slice.
pub fn sha256(data: &[u8]) -> Sha256Digest {
    Sha256::digest(data).into()
}

/// Reads `reader` to its end into memory, failing once more than `limit` bytes arrive.
///
/// Returns `Ok(None)` when the limit is exceeded, so the caller can name the entry.
pub fn read_bounded<R: Read>(reader: R, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut take = reader.take(limit.saturating_add(1));
    take.read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Reads `reader` to its end, requiring every byte to be zero; returns how many there were.
///
/// Used after a tar end-of-archive block: padding may follow, garbage may not (spec §1.2).
pub fn drain_zeros<R: Read>(mut reader: R) -> io::Result<Result<u64, u64>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(Ok(total)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if let Some(pos) = chunk.iter().position(|b| *b != 0) {
            return Ok(Err(total + pos as u64));
        }
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_flags_a_short_member() {
        let mut r = ExactReader::new(&b"abc"[..], 5);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        match classify(err) {
            IoClass::Truncated { expected, found } => assert_eq!((expected, found), (5, 3)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn exact_reader_stops_at_declared_size() {
        let mut r = ExactReader::new(&b"abcdef"[..], 4);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn source_reader_caps_the_artifact() {
        let mut r = SourceReader::new(&[0u8; 100][..], 10);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert!(matches!(classify(err), IoClass::TooLarge(10)));
    }

    #[test]
    fn source_errors_are_told_apart_from_bad_data() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(5))
            }
        }
        let err = SourceReader::new(Broken, 10)
            .read(&mut [0u8; 4])
            .unwrap_err();
        assert!(matches!(classify(err), IoClass::Source(_)));
        let plain = io::Error::new(io::ErrorKind::InvalidData, "corrupt deflate stream");
        assert!(matches!(classify(plain), IoClass::Malformed(_)));
    }

    #[test]
    fn hashing_reader_matches_one_shot_digest() {
        let data = vec![7u8; 100_000];
        let mut r = HashingReader::new(&data[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let (digest, len) = r.finish();
        assert_eq!(len, 100_000);
        assert_eq!(digest, sha256(&data));
    }

    #[test]
    fn drain_zeros_reports_the_first_non_zero_offset() {
        assert_eq!(drain_zeros(&[0u8; 700][..]).unwrap(), Ok(700));
        let mut data = vec![0u8; 700];
        data[650] = 1;
        assert_eq!(drain_zeros(&data[..]).unwrap(), Err(650));
    }

    #[test]
    fn read_bounded_refuses_oversize() {
        assert_eq!(
            read_bounded(&b"12345"[..], 5).unwrap(),
            Some(b"12345".to_vec())
        );
        assert_eq!(read_bounded(&b"123456"[..], 5).unwrap(), None);
    }
}
