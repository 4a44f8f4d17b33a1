//! `Read` adapters that every byte of an artifact passes through.
//!
//! * [`SourceReader`] wraps the raw input: it caps the artifact size and marks errors that came
//!   from the input itself, so a failing disk (exit 3) is never mistaken for a bad artifact (exit 1).
//! * [`ExactReader`] holds a tar member to its declared size: a member that ends early is an error
//!   of its own ([`StreamError::Truncated`]) instead of a silently short read.
//! * [`HashWorker`] computes the SHA-256 of what flows through it, on a second thread where
//!   there is a core for it ([`Threads`]), so hashing overlaps decompression.
//!
//! The adapters report through typed errors wrapped in `io::Error`, which decoders and the tar
//! reader pass through unchanged; [`StreamError::recover`] recovers them at the top of the pipeline.

mod error;
pub mod limits;
pub mod progress;
mod sha256;
pub mod source;
mod threads;

use std::io::{self, Read};
use std::sync::mpsc;

pub use error::StreamError;
pub use sha256::{Sha256, sha256};
pub use threads::Threads;

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// A SHA-256 digest written as 64 hex digits (either case), as `read` and `validate` print it.
pub fn parse_sha256_hex(text: &str) -> Result<Sha256Digest, String> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut digest).map_err(|_| {
        format!(
            "{} is not a SHA-256 (64 hex digits)",
            crate::error::escape::quoted(text)
        )
    })?;
    Ok(digest)
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
                Err(e) => return Err(StreamError::Source(e).into_io()),
            }
        };
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            return Err(StreamError::TooLarge { limit: self.limit }.into_io());
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
            return Err(StreamError::Truncated {
                expected: self.expected,
                found: self.read,
            }
            .into_io());
        }
        self.read = self.read.saturating_add(n as u64);
        Ok(n)
    }
}

/// SHA-256 of the payload, on a worker thread so hashing runs beside decompression instead of
/// after it, or inline on one core.
///
/// Pipelined, the reading side copies each chunk into one of a few recycled buffers and hands it
/// over; the fixed number of buffers bounds memory and makes the reader wait when the hasher
/// falls behind. Inline (one core, or when no thread can be started) it hashes the reader's own
/// buffer in place: no copy, no hand-off.
#[derive(Debug)]
pub struct HashWorker {
    lane: Option<Lane>,
    inline: Sha256,
}

#[derive(Debug)]
struct Lane {
    work: mpsc::SyncSender<Job>,
    spare: mpsc::Receiver<Vec<u8>>,
    digests: mpsc::Receiver<Sha256Digest>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Job {
    Chunk(Vec<u8>),
    Finish,
}

impl HashWorker {
    /// Starts the worker thread, or none for [`Threads::Inline`].
    pub fn start(threads: Threads) -> Self {
        if threads == Threads::Inline {
            return Self {
                lane: None,
                inline: Sha256::new(),
            };
        }
        let (work, jobs) = mpsc::sync_channel::<Job>(HASH_BUFFERS);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<u8>>(HASH_BUFFERS);
        let (digest_tx, digests) = mpsc::sync_channel::<Sha256Digest>(1);
        for _ in 0..HASH_BUFFERS {
            // Cannot fail: the channel has room for every buffer and the receiver is alive.
            let _ = spare_tx.send(Vec::with_capacity(HASH_CHUNK));
        }
        let thread = std::thread::Builder::new()
            .name("sha256".to_owned())
            .spawn(move || {
                let mut hasher = Sha256::new();
                while let Ok(job) = jobs.recv() {
                    match job {
                        Job::Chunk(mut buf) => {
                            hasher.update(&buf);
                            buf.clear();
                            if spare_tx.send(buf).is_err() {
                                return;
                            }
                        }
                        Job::Finish => {
                            let digest = hasher.finalize_reset();
                            if digest_tx.send(digest).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        let lane = thread.ok().map(|thread| Lane {
            work,
            spare,
            digests,
            thread: Some(thread),
        });
        Self {
            lane,
            inline: Sha256::new(),
        }
    }

    fn update(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(lane) = &self.lane else {
            self.inline.update(data);
            return Ok(());
        };
        for piece in data.chunks(HASH_CHUNK) {
            let mut buf = lane.spare.recv().map_err(|_| worker_gone())?;
            buf.extend_from_slice(piece);
            lane.work.send(Job::Chunk(buf)).map_err(|_| worker_gone())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<Sha256Digest> {
        let Some(lane) = &self.lane else {
            return Ok(self.inline.finalize_reset());
        };
        lane.work.send(Job::Finish).map_err(|_| worker_gone())?;
        lane.digests.recv().map_err(|_| worker_gone())
    }

    /// Wraps `inner` so everything read through it is hashed by this worker.
    pub fn reader<R: Read>(&mut self, inner: R) -> WorkerHashingReader<'_, R> {
        WorkerHashingReader {
            inner,
            worker: self,
            read: 0,
        }
    }
}

impl Drop for HashWorker {
    fn drop(&mut self) {
        if let Some(mut lane) = self.lane.take() {
            let thread = lane.thread.take();
            drop(lane);
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }
}

/// A reader whose bytes are hashed on a [`HashWorker`]; see [`WorkerHashingReader::finish`].
#[derive(Debug)]
pub struct WorkerHashingReader<'w, R> {
    inner: R,
    worker: &'w mut HashWorker,
    read: u64,
}

impl<R: Read> WorkerHashingReader<'_, R> {
    /// The digest and byte count of what was read; the caller must compare it.
    pub fn finish(self) -> io::Result<(Sha256Digest, u64)> {
        Ok((self.worker.finish()?, self.read))
    }
}

impl<R: Read> Read for WorkerHashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(data) = buf.get(..n) {
            self.worker.update(data)?;
        }
        self.read = self.read.saturating_add(n as u64);
        Ok(n)
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("the SHA-256 worker thread stopped")
}

/// Reads `reader` to its end and discards the bytes, through a large buffer.
pub fn drain<R: Read + ?Sized>(reader: &mut R) -> io::Result<u64> {
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Chunk size handed to the hash worker, and the drain buffer size.
const HASH_CHUNK: usize = 256 * 1024;
/// Chunks in flight to the hash worker.
const HASH_BUFFERS: usize = 4;

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

/// Reads `reader` to its end, requiring every byte to be zero and at most `cap` of them.
///
/// Used after a tar end-of-archive block: padding may follow, garbage may not (spec §1.2), and
/// the padding is capped. Zeros after a payload tar's end are not covered by the signed
/// manifest, so without a cap a signed artifact with its payload recompressed over gigabytes of
/// zeros would keep the device inflating for as long as the attacker likes.
pub fn drain_zeros<R: Read>(mut reader: R, cap: u64) -> io::Result<ZeroRun> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(ZeroRun::End(total)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if let Some(pos) = chunk.iter().position(|b| *b != 0) {
            return Ok(ZeroRun::NonZero(total + pos as u64));
        }
        total += n as u64;
        if total > cap {
            return Ok(ZeroRun::TooLong(cap));
        }
    }
}

/// How a run of zeros ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroRun {
    /// The input ended after this many zeros.
    End(u64),
    /// A non-zero byte at this offset.
    NonZero(u64),
    /// More zeros than the cap allowed (the cap).
    TooLong(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_reader_flags_a_short_member() {
        let mut r = ExactReader::new(&b"abc"[..], 5);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        match StreamError::recover(err) {
            StreamError::Truncated { expected, found } => assert_eq!((expected, found), (5, 3)),
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
        assert!(matches!(
            StreamError::recover(err),
            StreamError::TooLarge { limit: 10 }
        ));
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
        assert!(matches!(StreamError::recover(err), StreamError::Source(_)));
        let plain = io::Error::new(io::ErrorKind::InvalidData, "corrupt deflate stream");
        assert!(matches!(
            StreamError::recover(plain),
            StreamError::Malformed(_)
        ));
        // A decoder that runs out of input says UnexpectedEof: the stream was cut, with no
        // sizes to report (it used to surface as "0 of 0 bytes").
        let cut = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert!(matches!(StreamError::recover(cut), StreamError::Cut));
    }

    #[test]
    fn worker_hashing_matches_one_shot_digest_across_files() {
        for threads in [Threads::Pipelined, Threads::Inline] {
            let mut worker = HashWorker::start(threads);
            assert_eq!(worker.lane.is_some(), threads == Threads::Pipelined);
            for len in [0usize, 1, 300_000, 1_000_000] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut r = worker.reader(&data[..]);
                drain(&mut r).unwrap();
                let (digest, n) = r.finish().unwrap();
                assert_eq!(n, len as u64);
                assert_eq!(digest, sha256(&data), "{threads:?} len {len}");
            }
        }
    }

    #[test]
    fn drain_zeros_reports_the_first_non_zero_offset() {
        assert_eq!(
            drain_zeros(&[0u8; 700][..], 1000).unwrap(),
            ZeroRun::End(700)
        );
        assert_eq!(
            drain_zeros(&[0u8; 700][..], 600).unwrap(),
            ZeroRun::TooLong(600)
        );
        let mut data = vec![0u8; 700];
        data[650] = 1;
        assert_eq!(drain_zeros(&data[..], 1000).unwrap(), ZeroRun::NonZero(650));
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
