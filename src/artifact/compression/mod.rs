//! Decompression of `header.tar*` and `data/0000.tar*`, chosen by magic bytes.
//!
//! The Go reader picks a decoder from the name's suffix, the C++ client from the content (spec
//! §6). We sniff the content and also require the suffix to agree (spec §12.6), so one artifact
//! cannot mean different things to different readers.

mod pipeline;

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufReader, Cursor, Read};
use std::rc::Rc;

use crate::stream::limits::{INFLATE_RATIO_FLOOR, Limits};
use crate::stream::{StreamError, Threads};

/// A compression format an artifact member may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar, no suffix.
    None,
    /// gzip, `.gz`.
    Gzip,
    /// xz, `.xz` (mender-artifact's `lzma`).
    Xz,
    /// Zstandard, `.zst`.
    Zstd,
}

impl Compression {
    /// The compression a member name promises: `<base>`, `<base>.gz`, `.xz`, `.zst`.
    pub fn from_name(name: &str, base: &str) -> Option<Self> {
        match name.strip_prefix(base)? {
            "" => Some(Self::None),
            ".gz" => Some(Self::Gzip),
            ".xz" => Some(Self::Xz),
            ".zst" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// What the first bytes of a member say it is.
    pub fn sniff(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Self::Xz
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The name suffix, with its dot (empty for none).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Gzip => ".gz",
            Self::Xz => ".xz",
            Self::Zstd => ".zst",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "uncompressed",
            Self::Gzip => "gzip",
            Self::Xz => "xz",
            Self::Zstd => "zstd",
        })
    }
}

/// The member's content and its name disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuffixMismatch {
    /// What the name promised.
    pub named: Compression,
    /// What the content is.
    pub found: Compression,
}

/// Opens a decoder over `reader` after checking its magic bytes against `named`.
///
/// Returns `Ok(Err(..))` when the suffix lies, `Err` on read errors. Decoders accept
/// concatenated streams (pgzip and parallel xz write them) and fail on anything else after the
/// compressed data, so garbage hidden behind a valid stream is an error.
pub fn open<'a, R: Read + 'a>(
    mut reader: R,
    named: Compression,
    max_xz_memory_bytes: u64,
) -> io::Result<Result<Box<dyn Read + 'a>, SuffixMismatch>> {
    let head = match checked_magic(&mut reader, named)? {
        Ok(head) => head,
        Err(lie) => return Ok(Err(lie)),
    };
    let decoder = decoder(Cursor::new(head).chain(reader), named, max_xz_memory_bytes)?;
    Ok(Ok(Box::new(decoder)))
}

/// Opens the payload's decoder over `reader` after checking its magic bytes against `named`,
/// inline or on a worker thread as `threads` says.
///
/// Inline, the decoder inflates straight into the caller's buffer. Pipelined, it inflates on a
/// worker thread, so inflating overlaps with reading the tar stream and hashing on the calling
/// thread. Uncompressed data needs no decoder and is returned as it is. When no
/// thread can be started the call fails with that I/O error.
///
/// Either way the ratio guard (`limits.max_inflate_ratio`) holds: once the output passes
/// [`INFLATE_RATIO_FLOOR`], producing more than that many bytes per compressed byte consumed
/// ends the stream with a [`StreamError::InflateRatio`] error.
pub fn open_payload<'a, R: Read + 'a>(
    mut reader: R,
    named: Compression,
    limits: &Limits,
    threads: Threads,
) -> io::Result<Result<Box<dyn Read + 'a>, SuffixMismatch>> {
    let head = match checked_magic(&mut reader, named)? {
        Ok(head) => head,
        Err(lie) => return Ok(Err(lie)),
    };
    let input = Cursor::new(head).chain(reader);
    if named == Compression::None {
        return Ok(Ok(Box::new(input)));
    }
    Ok(Ok(match threads {
        Threads::Inline => Box::new(guarded_decoder(input, named, limits)?),
        Threads::Pipelined => pipeline::start(input, named, limits.clone())?,
    }))
}

/// A decoder over `input` whose output is held to the ratio guard.
fn guarded_decoder<R: Read>(
    input: R,
    named: Compression,
    limits: &Limits,
) -> io::Result<RatioGuard<Decoder<BufReader<Counted<R>>>>> {
    let consumed = Rc::new(Cell::new(0));
    let input = Counted {
        inner: input,
        count: consumed.clone(),
    };
    Ok(RatioGuard {
        inner: decoder(input, named, limits.max_xz_memory_bytes)?,
        consumed,
        inflated: 0,
        max_ratio: limits.max_inflate_ratio,
    })
}

/// Counts the bytes read through it into a cell the [`RatioGuard`] on the far side of the
/// decoder reads.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// Ends a decoder's output with [`StreamError::InflateRatio`] once it has produced more than
/// `max_ratio` bytes per compressed byte consumed, past [`INFLATE_RATIO_FLOOR`] (0: off).
struct RatioGuard<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
    inflated: u64,
    max_ratio: u64,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.inflated = self.inflated.saturating_add(n as u64);
        let compressed = self.consumed.get().max(1);
        if self.max_ratio > 0
            && self.inflated > INFLATE_RATIO_FLOOR
            && self.inflated > compressed.saturating_mul(self.max_ratio)
        {
            return Err(io::Error::other(StreamError::InflateRatio {
                limit: self.max_ratio,
                inflated: self.inflated,
                compressed,
            }));
        }
        Ok(n)
    }
}

/// Reads the first bytes and checks them against the name's promise; returns them for replay.
fn checked_magic<R: Read>(
    reader: &mut R,
    named: Compression,
) -> io::Result<Result<Vec<u8>, SuffixMismatch>> {
    let mut magic = [0u8; 6];
    let got = read_full(reader, &mut magic)?;
    let head = magic.get(..got).unwrap_or_default().to_vec();
    let found = Compression::sniff(&head);
    Ok(if found == named {
        Ok(head)
    } else {
        Err(SuffixMismatch { named, found })
    })
}

/// Reads until `buf` is full or the end; returns the count.
fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(buf.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn decoder<R: Read>(
    whole: R,
    named: Compression,
    max_xz_memory_bytes: u64,
) -> io::Result<Decoder<BufReader<R>>> {
    let buffered = BufReader::with_capacity(BUF_SIZE, whole);
    Ok(match named {
        Compression::None => Decoder::Plain(buffered),
        Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                max_xz_memory_bytes,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Decoder::Xz(liblzma::bufread::XzDecoder::new_stream(buffered, stream))
        }
        Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

/// One decoder per format, so the choice is made once, not per read.
enum Decoder<R: io::BufRead> {
    Plain(R),
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Xz(liblzma::bufread::XzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: io::BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(r) => r.read(buf),
            Self::Xz(r) => r.read(buf),
            Self::Zstd(r) => r.read(buf),
        }
    }
}

const BUF_SIZE: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn names_map_to_formats() {
        assert_eq!(
            Compression::from_name("header.tar", "header.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::from_name("header.tar.zst", "header.tar"),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::from_name("header.tar.bz2", "header.tar"), None);
        assert_eq!(Compression::from_name("header.tarx", "header.tar"), None);
    }

    #[test]
    fn every_format_round_trips_and_lies_are_caught() {
        let data = b"hello artifact".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let mut xz = Vec::new();
        liblzma::read::XzEncoder::new(&data[..], 6)
            .read_to_end(&mut xz)
            .unwrap();
        for (bytes, kind) in [
            (&gz, Compression::Gzip),
            (&zst, Compression::Zstd),
            (&xz, Compression::Xz),
            (&data, Compression::None),
        ] {
            let mut out = Vec::new();
            open(&bytes[..], kind, 1 << 27)
                .unwrap()
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{kind}");
        }
        let lie = open(&xz[..], Compression::Gzip, 1 << 27)
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(
            lie,
            SuffixMismatch {
                named: Compression::Gzip,
                found: Compression::Xz
            }
        );
        let lie = open(&gz[..], Compression::None, 1 << 27)
            .unwrap()
            .err()
            .unwrap();
        assert_eq!(lie.found, Compression::Gzip);
    }

    const BOTH: [Threads; 2] = [Threads::Inline, Threads::Pipelined];

    #[test]
    fn payload_decoding_matches_and_reports_errors_inline_and_pipelined() {
        // Past a few pipeline chunks, so used chunks are sent back and reused.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        for threads in BOTH {
            let mut out = Vec::new();
            open_payload(&gz[..], Compression::Gzip, &Limits::default(), threads)
                .unwrap()
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == data, "{threads:?}: inflated bytes differ");

            let mut corrupt = gz.clone();
            let mid = corrupt.len() / 2;
            corrupt.truncate(mid);
            let mut out = Vec::new();
            let err = open_payload(&corrupt[..], Compression::Gzip, &Limits::default(), threads)
                .unwrap()
                .unwrap()
                .read_to_end(&mut out)
                .expect_err("a truncated stream must not end quietly");
            assert!(
                matches!(StreamError::recover(err), StreamError::Cut),
                "{threads:?}"
            );
            let lie = open_payload(&gz[..], Compression::Zstd, &Limits::default(), threads)
                .unwrap()
                .err()
                .unwrap();
            assert_eq!(lie.found, Compression::Gzip);
        }
    }

    /// Inflates `compressed` inline and pipelined; both must end alike (the same count, or the
    /// same kind of error: the counts in an error depend on the read sizes). Returns the inline
    /// result.
    fn inflate_all(
        compressed: &[u8],
        named: Compression,
        limits: &Limits,
    ) -> Result<u64, StreamError> {
        let [inline, pipelined] = BOTH.map(|threads| {
            let mut decoder = open_payload(compressed, named, limits, threads)
                .unwrap()
                .unwrap();
            io::copy(&mut decoder, &mut io::sink()).map_err(StreamError::recover)
        });
        match (&inline, &pipelined) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "inline and pipelined inflate differently"),
            (Err(a), Err(b)) => assert_eq!(
                std::mem::discriminant(a),
                std::mem::discriminant(b),
                "inline: {a}; pipelined: {b}"
            ),
            (a, b) => panic!("inline gave {a:?}, pipelined {b:?}"),
        }
        inline
    }

    fn zstd_zeros(len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        zstd::stream::copy_encode(io::repeat(0).take(len), &mut out, 3).unwrap();
        out
    }

    #[test]
    fn the_ratio_guard_stops_zstd_zeros_past_the_floor() {
        let len = INFLATE_RATIO_FLOOR * 2;
        let err = inflate_all(&zstd_zeros(len), Compression::Zstd, &Limits::default())
            .expect_err("128 MiB of zeros in a few KiB of zstd must trip the guard");
        match err {
            StreamError::InflateRatio {
                limit,
                inflated,
                compressed,
            } => {
                assert_eq!(limit, 1100);
                assert!(inflated > INFLATE_RATIO_FLOOR && inflated > compressed * 1100);
            }
            other => panic!("expected the ratio guard, got {other:?}"),
        }
        // Turned off, the same stream inflates whole.
        let off = Limits {
            max_inflate_ratio: 0,
            ..Limits::default()
        };
        assert_eq!(
            inflate_all(&zstd_zeros(len), Compression::Zstd, &off).unwrap(),
            len
        );
    }

    #[test]
    fn the_ratio_guard_never_refuses_gzip_or_small_outputs() {
        // gzip's best case (zeros) stays under 1100:1, past the floor.
        let len = INFLATE_RATIO_FLOOR + (16 << 20);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::copy(&mut io::repeat(0).take(len), &mut gz).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            inflate_all(&gz, Compression::Gzip, &Limits::default()).unwrap(),
            len
        );
        // Below the floor any ratio passes.
        let small = INFLATE_RATIO_FLOOR / 2;
        let zst = zstd_zeros(small);
        assert_eq!(
            inflate_all(&zst, Compression::Zstd, &Limits::default()).unwrap(),
            small
        );
    }

    #[test]
    fn garbage_after_a_gzip_stream_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"payload").unwrap();
        let mut bytes = gz.finish().unwrap();
        bytes.extend_from_slice(b"GARBAGE!");
        let mut out = Vec::new();
        let result = open(&bytes[..], Compression::Gzip, 1 << 27)
            .unwrap()
            .unwrap()
            .read_to_end(&mut out);
        assert!(result.is_err());
    }
}
