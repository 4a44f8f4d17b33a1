//! Rules every tar member of an artifact obeys (outer tar, header tar, payload tar), and the
//! end-of-archive check.
//!
//! Spec §1.2/§12.5: only regular files (no directories, links, devices, FIFOs, sparse files or
//! global PAX headers), names that are relative, NUL-free and without `..`, and after the
//! end-of-archive marker nothing but zero bytes. Tar parsing itself (ustar, GNU long names, PAX
//! records including sizes over 8 GiB) is the `tar` crate's.

use std::fmt;
use std::io::{self, Read};

use thiserror::Error;

/// Why a member name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryNameError {
    /// Not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// Empty.
    #[error("name is empty")]
    Empty,
    /// Contains NUL.
    #[error("name contains a NUL byte")]
    Nul,
    /// Starts with `/`.
    #[error("name is an absolute path")]
    Absolute,
    /// Has a `..` component.
    #[error("name contains a '..' component (path traversal)")]
    Traversal,
    /// Longer than the limit.
    #[error("name is longer than {0} bytes")]
    TooLong(usize),
}

/// The end of a tar stream was not clean.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TarEnd {
    /// The stream stopped without the two zero blocks that end a tar archive.
    #[error("no end-of-archive marker (stream truncated)")]
    MissingMarker,
    /// Non-zero bytes after the end-of-archive marker.
    #[error("non-zero data {offset} bytes after the end-of-archive marker")]
    TrailingData {
        /// Offset of the first non-zero byte, counted from after the first zero block.
        offset: u64,
    },
    /// More zero padding after the end-of-archive marker than the limit allows.
    #[error("more than {limit} bytes of zero padding after the end-of-archive marker")]
    TooMuchPadding {
        /// `Limits::max_tar_padding`.
        limit: u64,
    },
}

/// The member's path, checked. On error returns the lossy name with the reason.
pub(crate) fn member_name<R: Read>(
    entry: &tar::Entry<'_, R>,
    max_len: usize,
) -> Result<String, (String, EntryNameError)> {
    let raw = entry.path_bytes();
    let lossy = String::from_utf8_lossy(&raw).into_owned();
    let fail = |reason| Err((lossy.clone(), reason));
    if raw.contains(&0) {
        return fail(EntryNameError::Nul);
    }
    let Ok(name) = std::str::from_utf8(&raw) else {
        return fail(EntryNameError::NotUtf8);
    };
    if name.is_empty() {
        return fail(EntryNameError::Empty);
    }
    if name.len() > max_len {
        return fail(EntryNameError::TooLong(max_len));
    }
    if name.starts_with('/') {
        return fail(EntryNameError::Absolute);
    }
    if name.split('/').any(|c| c == "..") {
        return fail(EntryNameError::Traversal);
    }
    Ok(name.to_owned())
}

/// `Ok` for a regular file; otherwise the member's type, for the error message.
pub(crate) fn require_regular<R: Read>(entry: &tar::Entry<'_, R>) -> Result<(), String> {
    let kind = entry.header().entry_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(describe(kind).to_string())
    }
}

/// After the `tar` crate reported the end of the entries, checks what follows: at least the rest
/// of the two-block end marker, then only zeros, at most `max_padding` of them. Reads `rest` to
/// its end (or to the cap).
pub(crate) fn finish<R: Read>(rest: R, max_padding: u64) -> io::Result<Result<(), TarEnd>> {
    use crate::io::ZeroRun;
    // The tar crate stops after the first zero block (or at EOF, having seen none); the second
    // zero block must still be there.
    Ok(match crate::io::drain_zeros(rest, max_padding)? {
        ZeroRun::End(zeros) if zeros >= 512 => Ok(()),
        ZeroRun::End(_) => Err(TarEnd::MissingMarker),
        ZeroRun::NonZero(offset) => Err(TarEnd::TrailingData { offset }),
        ZeroRun::TooLong(limit) => Err(TarEnd::TooMuchPadding { limit }),
    })
}

/// A tar extension record (PAX `x`/`g`, GNU long name or link) over the size limit.
#[derive(Debug)]
pub struct ExtensionTooLarge {
    /// Declared size.
    pub size: u64,
    /// Limit.
    pub limit: u64,
}

impl fmt::Display for ExtensionTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tar extension header of {} bytes is over the limit of {} bytes",
            self.size, self.limit
        )
    }
}

impl std::error::Error for ExtensionTooLarge {}

/// Follows the block structure of a tar stream as it is read and refuses oversized extension
/// records before the `tar` crate buffers them.
///
/// The `tar` crate reads a PAX or GNU long-name record whole into memory before it returns the
/// entry it describes; a record declaring gigabytes would make memory depend on the input. This
/// adapter sits under the tar reader, parses each 512-byte header with the crate's own
/// [`tar::Header`] (and a PAX `size` with [`tar::PaxExtensions`], first match, as the crate
/// does), so it knows where every header lies, and fails the read at an oversized extension.
/// After the end-of-archive block it steps aside.
pub(crate) struct ExtensionGuard<R> {
    inner: R,
    phase: Phase,
    pending_size: Option<u64>,
    limit: u64,
}

enum Phase {
    Header(Box<[u8; 512]>, usize),
    Data {
        remaining: u64,
        record: Option<(Vec<u8>, usize)>,
    },
    Done,
}

impl<R: Read> ExtensionGuard<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            phase: Phase::Header(Box::new([0; 512]), 0),
            pending_size: None,
            limit,
        }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Done => return Ok(()),
                Phase::Header(block, filled) => {
                    let take = (512 - *filled).min(bytes.len());
                    let (head, rest) = bytes.split_at(take);
                    if let Some(dst) = block.get_mut(*filled..*filled + take) {
                        dst.copy_from_slice(head);
                    }
                    *filled += take;
                    bytes = rest;
                    if *filled == 512 {
                        let block = *block.clone();
                        self.phase = self.after_header(&block)?;
                    }
                }
                Phase::Data { remaining, record } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    let (head, rest) = bytes.split_at(take);
                    if let Some((buf, len)) = record {
                        let want = (*len).saturating_sub(buf.len()).min(head.len());
                        buf.extend_from_slice(head.get(..want).unwrap_or_default());
                    }
                    *remaining -= take as u64;
                    bytes = rest;
                    if *remaining == 0 {
                        if let Some((buf, _)) = record {
                            self.pending_size = pax_size(buf);
                        }
                        self.phase = Phase::Header(Box::new([0; 512]), 0);
                    }
                }
            }
        }
        Ok(())
    }

    fn after_header(&mut self, block: &[u8; 512]) -> io::Result<Phase> {
        if block.iter().all(|b| *b == 0) {
            return Ok(Phase::Done);
        }
        let header = tar::Header::from_byte_slice(block);
        let Ok(size) = header.entry_size() else {
            // The tar reader fails on this header itself.
            return Ok(Phase::Done);
        };
        let kind = header.entry_type();
        let extension = kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink();
        if kind.is_gnu_sparse() {
            // Sparse members are refused by the caller; their extra headers are not followed.
            return Ok(Phase::Done);
        }
        let (length, record) = if extension {
            if size > self.limit {
                return Err(io::Error::other(ExtensionTooLarge {
                    size,
                    limit: self.limit,
                }));
            }
            let capture = kind
                .is_pax_local_extensions()
                .then(|| (Vec::new(), usize::try_from(size).unwrap_or(0)));
            (size, capture)
        } else {
            (self.pending_size.take().unwrap_or(size), None)
        };
        let Some(padded) = length.checked_add(511).map(|l| l & !511) else {
            return Ok(Phase::Done);
        };
        if padded == 0 {
            if let Some((buf, _)) = &record {
                self.pending_size = pax_size(buf);
            }
            return Ok(Phase::Header(Box::new([0; 512]), 0));
        }
        Ok(Phase::Data {
            remaining: padded,
            record,
        })
    }
}

impl<R: Read> Read for ExtensionGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

/// The PAX `size` record, read as the `tar` crate reads it (first match; malformed → none).
fn pax_size(records: &[u8]) -> Option<u64> {
    for ext in tar::PaxExtensions::new(records) {
        let ext = ext.ok()?;
        if ext.key() != Ok("size") {
            continue;
        }
        return ext.value().ok()?.parse().ok();
    }
    None
}

struct Kind(tar::EntryType);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let name = if t.is_dir() {
            "directory"
        } else if t.is_symlink() {
            "symbolic link"
        } else if t.is_hard_link() {
            "hard link"
        } else if t.is_character_special() {
            "character device"
        } else if t.is_block_special() {
            "block device"
        } else if t.is_fifo() {
            "FIFO"
        } else if t.is_gnu_sparse() {
            "GNU sparse file"
        } else if t.is_pax_global_extensions() {
            "PAX global header"
        } else {
            return write!(f, "tar type '{}'", char::from(t.as_byte()).escape_default());
        };
        f.write_str(name)
    }
}

fn describe(kind: tar::EntryType) -> Kind {
    Kind(kind)
}
