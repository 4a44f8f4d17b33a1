//! Decompression of `header.tar*` and `data/0000.tar*`, chosen by magic bytes.
//!
//! The Go reader picks a decoder from the name's suffix, the C++ client from the content (spec
//! §6). We sniff the content and also require the suffix to agree (spec §12.6), so one artifact
//! cannot mean different things to different readers.

use std::fmt;
use std::io::{self, BufReader, Cursor, Read};

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
    max_xz_memory: u64,
) -> io::Result<Result<Box<dyn Read + 'a>, SuffixMismatch>> {
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        let n = match reader.read(magic.get_mut(got..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = magic.get(..got).unwrap_or_default().to_vec();
    let found = Compression::sniff(&head);
    if found != named {
        return Ok(Err(SuffixMismatch { named, found }));
    }
    let whole = Cursor::new(head).chain(reader);
    let decoder: Box<dyn Read + 'a> = match named {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
            BufReader::with_capacity(BUF_SIZE, whole),
        )),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                max_xz_memory,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(
                BufReader::with_capacity(BUF_SIZE, whole),
                stream,
            ))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(
            BufReader::with_capacity(BUF_SIZE, whole),
        )?),
    };
    Ok(Ok(decoder))
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
